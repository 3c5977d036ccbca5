"""MIMIO_ENGINE=off: the dashboard records videos and requests and calls no provider; a separate
`python -m mimio_core worker` process makes the videos and carries the requests out."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from mimio_core.domain import LOCAL_USER_ID, UserRequest, VideoStatus
from mimio_core.local_server.runner import RunningServer
from mimio_core.store.sqlite import SQLiteStore
from mimio_core.ui.runtime import get_runtime, worker_status
from tests.integration.test_restart import kill, stop, wait_for, worker
from tests.ui.conftest import ROOT, texts

LEASE = 2.0  # seconds: a killed worker shows offline after one lease without a heartbeat


@pytest.fixture
def engine_off(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The app's environment with no engine in the web process, and the Mimio API server as the only
    provider (no embedded renderer: the worker would start its own)."""
    monkeypatch.setenv("MIMIO_ENGINE", "off")
    monkeypatch.setenv("MIMIO_LOCAL", "off")
    monkeypatch.setenv("MIMIO_LEASE_SECONDS", str(LEASE))
    yield app_env


def start_worker(data_dir: Path, server: RunningServer) -> subprocess.Popen[bytes]:
    return worker(data_dir, MIMIO_API_URL=server.url, MIMIO_LOCAL="off", MIMIO_LEASE_SECONDS=str(LEASE))


def requests_seen(server: RunningServer) -> dict[str, int]:
    return httpx.get(f"{server.url}/_admin/stats").json()["requests"]


def sidebar(at: AppTest) -> str:
    """What the page says after a fresh run (the sidebar's worker count is cached for 5 s)."""
    worker_status.clear()
    at.run()
    return texts(at)


def test_the_web_tier_records_and_a_separate_worker_makes_the_videos(
    engine_off: Path, api_server: RunningServer
) -> None:
    before = requests_seen(api_server)  # the server's own start-up probe of /health
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    runtime = get_runtime()
    assert (runtime.engine, runtime.provider, runtime.embedded_server) == (None, None, None)
    assert "0 workers online (MIMIO_ENGINE=off)" in sidebar(at)

    at.text_area(key="single-prompt").input("a lighthouse at dusk").run()
    at.selectbox(key="single-seconds").set_value(4).run()
    at.button(key="single-submit").click().run()
    assert not at.exception, at.exception
    (video_id,) = at.session_state["single-run"]
    at.run()
    assert (
        "1 video waits and no worker is online to make it. Whoever runs this app starts one with "
        "`python -m mimio_core worker` on this machine, with the same MIMIO_DATA_DIR." in sidebar(at)
    )
    time.sleep(1)  # a web process with an engine would have claimed and created it by now
    store = SQLiteStore(engine_off / "mimio.sqlite3")
    try:
        assert store.get_video(video_id).status is VideoStatus.QUEUED
        assert requests_seen(api_server) == before  # not a create, a status poll nor a health check

        process = worker(
            engine_off, MIMIO_API_URL=api_server.url, MIMIO_LOCAL="off", MIMIO_LEASE_SECONDS=str(LEASE)
        )
        try:
            wait_for(lambda: store.workers_online(LEASE) == 1, 30, "the worker's heartbeat")
            wait_for(lambda: store.get_video(video_id).status is VideoStatus.COMPLETED, 60, "the video")
            at.run()
            assert "1 worker online (MIMIO_ENGINE=off)" in sidebar(at)
            assert [b.label for b in at.get("download_button")] == ["Download"]

            # a request made in the dashboard is carried out by the worker
            at.switch_page("app_pages/my_videos.py").run()
            at.button(key=f"delete-library-{video_id}").click().run()
            at.button(key=f"confirm-library-{video_id}").click().run()
            assert not at.exception, at.exception
            wait_for(lambda: store.get_video(video_id) is None, 30, "the worker to delete it")
            assert requests_seen(api_server)["create"] == 1
        finally:
            kill(process)
        time.sleep(LEASE + 0.5)  # no heartbeat for a whole window
        at.run()
        assert "0 workers online (MIMIO_ENGINE=off)" in sidebar(at)
        assert store.count_videos(LOCAL_USER_ID) == 0
    finally:
        store.close()


def test_retry_and_cancel_from_the_dashboard_wait_for_a_worker(
    engine_off: Path, api_server: RunningServer
) -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    at.text_area(key="single-prompt").input("a paper boat on a river").run()
    at.selectbox(key="single-seconds").set_value(4).run()
    at.button(key="single-submit").click().run()
    (video_id,) = at.session_state["single-run"]
    at.button(key=f"cancel-single-{video_id}").click().run()
    assert not at.exception, at.exception
    store = SQLiteStore(engine_off / "mimio.sqlite3")
    try:
        video = store.get_video(video_id)
        assert (video.status, video.requested) == (VideoStatus.QUEUED, UserRequest.CANCEL)  # recorded only
        assert "Cancel asked: it stops in a moment." in texts(at)
        process = worker(
            engine_off, MIMIO_API_URL=api_server.url, MIMIO_LOCAL="off", MIMIO_LEASE_SECONDS=str(LEASE)
        )
        try:
            wait_for(lambda: store.get_video(video_id).status is VideoStatus.CANCELLED, 30, "the cancel")
            assert "create" not in requests_seen(api_server)  # a cancelled queued video is never sent
            at.run()
            at.button(key=f"retry-single-{video_id}").click().run()
            wait_for(
                lambda: store.get_video(video_id).status is VideoStatus.COMPLETED, 60, "the retried video"
            )
        finally:
            stop(process)
        assert requests_seen(api_server)["create"] == 1
    finally:
        store.close()
