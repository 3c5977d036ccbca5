"""Tests for the offline renderer: real encodes, read back with PyAV."""

from __future__ import annotations

import io
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mimio_core.local_server.renderer import (
    ZOOM_MASTER,
    InvalidSpecError,
    RenderCancelled,
    RenderError,
    RenderSpec,
    _load_font,
    _sws_crops,
    _wrap,
    _ZoomPlane,
    cover_crop,
    reference_first_frame,
    render_video,
)
from mimio_core.validation import MAX_PROMPT_CHARS

W, H = 320, 240


def _probe(path: Path) -> dict:
    """Stream facts plus every decoded frame as an RGB array."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "duration": float(stream.duration * stream.time_base),
            "colorspace": stream.codec_context.colorspace,
            "frames": frames,
        }


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _test_image(width: int, height: int) -> Image.Image:
    """A structured image: gradient plus shapes, so misplaced crops are detectable."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    arr = np.stack(
        [
            np.broadcast_to(x, (height, width)),
            np.broadcast_to(y, (height, width)),
            np.full((height, width), 90, np.float32),
        ],
        axis=-1,
    ).astype(np.uint8)
    image = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.3, height * 0.2, width * 0.6, height * 0.7), fill=(250, 250, 40))
    draw.rectangle((width * 0.05, height * 0.1, width * 0.2, height * 0.4), fill=(20, 20, 200))
    return image


def _encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _make_video(tmp_path: Path) -> tuple[bytes, Image.Image]:
    """A small mp4 whose first frame is a test image and later frames are plain blue."""
    first = _test_image(480, 270)
    path = tmp_path / "ref.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 480, 270, "yuv420p"
        blue = np.zeros((270, 480, 3), np.uint8)
        blue[..., 2] = 220
        for i in range(5):
            arr = np.asarray(first) if i == 0 else blue
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, 10)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.read_bytes(), first


