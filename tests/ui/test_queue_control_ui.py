"""The queue's buttons under AppTest: a waiting card's Pause/Resume, Run next, Move and Edit; My Videos'
Pause queue, Retry failed and Cancel waiting; a run's Pause/Resume/Cancel; the creation forms' priority.

The web process runs no engine (MIMIO_ENGINE=off), so waiting videos wait until a test claims them
itself, as an engine would, to show what a button says once a video has started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from mimio_core.domain import LOCAL_USER_ID, FailureKind, TrackedVideo, UserRequest, VideoRequest, VideoStatus
from mimio_core.runtime import Runtime
from mimio_core.store.base import VideoStore
from mimio_core.submission import record_submission
from mimio_core.ui.runtime import get_runtime
from mimio_core.ui.text import plain
from mimio_core.validation import validate_request
from tests.shown import shown
from tests.ui.conftest import ROOT, texts

ENGINE = "test-engine"
STARTED = "This video is claimed already, so it can no longer be changed in the queue."


@pytest.fixture
def at(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The dashboard with no engine in the web process: what is recorded waits."""
    monkeypatch.setenv("MIMIO_ENGINE", "off")
    monkeypatch.setenv("MIMIO_LOCAL", "off")
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    app.run()
    assert not app.exception, app.exception
    yield app


@pytest.fixture
def runtime(at: AppTest) -> Runtime:
    return get_runtime()


@pytest.fixture
def store(runtime: Runtime) -> VideoStore:
    return runtime.local_store


def record(runtime: Runtime, *titles: str, project_id: str | None = None) -> list[str]:
    """One submission per title, recorded as the local user (as the form records it)."""
    ids = []
    for title in titles:
        valid = validate_request(
            VideoRequest(prompt=f"the prompt of {title}", title=title, seconds=4, project_id=project_id),
            max_reference_bytes=1 << 20,
            models=runtime.models,
        )
        assert runtime.files is not None
        (video,) = record_submission(runtime.local_store, runtime.files, [valid], LOCAL_USER_ID)
        ids.append(video.id)
    return ids


def fail(store: VideoStore, kind: FailureKind, *video_ids: str) -> None:
    """Claim every waiting video (as an engine would) and fail these; record them before the others."""
    claimed = {v.id for v in store.claim(ENGINE, 100, 600)}
    assert set(video_ids) <= claimed
    for video_id in video_ids:
        assert store.failed(video_id, ENGINE, kind, f"{kind} for the test")


def queue_order(store: VideoStore, video_ids: list[str]) -> list[str]:
    """The order an engine sends these waiting videos in (its owner's queue order)."""
    waiting = store.get_videos(video_ids)
    return [v.id for v in sorted(waiting, key=lambda v: (-v.priority, v.queue_order or 0.0, v.id))]


def toasts(at: AppTest) -> list[str]:
    return [shown(t.value) for t in at.toast]


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def my_videos(at: AppTest) -> AppTest:
    at.switch_page("app_pages/my_videos.py").run()
    assert not at.exception, at.exception
    return at


def pause_notices(block: Any) -> list[str]:
    """The paused-queue notices of the main area or the sidebar (not the workers' warning)."""
    return [shown(w.value) for w in block.warning if w.icon == ":material/pause_circle:"]


def card_heading(at: AppTest, video: TrackedVideo) -> str:
    (heading,) = [m.value for m in at.markdown if m.value.endswith(f"**{plain(video.title)}**")]
    return heading


# --- a waiting video's card ----------------------------------------------------------------------


def test_pause_and_resume_a_waiting_card(at: AppTest, runtime: Runtime, store: VideoStore) -> None:
    title = "**bold** [a link](http://evil) :red[fox]"  # said literally in every toast
    (video_id,) = record(runtime, title)
    my_videos(at)
    video = store.get_video(video_id)
    assert card_heading(at, video).startswith(":gray-badge[:material/schedule: Queued]")
    at.button(key=f"pause-library-{video_id}").click().run()
    paused = store.get_video(video_id)
    assert (paused.status, paused.paused_at is not None) == (VideoStatus.QUEUED, True)
    assert toasts(at) == [f"Paused {title!r}: it waits until you resume it."]
    assert card_heading(at, paused).startswith(":orange-badge[:material/pause_circle: Paused]")
    assert [p.text for p in at.progress] == [plain("Paused: it waits until you resume it.")]
    assert f"pause-library-{video_id}" not in [b.key for b in at.button]
    at.radio(key="videos-view").set_value("Table").run()
    assert list(at.dataframe[-1].value["Status"]) == ["Paused"]
    at.radio(key="videos-view").set_value("Gallery").run()

    at.button(key=f"resume-library-{video_id}").click().run()
    assert store.get_video(video_id).paused_at is None
    assert toasts(at) == [f"Resumed {title!r}: it keeps its place in the queue."]
    assert card_heading(at, video).startswith(":gray-badge[:material/schedule: Queued]")


