"""What a claim costs as the queue grows, now that claims take turns between users and runs.

Usage: python bench/bench_claim.py [--sizes 1000,10000,100000]

For each size N it records N waiting videos on SQLite (one user's batch of all but 20, and two other
users with 10 each) with 30 already at work, then times a real claim of 30 more slots (the median of
5, each on a fresh copy of the database), beside a plain oldest-first SELECT of 30 on the same rows
(what the claim read before fair turns). It prints both, their ratio, and who got the slots: with
turns the two small users get theirs at once; oldest first, the big batch would take every slot.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import _common  # noqa: F401  (puts the repo on sys.path)

from mimio_core.domain import QueueShare
from mimio_core.store.base import NewVideo
from mimio_core.store.sqlite import CLAIM_ORDER, SQLiteStore

SLOTS, RUNS = 30, 5
BIG, SMALL = "big-batch-user", ("small-user-1", "small-user-2")


def fill(path: Path, size: int) -> None:
    store = SQLiteStore(path)
    batch = str(uuid.uuid4())
    at_work = [
        NewVideo(
            id=str(uuid.uuid4()),
            user_id=BIG,
            title="w",
            prompt="w",
            model="m",
            size="720x1280",
            seconds=4,
            batch_id=batch,
        )
        for _ in range(SLOTS)
    ]
    store.insert_videos(at_work)
    store.claim("already-at-work", SLOTS, 3600, QueueShare())
    videos = [
        NewVideo(
            id=str(uuid.uuid4()),
            user_id=BIG if n >= 20 else SMALL[n % 2],
            title=f"v{n}",
            prompt=f"prompt {n}",
            model="m",
            size="720x1280",
            seconds=4,
            batch_id=batch if n >= 20 else None,
        )
        for n in range(size)
    ]
    big_first = videos[20:] + videos[:20]  # the small users submit after the big batch
    for start in range(0, size, 5000):
        store.insert_videos(big_first[start : start + 5000])
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    sizes = [int(part) for part in parser.parse_args().sizes.split(",")]
    print(f"{'queued':>8} {'claim ms':>9} {'plain ms':>9} {'ratio':>6}  slots by user")
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            original = Path(folder) / "queue.sqlite3"
            fill(original, size)
            claim_ms, plain_ms, got = [], [], Counter[str]()
            for run in range(RUNS):
                copy = Path(folder) / f"run{run}.sqlite3"
                shutil.copy(original, copy)
                store = SQLiteStore(copy)
                started = time.perf_counter()
                claimed = store.claim(f"bench-{run}", 2 * SLOTS, 30, QueueShare())
                claim_ms.append((time.perf_counter() - started) * 1000)
                got = Counter(video.user_id for video in claimed)
                started = time.perf_counter()
                store._query(f"SELECT id FROM videos WHERE status = 'queued' ORDER BY {CLAIM_ORDER} LIMIT 30")
                plain_ms.append((time.perf_counter() - started) * 1000)
                store.close()
            claim, plain = statistics.median(claim_ms), statistics.median(plain_ms)
            print(f"{size:>8} {claim:>9.1f} {plain:>9.1f} {claim / plain:>6.1f}  {dict(got)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
