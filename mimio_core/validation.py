"""Validation of what a person asks for, in one place, before anything is recorded.

Reference files are judged by their bytes (python-magic, then a real decode), never by their name.
"""

from __future__ import annotations

import io
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path

import av
import magic
from PIL import Image

from mimio_core.catalogue import DEFAULT_MODEL, MODELS, ModelSpec, ReferenceKind
from mimio_core.domain import CheckedReference, ReferenceUpload, ValidRequest, VideoRequest
from mimio_core.errors import BadInput

MAX_PROMPT_CHARS = 2000
MAX_TITLE_CHARS = 120
MAX_IMAGE_PIXELS = 40_000_000

IMAGE_MIMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP"}
VIDEO_MIMES = {"video/mp4": "MP4", "video/quicktime": "MOV", "video/webm": "WebM"}


class ValidationError(BadInput):
    """One or more fields are unusable; `errors` maps each field to a message a person can act on."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


def default_title(prompt: str) -> str:
    """A readable title from the prompt's first words, for requests that give none."""
    words = " ".join(prompt.split())
    return words if len(words) <= 60 else words[:57].rstrip() + "..."


def validate_request(
    request: VideoRequest,
    *,
    max_reference_bytes: int,
    models: Mapping[str, ModelSpec] = MODELS,
) -> ValidRequest:
    """Fill defaults and check every field; raise `ValidationError` naming each field at fault."""
    errors: dict[str, str] = {}
    prompt = request.prompt.strip() if isinstance(request.prompt, str) else ""
    if not prompt:
        errors["prompt"] = "Prompt is empty: describe the video you want."
    elif len(prompt) > MAX_PROMPT_CHARS:
        errors["prompt"] = f"Prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}."
    elif not _is_text(prompt):
        errors["prompt"] = "Prompt contains a broken character (half of an emoji?): retype or remove it."

    title = " ".join((request.title or "").split()) or default_title(prompt)
    if len(title) > MAX_TITLE_CHARS:
        errors["title"] = f"Title is {len(title)} characters; the limit is {MAX_TITLE_CHARS}."
    elif not _is_text(title):
        errors["title"] = "Title contains a broken character (half of an emoji?): retype or remove it."

    model_name = request.model or (DEFAULT_MODEL if DEFAULT_MODEL in models else next(iter(models), ""))
    spec = models.get(model_name)
    size, seconds = request.size, request.seconds
    if spec is None:
        errors["model"] = f"Unknown model {model_name!r}; choose one of {', '.join(models)}."
    else:
        size = size or spec.default_size
        if size not in spec.sizes:
            errors["size"] = f"{spec.name} does not render {size}; choose one of {', '.join(spec.sizes)}."
        seconds = _parse_seconds(seconds, spec, errors)

    reference = None
    if request.reference is not None and spec is not None:
        try:
            reference = check_reference(request.reference, spec, max_reference_bytes)
        except ValidationError as refused:
            errors.update(refused.errors)

    if errors:
        raise ValidationError(errors)
    assert spec is not None and isinstance(size, str) and isinstance(seconds, int)
    return ValidRequest(
        prompt=prompt,
        title=title,
        model=spec.name,
        size=size,
        seconds=seconds,
        reference=reference,
        project_id=request.project_id or None,
    )


def _is_text(value: str) -> bool:
    """False for strings that cannot be stored as UTF-8 (lone surrogates from bad JSON escapes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def whole_seconds(raw: int | str) -> int | None:
    """A duration written with 1 to 4 ASCII digits, else None (`int()` would also take Arabic-Indic or
    full-width digits, and "4_0")."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):  # str() of an int past 4,300 digits raises: judge it by its value
        return raw if 0 <= raw <= 9999 else None
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        return None
    return int(text)


def _parse_seconds(raw: int | str | None, spec: ModelSpec, errors: dict[str, str]) -> int | None:
    if raw is None or raw == "":
        return spec.default_seconds
    seconds = whole_seconds(raw)
    if seconds is None:
        shown = "a number that large" if isinstance(raw, int) and abs(raw) > 10**12 else repr(raw)
        errors["seconds"] = f"Duration must be a whole number of seconds, got {shown}."
        return None
    if seconds not in spec.seconds:
        allowed = ", ".join(str(s) for s in spec.seconds)
        errors["seconds"] = f"{spec.name} makes videos of {allowed} seconds, not {seconds}."
        return None
    return seconds


