"""My Videos and Projects under AppTest: listing, filters, retry, delete, templates, projects CRUD."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from mimio_core.domain import LOCAL_USER_ID, FailureKind, TrackedVideo, VideoRequest, VideoStatus
from mimio_core.local_server.runner import RunningServer
from mimio_core.runtime import Runtime
from mimio_core.store.base import StorageError
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.ui.frame import UNEXPECTED
from mimio_core.ui.library import videos_table
from mimio_core.validation import validate_request
from tests.integration.test_restart import wait_for
from tests.shown import shown
from tests.ui.conftest import texts


def make_videos(runtime: Runtime, *prompts: str, project_id: str | None = None) -> list:
    requests = [
        validate_request(
            VideoRequest(prompt=p, seconds=4, project_id=project_id),
            max_reference_bytes=1 << 20,
            models=runtime.models,
        )
        for p in prompts
    ]
    videos = runtime.engine.submit(requests)
    return runtime.engine.wait([v.id for v in videos], timeout=90)


def refuse(api_server: RunningServer, word: str) -> None:
    api_server.service.faults.update(
        {"outcomes": [{"prompt_contains": word, "outcome": "refuse", "message": "content policy"}]}
    )


def test_empty_library_says_what_to_do(app: AppTest) -> None:
    app.switch_page("app_pages/my_videos.py").run()
    assert (
        "No videos yet. Create one on **Single video**, or several on **Variations** or **Batch**."
        in texts(app)
    )


def test_a_providers_error_text_is_shown_literally_on_the_card(
    app: AppTest, runtime: Runtime, api_server: RunningServer
) -> None:
    api_server.service.faults.update(
        {
            "outcomes": [
                {
                    "prompt_contains": "crafted",
                    "outcome": "error",
                    "message": "[Claim free credits](http://evil) ![x](http://evil/pixel.png) :red[alarm]",
                }
            ]
        }
    )
    make_videos(runtime, "a crafted failure")
    app.switch_page("app_pages/my_videos.py").run()
    assert not app.exception
    (error,) = [e.value for e in app.error]
    assert "](" not in error and "![" not in error and ":red[" not in error, error
    assert "[Claim free credits](http://evil) ![x](http://evil/pixel.png) :red[alarm]" in texts(app)


def test_gallery_table_filters_and_csv(app: AppTest, runtime: Runtime, api_server: RunningServer) -> None:
    refuse(api_server, "forbidden")
    make_videos(runtime, "a calm lake", "a forbidden scene", "a busy street")
    app.switch_page("app_pages/my_videos.py").run()
    assert not app.exception
    said = texts(app)
    assert "3 videos · page 1 of 1" in said
    assert "The provider refused the video: content policy" in said  # one item of a create-batch
    assert [b.label for b in app.get("download_button")] == ["Download", "Download"]
    app.selectbox(key="videos-status").set_value("failed").run()
    assert "1 video · page 1 of 1" in texts(app)
    app.selectbox(key="videos-status").set_value("").run()
    app.text_input(key="videos-search").input("lake").run()
    assert "1 video · page 1 of 1" in texts(app)
    app.text_input(key="videos-search").input("").run()
    app.radio(key="videos-view").set_value("Table").run()
    spend, table = app.dataframe
    assert spend.value.to_dict("records") == [
        {"Project": "No project", "Videos": 2, "Seconds": 8, "Estimated cost": 0.8}
    ]
    assert list(table.value["Title"]) == ["a busy street", "a forbidden scene", "a calm lake"]  # newest first
    assert list(table.value["Status"]) == ["Completed", "Failed", "Completed"]
    previews = list(table.value["Preview"])
    assert previews[0].startswith("data:image/jpeg;base64,") and pd.isna(previews[1])  # failed: none
    assert [b.label for b in app.get("download_button")] == ["Export CSV"]


def test_retry_a_failed_video_from_the_library(
    app: AppTest, runtime: Runtime, api_server: RunningServer
) -> None:
    api_server.service.faults.update(
        {"outcomes": [{"prompt_contains": "flaky", "outcome": "error", "message": "GPU fell over"}]}
    )
    (failed,) = make_videos(runtime, "a flaky scene")
    assert failed.failure_kind is FailureKind.PROVIDER_FAILED
    api_server.service.faults.clear()
    app.switch_page("app_pages/my_videos.py").run()
    app.button(key=f"retry-library-{failed.id}").click().run()
    wait_for(lambda: runtime.store.get_video(failed.id).status is not VideoStatus.FAILED, 30, "the retry")
    (done,) = runtime.engine.wait([failed.id], timeout=60)
    assert done.status is VideoStatus.COMPLETED


def test_delete_asks_first_then_removes_the_record_and_its_file(app: AppTest, runtime: Runtime) -> None:
    (video,) = make_videos(runtime, "short lived")
    stored = runtime.files.media_source(video.storage_path)
    app.switch_page("app_pages/my_videos.py").run()
    app.button(key=f"delete-library-{video.id}").click().run()
    assert "Delete this video and its file? This cannot be undone." in texts(app)
    assert runtime.store.get_video(video.id) is not None
    app.button(key=f"confirm-library-{video.id}").click().run()
    assert "No videos yet." in texts(app)  # out of the list at once, before the engine has acted
    wait_for(lambda: runtime.store.get_video(video.id) is None, 30, "the engine to delete it")
    assert not runtime.files.exists(video.storage_path), stored


def test_a_refused_video_offers_edit_and_retry_instead_of_a_retry_that_would_be_refused_again(
    app: AppTest, runtime: Runtime, api_server: RunningServer
) -> None:
    refuse(api_server, "forbidden")
    (refused,) = make_videos(runtime, "a forbidden scene")
    assert refused.failure_kind is FailureKind.REFUSED
    app.switch_page("app_pages/my_videos.py").run()
    labels = [b.label for b in app.button]
    assert "Edit and retry" in labels and "Retry" not in labels
    app.button(key=f"edit-library-{refused.id}").click().run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Single video"]
    assert app.text_area(key="single-prompt").value == "a forbidden scene"  # ready to be changed
    assert runtime.store.get_video(refused.id).requested is None  # nothing was asked of the engine


def test_use_as_template_opens_single_pre_filled(app: AppTest, runtime: Runtime) -> None:
    (video,) = make_videos(runtime, "a template worth reusing")
    app.switch_page("app_pages/my_videos.py").run()
    app.button(key=f"template-library-{video.id}").click().run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Single video"]
    assert app.text_area(key="single-prompt").value == "a template worth reusing"
    assert app.selectbox(key="single-seconds").value == 4


def test_projects_create_rename_count_and_delete_keeping_videos(app: AppTest, runtime: Runtime) -> None:
    app.switch_page("app_pages/projects.py").run()
    assert "No projects yet." in texts(app)
    app.text_input(key="new-project-name").input("Summer ads").run()
    app.button(key="create-project").click().run()
    (project,) = runtime.store.list_projects(LOCAL_USER_ID)
    app.text_input(key="new-project-name").input("summer   ads ").run()
    app.button(key="create-project").click().run()
    assert "You already have a project named 'summer ads'." not in texts(app)  # case differs: allowed
    assert len(runtime.store.list_projects(LOCAL_USER_ID)) == 2
    app.text_input(key="new-project-name").input("Summer ads").run()
    app.button(key="create-project").click().run()
    assert "You already have a project named 'Summer ads'." in texts(app)

    make_videos(runtime, "beach", "sunset", project_id=project.id)
    app.run()
    assert "**Summer ads** · 2 videos" in texts(app)
    app.text_input(key=f"rename-{project.id}").input("Summer campaign").run()
    app.button(key=f"rename-button-{project.id}").click().run()
    assert runtime.store.get_project(LOCAL_USER_ID, project.id).name == "Summer campaign"
    app.button(key=f"delete-{project.id}").click().run()
    app.button(key=f"confirm-{project.id}").click().run()
    assert runtime.store.get_project(LOCAL_USER_ID, project.id) is None
    videos = runtime.store.list_videos(LOCAL_USER_ID)
    assert len(videos) == 2 and all(v.project_id is None for v in videos)


def test_a_store_that_breaks_shows_an_explanation_never_a_traceback(
    app: AppTest, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cursor closed at 0x7f00 in sqlite3.Connection")

    monkeypatch.setattr(runtime.store, "count_videos", broken)
    app.switch_page("app_pages/my_videos.py").run()
    assert not app.exception  # no traceback reaches the browser
    assert [e.value for e in app.error] == [UNEXPECTED]
    assert "0x7f00" not in texts(app)

    def refused(*args: object, **kwargs: object) -> None:
        raise StorageError("Could not list your videos: the database is read-only.")

    monkeypatch.setattr(runtime.store, "count_videos", refused)
    app.run()
    assert not app.exception
    assert [shown(e.value) for e in app.error] == ["Could not list your videos: the database is read-only."]


def test_the_table_shows_a_finished_but_failed_video_at_no_progress(tmp_path: Path) -> None:
    """A job that failed at 50% is not half done: the table's bar shows what is left, nothing."""
    moment = datetime.now(UTC)

    def at(status: VideoStatus, progress: int, kind: FailureKind | None = None) -> TrackedVideo:
        return TrackedVideo(
            id=f"{status}",
            user_id=LOCAL_USER_ID,
            title="t",
            prompt="p",
            model="sora-2",
            size="720x1280",
            seconds=4,
            status=status,
            progress=progress,
            failure_kind=kind,
            created_at=moment,
            updated_at=moment,
        )

    videos = [
        at(VideoStatus.FAILED, 50, FailureKind.PROVIDER_FAILED),
        at(VideoStatus.CANCELLED, 30),
        at(VideoStatus.GENERATING, 40),
        at(VideoStatus.COMPLETED, 100),
    ]
    table = videos_table(videos, {}, LocalFileStorage(tmp_path))
    assert list(table["Progress"]) == [0, 0, 40, 100]
