"""Removing partial files a killed process left behind (a download, an upload, a render)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

STALE_AFTER = 3600.0  # seconds: a live writer touches its file far more often than this


def remove_stale(folder: Path, pattern: str, max_age: float = STALE_AFTER) -> int:
    """Delete files under `folder` matching `pattern` not modified for `max_age` seconds; returns
    how many went. Young ones may belong to a writer at work in another process, so they stay."""
    if not folder.is_dir():
        return 0
    cutoff, removed = time.time() - max_age, 0
    for path in folder.glob(pattern):
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def writer_tag(pid: int | None = None) -> str:
    """Where a partial file's name says which process writes it (this one by default): the partial
    files of a process known to be dead go at once (`remove_written_by`), not after STALE_AFTER."""
    return f"w{os.getpid() if pid is None else pid}-"


def remove_written_by(folder: Path, pattern: str) -> int:
    """Delete the files under `folder` matching `pattern` (which names a dead writer's tag), however
    young; returns how many went."""
    return remove_stale(folder, pattern, max_age=-1.0)
