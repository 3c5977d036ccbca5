"""Tests for request validation: defaults, field errors, and reference files judged by their bytes."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from mimio_core.catalogue import MODELS
from mimio_core.domain import CheckedReference, ReferenceUpload, ValidRequest, VideoRequest
from mimio_core.validation import (
    MAX_PROMPT_CHARS,
    ValidationError,
    check_reference,
    default_title,
    validate_request,
)

MB = 1024 * 1024
LIMIT = 10 * MB
SORA = MODELS["sora-2"]
LOCAL = MODELS["mimio-local"]
IMAGE_ONLY = "not a PNG, JPEG or WebP image."


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """A real image encoded by Pillow; noisy, so a cut file really misses pixel data."""
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, fmt)
    return out.getvalue()


def mp4_bytes() -> bytes:
    """A tiny real H.264 MP4: 64x64, 5 frames."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 40, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A PNG whose header (with a correct CRC) claims a size its data does not have."""
    data = bytearray(image_bytes("PNG", (8, 8)))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def refusal(upload: ReferenceUpload, spec=SORA, max_bytes: int = LIMIT) -> str:
    with pytest.raises(ValidationError) as caught:
        check_reference(upload, spec, max_bytes)
    assert list(caught.value.errors) == ["reference"]
    return caught.value.errors["reference"]


def field_errors(request: VideoRequest, **kwargs) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate_request(request, max_reference_bytes=LIMIT, **kwargs)
    return caught.value.errors


# --- defaults and titles -------------------------------------------------------------------------


def test_defaults_are_filled_and_prompt_is_trimmed():
    valid = validate_request(
        VideoRequest(prompt="  A red fox runs through snow \n"), max_reference_bytes=LIMIT
    )
    assert valid == ValidRequest(
        prompt="A red fox runs through snow",
        title="A red fox runs through snow",
        model="sora-2",
        size="720x1280",
        seconds=8,
        reference=None,
        project_id=None,
    )


def test_given_fields_are_kept_and_title_whitespace_collapsed():
    valid = validate_request(
        VideoRequest(
            prompt="A lighthouse at dusk",
            title="  My   lighthouse\t",
            model="sora-2-pro",
            size="1792x1024",
            seconds="12",
            project_id="p-1",
        ),
        max_reference_bytes=LIMIT,
    )
    assert (valid.title, valid.model, valid.size, valid.seconds, valid.project_id) == (
        "My lighthouse",
        "sora-2-pro",
        "1792x1024",
        12,
        "p-1",
    )


def test_blank_project_id_becomes_none():
    assert (
        validate_request(VideoRequest(prompt="x", project_id=""), max_reference_bytes=LIMIT).project_id
        is None
    )


def test_default_title_shortens_long_prompts_at_sixty_characters():
    prompt = "The quick brown fox jumps over the lazy dog while the sun sets slowly behind the hills"
    assert default_title(prompt) == "The quick brown fox jumps over the lazy dog while the sun..."
    assert default_title("  a\n b\t c ") == "a b c"
    assert default_title("x" * 60) == "x" * 60
    assert default_title("x" * 61) == "x" * 57 + "..."


def test_title_over_limit_is_refused():
    assert field_errors(VideoRequest(prompt="x", title="t" * 121)) == {
        "title": "Title is 121 characters; the limit is 120."
    }


# --- prompt, model, size, seconds ---------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_blank_prompt_is_refused(prompt):
    assert field_errors(VideoRequest(prompt=prompt)) == {
        "prompt": "Prompt is empty: describe the video you want."
    }


def test_prompt_at_limit_is_accepted_and_one_over_is_refused():
    assert validate_request(VideoRequest(prompt="a" * MAX_PROMPT_CHARS), max_reference_bytes=LIMIT)
    errors = field_errors(VideoRequest(prompt="a" * (MAX_PROMPT_CHARS + 1), title="t"))
    assert errors == {"prompt": "Prompt is 2001 characters; the limit is 2000."}


def test_unknown_model_is_refused_listing_the_choices():
    assert field_errors(VideoRequest(prompt="x", model="veo-3")) == {
        "model": f"Unknown model 'veo-3'; choose one of {', '.join(MODELS)}."
    }