def test_a_button_of_a_video_that_started_meanwhile_says_why_and_changes_nothing(
    at: AppTest, runtime: Runtime, store: VideoStore
) -> None:
    (video_id,) = record(runtime, "a lighthouse")
    my_videos(at)
    store.claim(ENGINE, 10, 600)  # an engine took it after the page was drawn
    at.button(key=f"pause-library-{video_id}").click().run()
    assert errors(at) == [STARTED]
    assert toasts(at) == []
    assert store.get_video(video_id).paused_at is None
    starting = ":blue-badge[:material/hourglass_top: Starting]"
    assert card_heading(at, store.get_video(video_id)).startswith(starting)


def test_a_waiting_video_whose_cancel_is_pending_offers_no_queue_change(
    at: AppTest, runtime: Runtime, store: VideoStore
) -> None:
    (video_id,) = record(runtime, "a lighthouse")
    my_videos(at)
    at.button(key=f"cancel-library-{video_id}").click().run()
    assert store.get_video(video_id).requested is UserRequest.CANCEL
    for name in ("pause", "next", "edit-waiting", "up", "down"):
        assert at.button(key=f"{name}-library-{video_id}").disabled, name
    assert not at.button(key=f"delete-library-{video_id}").disabled  # in the "⋯" menu


def test_run_next_and_move_up_and_down_change_the_queue_order(
    at: AppTest, runtime: Runtime, store: VideoStore
) -> None:
    first, second, third = ids = record(runtime, "first", "second", "third")
    my_videos(at)
    at.button(key=f"next-library-{third}").click().run()
    assert toasts(at) == ["'third' goes next in your queue."]
    assert queue_order(store, ids) == [third, first, second]
    at.button(key=f"up-library-{third}").click().run()
    assert toasts(at) == ["'third' is first in your queue already."]
    at.button(key=f"down-library-{third}").click().run()
    assert toasts(at) == ["'third' moved down."]
    assert queue_order(store, ids) == [first, third, second]
    at.button(key=f"pause-library-{second}").click().run()
    at.button(key=f"up-library-{second}").click().run()
    assert toasts(at) == ["'second' moved up. It is paused: resume it to send it."]
    assert queue_order(store, ids) == [first, second, third]


def test_edit_a_waiting_video_checked_as_the_form_checks_it(
    at: AppTest, runtime: Runtime, store: VideoStore
) -> None:
    (video_id,) = record(runtime, "a fox")
    prefix = f"edit-{video_id}"
    my_videos(at)
    at.button(key=f"edit-waiting-library-{video_id}").click().run()
    assert at.text_input(key=f"{prefix}-title").value == "a fox"
    assert at.text_area(key=f"{prefix}-prompt").value == "the prompt of a fox"
    assert (at.selectbox(key=f"{prefix}-model").value, at.selectbox(key=f"{prefix}-seconds").value) == (
        "sora-2",
        4,
    )

    at.text_area(key=f"{prefix}-prompt").input("   ").run()
    at.button(key=f"{prefix}-save").click().run()
    assert "Prompt is empty: describe the video you want." in texts(at)  # under the field, still open
    assert store.get_video(video_id).prompt == "the prompt of a fox"
    assert toasts(at) == []

    at.text_input(key=f"{prefix}-title").input("[Claim](http://evil) fox").run()
    at.text_area(key=f"{prefix}-prompt").input("a fox in deep snow").run()
    at.selectbox(key=f"{prefix}-model").set_value("sora-2-pro").run()
    at.selectbox(key=f"{prefix}-size").set_value("1792x1024").run()
    at.selectbox(key=f"{prefix}-seconds").set_value(12).run()
    at.button(key=f"{prefix}-save").click().run()
    assert not at.exception, at.exception
    edited = store.get_video(video_id)
    assert (edited.title, edited.prompt, edited.model, edited.size, edited.seconds, edited.status) == (
        "[Claim](http://evil) fox",
        "a fox in deep snow",
        "sora-2-pro",
        "1792x1024",
        12,
        VideoStatus.QUEUED,
    )
    assert toasts(at) == ["Saved '[Claim](http://evil) fox': Sora 2 Pro · Mimio video API, 1792x1024, 12 s."]
    assert f"{prefix}-prompt" not in [w.key for w in at.text_area]  # the dialog closed


