"""Offline video renderer used by the embedded fake video-generation server.

It turns a :class:`RenderSpec` (prompt, size, duration, optional reference
image/video) into a browser-playable H.264 MP4 without any network or model,
so the app can be exercised end to end on a laptop or in CI.

Design notes:

* Frames stay yuv420p (BT.709, limited range, tagged in the stream) from the
  moment they exist, and are handed to the encoder as the ``VideoFrame`` they
  were made in, with the caption blended into its planes: no per-frame
  ndarray round trip. The prompt-only scene is computed with numpy at quarter
  resolution (it is smooth, so nothing is lost) and upscaled + converted by
  swscale in one pass; the reference scene is a slow Ken-Burns zoom of a
  master scaled once, done per frame by three single-plane swscale resizes at
  sub-pixel precision. The caption is rendered once and only its band is
  blended into each frame. x264 dominates the cost.
* The encoder runs with a single thread and a fast preset so a render never
  starves the Streamlit process hosting the server.
* ``should_stop`` is polled before each frame and between the slow setup
  steps, so a deleted job or a shutdown frees the render slot within a frame.
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
from av.video.reformatter import (
    ColorPrimaries,
    ColorRange,
    Colorspace,
    ColorTrc,
    Interpolation,
    VideoReformatter,
)
from av.video.stream import VideoStream
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from mimio_core.errors import MimioError
from mimio_core.media import NoFrame, first_video_frame, flatten_transparency
from mimio_core.validation import MAX_PROMPT_CHARS

__all__ = [
    "ANIMATION_TUNE",
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
#: monopolise the CPU (at most one core per render). x264 is still most of a
#: render's time (~8-10 ms per 1280x720 frame).
THREAD_COUNT = 1
#: 'veryfast' keeps CABAC/deblocking (clearly better looking and ~2x smaller
#: than 'ultrafast') for a small speed cost; CRF 23 is x264's default quality.
#: These clips move slowly and steadily and never cut, so the cheapest sub-pixel
#: motion search (subme=1) and a fixed B-frame pattern (b-adapt=0) take 25-40%
#: off x264's time at the same PSNR and size, on scenes and on photos alike.
X264_OPTIONS: Mapping[str, str] = MappingProxyType(
    {"preset": "veryfast", "crf": "23", "x264-params": "subme=1:b-adapt=0"}
)
#: Added for the prompt-only scene, a synthetic animation of flat gradients:
#: half the file size at a higher PSNR, and ~15% faster. Not for references:
#: it costs a textured photo ~1 dB.
ANIMATION_TUNE = "animation"
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


def open_encoder(
    path: Path | str, width: int, height: int, fps: int, *, animation: bool = False
) -> tuple[OutputContainer, VideoStream]:
    """Open an MP4 container with the renderer's exact H.264 settings (``animation``: the
    prompt-only scene's tuning, see ``ANIMATION_TUNE``).

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
        stream.options = dict(X264_OPTIONS, **({"tune": ANIMATION_TUNE} if animation else {}))
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
    """Scale and center-crop ``image`` to ``width`` x ``height`` (what a reference render opens on)."""
    box = _cover_box(image.width, image.height, width, height)
    return image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS, box=box)


# --- Frame sources -----------------------------------------------------------

#: Produces frame ``index`` as a new, writable yuv420p ``VideoFrame`` (BT.709, limited range).
FrameSource = Callable[[int], av.VideoFrame]

#: The reference is zoomed from a master this many times the output size: the zoom then always
#: downscales by 1.04-1.2, away from a scale of exactly 1 where swscale's integer crops could not
#: place the box to a fraction of a pixel (see :func:`_sws_crops`).
ZOOM_MASTER = 1.2
#: Extra pixels per axis the zoom may scale to and crop off again, for sub-pixel placement.
_SWS_SLACK = 48
#: Edge-replicated border around master planes, so the crops around the box stay inside them.
_SWS_PAD = 64


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Writable 2-D views of a frame's planes, without the padding at the end of each row."""
    return [
        np.frombuffer(memoryview(plane), np.uint8, count=plane.line_size * plane.height).reshape(
            plane.height, plane.line_size
        )[:, : plane.width]
        for plane in frame.planes
    ]


