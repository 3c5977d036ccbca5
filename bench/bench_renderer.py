"""Benchmark the offline renderer against a plain PyAV encode of its own frames, and its caption wrapping.

Usage: ``python bench/bench_renderer.py [--runs N] [--caption-timeout S] [--rss-renders N]``.

* Speed: 4 s clips at 1280x720 @ 24 fps (prompt only, and with a 1920x1080 JPEG reference) and the
  largest size the app uses (1792x1024). Each case's frames are captured from ``render_video``
  itself (the stream it encodes to is wrapped), then encoded again with nothing else to do through
  the same ``open_encoder`` with the same options: "speed" is that plain encode's time over the
  render's, so 1.00 would mean drawing costs nothing, by wall and by CPU time (the latter is less
  disturbed by other processes). Cases are interleaved run by run and medians of ``--runs``
  printed, so load from other processes hits every case alike. All-zero frames are the x264 floor.
* Long words: a one-frame 1280x720 render whose prompt is a single 2,000 / 8,000 / 20,000 character
  word, each in a child process that is killed after ``--caption-timeout`` seconds (the caption
  wrapping was once cubic in the word's length).
* ``--rss-renders N``: VmRSS of this process along N renders (prompt and reference alternately),
  to tell a leak from a plateau.

Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import av
import numpy as np
from _common import proc_status_kib, table
from av.video.stream import VideoStream
from PIL import Image, ImageDraw, ImageFilter

from mimio_core.local_server import renderer
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
BIG = (1792, 1024)
PROMPT = "A red fox trotting through a snowy birch forest at golden hour, cinematic, 35mm"
LONG_WORDS = (2_000, 8_000, 20_000)


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


class _RecordingStream:
    """Forwards to the real stream and keeps a yuv420p copy of every frame it is given."""

    def __init__(self, stream: VideoStream, frames: list[np.ndarray]) -> None:
        self._stream, self._frames = stream, frames

    def encode(self, frame: av.VideoFrame | None = None) -> list[av.Packet]:
        if frame is not None:
            self._frames.append(frame.to_ndarray(format="yuv420p"))
        return self._stream.encode(frame)


@contextmanager
def _capturing(frames: list[np.ndarray], settings: dict[str, Any]) -> Iterator[None]:
    """Make ``render_video`` record the exact frames it encodes and the encoder options it asks
    ``open_encoder`` for (keyword arguments), whatever the version of the renderer."""
    real = renderer.open_encoder

    def recording(path: Path | str, width: int, height: int, fps: int, **options: Any) -> tuple[Any, Any]:
        settings.update(options)
        container, stream = real(path, width, height, fps, **options)
        return container, _RecordingStream(stream, frames)

    renderer.open_encoder = recording  # type: ignore[assignment]
    try:
        yield
    finally:
        renderer.open_encoder = real


def _encode_frames(
    path: Path, frames: list[np.ndarray], fmt: str, width: int, height: int, **options: Any
) -> None:
    """A plain PyAV encode of ready-made frames with the renderer's exact encoder settings."""
    container, stream = open_encoder(path, width, height, FPS, **options)
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


@dataclass
class _Case:
    name: str
    spec: RenderSpec
    frames: list[np.ndarray]
    options: dict[str, Any]
    plain: list[tuple[float, float]] = field(default_factory=list)
    render: list[tuple[float, float]] = field(default_factory=list)
    size: int = 0


