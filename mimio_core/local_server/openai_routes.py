"""The OpenAI-compatible Videos API under `/v1`, over the same jobs, renderer and faults as the Mimio
routes, so an OpenAI-compatible provider adapter can be tested over real HTTP, offline.

`POST /v1/videos` (multipart, or JSON with an `input_reference.image_url` data URL), `GET /v1/videos`
(list), `GET /v1/videos/{id}`, `GET /v1/videos/{id}/content?variant=video|thumbnail`,
`DELETE /v1/videos/{id}`, and the one-time asset URLs `GET /v1/_assets/{token}` that
`redirect_downloads` faults send downloads to. Remix, edits, extensions and characters are refused
by name, so a client learns at once that this server does not do them.

Every error on a `/v1` path, injected faults, validation errors and unknown routes included, is
answered in OpenAI's shape `{"error": {"message", "type", "param", "code"}}`; other paths answer
FastAPI's `{"detail": ...}`, always with a string.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, NoReturn

from fastapi import FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from mimio_core.local_server.contract import (
    ApiError,
    OpenAIErrorBody,
    checked_job,
    describe_invalid,
    error_responses,
    serve_video_file,
)
from mimio_core.local_server.faults import HttpFault
from mimio_core.local_server.service import Job, LocalVideoService

PREFIX = "/v1"
DEFAULT_MODEL, DEFAULT_SIZE, DEFAULT_SECONDS = "sora-2", "720x1280", "4"
POLL_AFTER_MS, MIN_POLL_AFTER_MS = 1000, 250
ASSETS_LIFETIME = 3600  # expires_at = completed_at + this, as OpenAI keeps a video's assets an hour
ASSET_URL_LIFETIME = 600  # a redirect's one-time asset URL is honoured this long
VARIANTS = ("video", "thumbnail", "spritesheet")
FAILED_WORDS = ("failed", "error")
JSON_TYPES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a decimal number",
    list: "an array",
    dict: "an object",
}
REFERENCE = "input_reference"
REFERENCE_KEYS = ("image_url", "file_id")
DATA_URL_EXAMPLE = "data:image/png;base64,iVBORw0KGgo..."
CREATE_FIELDS = {
    "prompt": {"type": "string", "description": "What the video shows."},
    "model": {"type": "string", "default": DEFAULT_MODEL},
    "size": {"type": "string", "default": DEFAULT_SIZE, "description": "WIDTHxHEIGHT"},
    "seconds": {"type": "string", "default": DEFAULT_SECONDS, "description": "4, 8 or 12, as a string"},
}


def _create_body(reference: dict[str, Any]) -> dict[str, Any]:
    """The schema of a create request, with `input_reference` as its media type carries it."""
    properties = {**CREATE_FIELDS, REFERENCE: reference}
    return {"schema": {"type": "object", "required": ["prompt"], "properties": properties}}


CREATE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": _create_body(
            {
                "type": "string",
                "format": "binary",
                "description": "An image of exactly the video's size: its first frame.",
            }
        ),
        "application/json": _create_body(
            {
                "type": "object",
                "description": "The first frame as a base64 `data:` URL in `image_url`; this server "
                "fetches no remote URL and keeps no files (`file_id` is refused).",
                "properties": {"image_url": {"type": "string"}, "file_id": {"type": "string"}},
            }
        ),
    },
}


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """OpenAI's video object, as this server fills it."""

    id: str
    object: Literal["video"]
    status: str
    progress: int
    created_at: int
    completed_at: int | None
    expires_at: int | None
    error: VideoError | None
    model: str
    size: str
    seconds: str
    prompt: str
    remixed_from_video_id: str | None


class VideoList(BaseModel):
    object: Literal["list"]
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"]
    deleted: bool


BINARY = {"schema": {"type": "string", "format": "binary"}}
UNSUPPORTED = (  # (method, path under /v1, what it does at OpenAI)
    ("POST", "/videos/{video_id}/remix", "remixing a video"),
    ("POST", "/videos/edits", "editing a video"),
    ("POST", "/videos/extensions", "extending a video"),
    ("POST", "/videos/characters", "creating a character"),
    ("GET", "/videos/characters/{character_id}", "fetching a character"),
)


def is_openai_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_type(status: int) -> str:
    if status == 429:
        return "requests"
    return "server_error" if status >= 500 else "invalid_request_error"


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error in OpenAI's shape."""
    error = {"message": message, "type": kind or error_type(status), "param": param, "code": code}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def answer_error(path: str, error: HTTPException) -> JSONResponse:
    """An error in the shape of the API `path` belongs to: OpenAI's on `/v1`, `{"detail": str}` else."""
    headers = dict(error.headers) if error.headers else None
    if not is_openai_path(path):
        return JSONResponse({"detail": str(error.detail)}, status_code=error.status_code, headers=headers)
    return error_response(
        error.status_code,
        str(error.detail),
        param=getattr(error, "param", None),
        code=getattr(error, "code", None),
        kind=getattr(error, "error_type", None),
        headers=headers,
    )


