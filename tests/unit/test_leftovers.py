"""Partial files left by a killed process are cleared on the next start; fresh ones are not touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mimio_core.engine import _process_place
from mimio_core.leftovers import remove_stale, writer_tag
from mimio_core.local_server.service import LocalVideoService
from mimio_core.store.local_files import LocalFileStorage
from tests.conftest import Harness
from tests.integration.test_pipeline import valid


def aged(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"partial")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_only_old_matching_files_go(tmp_path: Path) -> None:
    old, young = aged(tmp_path / "a.mp4", 7200), aged(tmp_path / "b.mp4", 10)
    other = aged(tmp_path / "keep.jpg", 7200)
    assert remove_stale(tmp_path, "*.mp4") == 1
    assert (old.exists(), young.exists(), other.exists()) == (False, True, True)
    assert remove_stale(tmp_path / "missing", "*") == 0


def test_storage_and_the_embedded_server_clear_their_own_leftovers(tmp_path: Path) -> None:
    upload = aged(tmp_path / "files" / "user" / ".incoming-abc", 7200)
    stored = aged(tmp_path / "files" / "user" / "video.mp4", 7200)
    LocalFileStorage(tmp_path / "files")
    assert not upload.exists() and stored.exists()
    render = aged(tmp_path / "server" / "videos" / ".video_x.mp4.123.part", 7200)
    job = aged(tmp_path / "server" / "jobs" / ".video_x.456.tmp", 7200)
    LocalVideoService(tmp_path / "server").close()
    assert not render.exists() and not job.exists()


def dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_dead_engines_partial_files_go_when_its_leases_are_released(harness: Harness) -> None:
    pid = dead_pid()
    dead_owner = f"{_process_place()}:{pid}:deadbeef"
    engine = harness.engine()
    (video,) = engine.submit([valid(prompt="left behind", seconds=4)])
    assert engine.store.claim(dead_owner, 3, lease_seconds=600)
    scratch, files = engine.scratch, harness.settings.data_dir / "files"
    # young files: a live writer's would look the same, so only the writer's tag tells them apart
    download = aged(scratch / f"{writer_tag(pid)}{video.id}-abc.mp4", 1)
    upload = aged(files / video.user_id / f".incoming-{writer_tag(pid)}xyz", 1)
    alive = aged(scratch / f"{writer_tag()}{video.id}-def.mp4", 1)  # this process's own
    engine.start()
    assert (download.exists(), upload.exists(), alive.exists()) == (False, False, True)
    assert dead_owner not in engine.store.lease_owners()
