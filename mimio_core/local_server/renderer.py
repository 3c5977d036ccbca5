"""Offline video renderer used by the embedded fake video-generation server.

It turns a :class:`RenderSpec` (prompt, size, duration, optional reference
image/video) into a browser-playable H.264 MP4 without any network or model,
so the app can be exercised end to end on a laptop or in CI.

Design notes:

* Frames are produced directly as yuv420p (BT.709, limited range, tagged in
  the stream) so no per-frame RGB->YUV conversion of the full frame is needed:
  the prompt-only scene is computed with numpy at quarter resolution (it is
  smooth, so nothing is lost) and upscaled + converted by swscale in one pass;
  the reference scene is a slow Ken-Burns zoom done by three single-channel
  Pillow resizes of pre-converted Y/U/V planes. The caption is rendered once
  and only its band is blended into each frame. x264 dominates the cost.
* The encoder runs with a single thread and a fast preset so a render never
  starves the Streamlit process hosting the server.
* Output goes to a temporary name next to ``out_path`` and is renamed at the
  end, so readers never see a half-written file.
* There is no module-level mutable state besides an ``lru_cache`` on font path
  lookup, so concurrent renders in threads are safe.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import logging
import math
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import cast

import av
import numpy as np
from av.container import OutputContainer
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc, Interpolation
from av.video.stream import VideoStream
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from mimio_core.errors import MimioError
from mimio_core.media import NoFrame, first_video_frame, flatten_transparency

__all__ = [
    "CODEC",
    "PIX_FMT",
    "THREAD_COUNT",
    "X264_OPTIONS",
    "InvalidSpecError",
    "RenderCancelled",
    "RenderError",
    "RenderSpec",
    "cover_crop",
    "open_encoder",
    "reference_first_frame",
    "render_video",
]

logger = logging.getLogger(__name__)

# --- Encoder settings (shared with bench/bench_renderer.py) -----------------

CODEC = "libx264"
PIX_FMT = "yuv420p"
#: One encoder thread: renders run inside the Streamlit host and must not
#: monopolise the CPU (at most one core per render). x264 'veryfast' then
#: costs ~13 ms per 1280x720 frame, most of a render's time.
THREAD_COUNT = 1
#: 'veryfast' keeps CABAC/deblocking (clearly better looking and ~2x smaller
#: than 'ultrafast') for a small speed cost; CRF 23 is x264's default quality.
X264_OPTIONS: Mapping[str, str] = MappingProxyType({"preset": "veryfast", "crf": "23"})
#: moov atom at the front so browsers can start playback before the download ends.
CONTAINER_OPTIONS: Mapping[str, str] = MappingProxyType({"movflags": "faststart"})

# --- Look -------------------------------------------------------------------

#: Final zoom factor of the reference Ken-Burns effect (1.0 -> ZOOM_END).
ZOOM_END = 1.15
# Where the zoom heads, per variation seed: centre, then upper left, then lower right.
ZOOM_ANCHORS: tuple[tuple[float, float], ...] = ((0.5, 0.5), (0.2, 0.25), (0.8, 0.75))
#: The prompt-only scene is computed at 1/SCENE_DOWNSCALE resolution.
SCENE_DOWNSCALE = 4
#: Seconds for one full cycle of the scene animation.
SCENE_PERIOD = 8.0
CAPTION_MAX_LINES = 3
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
)


class RenderError(MimioError):
    """The render could not be produced (e.g. undecodable reference).

    The message is meant to be shown to the user as is.
    """


class RenderCancelled(RenderError):
    """``should_stop()`` asked the render to stop; no output file was left."""


class InvalidSpecError(RenderError, ValueError):
    """A :class:`RenderSpec` with impossible values (non-positive or odd size...).

    Also a ``ValueError`` so it reads naturally to callers validating input.
    """


@dataclass(frozen=True)
class RenderSpec:
    """What to render. Sizes must be even because yuv420p subsamples chroma by 2."""

    prompt: str
    width: int
    height: int
    seconds: int
    fps: int = 24
    # Bytes of a png/jpeg/webp image or an mp4/mov/webm video; repr=False keeps
    # megabytes of binary out of logs and tracebacks.
    reference: bytes | None = field(default=None, repr=False)
    # Variations of one request differ by seed: another scene, or another zoom target.
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("width", "height", "seconds", "fps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidSpecError(f"{name} must be a positive integer, got {value!r}.")
        if self.width % 2 or self.height % 2:
            raise InvalidSpecError(f"Video size must be even for H.264 (got {self.width}x{self.height}).")

    @property
    def total_frames(self) -> int:
        """Number of frames the render produces (``seconds * fps``)."""
        return self.seconds * self.fps


# --- Encoder -----------------------------------------------------------------


def open_encoder(path: Path | str, width: int, height: int, fps: int) -> tuple[OutputContainer, VideoStream]:
    """Open an MP4 container with the renderer's exact H.264 settings.

    Public so the benchmark can measure a plain encode with identical settings.
    The caller must set ``frame.pts`` in units of ``1/fps`` and close the container.
    """
    container = av.open(str(path), mode="w", format="mp4", container_options=dict(CONTAINER_OPTIONS))
    try:
        stream = cast(VideoStream, container.add_stream(CODEC, rate=fps))  # CODEC is a video codec
        stream.width = width
        stream.height = height
        stream.pix_fmt = PIX_FMT
        stream.time_base = Fraction(1, fps)
        stream.codec_context.thread_count = THREAD_COUNT
        # Tag BT.709 limited range explicitly: untagged HD streams are guessed
        # differently by browsers, which would shift colours.
        stream.codec_context.colorspace = Colorspace.ITU709
        stream.codec_context.color_range = ColorRange.MPEG
        stream.codec_context.color_primaries = ColorPrimaries.BT709
        stream.codec_context.color_trc = ColorTrc.BT709
        stream.options = dict(X264_OPTIONS)
    except BaseException:
        container.close()
        raise
    return container, stream


# --- Reference decoding ------------------------------------------------------


def reference_first_frame(reference: bytes) -> Image.Image:
    """Decode a reference image, or the first frame of a reference video, to RGB.

    Images go through Pillow (EXIF orientation applied, transparency flattened
    on black); anything Pillow does not recognise is tried as a video via PyAV.
    Raises :class:`RenderError` with a user-readable message on failure.
    """
    return _decode_reference(reference)


def _decode_reference(reference: bytes, min_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode like :func:`reference_first_frame`; ``min_size`` lets JPEG decode at reduced scale."""
    if not reference:
        raise RenderError("The reference file is empty.")
    try:
        image: Image.Image = Image.open(io.BytesIO(reference))
    except UnidentifiedImageError:
        return _decode_video_first_frame(reference)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RenderError(f"The reference image could not be read: {exc}") from exc
    try:
        if min_size is not None and image.format == "JPEG":
            # JPEG can decode at 1/2, 1/4, 1/8 scale for free; huge photos would
            # otherwise dominate the render's setup time.
            w, h = min_size
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # rotated 90 degrees
                w, h = h, w
            image.draft("RGB", (w, h))
        image.load()
        image = ImageOps.exif_transpose(image)
        return flatten_transparency(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise RenderError(
            f"The reference image is corrupt or truncated and could not be decoded ({exc})."
        ) from exc


def _decode_video_first_frame(reference: bytes) -> Image.Image:
    """First video frame, honouring the display-matrix rotation of phone videos."""
    try:
        return first_video_frame(reference)
    except NoFrame as exc:
        raise RenderError(f"The reference file could not be used as an image or a video: {exc}.") from exc


def _cover_box(src_w: int, src_h: int, width: int, height: int) -> tuple[float, float, float, float]:
    """Centered crop box of the source with the target aspect ratio (CSS ``object-fit: cover``)."""
    target = width / height
    if src_w / src_h > target:
        crop_w = src_h * target
        x0 = (src_w - crop_w) / 2
        return (x0, 0.0, x0 + crop_w, float(src_h))
    crop_h = src_w / target
    y0 = (src_h - crop_h) / 2
    return (0.0, y0, float(src_w), y0 + crop_h)


def cover_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale and center-crop ``image`` to exactly ``width`` x ``height`` (the first reference frame)."""
    box = _cover_box(image.width, image.height, width, height)
    return image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS, box=box)


# --- Frame sources -----------------------------------------------------------

#: Produces frame ``index`` as a writable yuv420p array of shape (H*3/2, W):
#: the Y plane, then U and V planes (each W/2 x H/2) packed row after row,
#: which is the layout ``av.VideoFrame.from_ndarray(..., format="yuv420p")`` expects.
FrameSource = Callable[[int], np.ndarray]

_KR, _KB = 0.2126, 0.0722  # BT.709 luma coefficients


def _rgb_to_yuv709(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-resolution Y, Cb, Cr (uint8, BT.709 limited range) of an RGB uint8 array."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    luma = _KR * r + (1.0 - _KR - _KB) * g + _KB * b
    y = 16.0 + luma * (219.0 / 255.0)
    cb = 128.0 + (b - luma) * (224.0 / 255.0 / (2.0 * (1.0 - _KB)))
    cr = 128.0 + (r - luma) * (224.0 / 255.0 / (2.0 * (1.0 - _KR)))

    def to_u8(plane: np.ndarray) -> np.ndarray:
        return np.clip(plane + 0.5, 0, 255).astype(np.uint8)

    return to_u8(y), to_u8(cb), to_u8(cr)


def _pack_yuv420(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pack planes into the contiguous (H*3/2, W) yuv420p layout."""
    height, width = y.shape
    return np.concatenate((y.reshape(-1), u.reshape(-1), v.reshape(-1))).reshape(height * 3 // 2, width)


def _rgb_image_to_yuv420(image: Image.Image) -> np.ndarray:
    """Convert an RGB image (even size) to packed yuv420p; chroma is a 2x2 box average."""
    y, cb, cr = _rgb_to_yuv709(np.asarray(image))
    u = np.asarray(Image.fromarray(cb, "L").reduce(2))
    v = np.asarray(Image.fromarray(cr, "L").reduce(2))
    return _pack_yuv420(y, u, v)


def _ease_in_out(p: float) -> float:
    """Cosine ease so the zoom starts and ends without a jolt."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(p, 0.0), 1.0))


def _reference_source(spec: RenderSpec) -> FrameSource:
    """Slow zoom into the cover-cropped reference (towards a point chosen by the seed); frame 0 is
    the plain cover crop.

    The zoom source ("master") is converted to Y/U/V planes once, so each frame
    costs three single-channel Pillow resizes (chroma at half size) instead of
    an RGB resize plus a colour conversion.
    """
    if spec.reference is None:
        raise RenderError("No reference was provided.")
    width, height = spec.width, spec.height
    need = (math.ceil(width * ZOOM_END), math.ceil(height * ZOOM_END))
    source = _decode_reference(spec.reference, min_size=need)
    first = _rgb_image_to_yuv420(cover_crop(source, width, height))
    box = _cover_box(source.width, source.height, width, height)
    # Keep enough source detail for the deepest zoom, but no more (per-frame
    # resize cost grows with the master size).
    factor = min(max((box[2] - box[0]) / width, 1.0), ZOOM_END)
    master = source.resize((round(width * factor), round(height * factor)), Image.Resampling.LANCZOS, box=box)
    del source
    mw, mh = master.size
    y, cb, cr = _rgb_to_yuv709(np.asarray(master))
    del master
    master_y = Image.fromarray(y, "L")
    chroma_size = ((mw + 1) // 2, (mh + 1) // 2)
    master_u = Image.fromarray(cb, "L").resize(chroma_size, Image.Resampling.BOX)
    master_v = Image.fromarray(cr, "L").resize(chroma_size, Image.Resampling.BOX)
    sx, sy = chroma_size[0] / mw, chroma_size[1] / mh
    luma_size, chroma_out = (width, height), (width // 2, height // 2)
    bilinear = Image.Resampling.BILINEAR
    last = max(spec.total_frames - 1, 1)
    anchor_x, anchor_y = ZOOM_ANCHORS[spec.seed % len(ZOOM_ANCHORS)]

    def frame(index: int) -> np.ndarray:
        if index == 0:
            return first.copy()
        zoom = 1.0 + (ZOOM_END - 1.0) * _ease_in_out(index / last)
        bw, bh = mw / zoom, mh / zoom
        x0, y0 = (mw - bw) * anchor_x, (mh - bh) * anchor_y
        cbox = (x0 * sx, y0 * sy, (x0 + bw) * sx, (y0 + bh) * sy)
        data = bytearray(master_y.resize(luma_size, bilinear, box=(x0, y0, x0 + bw, y0 + bh)).tobytes())
        data += master_u.resize(chroma_out, bilinear, box=cbox).tobytes()
        data += master_v.resize(chroma_out, bilinear, box=cbox).tobytes()
        return np.frombuffer(data, dtype=np.uint8).reshape(height * 3 // 2, width)

    return frame


def _prompt_rng(prompt: str, seed: int) -> random.Random:
    """A private RNG seeded from the prompt and seed: same input, same video, in any thread."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode() if seed else prompt.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _palette(rng: random.Random) -> np.ndarray:
    """Five harmonious colours (float32 RGB in 0..1): 2 background, 3 accent."""
    base = rng.random()
    offsets = rng.choice(
        [
            (0.0, 0.06, 0.12, 0.5, 0.56),  # analogous + complement
            (0.0, 0.33, 0.66, 0.08, 0.41),  # triadic
            (0.0, 0.08, 0.92, 0.16, 0.84),  # analogous
            (0.0, 0.42, 0.58, 0.05, 0.5),  # split complementary
        ]
    )
    colors = []
    for i, off in enumerate(offsets):
        hue = (base + off) % 1.0
        if i < 2:  # background: deeper, moderately saturated
            sat, val = rng.uniform(0.5, 0.8), rng.uniform(0.3, 0.55)
        else:  # accents: lighter, glowing
            sat, val = rng.uniform(0.35, 0.7), rng.uniform(0.75, 0.98)
        colors.append(colorsys.hsv_to_rgb(hue, sat, val))
    return np.asarray(colors, dtype=np.float32)


def _scene_source(spec: RenderSpec) -> FrameSource:
    """Prompt-derived animation: a drifting two-colour wave gradient with soft glowing blobs.

    Everything per frame is a handful of broadcast numpy ops on a quarter
    resolution grid (Gaussians are separable, so blobs cost two 1-D exps),
    followed by one bilinear upscale + colour conversion in swscale.
    """
    width, height, fps = spec.width, spec.height, spec.fps
    rng = _prompt_rng(spec.prompt, spec.seed)
    palette = _palette(rng)
    lw = max(2, math.ceil(width / SCENE_DOWNSCALE))
    lh = max(2, math.ceil(height / SCENE_DOWNSCALE))
    unit = min(lw, lh)
    # Coordinates in "short side = 1" units so shapes stay round in any aspect.
    xs = ((np.arange(lw, dtype=np.float32) + 0.5) / unit)[None, :]
    ys = ((np.arange(lh, dtype=np.float32) + 0.5) / unit)[:, None]
    ext_x, ext_y = lw / unit, lh / unit

    angle = rng.uniform(0, 2 * math.pi)
    angle2 = angle + rng.uniform(0.6, 1.6)
    k1, k2 = rng.uniform(1.8, 3.2), rng.uniform(2.5, 4.5)
    proj1 = k1 * (xs * math.cos(angle) + ys * math.sin(angle))
    proj2 = k2 * (xs * math.cos(angle2) + ys * math.sin(angle2))
    c0, c1 = palette[0], palette[1]

    blobs = []
    for color in palette[2:]:
        blobs.append(
            (
                color,
                rng.uniform(0.18, 0.32),  # radius
                rng.uniform(0.45, 0.75),  # strength
                rng.uniform(0.2, 0.35) * ext_x,  # x amplitude
                rng.uniform(0.15, 0.3) * ext_y,  # y amplitude
                rng.choice((1, 2)) * rng.choice((-1, 1)),  # x cycles per period
                rng.choice((1, 2)) * rng.choice((-1, 1)),  # y cycles per period
                rng.uniform(0, 2 * math.pi),
                rng.uniform(0, 2 * math.pi),
            )
        )
    dist2 = ((xs - ext_x / 2) / ext_x) ** 2 + ((ys - ext_y / 2) / ext_y) ** 2
    vignette = (1.0 - 0.9 * dist2)[..., None].astype(np.float32)
    two_pi = 2 * math.pi

    def frame(index: int) -> np.ndarray:
        phase = two_pi * (index / fps) / SCENE_PERIOD
        g = 0.5 + 0.32 * np.sin(proj1 + phase) + 0.18 * np.sin(proj2 - 1.3 * phase)
        img = c0 + (c1 - c0) * g[..., None]
        for color, radius, strength, ax, ay, fx, fy, px, py in blobs:
            cx = ext_x / 2 + ax * math.sin(fx * phase + px)
            cy = ext_y / 2 + ay * math.sin(fy * phase + py)
            inv = -0.5 / (radius * radius)
            w = strength * np.exp(inv * (ys - cy) ** 2) * np.exp(inv * (xs - cx) ** 2)
            w = w[..., None]
            img = img + (color - img) * w
        img = img * vignette
        small = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        # swscale upscales and converts to yuv420p in one SIMD pass (~4x faster
        # than a Pillow RGB upscale followed by the encoder's own conversion).
        yuv = av.VideoFrame.from_ndarray(small, format="rgb24").reformat(
            width,
            height,
            "yuv420p",
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            interpolation=Interpolation.BILINEAR,
            threads=1,
        )
        return yuv.to_ndarray()

    return frame


# --- Caption -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _font_path() -> str | None:
    """First DejaVu TTF found; cached because it only probes the filesystem."""
    for candidate in _FONT_CANDIDATES:
        if os.path.isfile(candidate):
            return candidate
    return None


def _load_font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """A fresh font object per render (FreeType faces are not safe to share across threads).

    Returns the font and whether it can draw the Unicode ellipsis.
    """
    path = _font_path()
    if path is not None:
        try:
            return ImageFont.truetype(path, size), True
        except OSError:
            logger.warning("Could not load font %s; falling back to Pillow's default", path)
    try:
        return ImageFont.load_default(size=size), False
    except (OSError, TypeError, ImportError):
        return ImageFont.load_default(), False


def _wrap(
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    max_width: float,
    max_lines: int,
    ellipsis: str,
) -> list[str]:
    """Greedy word wrap by rendered width; overlong words are split, overflow ends in an ellipsis."""
    lines: list[str] = []
    current = ""
    overflow = False
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        while font.getlength(word) > max_width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > max_width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
        if len(lines) >= max_lines:
            overflow = True
            break
    if current and not overflow:
        lines.append(current)
    if len(lines) > max_lines:
        overflow = True
    if overflow:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + ellipsis) > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + ellipsis
    return lines


@dataclass(frozen=True)
class _Caption:
    """Pre-blended caption band as per-pixel integer weights for the Y, U and V planes.

    ``out = (in * keep + add) // 255`` on the band region only, so a frame
    costs a few small uint16 numpy ops. The overlay is grey (black band, white
    text), so chroma just blends towards neutral 128.
    """

    x0: int  # even, so chroma coordinates are exact halves
    y0: int  # even
    frame_width: int
    frame_height: int
    luma_keep: np.ndarray
    luma_add: np.ndarray
    chroma_keep: np.ndarray
    chroma_add: np.ndarray

    def apply(self, yuv: np.ndarray) -> None:
        """Blend the caption into a packed yuv420p array in place."""
        width, height = self.frame_width, self.frame_height
        bh, bw = self.luma_keep.shape
        region = yuv[self.y0 : self.y0 + bh, self.x0 : self.x0 + bw]
        region[...] = (region * self.luma_keep + self.luma_add) // 255
        # Chroma planes are flat-packed after Y (not whole rows when height % 4 != 0).
        flat = yuv.reshape(-1)
        luma_size, chroma_size = width * height, (width // 2) * (height // 2)
        ch, cw = self.chroma_keep.shape
        cx, cy = self.x0 // 2, self.y0 // 2
        for start in (luma_size, luma_size + chroma_size):
            plane = flat[start : start + chroma_size].reshape(height // 2, width // 2)
            region = plane[cy : cy + ch, cx : cx + cw]
            region[...] = (region * self.chroma_keep + self.chroma_add) // 255


def _build_caption(prompt: str, width: int, height: int) -> _Caption | None:
    """Render the prompt, wrapped to at most 3 lines, on a translucent rounded band near the bottom."""
    text = " ".join(prompt.split())
    if not text:
        return None
    short = min(width, height)
    font_size = max(10, round(short * 0.045))
    font, has_ellipsis = _load_font(font_size)
    margin = max(4, round(short * 0.02)) * 2  # even
    pad_x = max(4, round(font_size * 0.7))
    pad_y = max(3, round(font_size * 0.45))
    band_w = width - 2 * margin
    if band_w - 2 * pad_x < 4 * font_size:
        logger.debug("Frame %dx%d too small for a caption; skipping it", width, height)
        return None
    lines = _wrap(text, font, band_w - 2 * pad_x, CAPTION_MAX_LINES, "…" if has_ellipsis else "...")
    if not lines:
        return None
    ascent_box = font.getbbox("Ag")
    line_h = max(1, round((ascent_box[3] - ascent_box[1]) * 1.3))
    band_h = len(lines) * line_h + 2 * pad_y
    band_h += band_h % 2
    # Sit above the bottom edge where players draw their controls.
    bottom = height - max(margin, round(height * 0.07))
    y0 = max(0, bottom - band_h) // 2 * 2
    band_h = min(band_h, height - y0)

    band = Image.new("L", (band_w, band_h), 0)
    ImageDraw.Draw(band).rounded_rectangle((0, 0, band_w - 1, band_h - 1), radius=pad_y * 2, fill=150)
    text_mask = Image.new("L", (band_w, band_h), 0)
    shadow_mask = Image.new("L", (band_w, band_h), 0)
    text_draw, shadow_draw = ImageDraw.Draw(text_mask), ImageDraw.Draw(shadow_mask)
    shadow_off = max(1, font_size // 16)
    for i, line in enumerate(lines):
        x = (band_w - font.getlength(line)) / 2
        y = pad_y + i * line_h - ascent_box[1] + (line_h - (ascent_box[3] - ascent_box[1])) / 2
        shadow_draw.text((x + shadow_off, y + shadow_off), line, font=font, fill=200)
        text_draw.text((x, y), line, font=font, fill=255)

    # Composite layers (band: black, shadow: black, text: white) once with
    # proper "over" maths; per frame only the resulting weights are applied.
    alpha = np.zeros((band_h, band_w), dtype=np.float32)
    premult = np.zeros((band_h, band_w), dtype=np.float32)
    for layer, value in ((band, 0.0), (shadow_mask, 0.0), (text_mask, 1.0)):
        a = np.asarray(layer, dtype=np.float32) / 255.0
        premult = value * a + premult * (1.0 - a)
        alpha = a + alpha * (1.0 - a)
    alpha8 = np.rint(alpha * 255.0)
    # premult is grey*alpha; limited-range luma of grey g is 16 + 219*g.
    luma_add = np.rint((16.0 * alpha + 219.0 * premult) * 255.0) + 127.0
    chroma_alpha8 = np.rint(alpha8.reshape(band_h // 2, 2, band_w // 2, 2).mean(axis=(1, 3)))
    return _Caption(
        x0=margin,
        y0=y0,
        frame_width=width,
        frame_height=height,
        luma_keep=(255.0 - alpha8).astype(np.uint16),
        luma_add=luma_add.astype(np.uint16),
        chroma_keep=(255.0 - chroma_alpha8).astype(np.uint16),
        chroma_add=(128.0 * chroma_alpha8 + 127.0).astype(np.uint16),
    )


# --- Render ------------------------------------------------------------------


def render_video(
    spec: RenderSpec,
    out_path: Path,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Render ``spec`` to an H.264/yuv420p MP4 (moov at front) at ``out_path``.

    Writes exactly ``seconds * fps`` frames. ``on_progress(done, total)`` is
    called after each encoded frame; ``should_stop()`` is polled before each
    frame and, if true, :class:`RenderCancelled` is raised. The file appears at
    ``out_path`` only once complete (atomic rename); on any error the temporary
    file is removed. The parent directory must exist.
    """
    out_path = Path(out_path)
    total = spec.total_frames
    started = time.perf_counter()
    logger.info(
        "Rendering %dx%d %ds@%dfps (%d frames, reference=%s) -> %s",
        spec.width,
        spec.height,
        spec.seconds,
        spec.fps,
        total,
        "no" if spec.reference is None else f"{len(spec.reference)} bytes",
        out_path,
    )
    # Prepare everything that can fail on bad input before touching the disk.
    source = _scene_source(spec) if spec.reference is None else _reference_source(spec)
    caption = _build_caption(spec.prompt, spec.width, spec.height)
    time_base = Fraction(1, spec.fps)

    tmp_path = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.part")
    try:
        container, stream = open_encoder(tmp_path, spec.width, spec.height, spec.fps)
        try:
            for index in range(total):
                if should_stop is not None and should_stop():
                    raise RenderCancelled("The render was cancelled.")
                yuv = source(index)
                if caption is not None:
                    caption.apply(yuv)
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                frame.colorspace = Colorspace.ITU709
                frame.color_range = ColorRange.MPEG
                frame.pts = index
                frame.time_base = time_base
                for packet in stream.encode(frame):
                    container.mux(packet)
                if on_progress is not None:
                    on_progress(index + 1, total)
            for packet in stream.encode(None):
                container.mux(packet)
        except BaseException:
            try:
                container.close()
            except Exception:  # the original error matters more
                logger.debug("Ignoring error while closing aborted render", exc_info=True)
            raise
        container.close()
        os.replace(tmp_path, out_path)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        if isinstance(exc, RenderCancelled):
            logger.info("Render cancelled: %s", out_path)
        elif isinstance(exc, av.FFmpegError):
            raise RenderError(f"Video encoding failed: {exc}") from exc
        raise
    elapsed = time.perf_counter() - started
    logger.info("Rendered %s in %.2fs (%.1f ms/frame)", out_path, elapsed, 1000 * elapsed / total)