def read_reference_file(path: Path, max_bytes: int, label: str | None = None) -> ReferenceUpload:
    """A reference file from disk, judged before it is read: a regular file (a FIFO would hang, a
    device never ends), at most `max_bytes` (never more than that plus one byte is read). `label`:
    the file as the person wrote it (default: the path)."""
    name, label = path.name, label or str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ValidationError({"reference": f"Reference file {label!r} is not a regular file."})
        if info.st_size > max_bytes:
            raise ValidationError({"reference": _too_big(name, info.st_size, max_bytes)})
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise ValidationError(
            {"reference": f"Reference file {label!r} cannot be read: {exc.strerror or exc}."}
        ) from None
    if len(data) > max_bytes:  # it grew after the check
        raise ValidationError({"reference": _too_big(name, len(data), max_bytes)})
    return ReferenceUpload(name, data)


def _too_big(name: str, size: int, max_bytes: int) -> str:
    return f"Reference file {name!r} is {size / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:g} MB."


def detect_type(data: bytes) -> tuple[str, str]:
    """(mime type, human description) of some bytes, as libmagic sees them."""
    head = data[: 1024 * 1024]
    return magic.from_buffer(head, mime=True), magic.from_buffer(head)


def check_reference(upload: ReferenceUpload, spec: ModelSpec, max_bytes: int) -> CheckedReference:
    """Accept a png/jpeg/webp image, or a video where the model takes video references."""
    name = upload.name or "reference"
    if not upload.data:
        raise ValidationError({"reference": f"Reference file {name!r} is empty."})
    if len(upload.data) > max_bytes:
        raise ValidationError({"reference": _too_big(name, len(upload.data), max_bytes)})
    mime, description = detect_type(upload.data)
    kind: ReferenceKind
    if mime in IMAGE_MIMES:
        kind = "image"
    elif mime in VIDEO_MIMES:
        kind = "video"
    else:
        accepted = "PNG, JPEG or WebP image" + (
            ", or an MP4, MOV or WebM video" if "video" in spec.reference_kinds else ""
        )
        raise ValidationError(
            {"reference": f"Reference file {name!r} is {description} ({mime}), not a {accepted}."}
        )
    if kind not in spec.reference_kinds:
        raise ValidationError(
            {
                "reference": f"Reference file {name!r} is a {VIDEO_MIMES[mime]} video, but {spec.name} "
                "takes image references only (PNG, JPEG or WebP)."
            }
        )
    problem = _image_problem(upload.data, mime) if kind == "image" else _video_problem(upload.data)
    if problem:
        label = IMAGE_MIMES.get(mime) or VIDEO_MIMES[mime]
        raise ValidationError({"reference": f"Reference file {name!r} looks like {label} but {problem}."})
    return CheckedReference(name=name, data=upload.data, mime=mime, kind=kind)


def _image_problem(data: bytes, mime: str) -> str | None:
    """Decode the whole image: a truncated or corrupt file is caught here, not by the provider."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    return f"is {image.width}x{image.height} pixels, more than this app accepts"
                image.load()
                if image.format != IMAGE_MIMES[mime].upper():  # Pillow says PNG, JPEG, WEBP
                    return f"decodes as {image.format}"
    except Image.DecompressionBombError:  # declares far more pixels than it holds: never decoded
        return "declares more pixels than this app accepts"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        return f"cannot be decoded ({exc})"
    return None


def _video_problem(data: bytes) -> str | None:
    """A video reference is usable when its first frame decodes."""
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                return "has no video stream"
            next(container.decode(video=0))  # type: ignore[union-attr]  # av.open(file) reads: an InputContainer
    except StopIteration:
        return "has no frames"
    except (av.FFmpegError, OSError, ValueError) as exc:
        return f"cannot be decoded ({exc})"
    return None