def _ease_in_out(p: float) -> float:
    """Cosine ease so the zoom starts and ends without a jolt."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(p, 0.0), 1.0))


def _sws_crops(start: np.ndarray, length: np.ndarray, size: np.ndarray, out: np.ndarray) -> np.ndarray:
    """How swscale can resample ``[start, start + length)`` of a ``size``-pixel axis to ``out`` pixels
    as a Pillow box resize would, to ~0.1 px; one row per axis: crop start, crop length, scaled
    length, offset into the scaled axis. Needs ``length >= out`` (a downscale).

    swscale scales a crop of L pixels to D and samples output pixel i at ``(i + 0.5) * r - 0.5``,
    where ``r = round(L * 2**16 / D) / 2**16``. An integer crop straight to ``out`` pixels misplaces
    the box by up to half a pixel, which jitters in a slow zoom; scaling to up to ``_SWS_SLACK``
    pixels more and keeping ``out`` of them from an offset gives enough (L, D, offset) choices to
    hit both the box's fractional start and its scale. The crop may reach ``_SWS_PAD`` pixels past
    either end of the axis.
    """
    axes = np.arange(len(out))
    scale = (length / out)[:, None]
    scaled = out[:, None] + np.arange(_SWS_SLACK + 1)
    crop = np.concatenate((np.floor(scale * scaled), np.ceil(scale * scaled)), axis=1).astype(np.int64)
    scaled = np.concatenate((scaled, scaled), axis=1)
    step = ((crop << 16) + scaled // 2) // scaled / 65536.0  # swscale's 16.16 step
    skew = (out[:, None] - 1) * (step - scale)  # the step's error, summed across the output
    # Where crop start + offset * step must land for the error to be centred on zero.
    target = start[:, None] + 0.5 * scale - 0.5 * step - skew / 2
    offset = np.arange(_SWS_SLACK + 1)
    ideal = target[..., None] - offset * step[..., None]
    first = np.rint(ideal)
    error = np.abs(ideal - first) + np.abs(skew)[..., None] / 2
    valid = (
        (offset <= (scaled - out[:, None])[..., None])
        & (first >= -_SWS_PAD)
        & (first + crop[..., None] <= size[:, None, None] + _SWS_PAD)
    )
    best = np.where(valid, error, np.inf).reshape(len(out), -1).argmin(axis=1)
    row, col = np.unravel_index(best, ideal.shape[1:])
    return np.stack((first[axes, row, col], crop[axes, row], scaled[axes, row], col), axis=1).astype(int)


@dataclass(frozen=True)
class _ZoomPlane:
    """One plane of the zoom master, with an edge-replicated border of ``_SWS_PAD`` pixels."""

    padded: np.ndarray
    # Kept across frames: a new scaler per frame costs more than the scaling itself.
    reformatter: VideoReformatter = field(default_factory=VideoReformatter)

    @classmethod
    def of(cls, plane: np.ndarray) -> _ZoomPlane:
        return cls(np.pad(plane, _SWS_PAD, mode="edge"))

    def zoom_into(self, out: np.ndarray, crop_x: np.ndarray, crop_y: np.ndarray) -> None:
        """Fill ``out`` from the master through the :func:`_sws_crops` rows of its two axes."""
        x0, crop_w, scaled_w, off_x = crop_x
        y0, crop_h, scaled_h, off_y = crop_y
        x0, y0 = x0 + _SWS_PAD, y0 + _SWS_PAD
        # A view, not a copy: swscale reads the crop in place through the master's row stride.
        crop = av.VideoFrame.from_numpy_buffer(self.padded[y0 : y0 + crop_h, x0 : x0 + crop_w], format="gray")
        scaled = self.reformatter.reformat(
            crop, scaled_w, scaled_h, interpolation=Interpolation.BILINEAR, threads=1
        )
        out[...] = _planes(scaled)[0][off_y : off_y + out.shape[0], off_x : off_x + out.shape[1]]


def _reference_source(spec: RenderSpec, should_stop: Callable[[], bool] | None = None) -> FrameSource:
    """Slow zoom into the cover-cropped reference, towards a point chosen by the seed; frame 0 shows
    the whole cover crop.

    The crop is scaled and converted once by swscale to a yuv420p master ``ZOOM_MASTER`` times the
    output size; each frame is then three single-plane swscale resizes of it at sub-pixel placement
    (~8x faster than Pillow's). Decoding a large reference is the slow setup step, so
    ``should_stop`` is polled after it.
    """
    if spec.reference is None:
        raise RenderError("No reference was provided.")
    width, height = spec.width, spec.height
    master_w = 2 * math.ceil(width * ZOOM_MASTER / 2)  # even: chroma planes are exactly half
    master_h = 2 * math.ceil(height * ZOOM_MASTER / 2)
    source = _decode_reference(spec.reference, min_size=(master_w, master_h))
    _poll(should_stop)
    left, top, right, bottom = _cover_box(source.width, source.height, width, height)
    x0, y0 = int(left), int(top)
    pixels = np.asarray(source)[y0 : max(y0 + 1, round(bottom)), x0 : max(x0 + 1, round(right))]
    del source
    master_frame = av.VideoFrame.from_numpy_buffer(pixels, format="rgb24").reformat(
        master_w,
        master_h,
        PIX_FMT,
        dst_colorspace=Colorspace.ITU709,
        dst_color_range=ColorRange.MPEG,
        interpolation=Interpolation.LANCZOS,
        threads=1,
    )
    del pixels
    masters = [_ZoomPlane.of(plane) for plane in _planes(master_frame)]
    del master_frame
    last = max(spec.total_frames - 1, 1)
    # The axes solved per frame: luma x, luma y, chroma x, chroma y (U and V share theirs).
    sizes = np.array((master_w, master_h, master_w // 2, master_h // 2))
    outs = np.array((width, height, width // 2, height // 2))
    anchors = np.array(ZOOM_ANCHORS[spec.seed % len(ZOOM_ANCHORS)] * 2)

    def frame(index: int) -> av.VideoFrame:
        box = sizes / (1.0 + (ZOOM_END - 1.0) * _ease_in_out(index / last))
        crops = _sws_crops((sizes - box) * anchors, box, sizes, outs)
        out = av.VideoFrame(width, height, PIX_FMT)
        for zoom_plane, plane, axes in zip(
            masters, _planes(out), (crops[:2], crops[2:], crops[2:]), strict=True
        ):
            zoom_plane.zoom_into(plane, *axes)
        return out

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

    Computed on a quarter resolution grid, then upscaled + converted by swscale in one pass. Blending
    the blobs one after the other is linear in the colours, so each frame only computes five weight
    fields (background, gradient, one per blob; Gaussians are separable, so a blob is an outer
    product of two 1-D exps) and mixes them with one small matrix product instead of a dozen
    full-size RGB operations.
    """
    width, height, fps = spec.width, spec.height, spec.fps
    rng = _prompt_rng(spec.prompt, spec.seed)
    palette = _palette(rng)
    lw = max(2, math.ceil(width / SCENE_DOWNSCALE))
    lh = max(2, math.ceil(height / SCENE_DOWNSCALE))
    unit = min(lw, lh)
    # Coordinates in "short side = 1" units so shapes stay round in any aspect.
    xs = (np.arange(lw, dtype=np.float32) + 0.5) / unit
    ys = (np.arange(lh, dtype=np.float32) + 0.5) / unit
    ext_x, ext_y = lw / unit, lh / unit

    angle = rng.uniform(0, 2 * math.pi)
    angle2 = angle + rng.uniform(0.6, 1.6)
    k1, k2 = rng.uniform(1.8, 3.2), rng.uniform(2.5, 4.5)
    proj1 = k1 * (xs[None, :] * math.cos(angle) + ys[:, None] * math.sin(angle))
    proj2 = k2 * (xs[None, :] * math.cos(angle2) + ys[:, None] * math.sin(angle2))

    blobs = []
    for _ in palette[2:]:
        blobs.append(
            (
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
    dist2 = ((xs[None, :] - ext_x / 2) / ext_x) ** 2 + ((ys[:, None] - ext_y / 2) / ext_y) ** 2
    vignette = 1.0 - 0.9 * dist2
    # RGB (0..255) per weight field: background c0, gradient c1 - c0, then each blob's colour.
    mix = (255.0 * np.stack((palette[0], palette[1] - palette[0], *palette[2:]))).astype(np.float32)
    two_pi = 2 * math.pi
    reformatter = VideoReformatter()  # one scaler for all frames: setting one up costs ~0.1 ms

    def frame(index: int) -> av.VideoFrame:
        phase = two_pi * (index / fps) / SCENE_PERIOD
        gradient = 0.5 + 0.32 * np.sin(proj1 + phase) + 0.18 * np.sin(proj2 - 1.3 * phase)
        fields = np.empty((lh, lw, len(mix)), dtype=np.float32)
        # Each blob covers what was drawn before it: its weight is w times what later blobs leave.
        keep = vignette
        for i in reversed(range(len(blobs))):
            radius, strength, ax, ay, fx, fy, px, py = blobs[i]
            cx = ext_x / 2 + ax * math.sin(fx * phase + px)
            cy = ext_y / 2 + ay * math.sin(fy * phase + py)
            inv = -0.5 / (radius * radius)
            weight = np.outer(strength * np.exp(inv * (ys - cy) ** 2), np.exp(inv * (xs - cx) ** 2))
            np.multiply(weight, keep, out=fields[..., 2 + i])
            keep = keep * (1.0 - weight)
        fields[..., 0] = keep
        np.multiply(keep, gradient, out=fields[..., 1])
        rgb = fields @ mix
        rgb += 0.5
        small = np.clip(rgb, 0, 255, out=rgb).astype(np.uint8)
        # swscale upscales and converts to yuv420p in one SIMD pass (~4x faster
        # than a Pillow RGB upscale followed by the encoder's own conversion).
        return reformatter.reformat(
            av.VideoFrame.from_ndarray(small, format="rgb24"),
            width,
            height,
            PIX_FMT,
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            interpolation=Interpolation.BILINEAR,
            threads=1,
        )

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


def _longest_fit(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: float, suffix: str = ""
) -> int:
    """The largest ``k`` such that ``text[:k] + suffix`` fits ``max_width`` (0 if none does).

    Gallops (1, 2, 4, ...) and then bisects, so it measures O(k log k) characters however long
    ``text`` is: splitting a 20,000-character word costs about what one line does.
    """

    def fits(k: int) -> bool:
        return font.getlength(text[:k] + suffix) <= max_width

    fitting, probe = 0, 1
    while probe <= len(text) and fits(probe):
        fitting, probe = probe, probe * 2
    too_long = min(probe, len(text) + 1)  # first length known not to fit, or past the end
    while too_long - fitting > 1:
        middle = (fitting + too_long) // 2
        if fits(middle):
            fitting = middle
        else:
            too_long = middle
    return fitting


def _wrap(
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    max_width: float,
    max_lines: int,
    ellipsis: str,
) -> list[str]:
    """Greedy word wrap by rendered width; overlong words are split, overflow ends in an ellipsis.

    Linear in the text: only its first ``MAX_PROMPT_CHARS`` characters count (the app's prompt
    limit), wrapping stops once ``max_lines`` are full, and words are split with
    :func:`_longest_fit` (a quadratic scan per cut once made a long word take minutes).
    """
    truncated = len(text) > MAX_PROMPT_CHARS
    overflow = False
    lines: list[str] = []
    current = ""
    for word in text[:MAX_PROMPT_CHARS].split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while len(lines) < max_lines:
            cut = max(1, _longest_fit(word, font, max_width))
            if cut >= len(word):
                break
            lines.append(word[:cut])
            word = word[cut:]
        current = word
        if len(lines) >= max_lines:
            overflow = True
            break
    if current and not overflow:
        lines.append(current)
    if lines and (overflow or truncated):
        last = lines[-1]
        lines[-1] = last[: _longest_fit(last, font, max_width, ellipsis)].rstrip() + ellipsis
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
    luma_keep: np.ndarray
    luma_add: np.ndarray
    chroma_keep: np.ndarray
    chroma_add: np.ndarray

    def apply(self, frame: av.VideoFrame) -> None:
        """Blend the caption into a yuv420p frame's planes in place."""
        luma, *chroma = _planes(frame)
        bh, bw = self.luma_keep.shape
        region = luma[self.y0 : self.y0 + bh, self.x0 : self.x0 + bw]
        region[...] = (region * self.luma_keep + self.luma_add) // 255
        ch, cw = self.chroma_keep.shape
        cx, cy = self.x0 // 2, self.y0 // 2
        for plane in chroma:
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
        luma_keep=(255.0 - alpha8).astype(np.uint16),
        luma_add=luma_add.astype(np.uint16),
        chroma_keep=(255.0 - chroma_alpha8).astype(np.uint16),
        chroma_add=(128.0 * chroma_alpha8 + 127.0).astype(np.uint16),
    )


# --- Render ------------------------------------------------------------------


def _poll(should_stop: Callable[[], bool] | None) -> None:
    """Raise :class:`RenderCancelled` if ``should_stop()`` says so."""
    if should_stop is not None and should_stop():
        raise RenderCancelled("The render was cancelled.")


def render_video(
    spec: RenderSpec,
    out_path: Path,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Render ``spec`` to an H.264/yuv420p MP4 (moov at front) at ``out_path``.

    Writes exactly ``seconds * fps`` frames. ``on_progress(done, total)`` is
    called after each encoded frame. ``should_stop()`` is polled as the render
    starts, once a reference is decoded, before each frame and before the
    encoder's final flush; once it returns true, :class:`RenderCancelled` is
    raised and no file is left. The file appears at
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
    time_base = Fraction(1, spec.fps)
    tmp_path = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.part")
    try:
        # Prepare everything that can fail on bad input before touching the disk.
        _poll(should_stop)
        source = _scene_source(spec) if spec.reference is None else _reference_source(spec, should_stop)
        caption = _build_caption(spec.prompt, spec.width, spec.height)
        container, stream = open_encoder(
            tmp_path, spec.width, spec.height, spec.fps, animation=spec.reference is None
        )
        try:
            for index in range(total):
                _poll(should_stop)
                frame = source(index)
                if caption is not None:
                    caption.apply(frame)
                frame.colorspace = Colorspace.ITU709
                frame.color_range = ColorRange.MPEG
                frame.pts = index
                frame.time_base = time_base
                for packet in stream.encode(frame):
                    container.mux(packet)
                if on_progress is not None:
                    on_progress(index + 1, total)
            _poll(should_stop)  # flushing encodes the lookahead's last frames: a long step
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
