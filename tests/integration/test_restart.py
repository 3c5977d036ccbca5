"""Durability: a killed engine's work is finished by the next one, and two engines never share a video."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mimio_core.domain import VideoStatus
from mimio_core.local_server.runner import start_in_thread
from mimio_core.store.sqlite import SQLiteStore
from tests.conftest import Harness
from tests.integration.test_pipeline import valid
from tests.media import assert_playable_mp4

ROOT = Path(__file__).resolve().parents[2]


def worker(data_dir: Path, **env: str) -> subprocess.Popen[bytes]:
    """`python -m mimio_core worker` with the default 30 s lease: a restart must not wait it out."""
    environment = {**os.environ, "MIMIO_DATA_DIR": str(data_dir), "MIMIO_POLL_INTERVAL": "0.2", **env}
    if "MIMIO_API_URL" not in env:
        environment.pop("MIMIO_API_URL", None)
    return subprocess.Popen([sys.executable, "-m", "mimio_core", "worker"], cwd=ROOT, env=environment)


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def kill_mid_run_then_resume(data_dir: Path, ids: list[str], resume_within: float, **env: str) -> list:
    """Kill a worker once every video has its provider job, start another; the final records."""
    store = SQLiteStore(data_dir / "mimio.sqlite3")
    first = worker(data_dir, **env)
    try:
        wait_for(lambda: all(v.external_video_id for v in store.get_videos(ids)), 30, "the provider jobs")
    finally:
        kill(first)
    assert all(v.status is VideoStatus.GENERATING for v in store.get_videos(ids))
    second = worker(data_dir, **env)
    try:
        wait_for(lambda: all(v.is_final for v in store.get_videos(ids)), resume_within, "the resumed videos")
    finally:
        stop(second)
    done = store.get_videos(ids)
    store.close()
    return done


def test_killed_worker_mid_batch_is_resumed_and_each_video_downloaded_once(
    harness: Harness, tmp_path: Path
) -> None:
    server = start_in_thread(tmp_path / "slow-server", latency=4.0, render_slots=2)
    harness.server = server
    try:
        ids = [
            v.id
            for v in harness.engine().submit([valid(prompt=f"survivor {n}", seconds=4) for n in range(3)])
        ]
        # 25 s: well under the 30 s lease, so the restart must not wait for the killed one's to lapse
        done = kill_mid_run_then_resume(harness.settings.data_dir, ids, 25, MIMIO_API_URL=server.url)
        assert [v.status for v in done] == [VideoStatus.COMPLETED] * 3, [v.error for v in done]
        stats = harness.stats()
        assert stats["requests"]["create-batch"] == 1 and "create" not in stats["requests"]
        # the worker runs every configured provider: its job ids name the one holding each job
        assert all((v.external_video_id or "").startswith("mimio:") for v in done)
        assert stats["downloads"] == {(v.external_video_id or "").removeprefix("mimio:"): 1 for v in done}
    finally:
        server.stop()


def test_killed_default_setup_resumes_with_its_embedded_server(harness: Harness, tmp_path: Path) -> None:
    data_dir = tmp_path / "default-data"
    settings = harness.settings.replace(data_dir=data_dir)
    harness.settings = settings
    local = [valid(prompt=f"offline {n}", seconds=4, model="mimio-local") for n in range(2)]
    ids = [v.id for v in harness.engine().submit(local)]
    done = kill_mid_run_then_resume(data_dir, ids, 60, MIMIO_LOCAL_LATENCY="4")
    assert [v.status for v in done] == [VideoStatus.COMPLETED] * 2, [v.error for v in done]
    # no job was created twice: every job left at the provider is one of these videos' own (a stored
    # video's job is deleted there, so a second, billed job would be an extra one)
    left = {path.stem for path in (data_dir / "local-server" / "jobs").glob("*.json")}
    jobs = {(v.external_video_id or "").removeprefix("local:") for v in done}
    assert left <= jobs and len(jobs) == 2
    for video in done:
        assert_playable_mp4(data_dir / "files" / video.storage_path, video.size, 4)


def test_two_engines_on_one_data_directory_never_work_on_the_same_video(harness: Harness) -> None:
    first, second = harness.engine(concurrency=6), harness.engine(concurrency=6)
    videos = first.submit([valid(prompt=f"shared {n}", seconds=4) for n in range(3)])
    videos += second.submit([valid(prompt=f"shared {n}", seconds=4) for n in range(3, 6)])
    first.start()
    second.start()
    done = first.wait([v.id for v in videos], timeout=120)
    assert [v.status for v in done] == [VideoStatus.COMPLETED] * 6, [v.error for v in done]
    stats = harness.stats()
    left = {path.stem for path in (harness.server.service.work_dir / "jobs").glob("*.json")}
    assert left <= {v.external_video_id for v in done} and len({v.external_video_id for v in done}) == 6
    assert stats["downloads"] == {v.external_video_id: 1 for v in done}
