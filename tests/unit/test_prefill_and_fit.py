"""Form pre-fill from a link, and fitting references to the video size."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from mimio_core.catalogue import MODELS
from mimio_core.domain import CheckedReference, TrackedVideo, VideoStatus
from mimio_core.prefill import defaults_from_query, template_query
from mimio_core.reference_fit import fit_reference


def test_a_full_query_pre_fills_every_field() -> None:
    defaults = defaults_from_query(
        {
            "prompt": "fog",
            "title": "Lighthouse",
            "model": "sora-2-pro",
            "size": "1792x1024",
            "seconds": "12",
            "project": "p1",
        },
        MODELS,
        {"p1"},
    )
    assert (defaults.prompt, defaults.title, defaults.model, defaults.size, defaults.seconds) == (
        "fog",
        "Lighthouse",
        "sora-2-pro",
        "1792x1024",
        12,
    )
    assert (defaults.project_id, defaults.notices) == ("p1", ())


@pytest.mark.parametrize("seconds", ["²", "٣", "-4", "4.0", " "])
def test_odd_seconds_fall_back_with_a_notice(seconds: str) -> None:
    defaults = defaults_from_query({"seconds": seconds}, MODELS, set())
    assert defaults.seconds == 8
    assert defaults.notices == (f"Ignored seconds={seconds!r} from the link: sora-2 makes 4, 8, 12 seconds.",)


def test_an_over_long_prompt_is_cut_with_a_notice() -> None:
    defaults = defaults_from_query({"prompt": "x" * 2500}, MODELS, set())
    assert len(defaults.prompt) == 2000
    assert defaults.notices == ("The prompt from the link was cut to 2000 characters.",)


def test_the_template_query_reproduces_a_video() -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    video = TrackedVideo(
        id="v",
        user_id="u",
        title="Fox",
        prompt="a fox",
        model="sora-2-pro",
        size="1024x1792",
        seconds=12,
        status=VideoStatus.COMPLETED,
        progress=100,
        created_at=now,
        updated_at=now,
        project_id="p1",
    )
    query = template_query(video)
    assert defaults_from_query(query, MODELS, {"p1"}).notices == ()
    assert query == {
        "prompt": "a fox",
        "title": "Fox",
        "model": "sora-2-pro",
        "size": "1024x1792",
        "seconds": "12",
        "project": "p1",
    }


def image_bytes(
    size: tuple[int, int], mode: str = "RGB", fmt: str = "PNG", exif_orientation: int | None = None
) -> bytes:
    image = Image.new(mode, size, (10, 200, 30) if mode == "RGB" else None)
    buffer = io.BytesIO()
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(buffer, fmt, exif=exif)
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


def reference(data: bytes, mime: str) -> CheckedReference:
    return CheckedReference(name="ref", data=data, mime=mime, kind="image")


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_an_image_of_another_size_is_scaled_and_centre_cropped() -> None:
    fitted = fit_reference(reference(image_bytes((640, 480)), "image/png"), "1280x720")
    assert fitted.changed and (fitted.original_size, fitted.target_size) == ((640, 480), (1280, 720))
    assert decoded(fitted.reference.data).size == (1280, 720)


def test_an_exact_size_rgb_image_is_sent_untouched() -> None:
    data = image_bytes((720, 1280))
    fitted = fit_reference(reference(data, "image/png"), "720x1280")
    assert not fitted.changed and fitted.reference.data == data


def test_exif_rotation_is_applied_before_fitting() -> None:
    # stored landscape, but the camera says "rotate 90": it is a portrait photo
    fitted = fit_reference(
        reference(image_bytes((1280, 720), fmt="JPEG", exif_orientation=6), "image/jpeg"), "720x1280"
    )
    assert fitted.original_size == (720, 1280)
    assert decoded(fitted.reference.data).size == (720, 1280)


def test_a_cmyk_jpeg_of_the_right_size_is_still_converted() -> None:
    fitted = fit_reference(
        reference(image_bytes((1280, 720), mode="CMYK", fmt="JPEG"), "image/jpeg"), "1280x720"
    )
    assert decoded(fitted.reference.data).mode == "RGB"


def test_transparency_is_flattened_onto_white_for_jpeg() -> None:
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    png = reference(buffer.getvalue(), "image/png")
    kept = fit_reference(png, "720x1280")
    assert decoded(kept.reference.data).mode == "RGBA"  # PNG keeps its alpha
    as_jpeg = fit_reference(CheckedReference("r", buffer.getvalue(), "image/jpeg", "image"), "720x1280")
    assert decoded(as_jpeg.reference.data).getpixel((10, 10)) == (255, 255, 255)


def test_a_video_reference_is_not_fitted() -> None:
    clip = CheckedReference(name="clip", data=b"not decoded", mime="video/mp4", kind="video")
    assert fit_reference(clip, "720x1280").reference is clip