def fault_error(fault: HttpFault) -> ApiError:
    """An injected HTTP fault as a server would answer it (with `retry_after`: the `Retry-After`
    header, and OpenAI's `retry-after-ms`)."""
    headers = None
    if fault.retry_after is not None:
        headers = {
            "Retry-After": str(fault.retry_after).removesuffix(".0"),  # "1" for 1, as it was given
            "retry-after-ms": str(round(fault.retry_after * 1000)),
        }
    code = "rate_limit_exceeded" if fault.status == 429 else None
    return ApiError(fault.status, fault.detail, code=code, headers=headers)


def video_object(job: Job, word: str, progress: int) -> dict[str, Any]:
    """The OpenAI video object of a job; `word` is the status word the service reports. Words other
    than the four standard ones (a `weird` job's) pass through, as gateways' do."""
    status = "failed" if word in FAILED_WORDS else word
    completed_at = int(job.completed_at) if job.completed_at is not None else None
    error = None
    if status == "failed":
        error = {
            "code": job.error_code or "generation_failed",
            "message": job.error or "The video could not be generated.",
        }
    return {
        "id": job.id,
        "object": "video",
        "status": status,
        "progress": progress,
        "created_at": int(job.created_at),
        "completed_at": completed_at,
        "expires_at": completed_at + ASSETS_LIFETIME if status == "completed" and completed_at else None,
        "error": error,
        "model": job.model,
        "size": job.size,
        "seconds": str(job.seconds),
        "prompt": job.prompt,
        "remixed_from_video_id": None,
    }


def _not_found(video_id: str) -> ApiError:
    return ApiError(404, f"Video with id '{video_id}' not found.", code="video_not_found")


def _string_fields(fields: dict[str, Any]) -> dict[str, str]:
    """The create fields as strings, refusing JSON values of another type as OpenAI does (an integer
    `seconds` above all)."""
    if fields.get("prompt") is None:
        raise ApiError(
            400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter"
        )
    values = {"model": DEFAULT_MODEL, "size": DEFAULT_SIZE, "seconds": DEFAULT_SECONDS}
    for name in ("prompt", "model", "size", "seconds"):
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            got = JSON_TYPES.get(type(value), "another type")
            expected = "one of '4', '8' or '12' as a string" if name == "seconds" else "a string"
            raise ApiError(
                400,
                f"Invalid type for '{name}': expected {expected}, but got {got} instead.",
                param=name,
                code="invalid_type",
            )
        values[name] = value
    return values


def _refused_reference(message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=REFERENCE, code=code)