def test_an_edit_is_refused_once_the_video_has_started(
    at: AppTest, runtime: Runtime, store: VideoStore
) -> None:
    (video_id,) = record(runtime, "a fox")
    prefix = f"edit-{video_id}"
    my_videos(at)
    at.button(key=f"edit-waiting-library-{video_id}").click().run()
    store.claim(ENGINE, 10, 600)
    at.text_area(key=f"{prefix}-prompt").input("too late").run()
    at.button(key=f"{prefix}-save").click().run()
    assert errors(at) == [STARTED]  # in the dialog, which stays open
    assert f"{prefix}-prompt" in [w.key for w in at.text_area]
    assert store.get_video(video_id).prompt == "the prompt of a fox"


# --- the whole queue, a project, the filtered list ----------------------------------------------


def test_pause_the_queue_new_videos_wait_until_resumed_from_the_sidebar(
    at: AppTest, runtime: Runtime, store: VideoStore
) -> None:
    (waiting,) = record(runtime, "a waiting one")
    my_videos(at)
    at.button(key="queue-pause-queue").click().run()
    assert store.paused_queues(LOCAL_USER_ID) == {None}
    assert store.get_video(waiting).is_paused
    assert toasts(at) == [
        "Paused the queue and 1 video waiting in it. Queue paused: new videos wait until you resume."
    ]
    notice = "Queue paused: new videos wait until you resume."
    assert pause_notices(at.main) == pause_notices(at.sidebar) == [notice]
    assert "queue-resume-queue" in [b.key for b in at.button]

    at.switch_page("app_pages/single.py").run()
    assert pause_notices(at.sidebar) == [notice]  # on every page
    at.text_area(key="single-prompt").input("made while paused").run()
    at.button(key="single-submit").click().run()
    (new,) = at.session_state["single-run"]
    assert store.get_video(new).is_paused
    assert toasts(at) == ["1 video recorded, paused: resume it below."]

    at.button(key="sidebar-resume-queue").click().run()
    assert store.paused_queues(LOCAL_USER_ID) == set()
    assert [v.is_paused for v in store.get_videos([waiting, new])] == [False, False]
    assert toasts(at) == ["Resumed the queue: 2 videos back in line, in their places."]
    assert pause_notices(at.main) == pause_notices(at.sidebar) == []


def test_pause_a_project_from_its_filtered_list(at: AppTest, runtime: Runtime, store: VideoStore) -> None:
    project = store.create_project(LOCAL_USER_ID, "Spring *ads*")
    (inside,) = record(runtime, "inside", project_id=project.id)
    (outside,) = record(runtime, "outside")
    my_videos(at)
    assert f"queue-pause-{project.id}" not in [b.key for b in at.button]  # no project filter yet
    at.selectbox(key="videos-project").set_value(project.id).run()
    at.button(key=f"queue-pause-{project.id}").click().run()
    assert store.paused_queues(LOCAL_USER_ID) == {project.id}
    assert [v.is_paused for v in store.get_videos([inside, outside])] == [True, False]
    said = "Project 'Spring *ads*' paused: its new videos wait until you resume it."
    assert toasts(at) == [f"Paused project 'Spring *ads*' and 1 video waiting in it. {said}"]
    assert pause_notices(at.main) == pause_notices(at.sidebar) == [said]
    at.button(key=f"queue-resume-{project.id}").click().run()
    assert store.paused_queues(LOCAL_USER_ID) == set()
    assert not store.get_video(inside).is_paused
    assert toasts(at) == ["Resumed project 'Spring *ads*': 1 video back in line, in their places."]


def test_retry_failed_asks_a_retry_of_the_filtered_list_and_skips_refused_ones(
    at: AppTest, runtime: Runtime, store: VideoStore
) -> None:
    project = store.create_project(LOCAL_USER_ID, "Ads")
    flaky, refused = record(runtime, "flaky", "refused", project_id=project.id)
    (elsewhere,) = record(runtime, "elsewhere")
    fail(store, FailureKind.PROVIDER_FAILED, flaky, elsewhere)
    store.failed(refused, ENGINE, FailureKind.REFUSED, "content policy")
    record(runtime, "waiting", project_id=project.id)
    my_videos(at)
    assert at.button(key="queue-retry-failed").label == "Retry failed (3)"
    at.selectbox(key="videos-project").set_value(project.id).run()
    assert at.button(key="queue-retry-failed").label == "Retry failed (2)"
    at.button(key="queue-retry-failed").click().run()
    assert toasts(at) == [
        "Retrying 1 video. Skipped 1: refused or invalid, they need an edited prompt first."
    ]
    assert [v.requested for v in store.get_videos([flaky, refused, elsewhere])] == [
        UserRequest.RETRY,
        None,
        None,
    ]


