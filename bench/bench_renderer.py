"""Benchmark the offline renderer against a bare x264 encode with the same settings.

Usage: ``python bench/bench_renderer.py [--runs N]``. Prints wall and CPU time for
a 4 s 1280x720 @ 24 fps clip (prompt only, and with a 1920x1080 JPEG reference)
and the ratio to encoding the same number of all-zero frames, which is the floor
the renderer cannot beat. "encode only, rendered frames" re-encodes the
prompt-only clip's own frames, i.e. the x264 share of a render on real content;
the 1792x1024 row covers the largest size the app uses. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mimio_core.local_server.renderer import (
    CODEC,
    PIX_FMT,
    THREAD_COUNT,
    X264_OPTIONS,
    RenderSpec,
    open_encoder,
    render_video,
)

WIDTH, HEIGHT, SECONDS, FPS = 1280, 720, 4, 24
PROMPT = "A red fox trotting through a snowy birch forest at golden hour, cinematic, 35mm"


def _reference_jpeg() -> bytes:
    """A photo-like 1920x1080 JPEG (smooth gradients + shapes + mild blur), so x264 has real detail."""
    rng = np.random.default_rng(7)
    x = np.linspace(0, 1, 1920, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, 1080, dtype=np.float32)[:, None]
    arr = np.stack([200 * x + 30 * y, 120 + 80 * y * x, 220 - 150 * y + 0 * x], axis=-1)
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x0, y0 = int(rng.integers(0, 1800)), int(rng.integers(0, 1000))
        size = int(rng.integers(20, 260))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x0, y0, x0 + size, y0 + size), fill=color)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _encode_frames(path: Path, frames: list[np.ndarray], fmt: str) -> None:
    """Encode ready-made frames exactly as the renderer encodes (same open_encoder)."""
    container, stream = open_encoder(path, WIDTH, HEIGHT, FPS)
    time_base = Fraction(1, FPS)
    try:
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format=fmt)
            frame.pts = index
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    finally:
        container.close()


def _blank_encode(path: Path) -> None:
    """The task's baseline: SECONDS*FPS all-zero RGB frames through the same encoder."""
    zeros = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    _encode_frames(path, [zeros] * (SECONDS * FPS), "rgb24")


def _decoded_yuv_frames(path: Path) -> list[np.ndarray]:
    """Frames of a rendered clip as yuv420p arrays, to time x264 alone on real content."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]


def _measure(fn: Callable[[Path], None], out: Path, runs: int) -> tuple[float, float, int]:
    """Median wall seconds, median CPU seconds (this process, all threads) and output size."""
    walls, cpus = [], []
    for _ in range(runs):
        out.unlink(missing_ok=True)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        fn(out)
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    return statistics.median(walls), statistics.median(cpus), out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median is reported)")
    args = parser.parse_args()

    frames = SECONDS * FPS
    reference = _reference_jpeg()
    cases: list[tuple[str, Callable[[Path], None]]] = [
        ("blank frames, encode only", _blank_encode),
        (
            "render, prompt only",
            lambda p: render_video(RenderSpec(PROMPT, WIDTH, HEIGHT, SECONDS, FPS), p),
        ),
        (
            "render, 1920x1080 JPEG ref",
            lambda p: render_video(RenderSpec(PROMPT, WIDTH, HEIGHT, SECONDS, FPS, reference), p),
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / "content.mp4"
        render_video(RenderSpec(PROMPT, WIDTH, HEIGHT, SECONDS, FPS), rendered)
        content = _decoded_yuv_frames(rendered)
    cases.insert(1, ("encode only, rendered frames", lambda p: _encode_frames(p, content, "yuv420p")))
    big = (1792, 1024)
    cases.append(
        (
            f"render, prompt, {big[0]}x{big[1]}",
            lambda p: render_video(RenderSpec(PROMPT, big[0], big[1], SECONDS, FPS), p),
        )
    )
    settings = ", ".join(f"{k}={v}" for k, v in X264_OPTIONS.items())
    print(
        f"{WIDTH}x{HEIGHT}, {SECONDS}s @ {FPS} fps = {frames} frames; "
        f"{CODEC} {PIX_FMT} {settings}, threads={THREAD_COUNT}; median of {args.runs} runs"
    )
    print(f"{'case':<30} {'wall s':>7} {'cpu s':>7} {'ms/frame':>9} {'x blank':>8} {'size KiB':>9}")
    baseline = None
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in cases:
            wall, cpu, size = _measure(fn, Path(tmp) / "bench.mp4", args.runs)
            baseline = baseline or wall
            print(
                f"{name:<30} {wall:7.2f} {cpu:7.2f} {1000 * wall / frames:9.1f} "
                f"{wall / baseline:8.2f} {size / 1024:9.0f}"
            )


if __name__ == "__main__":
    main()
