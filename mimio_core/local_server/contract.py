"""What both route sets of the embedded server share (the Mimio API's and the OpenAI-compatible
`/v1`): the refusal type, the checks a real provider makes before it starts a job, and the download.

Kept apart from the routes so neither route module imports the other.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from PIL import Image
from pydantic import BaseModel

from mimio_core.catalogue import parse_size
from mimio_core.domain import ReferenceUpload
from mimio_core.local_server.service import LocalVideoService, NewJob
from mimio_core.validation import MAX_PROMPT_CHARS, ValidationError, check_reference, whole_seconds

MAX_REFERENCE_BYTES = 50 * 1024 * 1024
DOWNLOAD_CHUNK = 256 * 1024
MAX_PROBLEMS_TOLD = 3  # a body with 50 bad fields gets the first few, not a page of text
WHERE_WORDS = frozenset({"body", "query", "path", "header", "cookie"})  # FastAPI's, not the caller's
OBJECT_EXPECTED = frozenset({"model_type", "model_attributes_type", "dict_type"})


class ErrorDetail(BaseModel):
    """A Mimio API error (FastAPI's shape): the message the original client shows as it is."""

    detail: str


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    """An error of the OpenAI-compatible routes."""

    error: OpenAIError


ERROR_DESCRIPTIONS = {
    400: "Refused: the request asks for something the server does not make; the message says what",
    404: "No such video, or its assets are gone",
    409: "The video is not completed yet",
    415: "The body is neither multipart/form-data nor JSON",
    422: "Malformed request: a field is missing, of the wrong type or out of range",
}


def error_responses(body: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route declares in the OpenAPI schema, in its API's error shape."""
    return {status: {"model": body, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


class ApiError(HTTPException):
    """A refusal with a message for people and, for the OpenAI-compatible routes, the field at fault
    (`param`) and a machine-readable `code`. The Mimio routes answer it as `{"detail": message}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.param, self.code, self.error_type = param, code, error_type


def describe_invalid(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """What is wrong with a request, from pydantic's validation errors, as one sentence per problem in
    OpenAI's phrasing, and the field at fault first. Both APIs answer it as a string: the original
    client shows FastAPI's list of errors as "[object Object]"."""
    sentences, fields = [], []
    for error in errors[:MAX_PROBLEMS_TOLD]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in WHERE_WORDS)
        kind, context = error.get("type"), error.get("ctx") or {}
        if kind == "json_invalid":
            sentences.append(f"The request body is not valid JSON: {context.get('error', 'unreadable')}.")
            continue
        fields.append(where)
        name = f"'{where}'" if where else "the request body"
        if kind == "missing":
            sentences.append(f"Missing required parameter: {name}.")
        elif kind == "extra_forbidden":
            sentences.append(f"Unknown parameter: {name}.")
        elif kind == "too_long":
            sentences.append(
                f"Invalid value for {name}: at most {context['max_length']} items, "
                f"got {context['actual_length']}."
            )
        elif kind in OBJECT_EXPECTED:
            sentences.append(f"Invalid type for {name}: expected an object.")
        else:
            sentences.append(f"Invalid value for {name}: {error.get('msg', 'invalid')}.")
    if len(errors) > MAX_PROBLEMS_TOLD:
        sentences.append(f"({len(errors) - MAX_PROBLEMS_TOLD} more problems.)")
    return " ".join(sentences) or "The request is invalid.", next((f for f in fields if f), None)


def checked_job(
    prompt: str,
    model: str,
    size: str,
    seconds: str | int,
    reference: bytes | None,
    name: str,
    service: LocalVideoService,
    *,
    reference_param: str = "image_reference",
    exact_reference_size: bool = False,
) -> NewJob:
    """Refuse what the real provider would refuse, with the same kind of message (and what a
    `refuse` fault rule says to refuse), as `ApiError` 400 naming the field at fault.

    `exact_reference_size`: an image reference must have exactly the video's size in pixels, as the
    OpenAI Videos API demands (the Mimio API crops it to fit)."""
    if not prompt.strip():
        raise ApiError(400, "prompt must not be empty", param="prompt", code="invalid_value")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(
            400, f"prompt must be at most {MAX_PROMPT_CHARS} characters", param="prompt", code="invalid_value"
        )
    spec = service.models.get(model)
    if spec is None:
        raise ApiError(
            400,
            f"unsupported model {model!r}; supported: {', '.join(service.models)}",
            param="model",
            code="invalid_value",
        )
    if size not in spec.sizes:
        raise ApiError(
            400,
            f"size {size!r} is not supported by {model}; supported: {', '.join(spec.sizes)}",
            param="size",
            code="invalid_value",
        )
    if whole_seconds(seconds) not in spec.seconds:
        allowed = ", ".join(str(s) for s in spec.seconds)
        raise ApiError(
            400,
            f"seconds {seconds!r} is not supported by {model}; supported: {allowed}",
            param="seconds",
            code="invalid_value",
        )
    if reference is not None:
        try:
            checked = check_reference(ReferenceUpload(name, reference), spec, MAX_REFERENCE_BYTES)
        except ValidationError as exc:
            raise ApiError(400, str(exc), param=reference_param, code="invalid_value") from None
        if exact_reference_size and checked.kind == "image":
            with Image.open(io.BytesIO(reference)) as image:
                width, height = image.size
            if (width, height) != parse_size(size):
                raise ApiError(
                    400,
                    f"Invalid {reference_param}: {reference_param} must be {size} pixels, got "
                    f"{width}x{height}; resize or crop the image to the video's size.",
                    param=reference_param,
                    code="invalid_value",
                )
    rule = service.faults.outcome_for(prompt)
    if rule is not None and rule.outcome == "refuse":
        raise ApiError(400, rule.message, code=rule.code)
    return NewJob(prompt=prompt, model=model, size=size, seconds=int(str(seconds)), reference=reference)


def serve_video_file(service: LocalVideoService, video_id: str, path: Path) -> Response:
    """Stream a finished video with its Content-Length, suffering the download faults waiting
    (`garble_downloads`, `drop_downloads`) and counting each complete download."""
    if service.faults.take_download_fault("garble_downloads"):
        return HTMLResponse("<html><body>upstream error</body></html>")
    size = path.stat().st_size
    drop = service.faults.take_download_fault("drop_downloads")

    def body() -> Iterator[bytes]:
        sent = 0
        with path.open("rb") as src:
            while chunk := src.read(DOWNLOAD_CHUNK):
                if drop and sent + len(chunk) >= size // 2:
                    raise ConnectionResetError("injected: connection dropped mid-download")
                yield chunk
                sent += len(chunk)
        service.downloads[video_id] += 1

    headers = {
        "Content-Length": str(size),
        "Content-Disposition": f'attachment; filename="{video_id}.mp4"',
    }
    return StreamingResponse(body(), media_type="video/mp4", headers=headers)