def test_prompt_render_is_browser_playable_h264(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    render_video(RenderSpec("a calm lake at dawn", W, H, seconds=2, fps=12), out)
    info = _probe(out)
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (W, H)
    assert len(info["frames"]) == 24
    assert info["frames"][0].shape == (H, W, 3)
    assert info["duration"] == pytest.approx(2.0, abs=1 / 12)
    assert info["colorspace"] == 1  # BT.709 tagged, so browsers do not guess the matrix
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat"), "moov atom must precede mdat (faststart)"
    # Animated: the last frame differs visibly from the first.
    assert _mad(info["frames"][0], info["frames"][-1]) > 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


# 202 % 4 != 0: chroma planes are not whole rows of the packed yuv420p array.
@pytest.mark.parametrize(("width", "height"), [(240, 320), (360, 202)])
def test_portrait_and_odd_aspect_sizes(tmp_path: Path, width: int, height: int) -> None:
    out = tmp_path / "out.mp4"
    render_video(RenderSpec("portrait", width, height, seconds=1, fps=6), out)
    info = _probe(out)
    assert (info["width"], info["height"]) == (width, height)
    assert len(info["frames"]) == 6


def test_reference_image_is_cover_cropped_first_frame(tmp_path: Path) -> None:
    # 2:1 source into 4:3 target: cover-crop must cut the sides, not stretch.
    source = _test_image(600, 300)
    out = tmp_path / "ref.mp4"
    render_video(RenderSpec("", W, H, seconds=1, fps=12, reference=_encode_png(source)), out)
    frames = _probe(out)["frames"]
    assert len(frames) == 12
    expected = np.asarray(cover_crop(source, W, H))
    stretched = np.asarray(source.resize((W, H)))
    assert _mad(frames[0], expected) < 12
    assert _mad(frames[0], expected) < _mad(frames[0], stretched) / 2
    # The image then moves (slow zoom), so the last frame no longer matches.
    assert _mad(frames[-1], expected) > _mad(frames[0], expected) + 2


def test_reference_with_caption_keeps_image_above_band(tmp_path: Path) -> None:
    source = _test_image(400, 400)
    out = tmp_path / "ref.mp4"
    spec = RenderSpec("a caption", W, H, seconds=1, fps=6, reference=_encode_png(source))
    render_video(spec, out)
    first = _probe(out)["frames"][0]
    expected = np.asarray(cover_crop(source, W, H))
    top = slice(0, H // 2)
    assert _mad(first[top], expected[top]) < 12
    # The caption band darkens/marks the bottom area.
    assert _mad(first[H // 2 :], expected[H // 2 :]) > _mad(first[top], expected[top])


def test_jpeg_reference_with_exif_rotation(tmp_path: Path) -> None:
    source = _test_image(300, 400)  # portrait content, stored rotated in the file
    stored = source.transpose(Image.Transpose.ROTATE_90)  # what a camera would save
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=95, exif=exif)
    decoded = reference_first_frame(buf.getvalue())
    assert decoded.size == source.size
    assert _mad(np.asarray(decoded), np.asarray(source)) < 12


def test_video_reference_uses_first_frame(tmp_path: Path) -> None:
    data, first = _make_video(tmp_path)
    decoded = reference_first_frame(data)
    assert decoded.mode == "RGB"
    assert decoded.size == first.size
    assert _mad(np.asarray(decoded), np.asarray(first)) < 12

    out = tmp_path / "out.mp4"
    render_video(RenderSpec("", W, H, seconds=1, fps=6, reference=data), out)
    frames = _probe(out)["frames"]
    assert len(frames) == 6
    assert _mad(frames[0], np.asarray(cover_crop(first, W, H))) < 12


def test_progress_called_once_per_frame(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    render_video(
        RenderSpec("progress", W, H, seconds=1, fps=10),
        tmp_path / "out.mp4",
        on_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(i, 10) for i in range(1, 11)]


def test_should_stop_cancels_and_leaves_nothing(tmp_path: Path) -> None:
    calls: list[int] = []
    out = tmp_path / "out.mp4"
    with pytest.raises(RenderCancelled):
        render_video(
            RenderSpec("stop me", W, H, seconds=2, fps=12),
            out,
            on_progress=lambda done, total: calls.append(done),
            should_stop=lambda: len(calls) >= 5,
        )
    assert calls == [1, 2, 3, 4, 5]
    assert list(tmp_path.iterdir()) == []
    assert issubclass(RenderCancelled, RenderError)


def test_a_stop_while_the_reference_is_prepared_cancels_before_the_first_frame(tmp_path: Path) -> None:
    """Decoding a large reference is the slow setup step: a job deleted meanwhile must not go on to
    encode a frame (``should_stop`` was once polled only before each frame)."""
    polls: list[int] = []
    frames: list[int] = []

    def stop() -> bool:  # false for the poll as the render starts, true from the next one on
        polls.append(1)
        return len(polls) > 1

    spec = RenderSpec("stop me", W, H, seconds=1, fps=6, reference=_encode_png(_test_image(1200, 900)))
    with pytest.raises(RenderCancelled):
        render_video(spec, tmp_path / "o.mp4", on_progress=lambda n, _: frames.append(n), should_stop=stop)
    assert frames == []
    assert list(tmp_path.iterdir()) == []


def test_a_stop_after_the_last_frame_still_cancels_the_flush(tmp_path: Path) -> None:
    """Flushing x264 encodes its lookahead's last frames in one call: stop is polled before it, and a
    cancelled render leaves no file even when every frame had been handed to the encoder."""
    done: list[int] = []
    with pytest.raises(RenderCancelled):
        render_video(
            RenderSpec("stop at the end", W, H, seconds=1, fps=12),
            tmp_path / "out.mp4",
            on_progress=lambda frame, total: done.append(frame),
            should_stop=lambda: len(done) == 12,
        )
    assert done == list(range(1, 13))
    assert list(tmp_path.iterdir()) == []


def test_callback_error_removes_temp_file(tmp_path: Path) -> None:
    def boom(done: int, total: int) -> None:
        raise KeyError("callback failed")

    with pytest.raises(KeyError):
        render_video(RenderSpec("x", W, H, seconds=1, fps=4), tmp_path / "o.mp4", on_progress=boom)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "payload",
    [
        b"definitely not media",
        b"",
        _encode_png(_test_image(64, 64))[:200],  # truncated PNG
        b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64,  # mp4 header, no content
    ],
)
def test_corrupt_reference_raises_render_error(tmp_path: Path, payload: bytes) -> None:
    with pytest.raises(RenderError):
        reference_first_frame(payload)
    out = tmp_path / "out.mp4"
    with pytest.raises(RenderError):
        render_video(RenderSpec("x", W, H, seconds=1, fps=4, reference=payload), out)
    assert list(tmp_path.iterdir()) == []


def test_prompts_drive_the_scene_deterministically(tmp_path: Path) -> None:
    def first_frame(prompt: str, name: str) -> np.ndarray:
        out = tmp_path / name
        render_video(RenderSpec(prompt, W, H, seconds=1, fps=2), out)
        return _probe(out)["frames"][0][: H // 2]  # above the caption band

    a = first_frame("a red fox in the snow", "a.mp4")
    a_again = first_frame("a red fox in the snow", "a2.mp4")
    b = first_frame("neon city skyline at night", "b.mp4")
    assert _mad(a, a_again) < 0.5
    assert _mad(a, b) > 5


def test_concurrent_renders_in_threads(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            render_video(RenderSpec(f"thread {i}", W, H, seconds=1, fps=6), tmp_path / f"{i}.mp4")
        except BaseException as exc:  # surfaced via the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(3):
        assert len(_probe(tmp_path / f"{i}.mp4")["frames"]) == 6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 321, "height": 240, "seconds": 1},
        {"width": 320, "height": 0, "seconds": 1},
        {"width": 320, "height": 240, "seconds": 0},
    ],
)
def test_invalid_spec_rejected(kwargs: dict) -> None:
    with pytest.raises(InvalidSpecError):
        RenderSpec("x", **kwargs)
    with pytest.raises(ValueError):
        RenderSpec("x", **kwargs)


def test_caption_wrap_limits_lines_with_ellipsis() -> None:
    font = ImageFont.load_default(size=14)
    text = " ".join(["word"] * 80) + " " + "x" * 200
    lines = _wrap(text, font, 150, 3, "...")
    assert len(lines) == 3
    assert lines[-1].endswith("...")
    assert all(font.getlength(line) <= 150 for line in lines)
    assert _wrap("short text", font, 150, 3, "...") == ["short text"]
    long_word = _wrap("y" * 100, font, 150, 3, "...")
    assert 1 < len(long_word) <= 3
    assert all(font.getlength(line) <= 150 for line in long_word)


class _CountingFont:
    """Forwards ``getlength`` to a real font and counts the characters it was asked to measure."""

    def __init__(self, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> None:
        self.font, self.measured = font, 0

    def getlength(self, text: str) -> float:
        self.measured += len(text)
        return self.font.getlength(text)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("chars", [2_000, 20_000])
def test_a_single_huge_word_wraps_in_linear_work(chars: int) -> None:
    """One 2,000-character word once took 6 s to wrap (20,000: never finished): splitting it measured
    every shorter prefix for every cut. Now the work is a few times the text the app allows."""
    font = _CountingFont(_load_font(32)[0])
    word = "".join(chr(ord("a") + i % 26) for i in range(chars))
    lines = _wrap(word, font, 1180, 3, "…")  # type: ignore[arg-type]  # measures like a font
    assert len(lines) == 3
    assert lines[-1].endswith("…")
    assert "".join(lines)[:-1] == word[: len("".join(lines)) - 1]  # the word's start, in order
    assert all(font.font.getlength(line) <= 1180 for line in lines)
    assert font.measured < 3 * MAX_PROMPT_CHARS


def test_the_caption_ellipsizes_text_past_the_prompt_limit_even_when_it_would_fit() -> None:
    """Only the app's MAX_PROMPT_CHARS first characters are laid out, and a cut shows as an ellipsis."""
    font = ImageFont.load_default(size=14)
    text = "ab " * MAX_PROMPT_CHARS
    (line,) = _wrap(text, font, 1e9, 3, "...")
    assert line.endswith("...")
    assert text.startswith(line[:-3])
    assert len(line) <= MAX_PROMPT_CHARS + 3
    assert _wrap(text[: MAX_PROMPT_CHARS - 1], font, 1e9, 3, "...") == [text[: MAX_PROMPT_CHARS - 1].strip()]


def test_the_zoom_places_each_frame_to_a_fraction_of_a_pixel() -> None:
    """swscale only crops whole pixels; the zoom still matches Pillow's exact box resize (within
    rounding), where cropping to whole pixels would be off by up to half a pixel and jitter."""
    rng = np.random.default_rng(5)
    out_w, out_h = 320, 180
    master_w, master_h = round(out_w * ZOOM_MASTER), round(out_h * ZOOM_MASTER)
    noise = Image.fromarray(rng.integers(0, 256, (master_h, master_w), dtype=np.uint8), "L")
    master = noise.filter(ImageFilter.GaussianBlur(1.5))
    plane = _ZoomPlane.of(np.asarray(master))
    inner = (slice(2, -2), slice(2, -2))  # Pillow and swscale treat the outermost pixels differently
    for zoom, anchor in ((1.0, (0.5, 0.5)), (1.037, (0.2, 0.25)), (1.1, (0.8, 0.75)), (1.15, (0.5, 0.5))):
        size = np.array((master_w, master_h))
        box = size / zoom
        start = (size - box) * anchor
        crops = _sws_crops(start, box, size, np.array((out_w, out_h)))
        out = np.empty((out_h, out_w), np.uint8)
        plane.zoom_into(out, *crops)
        exact = master.resize((out_w, out_h), Image.Resampling.BILINEAR, box=(*start, *(start + box)))
        assert _mad(out[inner], np.asarray(exact)[inner]) < 0.5, (zoom, anchor)


def test_variation_seeds_change_the_scene_and_the_zoom_but_not_the_first_reference_frame(
    tmp_path: Path,
) -> None:
    def frames(name: str, seed: int, reference: bytes | None = None) -> list[np.ndarray]:
        out = tmp_path / name
        render_video(RenderSpec("one prompt", W, H, seconds=1, fps=6, reference=reference, seed=seed), out)
        return [frame[: H // 2] for frame in _probe(out)["frames"]]  # above the caption band

    assert _mad(frames("s0.mp4", 0)[0], frames("s1.mp4", 1)[0]) > 5
    image = _encode_png(_test_image(640, 480))
    centre, corner = frames("r0.mp4", 0, image), frames("r1.mp4", 1, image)
    assert _mad(centre[0], corner[0]) < 1  # the reference itself always opens the video
    assert _mad(centre[-1], corner[-1]) > 3  # then each variation zooms somewhere else


def test_a_transparent_reference_is_flattened_onto_white_as_the_providers_get_it() -> None:
    """The local preview's first frame and the fitted reference a provider is sent use one media
    helper: a transparent logo sits on white in both (the renderer used black)."""
    logo = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    logo.paste((200, 30, 30, 255), (16, 16, 48, 48))
    buf = io.BytesIO()
    logo.save(buf, "PNG")
    decoded = reference_first_frame(buf.getvalue())
    assert decoded.mode == "RGB"
    assert decoded.getpixel((2, 2)) == (255, 255, 255)
    assert decoded.getpixel((32, 32)) == (200, 30, 30)
