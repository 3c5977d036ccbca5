"""Edges found in review: lost create answers, cancels racing a create, restarts of the embedded
server, and two embedded servers sharing one work folder."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import mimio_core.local_server.service as service_module
from mimio_core.domain import FailureKind, UserRequest, VideoStatus
from mimio_core.local_server.app import create_app
from mimio_core.local_server.runner import _is_loopback
from mimio_core.local_server.service import LocalVideoService, NewJob
from mimio_core.providers.base import JobRequest
from mimio_core.providers.mimio import MimioProvider
from tests.conftest import Harness
from tests.integration.test_pipeline import valid


def test_cancel_while_the_create_call_is_out_deletes_the_new_provider_job(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    calling, release = threading.Event(), threading.Event()
    original = MimioProvider.create

    def slow_create(self: MimioProvider, request: JobRequest) -> str:
        calling.set()
        release.wait(10)
        return original(self, request)

    monkeypatch.setattr(MimioProvider, "create", slow_create)
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="changed my mind", seconds=4)])
    assert calling.wait(10)
    asked = engine.ask(video.id, video.user_id, UserRequest.CANCEL)
    assert (asked.status, asked.requested) == (VideoStatus.CREATING, UserRequest.CANCEL)  # once it is back
    release.set()
    (cancelled,) = engine.wait([video.id], timeout=30)
    assert (cancelled.status, cancelled.error, cancelled.failure_kind, cancelled.requested) == (
        VideoStatus.CANCELLED,
        "Cancelled.",
        None,
        None,
    )
    deadline = time.monotonic() + 10
    while harness.stats()["requests"].get("delete") != 1:
        assert time.monotonic() < deadline, harness.stats()
        time.sleep(0.05)
    assert list((harness.server.service.work_dir / "jobs").glob("*.json")) == []
    assert engine.store.get_video(video.id).error == "Cancelled."


def wait_status(service: LocalVideoService, job_id: str, word: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (status := service.status(job_id))["status"] != word:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


class CountingRenders:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = service_module.render_video

        def counted(*args: object, **kwargs: object) -> None:
            self.calls += 1
            original(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(service_module, "render_video", counted)


def test_a_restarted_embedded_server_keeps_finished_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = CountingRenders(monkeypatch)
    first = LocalVideoService(tmp_path, latency=3.0)
    (job,) = first.create(NewJob(prompt="rendered once", model="sora-2", size="720x1280", seconds=4))
    deadline = time.monotonic() + 30
    while first.status(job.id)["progress"] < 50 or job.rendered_at is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.close()
    second = LocalVideoService(tmp_path, latency=3.0)
    try:
        assert second.status(job.id)["progress"] >= 50  # no going back to 0 %
        wait_status(second, job.id, "completed")
        assert second.finished_file(job.id) is not None
        assert renders.calls == 1
    finally:
        second.close()


def test_two_embedded_servers_on_one_folder_render_a_job_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = CountingRenders(monkeypatch)
    first = LocalVideoService(tmp_path)
    second = LocalVideoService(tmp_path)
    try:
        (job,) = first.create(NewJob(prompt="shared folder", model="sora-2-pro", size="1792x1024", seconds=4))
        assert second.status(job.id)["status"] in ("queued", "in_progress")  # adopted from disk
        wait_status(second, job.id, "completed")
        wait_status(first, job.id, "completed")
        assert renders.calls == 1
    finally:
        first.close()
        second.close()


def test_fault_routes_exist_only_on_loopback(tmp_path: Path) -> None:
    service = LocalVideoService(tmp_path)
    try:
        paths = {
            admin: {route.path for route in create_app(service, loopback=admin).routes}
            for admin in (True, False)
        }
    finally:
        service.close()
    assert {"/_admin/faults", "/_admin/stats"} <= paths[True]
    assert not any(path.startswith("/_admin") for path in paths[False])
    assert "/api/videos/create" in paths[False]
    assert [_is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "example.org")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_a_repeated_submission_id_returns_the_same_videos_instead_of_a_second_set(harness: Harness) -> None:
    engine = harness.engine()
    requests = [valid(prompt="clicked twice", seconds=4), valid(prompt="clicked twice too", seconds=4)]
    token = "0d8e3c6a-52a7-4f4e-9a59-1d2c3b4a5e6f"
    first = engine.submit(requests, submission_id=token)
    second = engine.submit(requests, submission_id=token)
    assert [v.id for v in second] == [v.id for v in first]
    assert engine.store.count_videos(first[0].user_id) == 2
    assert len(engine.submit(requests)) == 2 and engine.store.count_videos(first[0].user_id) == 4


def test_a_job_deleted_while_it_renders_stays_deleted_after_a_restart(tmp_path: Path) -> None:
    service = LocalVideoService(tmp_path)
    (job,) = service.create(NewJob(prompt="short lived", model="sora-2-pro", size="1792x1024", seconds=4))
    deadline = time.monotonic() + 30
    while job.frames_done == 0:  # rendering has begun
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert service.delete(job.id)
    service._pool.shutdown(wait=True)  # let the render run its course (close() would cancel it)
    service.close()
    again = LocalVideoService(tmp_path)
    try:
        assert again.status(job.id) is None
        assert list(tmp_path.glob("jobs/*.json")) == [] and list(tmp_path.glob("videos/*")) == []
    finally:
        again.close()


def test_an_unexpected_error_while_storing_fails_the_video_instead_of_fetching_it_each_tick(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: an exception other than a provider or disk error escaped the transfer thread unseen,
    and each tick fetched the finished video again until the timeout."""
    engine = harness.engine().start()
    attempts: list[str] = []

    def broken(key: str, source: Path, content_type: str) -> None:
        attempts.append(key)
        raise RuntimeError("backend bug")

    monkeypatch.setattr(engine.files, "put_file", broken)
    (video,) = engine.submit([valid(prompt="a broken shelf", seconds=4)])
    (done,) = engine.wait([video.id], timeout=60)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.INTERNAL)
    assert done.error == (
        f"Storing the video failed (RuntimeError: backend bug). The generated video {done.external_video_id} "
        "is kept: Retry fetches it without generating again."
    )
    time.sleep(3 * harness.settings.poll_interval)
    assert len(attempts) == 1 and harness.stats()["requests"]["download"] == 1