def test_cancel_waiting_cancels_what_waits_in_the_filtered_list_only(
    at: AppTest, runtime: Runtime, store: VideoStore
) -> None:
    project = store.create_project(LOCAL_USER_ID, "Ads")
    (failed,) = record(runtime, "failed", project_id=project.id)
    fail(store, FailureKind.PROVIDER_FAILED, failed)
    one, two = record(runtime, "one", "two", project_id=project.id)
    (elsewhere,) = record(runtime, "elsewhere")
    store.pause(LOCAL_USER_ID, [two])  # paused ones wait too
    my_videos(at)
    at.selectbox(key="videos-status").set_value("failed").run()
    assert "queue-cancel-waiting" not in [b.key for b in at.button]  # none of this list waits
    at.selectbox(key="videos-status").set_value("").run()
    at.selectbox(key="videos-project").set_value(project.id).run()
    assert at.button(key="queue-cancel-waiting").label == "Cancel 2 videos for good"
    at.button(key="queue-cancel-waiting").click().run()
    assert toasts(at) == ["Cancelling 2 videos that waited."]
    assert [v.requested for v in store.get_videos([one, two, elsewhere, failed])] == [
        UserRequest.CANCEL,
        UserRequest.CANCEL,
        None,
        None,
    ]


# --- the run panel, and the form's priority -----------------------------------------------------


def test_pause_resume_and_cancel_a_run_from_its_panel(at: AppTest, store: VideoStore) -> None:
    at.switch_page("app_pages/variations.py").run()
    at.text_area(key="variations-prompt").input("ocean waves").run()
    at.button(key="variations-submit").click().run()
    ids = at.session_state["variations-run"]
    assert {"variations-run-pause", "variations-run-cancel"} <= {b.key for b in at.button}
    assert "variations-run-resume" not in [b.key for b in at.button]

    at.button(key="variations-run-pause").click().run()
    assert all(v.is_paused for v in store.get_videos(ids))
    assert toasts(at) == ["Paused 3 videos of this run."]
    assert any(m.value.startswith(":orange-badge[:material/pause_circle: 3 paused]") for m in at.markdown)
    assert "variations-run-pause" not in [b.key for b in at.button]

    at.button(key="variations-run-resume").click().run()
    assert not any(v.is_paused for v in store.get_videos(ids))
    assert toasts(at) == ["Resumed 3 videos of this run."]

    at.button(key="variations-run-cancel").click().run()
    assert [v.requested for v in store.get_videos(ids)] == [UserRequest.CANCEL] * 3
    assert toasts(at) == ["Cancelling 3 videos of this run."]


def test_a_run_whose_videos_all_started_says_none_was_paused(at: AppTest, store: VideoStore) -> None:
    at.switch_page("app_pages/variations.py").run()
    at.text_area(key="variations-prompt").input("ocean waves").run()
    at.button(key="variations-submit").click().run()
    store.claim(ENGINE, 10, 600)
    at.button(key="variations-run-pause").click().run()
    assert errors(at) == ["Every video of this run has started: none was paused."]
    assert not any(v.is_paused for v in store.get_videos(at.session_state["variations-run"]))


def test_a_run_of_one_video_has_its_cards_buttons_only(at: AppTest, store: VideoStore) -> None:
    at.text_area(key="single-prompt").input("a single one").run()
    at.button(key="single-submit").click().run()
    (video_id,) = at.session_state["single-run"]
    keys = [b.key for b in at.button]
    assert "single-run-pause" not in keys and f"pause-single-{video_id}" in keys
    at.button(key=f"pause-single-{video_id}").click().run()
    assert store.get_video(video_id).is_paused
    assert any(m.value.startswith(":orange-badge[:material/pause_circle: 1 paused]") for m in at.markdown)


def test_the_priority_of_the_form_is_recorded_and_shown(at: AppTest, store: VideoStore) -> None:
    assert (at.number_input(key="single-priority").min, at.number_input(key="single-priority").max) == (
        -1000,
        1000,
    )
    at.text_area(key="single-prompt").input("an urgent one").run()
    at.number_input(key="single-priority").set_value(7).run()
    at.button(key="single-submit").click().run()
    (video_id,) = at.session_state["single-run"]
    assert store.get_video(video_id).priority == 7
    assert any(c.value.endswith("· priority 7") for c in at.caption)
    at.switch_page("app_pages/batch.py").run()
    at.text_area(key="batch-0-prompt").input("a normal one").run()
    at.button(key="batch-submit").click().run()
    (normal,) = at.session_state["batch-run"]
    assert store.get_video(normal).priority == 0
