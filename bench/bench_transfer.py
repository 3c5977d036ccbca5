"""Benchmark the memory a finished video's transfer costs: 300 MB must move with a peak RSS rise < 32 MB.

Usage: ``python bench/bench_transfer.py``. The embedded server runs in its own process (so its memory
is not counted here) with a completed ~300 MB job placed in its work folder before it starts: a real
tiny H.264 MP4 (so libmagic sees video/mp4 in the first 64 KB) followed by an MP4 `free` box of
padding, which keeps the file a valid MP4. This process then calls `transfer_video` exactly as the
engine does and reads its peak RSS before and after. Figures and a printed verdict, no assertions.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, fields
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
from _common import MIB, REPO_ROOT, free_port, max_rss_kib, proc_status_kib, reset_peak_rss, table

from mimio_core.domain import LOCAL_USER_ID
from mimio_core.local_server.service import Job
from mimio_core.providers.mimio import MimioProvider
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.transfer import transfer_video
from mimio_core.validation import detect_type

VIDEO_BYTES = 300 * MIB
TARGET_RISE_MIB = 32
PAD_CHUNK = MIB
SERVER_START_LIMIT = 60.0


def tiny_mp4(path: Path) -> int:
    """A real 1 s 64x64 H.264 MP4 (ftyp first, as libmagic expects); returns its size."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for index in range(24):
            shade = np.full((64, 64, 3), index * 10, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(shade, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 24)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.stat().st_size


def padded_mp4(source: Path, target: Path, total: int) -> None:
    """`source` followed by one top-level `free` box up to `total` bytes, written without holding it."""
    head = source.read_bytes()
    padding = total - len(head)
    block = os.urandom(PAD_CHUNK)  # incompressible, like real video data
    with target.open("wb") as out:
        out.write(head)
        out.write(struct.pack(">I4s", padding, b"free"))
        left = padding - 8
        while left > 0:
            out.write(block[: min(left, PAD_CHUNK)])
            left -= PAD_CHUNK


def place_job(work: Path, video: Path) -> str:
    """A completed job for `video` in the server's work folder, as the server persists its jobs."""
    job_id = f"video_{uuid.uuid4().hex}"
    now = time.time()
    job = Job(
        id=job_id,
        prompt="transfer benchmark",
        model="sora-2",
        size="720x1280",
        seconds=4,
        created_at=now - 60,
        status="completed",
        completed_at=now - 1,
    )
    persisted = {f.name for f in fields(Job) if not f.metadata.get("runtime")}
    record = {key: value for key, value in asdict(job).items() if key in persisted}
    (work / "jobs" / f"{job_id}.json").write_text(json.dumps(record))
    os.replace(video, work / "videos" / f"{job_id}.mp4")
    return job_id


def start_server(data_dir: Path, log_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m mimio_core serve-local` in its own process; returns once /health answers."""
    port = free_port()
    env = {**os.environ, "MIMIO_DATA_DIR": str(data_dir), "MIMIO_LOG_LEVEL": "WARNING"}
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mimio_core", "serve-local", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_LIMIT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=1).is_success:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(process)
    raise RuntimeError(f"serve-local did not answer at {url}:\n{log_file.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mimio-bench-transfer-") as tmp:
        root = Path(tmp)
        data_dir = root / "server-data"
        work = data_dir / "local-server"
        for folder in ("jobs", "videos"):
            (work / folder).mkdir(parents=True)

        small = root / "small.mp4"
        small_size = tiny_mp4(small)
        big = root / "big.mp4"
        padded_mp4(small, big, VIDEO_BYTES)
        with big.open("rb") as head:
            mime, description = detect_type(head.read(64 * 1024))
        print(f"source: {VIDEO_BYTES / MIB:.0f} MiB, libmagic on its first 64 KiB: {mime} ({description})")
        warm_copy = root / "warm.mp4"
        warm_copy.write_bytes(small.read_bytes())
        warm_id = place_job(work, warm_copy)
        big_id = place_job(work, big)

        process, url = start_server(data_dir, root / "server.log")
        provider = MimioProvider(url)
        files = LocalFileStorage(root / "files")
        scratch = root / "scratch"
        try:
            # warm-up: the same path on a small file (connection, libmagic database, tempfile, copy)
            transfer_video(provider, files, LOCAL_USER_ID, str(uuid.uuid4()), warm_id, scratch)
            provider.statuses([big_id])

            reset = reset_peak_rss()  # VmHWM := VmRSS now, so VmHWM afterwards is this transfer's peak
            rss_before = proc_status_kib("VmRSS")
            maxrss_before = max_rss_kib()
            video_id = str(uuid.uuid4())
            start = time.perf_counter()
            key = transfer_video(provider, files, LOCAL_USER_ID, video_id, big_id, scratch).key
            seconds = time.perf_counter() - start
            maxrss_after = max_rss_kib()
            hwm_after = proc_status_kib("VmHWM")
            rss_after = proc_status_kib("VmRSS")
            moved = files.path(key).stat().st_size
            left_in_scratch = sum(1 for _ in scratch.iterdir())
        finally:
            provider.close()
            stop_server(process)

    rise_maxrss = (maxrss_after - maxrss_before) / 1024
    rise_hwm = (
        None if hwm_after is None or rss_before is None or not reset else (hwm_after - rss_before) / 1024
    )
    print(f"warm-up transfer: {small_size} bytes; scratch files left after the big one: {left_in_scratch}")
    print(
        table(
            ["memory (MiB)", "before", "after"],
            [
                ["ru_maxrss (peak since start)", mib(maxrss_before), mib(maxrss_after)],
                [
                    "VmHWM (peak, reset at baseline)" if reset else "VmHWM (peak)",
                    mib(rss_before),
                    mib(hwm_after),
                ],
                ["VmRSS (current)", mib(rss_before), mib(rss_after)],
            ],
        )
    )
    print(
        f"moved {moved} bytes ({moved / MIB:.1f} MiB, "
        f"{'complete' if moved == VIDEO_BYTES else 'SIZE MISMATCH'}) in {seconds:.2f} s = "
        f"{moved / MIB / seconds:.0f} MiB/s (download to scratch + copy into storage)"
    )
    worst = max(rise_maxrss, rise_hwm or 0.0)
    print(f"peak RSS rise by ru_maxrss: {rise_maxrss:.1f} MiB")
    if rise_hwm is not None:
        print(f"peak RSS rise by VmHWM over VmRSS at baseline: {rise_hwm:.1f} MiB")
    verdict = "PASS" if worst < TARGET_RISE_MIB else "OVER TARGET"
    print(f"verdict: {verdict}: peak rise {worst:.1f} MiB vs target < {TARGET_RISE_MIB} MiB")


if __name__ == "__main__":
    main()
