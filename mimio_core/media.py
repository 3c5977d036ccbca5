"""Image and video helpers every part that looks at media shares: one rule for transparency, one way
to take a video's first frame, so a reference shows the same in the local preview, in what a
provider is sent, and in a thumbnail."""

from __future__ import annotations

import io
from pathlib import Path

import av
from PIL import Image

TRANSPARENT_BACKGROUND = (255, 255, 255)  # white: a transparent logo on black would be a surprise


class NoFrame(ValueError):
    """The bytes hold no video frame that decodes."""


def flatten_transparency(image: Image.Image) -> Image.Image:
    """The image in RGB, any transparency composited over white instead of dropped."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, TRANSPARENT_BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def first_video_frame(source: bytes | Path) -> Image.Image:
    """The first decodable frame in RGB, turned by the display-matrix rotation phones record;
    `NoFrame` when there is none (no video track, or nothing decodes)."""
    try:
        with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), mode="r") as container:
            if not container.streams.video:
                raise NoFrame("it has no video track")
            for frame in container.decode(container.streams.video[0]):
                image = frame.to_image()
                if frame.rotation:
                    image = image.rotate(frame.rotation, expand=True)
                return image.convert("RGB")
    except (av.FFmpegError, OSError, IndexError) as exc:
        raise NoFrame(f"it could not be decoded ({exc})") from exc
    raise NoFrame("it contains no decodable frame")