def _json_reference(value: Any) -> bytes:
    """The image of a JSON `input_reference` (`{"image_url": "data:image/png;base64,..."}`), decoded.
    A reference this server would have to fetch (a remote URL) or look up (`file_id`) is refused,
    never ignored: a video made without the first frame asked for is a billed mistake."""
    if not isinstance(value, dict):
        got = JSON_TYPES.get(type(value), "another type")
        raise _refused_reference(
            f"Invalid type for '{REFERENCE}': expected an object such as "
            f'{{"image_url": "{DATA_URL_EXAMPLE}"}}, but got {got} instead.',
            "invalid_type",
        )
    if unknown := sorted(set(value) - set(REFERENCE_KEYS)):
        raise _refused_reference(f"Unknown parameter: '{REFERENCE}.{unknown[0]}'.", "unknown_parameter")
    if value.get("file_id") is not None:
        raise _refused_reference(
            f"'{REFERENCE}.file_id' is not supported by this server, which keeps no files: send the "
            f"image as a data: URL in '{REFERENCE}.image_url', or upload it as a multipart file.",
            "unsupported_value",
        )
    url = value.get("image_url")
    if not isinstance(url, str) or not url:
        raise _refused_reference(
            f"Missing required parameter: '{REFERENCE}.image_url' (a data: URL such as {DATA_URL_EXAMPLE}).",
            "missing_required_parameter",
        )
    head, comma, payload = url.partition(",")
    if not head.lower().startswith("data:"):
        raise _refused_reference(
            f"'{REFERENCE}.image_url' must be a data: URL ({DATA_URL_EXAMPLE}): this server does not "
            "fetch images from other hosts. Send the image's bytes in a data: URL, or upload the file.",
            "unsupported_value",
        )
    head = head.lower()
    if not comma or not head.startswith("data:image/") or not head.endswith(";base64"):
        raise _refused_reference(
            f"'{REFERENCE}.image_url' must be a base64 image data: URL such as {DATA_URL_EXAMPLE}."
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _refused_reference(f"'{REFERENCE}.image_url' holds data that is not valid base64.") from None


async def _create_fields(request: Request) -> tuple[dict[str, str], bytes | None, str]:
    """The create request's fields, its `input_reference` image (None: none) and that image's name
    for messages, from multipart or JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.", code="invalid_json") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
        fields = _string_fields(body)
        if body.get(REFERENCE) is None:
            return fields, None, REFERENCE
        return fields, _json_reference(body[REFERENCE]), f"{REFERENCE}.image_url"
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=1, max_fields=50)
        upload = form.get(REFERENCE)
        if isinstance(upload, str) and upload:
            raise _refused_reference(f"{REFERENCE} must be a file.", "invalid_type")
        fields = _string_fields({key: value for key, value in form.items() if isinstance(value, str)})
        if not isinstance(upload, UploadFile):
            return fields, None, REFERENCE
        return fields, await upload.read(), upload.filename or REFERENCE
    raise ApiError(
        415 if media else 400,
        "Send the request as multipart/form-data or application/json.",
        code="unsupported_content_type",
    )


def _poll_after_ms(job: Job, word: str, latency: float) -> int:
    """When to poll again: sooner when the simulated latency is about to pass."""
    remaining = job.created_at + latency - time.time()
    if word in ("completed", *FAILED_WORDS) or remaining <= 0:
        return POLL_AFTER_MS
    return max(MIN_POLL_AFTER_MS, min(POLL_AFTER_MS, int(remaining * 1000)))


def install_error_handlers(app: FastAPI) -> None:
    """OpenAI-shaped errors on `/v1` paths; FastAPI's `{"detail": str}` elsewhere."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return answer_error(request.url.path, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message, param = describe_invalid(exc.errors())
        if not is_openai_path(request.url.path):
            return JSONResponse({"detail": message}, status_code=422)  # FastAPI's status, a string
        return error_response(400, message, param=param, code="invalid_value")

    async def server_error(request: Request, exc: Exception) -> Response:
        message = "The server had an error while processing your request; its log has the details."
        if not is_openai_path(request.url.path):
            return JSONResponse({"detail": message}, status_code=500)
        return error_response(500, message)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)


