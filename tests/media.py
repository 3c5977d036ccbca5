"""Media helpers for tests: make reference files, and check that a stored video really plays."""

from __future__ import annotations

import io
from pathlib import Path

import av
from PIL import Image


def png_bytes(width: int = 640, height: int = 480, color: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def mp4_bytes(width: int = 64, height: int = 64, frames: int = 5) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", (width, height), (index * 40, 100, 150))
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def assert_playable_mp4(path: Path, size: str, seconds: int) -> None:
    """H.264 in an MP4 of the given size, whose frames decode and last `seconds`."""
    width, height = (int(part) for part in size.split("x"))
    with av.open(str(path)) as container:
        assert container.format.name.startswith("mov,mp4")
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (width, height)
        frames = sum(1 for _ in container.decode(video=0))
        duration = (
            float(stream.duration * stream.time_base)
            if stream.duration
            else frames / float(stream.average_rate)
        )
    assert abs(duration - seconds) <= 0.1, duration
    assert frames == round(seconds * float(stream.average_rate))