def test_the_providers_models_restrict_known_models():
    errors = field_errors(VideoRequest(prompt="x", model="sora-2-pro"), models={"sora-2": MODELS["sora-2"]})
    assert errors == {"model": "Unknown model 'sora-2-pro'; choose one of sora-2."}
    ok = validate_request(
        VideoRequest(prompt="x"), max_reference_bytes=LIMIT, models={"sora-2": MODELS["sora-2"]}
    )
    assert ok.model == "sora-2"


def test_size_not_rendered_by_the_model_is_refused():
    assert field_errors(VideoRequest(prompt="x", model="sora-2", size="1792x1024")) == {
        "size": "sora-2 does not render 1792x1024; choose one of 720x1280, 1280x720."
    }


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        ("abc", "Duration must be a whole number of seconds, got 'abc'."),
        ("8.0", "Duration must be a whole number of seconds, got '8.0'."),
        (5, "sora-2 makes videos of 4, 8, 12 seconds, not 5."),
        ("16", "sora-2 makes videos of 4, 8, 12 seconds, not 16."),
        # digits int() would take, but a person did not type as a number of seconds
        ("\u0664", "Duration must be a whole number of seconds, got '\u0664'."),  # Arabic-Indic 4
        ("\uff14", "Duration must be a whole number of seconds, got '\uff14'."),  # full-width 4
        ("\u00b2", "Duration must be a whole number of seconds, got '\u00b2'."),  # superscript 2
        ("4_0", "Duration must be a whole number of seconds, got '4_0'."),
        ("4" * 4301, f"Duration must be a whole number of seconds, got {'4' * 4301!r}."),
        (True, "Duration must be a whole number of seconds, got True."),
    ],
)
def test_bad_seconds_are_refused(seconds, message):
    assert field_errors(VideoRequest(prompt="x", seconds=seconds)) == {"seconds": message}


@pytest.mark.parametrize(("seconds", "expected"), [(4, 4), (" 12 ", 12), ("", 8), (None, 8)])
def test_good_seconds_are_parsed(seconds, expected):
    valid = validate_request(VideoRequest(prompt="x", seconds=seconds), max_reference_bytes=LIMIT)
    assert valid.seconds == expected


def test_every_bad_field_is_reported_at_once():
    request = VideoRequest(
        prompt=" ",
        size="1x1",
        seconds="abc",
        reference=ReferenceUpload("evil.png", b"#!/bin/sh\nrm -rf ~\n"),
    )
    with pytest.raises(ValidationError) as caught:
        validate_request(request, max_reference_bytes=LIMIT)
    errors = caught.value.errors
    assert set(errors) == {"prompt", "size", "seconds", "reference"}
    assert errors["prompt"] == "Prompt is empty: describe the video you want."
    assert errors["size"] == "sora-2 does not render 1x1; choose one of 720x1280, 1280x720."
    assert errors["seconds"] == "Duration must be a whole number of seconds, got 'abc'."
    assert errors["reference"].startswith("Reference file 'evil.png' is ")
    assert str(caught.value) == "; ".join(errors.values())


def test_unknown_model_skips_model_specific_checks():
    errors = field_errors(
        VideoRequest(prompt="", model="nope", size="1x1", seconds="abc", reference=ReferenceUpload("a", b""))
    )
    assert set(errors) == {"prompt", "model"}


# --- references judged by their bytes ------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_real_images_are_accepted(fmt, mime):
    data = image_bytes(fmt)
    checked = check_reference(ReferenceUpload("ref.bin", data), SORA, LIMIT)
    assert checked == CheckedReference(name="ref.bin", data=data, mime=mime, kind="image")


def test_real_webp_is_accepted():
    data = image_bytes("WEBP")
    checked = check_reference(ReferenceUpload("ref.webp", data), SORA, LIMIT)
    assert (checked.mime, checked.kind) == ("image/webp", "image")


def test_validate_request_carries_the_checked_reference():
    data = image_bytes("PNG")
    valid = validate_request(
        VideoRequest(prompt="x", reference=ReferenceUpload("ref.png", data)), max_reference_bytes=LIMIT
    )
    assert valid.reference == CheckedReference(name="ref.png", data=data, mime="image/png", kind="image")


def test_elf_named_png_is_refused_naming_what_it_is():
    elf = Path("/proc/self/exe").read_bytes()[:16384]
    message = refusal(ReferenceUpload("evil.png", elf))
    assert re.fullmatch(
        r"Reference file 'evil\.png' is ELF \d\d-bit .+ \(application/x-[a-z-]+\), " + re.escape(IMAGE_ONLY),
        message,
    ), message