def _timed(fn: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()``; CPU time is less disturbed by other processes on the box."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _speed(runs: int) -> None:
    """Renders against plain encodes of their own frames, interleaved run by run."""
    reference = _reference_jpeg()
    specs = {
        "prompt only": RenderSpec(PROMPT, WIDTH, HEIGHT, SECONDS, FPS),
        "1920x1080 JPEG reference": RenderSpec(PROMPT, WIDTH, HEIGHT, SECONDS, FPS, reference),
        "prompt only (largest app size)": RenderSpec(PROMPT, *BIG, SECONDS, FPS),
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.mp4"
        cases = []
        for name, spec in specs.items():
            frames: list[np.ndarray] = []
            options: dict[str, Any] = {}
            with _capturing(frames, options):
                render_video(spec, out)
            cases.append(_Case(name, spec, frames, options))
        zeros = [np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)] * (SECONDS * FPS)
        blank: list[float] = []
        for _ in range(runs):
            blank.append(_timed(partial(_encode_frames, out, zeros, "rgb24", WIDTH, HEIGHT))[0])
            for case in cases:
                size = (case.spec.width, case.spec.height)
                case.plain.append(
                    _timed(partial(_encode_frames, out, case.frames, "yuv420p", *size, **case.options))
                )
                case.render.append(_timed(partial(render_video, case.spec, out)))
                case.size = out.stat().st_size

    settings = ", ".join(f"{k}={v}" for k, v in X264_OPTIONS.items())
    print(
        f"{SECONDS}s @ {FPS} fps = {SECONDS * FPS} frames; {CODEC} {PIX_FMT} {settings}, "
        f"threads={THREAD_COUNT}; median of {runs} interleaved runs"
    )
    print(f"x264 floor: {SECONDS * FPS} all-zero 1280x720 frames encode in {statistics.median(blank):.2f} s")
    rows = []
    for case in cases:
        plain_wall, plain_cpu = (statistics.median(t) for t in zip(*case.plain, strict=True))
        wall, cpu = (statistics.median(t) for t in zip(*case.render, strict=True))
        rows.append(
            [
                f"{case.spec.width}x{case.spec.height} {case.name}",
                ", ".join(f"{k}={v}" for k, v in case.options.items()) or "-",
                f"{plain_wall:.2f}",
                f"{wall:.2f}",
                f"{plain_cpu:.2f}",
                f"{cpu:.2f}",
                f"{1000 * wall / case.spec.total_frames:.1f}",
                f"{plain_wall / wall:.2f}x",
                f"{plain_cpu / cpu:.2f}x",
                f"{case.size / 1024:.0f}",
            ]
        )
    headers = [
        "render",
        "encoder",
        "plain wall s",
        "render wall s",
        "plain cpu s",
        "render cpu s",
        "ms/frame",
        "speed (wall)",
        "speed (cpu)",
        "size KiB",
    ]
    print(table(headers, rows))


def _long_word_child(chars: int, conn: Connection) -> None:
    """Time a one-frame render whose prompt is one ``chars``-long word; sends the seconds back."""
    word = "".join(chr(ord("a") + i % 26) for i in range(chars))
    with tempfile.TemporaryDirectory() as tmp:
        conn.send(_timed(lambda: render_video(RenderSpec(word, WIDTH, HEIGHT, 1, 1), Path(tmp) / "w.mp4"))[0])


def _long_words(timeout: float) -> None:
    """Each long-word render in a child process, so one that never ends can be killed."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for chars in LONG_WORDS:
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_long_word_child, args=(chars, sender))
        child.start()
        sender.close()
        if receiver.poll(timeout):
            rows.append([f"{chars:,}", f"{receiver.recv():.3f}"])
        else:
            rows.append([f"{chars:,}", f"> {timeout:.0f} (killed)"])
            child.kill()
        child.join()
    print(f"\nOne-frame {WIDTH}x{HEIGHT} render, prompt = a single word")
    print(table(["word chars", "seconds"], rows))


def _rss(renders: int) -> None:
    """VmRSS after some of ``renders`` renders in this process: a leak grows, allocator reuse plateaus."""
    reference = _reference_jpeg()
    specs = [
        RenderSpec(PROMPT, WIDTH, HEIGHT, SECONDS, FPS),
        RenderSpec(PROMPT, WIDTH, HEIGHT, SECONDS, FPS, reference),
    ]
    marks = sorted({1, 5, renders // 4, renders // 2, renders} - {0})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(renders):
            render_video(specs[index % 2], Path(tmp) / "rss.mp4")
            if index + 1 in marks:
                rows.append([index + 1, f"{(proc_status_kib('VmRSS') or 0) / 1024:.1f}"])
    print(f"\nVmRSS along {renders} renders in one process (prompt and reference alternately)")
    print(table(["renders", "VmRSS MiB"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per case (median is reported)")
    parser.add_argument("--caption-timeout", type=float, default=60.0, help="seconds per long-word render")
    parser.add_argument("--rss-renders", type=int, default=0, help="also track VmRSS along N renders")
    args = parser.parse_args()
    _speed(args.runs)
    _long_words(args.caption_timeout)
    if args.rss_renders:
        _rss(args.rss_renders)


if __name__ == "__main__":
    main()