def add_openai_routes(app: FastAPI, service: LocalVideoService) -> None:
    """The `/v1` routes (authentication and HTTP faults are the app middleware's)."""
    install_error_handlers(app)
    assets: dict[str, tuple[str, str, float]] = {}  # one-time token -> (video id, variant, issued)
    assets_lock = threading.Lock()

    def current_or_404(video_id: str) -> tuple[Job, str, int]:
        current = service.current(video_id)
        if current is None:
            raise _not_found(video_id)
        return current

    def serve_asset(video_id: str, variant: str) -> Response:
        path = service.finished_file(video_id)
        if path is None:
            raise _not_found(video_id)
        if variant == "thumbnail":
            thumbnail = service.thumbnail_file(video_id)
            if thumbnail is None:
                raise _not_found(video_id)
            return FileResponse(thumbnail, media_type="image/webp", filename=f"{video_id}.webp")
        return serve_video_file(service, video_id, path)

    @app.post(
        f"{PREFIX}/videos",
        response_model=None,
        responses={200: {"model": Video}, **error_responses(OpenAIErrorBody, 400, 415)},
        openapi_extra={"requestBody": CREATE_BODY},
    )
    async def create_video(request: Request) -> dict[str, Any]:
        fields, data, name = await _create_fields(request)
        new = await run_in_threadpool(
            checked_job,
            fields["prompt"],
            fields["model"],
            fields["size"],
            fields["seconds"],
            data,
            name,
            service,
            reference_param=REFERENCE,
            exact_reference_size=True,
        )
        (job,) = await run_in_threadpool(service.create, new)
        return video_object(job, "queued", 0)

    @app.get(
        f"{PREFIX}/videos",
        response_model=None,
        responses={200: {"model": VideoList}, **error_responses(OpenAIErrorBody, 400)},
    )
    def list_videos(
        limit: int = Query(20, ge=1, le=100),
        after: str | None = Query(None),
        order: Literal["asc", "desc"] = Query("desc"),
    ) -> dict[str, Any]:
        views = [view for video_id in service.job_ids() if (view := service.current(video_id))]
        views.sort(key=lambda view: (view[0].created_at, view[0].id), reverse=order == "desc")
        start = 0
        if after is not None:
            ids = [job.id for job, _, _ in views]
            if after not in ids:
                raise ApiError(
                    400, f"No video with id '{after}' to list after.", param="after", code="invalid_value"
                )
            start = ids.index(after) + 1
        page = [video_object(*view) for view in views[start : start + limit]]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": start + limit < len(views),
        }

    @app.get(
        f"{PREFIX}/videos/{{video_id}}",
        response_model=None,
        responses={200: {"model": Video}, **error_responses(OpenAIErrorBody, 404)},
    )
    def retrieve_video(video_id: str, response: Response) -> dict[str, Any]:
        job, word, progress = current_or_404(video_id)
        response.headers["openai-poll-after-ms"] = str(_poll_after_ms(job, word, service.latency))
        return video_object(job, word, progress)

    @app.get(
        f"{PREFIX}/videos/{{video_id}}/content",
        response_class=Response,
        responses={
            200: {
                "description": "The MP4 (`variant=video`) or a WebP of its first frame (`variant=thumbnail`)",
                "content": {"video/mp4": BINARY, "image/webp": BINARY},
            },
            302: {"description": "To a one-time asset URL (the `redirect_downloads` fault)"},
            **error_responses(OpenAIErrorBody, 400, 404, 409),
        },
    )
    def video_content(request: Request, video_id: str, variant: str = Query("video")) -> Response:
        if variant not in VARIANTS:
            raise ApiError(
                400,
                f"Invalid value for 'variant': {variant!r}; one of {', '.join(VARIANTS)}.",
                param="variant",
                code="invalid_value",
            )
        _, word, _ = current_or_404(video_id)
        if variant == "spritesheet":
            raise ApiError(
                400,
                "variant 'spritesheet' is not available from this server; use video or thumbnail.",
                param="variant",
                code="unsupported_value",
            )
        if word != "completed" or service.finished_file(video_id) is None:
            status = "failed" if word in FAILED_WORDS else word
            raise ApiError(
                409, f"Video {video_id} is not ready: its status is {status}.", code="video_not_ready"
            )
        if service.faults.take_download_fault("expire_downloads"):
            raise ApiError(404, "The video's assets have expired", code="video_expired")
        if service.faults.take_download_fault("redirect_downloads"):
            token = secrets.token_urlsafe(24)
            now = time.time()
            with assets_lock:
                for stale in [key for key, (_, _, at) in assets.items() if now - at > ASSET_URL_LIFETIME]:
                    del assets[stale]
                assets[token] = (video_id, variant, now)
            return RedirectResponse(str(request.url_for("openai_asset", token=token)), status_code=302)
        return serve_asset(video_id, variant)

    @app.get(f"{PREFIX}/_assets/{{token}}", name="openai_asset", include_in_schema=False)
    def asset(token: str) -> Response:
        with assets_lock:
            target = assets.pop(token, None)
        if target is None or time.time() - target[2] > ASSET_URL_LIFETIME:
            raise ApiError(404, "This asset URL has been used or has expired.", code="asset_not_found")
        video_id, variant, _ = target
        return serve_asset(video_id, variant)

    @app.delete(
        f"{PREFIX}/videos/{{video_id}}",
        response_model=None,
        responses={200: {"model": VideoDeleted}, **error_responses(OpenAIErrorBody, 404)},
    )
    def delete_video(video_id: str) -> dict[str, Any]:
        if not service.delete(video_id):
            raise _not_found(video_id)
        return {"id": video_id, "object": "video.deleted", "deleted": True}

    _add_unsupported_routes(app)


def _refusing(what: str) -> Callable[[Request], NoReturn]:
    """An endpoint refusing a part of OpenAI's Videos API this server does not implement, by name."""

    def refuse(request: Request) -> NoReturn:
        raise ApiError(
            400,
            f"{request.method} {request.scope['route'].path} ({what}) is not supported by this server, "
            "which only makes new videos from a prompt and an optional first frame: create one with "
            "POST /v1/videos instead.",
            code="unsupported_endpoint",
        )

    return refuse


def _add_unsupported_routes(app: FastAPI) -> None:
    """OpenAI's remix, edits, extensions and characters endpoints, refused by name: not a bare 404 or
    405 a client could take for a missing video."""
    for method, path, what in UNSUPPORTED:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{(\w+)\}", path)
        ]
        app.add_api_route(
            PREFIX + path,
            _refusing(what),
            methods=[method],
            summary=f"Not supported: {what}",
            status_code=400,
            response_model=None,
            responses=error_responses(OpenAIErrorBody, 400),
            openapi_extra={"parameters": parameters} if parameters else None,
        )
