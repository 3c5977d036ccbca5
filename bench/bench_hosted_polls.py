"""Benchmark how a hosted provider's status polls are paced with many videos in flight.

Usage: ``python bench/bench_hosted_polls.py``. fal.ai and Replicate answer one job per status request,
so 30 videos in flight would cost 30 requests every poll tick; the adapters pace them to
MIMIO_STATUS_RATE requests per second per provider (a token bucket, longest-unpolled first). An
Engine as the app builds it (SQLite, local files, FalProvider over loopback HTTP against the fal
stand-in of the tests, poll interval 1 s, concurrency 30) keeps 30 requests generating for WINDOW
seconds; the stand-in counts every status request. Printed: requests per second against the rate
(the ratio must stay at or below 1 plus the initial burst), requests per tick, and the longest gap any
one job waited between two polls. Figures only, no assertions.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _common import table

from mimio_core.catalogue import MODELS, models_for
from mimio_core.config import load_settings
from mimio_core.domain import VideoRequest
from mimio_core.engine import Engine
from mimio_core.providers.fal import FalProvider
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore
from mimio_core.validation import validate_request
from tests.standins.fal import start_fal

IN_FLIGHT, WINDOW, POLL_INTERVAL = 30, 20.0, 1.0
RATES = (5.0, 20.0)
MODEL = "fal-kling-3-turbo-pro"


def run(rate: float) -> dict[str, str]:
    fal = start_fal(runners=IN_FLIGHT, polls_in_queue=1, polls_in_progress=10_000)
    data = Path(tempfile.mkdtemp(prefix="mimio-bench-polls-"))
    settings = load_settings(environ={}).replace(
        data_dir=data, poll_interval=POLL_INTERVAL, concurrency=IN_FLIGHT, timeout=600
    )
    models = models_for(MODELS, "fal")
    templates = {name: spec.request for name, spec in models.items() if spec.request is not None}
    provider = FalProvider("test-key", templates, base_url=fal.url, storage_url=fal.url, status_rate=rate)
    engine = Engine(
        SQLiteStore(data / "mimio.sqlite3"), LocalFileStorage(data / "files"), provider, settings
    ).start()
    requests = [
        validate_request(
            VideoRequest(prompt=f"fox {n}", model=MODEL, size="1920x1080", seconds=5),
            max_reference_bytes=1,
            models=models,
        )
        for n in range(IN_FLIGHT)
    ]
    engine.submit(requests)
    while len(fal.jobs) < IN_FLIGHT:  # every request submitted
        time.sleep(0.05)
    start_polls, start = sum(fal.status_polls.values()), time.monotonic()
    last_seen: dict[str, float] = {}
    gaps: list[float] = []
    per_tick: list[int] = []
    previous = start_polls
    while time.monotonic() - start < WINDOW:
        time.sleep(POLL_INTERVAL)
        now = time.monotonic()
        with fal.lock:
            counts = dict(fal.status_polls)
        total = sum(counts.values())
        per_tick.append(total - previous)
        previous = total
        for job, count in counts.items():
            key = f"{job}:{count}"
            if key not in last_seen:
                gaps.append(now - last_seen.get(job, now))
                last_seen[key] = last_seen[job] = now
    elapsed = time.monotonic() - start
    polls = sum(fal.status_polls.values()) - start_polls
    engine.stop()
    provider.close()
    engine.store.close()
    fal.stop()
    per_second = polls / elapsed
    return {
        "rate": f"{rate:g}/s",
        "in flight": str(IN_FLIGHT),
        "status requests/s": f"{per_second:.2f}",
        "ratio to rate": f"{per_second / rate:.2f}",
        "per tick (median, max)": f"{statistics.median(per_tick):g}, {max(per_tick)}",
        "unpaced per tick": str(IN_FLIGHT),
        "longest wait of a job": f"{max(gaps):.1f} s",
    }


if __name__ == "__main__":
    results = [run(rate) for rate in RATES]
    print(table(list(results[0]), [list(result.values()) for result in results]))