def test_shell_script_named_png_is_refused_naming_what_it_is():
    message = refusal(ReferenceUpload("evil.png", b"#!/bin/sh\nrm -rf ~\n"))
    assert re.fullmatch(
        r"Reference file 'evil\.png' is POSIX shell script[^()]* \(text/x-shellscript\), "
        + re.escape(IMAGE_ONLY),
        message,
    ), message


def test_non_media_refusal_mentions_video_for_models_taking_video():
    message = refusal(ReferenceUpload("notes.mp4", b"just some plain text\n" * 4), spec=LOCAL)
    assert message == (
        "Reference file 'notes.mp4' is ASCII text (text/plain), "
        "not a PNG, JPEG or WebP image, or an MP4, MOV or WebM video."
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_refused_as_undecodable(fmt):
    data = image_bytes(fmt)
    message = refusal(ReferenceUpload("cut.img", data[: len(data) // 2]))
    assert message.startswith(f"Reference file 'cut.img' looks like {fmt} but cannot be decoded (")
    assert message.endswith(").")


def test_image_with_too_many_pixels_is_refused_before_decoding():
    message = refusal(ReferenceUpload("huge.png", png_claiming_size(8000, 6000)))
    assert message == (
        "Reference file 'huge.png' looks like PNG but is 8000x6000 pixels, more than this app accepts."
    )


def test_decompression_bomb_is_refused_without_decoding():
    # a small file declaring 20000x20000 pixels: Pillow refuses to even open it
    message = refusal(ReferenceUpload("bomb.png", png_claiming_size(20000, 20000)))
    assert message == (
        "Reference file 'bomb.png' looks like PNG but declares more pixels than this app accepts."
    )


def test_mp4_refused_for_image_only_model():
    message = refusal(ReferenceUpload("clip.mp4", mp4_bytes()))
    assert message == (
        "Reference file 'clip.mp4' is a MP4 video, but sora-2 takes image references only "
        "(PNG, JPEG or WebP)."
    )


def test_mp4_accepted_for_model_taking_video():
    data = mp4_bytes()
    checked = check_reference(ReferenceUpload("clip.mp4", data), LOCAL, LIMIT)
    assert checked == CheckedReference(name="clip.mp4", data=data, mime="video/mp4", kind="video")


def test_truncated_mp4_is_refused_for_model_taking_video():
    data = mp4_bytes()
    message = refusal(ReferenceUpload("cut.mp4", data[:100]), spec=LOCAL)
    assert message.startswith("Reference file 'cut.mp4' looks like MP4 but cannot be decoded (")
    assert message.endswith(").")


def test_over_limit_file_is_refused_naming_size_and_limit():
    message = refusal(ReferenceUpload("big.png", b"\x89PNG" + b"\0" * (MB + MB // 2 - 4)), max_bytes=MB)
    assert message == "Reference file 'big.png' is 1.5 MB; the limit is 1 MB."


def test_file_exactly_at_limit_passes_the_size_check():
    data = image_bytes("PNG")
    assert check_reference(ReferenceUpload("ref.png", data), SORA, len(data)).kind == "image"
    assert refusal(ReferenceUpload("ref.png", data), max_bytes=len(data) - 1).startswith(
        "Reference file 'ref.png' is 0.0 MB; the limit is "
    )


def test_fractional_limit_is_shown_truthfully():
    message = refusal(ReferenceUpload("big.png", b"\0" * 600_000), max_bytes=MB // 2)
    assert message == "Reference file 'big.png' is 0.6 MB; the limit is 0.5 MB."


def test_empty_file_is_refused():
    assert refusal(ReferenceUpload("empty.png", b"")) == "Reference file 'empty.png' is empty."


def test_unnamed_reference_is_called_reference_in_messages():
    assert refusal(ReferenceUpload("", b"")) == "Reference file 'reference' is empty."


def test_a_lone_surrogate_in_prompt_or_title_is_refused_before_it_reaches_the_database():
    with pytest.raises(ValidationError) as refused:
        validate_request(VideoRequest(prompt="a cat \ud83d", title="fox \udc00"), max_reference_bytes=1024)
    assert refused.value.errors == {
        "prompt": "Prompt contains a broken character (half of an emoji?): retype or remove it.",
        "title": "Title contains a broken character (half of an emoji?): retype or remove it.",
    }
