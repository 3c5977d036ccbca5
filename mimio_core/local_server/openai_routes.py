"""The OpenAI-compatible Videos API under `/v1`, over the same jobs, renderer and faults as the Mimio
routes, so an OpenAI-compatible provider adapter can be tested over real HTTP, offline.

`POST /v1/videos` (multipart or JSON), `GET /v1/videos` (list), `GET /v1/videos/{id}`,
`GET /v1/videos/{id}/content?variant=video|thumbnail`, `DELETE /v1/videos/{id}`, and the one-time
asset URLs `GET /v1/_assets/{token}` that `redirect_downloads` faults send downloads to.

Every error on a `/v1` path, injected faults and unknown routes included, is answered in OpenAI's
shape `{"error": {"message", "type", "param", "code"}}`; other paths keep FastAPI's `{"detail": ...}`.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from typing import Any, Literal

from fastapi import FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from mimio_core.local_server.contract import ApiError, checked_job, serve_video_file
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
    bool: "a boolean",
    int: "an integer",
    float: "a decimal number",
    list: "an array",
    dict: "an object",
}


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


def fault_response(fault: HttpFault) -> JSONResponse:
    """An injected HTTP fault as an OpenAI-compatible server would answer it (429: `retry-after`)."""
    headers = None
    if fault.retry_after is not None:
        headers = {
            "retry-after": str(fault.retry_after),
            "retry-after-ms": str(round(fault.retry_after * 1000)),
        }
    code = "rate_limit_exceeded" if fault.status == 429 else None
    return error_response(fault.status, fault.detail, code=code, headers=headers)


def auth_failure(request: Request, api_key: str | None) -> Response | None:
    """The 401 for a `/v1` request without the right bearer key; None when it may pass. Asset URLs
    carry their own one-time token instead, like a CDN's signed URL."""
    if api_key is None or request.url.path.startswith(f"{PREFIX}/_assets/"):
        return None
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return error_response(
            401,
            "You didn't provide an API key. Send it in the header 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.strip().encode(), api_key.encode()):
        return error_response(
            401, "Incorrect API key provided.", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
        )
    return None


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


async def _create_fields(request: Request) -> tuple[dict[str, str], UploadFile | None]:
    """The create request's fields and its `input_reference` file, from multipart or JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.", code="invalid_json") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
        if body.get("input_reference") is not None:
            raise ApiError(
                400,
                "input_reference must be uploaded as a file in a multipart/form-data request.",
                param="input_reference",
                code="invalid_value",
            )
        return _string_fields(body), None
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=1, max_fields=50)
        upload = form.get("input_reference")
        if isinstance(upload, str) and upload:
            raise ApiError(
                400, "input_reference must be a file.", param="input_reference", code="invalid_type"
            )
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        return _string_fields(fields), upload if isinstance(upload, UploadFile) else None
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
    """OpenAI-shaped errors on `/v1` paths; FastAPI's own answers elsewhere, unchanged."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not is_openai_path(request.url.path):
            return await http_exception_handler(request, exc)
        return error_response(
            exc.status_code,
            str(exc.detail),
            param=getattr(exc, "param", None),
            code=getattr(exc, "code", None),
            kind=getattr(exc, "error_type", None),
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_openai_path(request.url.path):
            return await request_validation_exception_handler(request, exc)
        first = exc.errors()[0] if exc.errors() else {}
        param = str(first.get("loc", ["?"])[-1])
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}."
        return error_response(400, message, param=param, code="invalid_value")

    async def server_error(request: Request, exc: Exception) -> Response:
        if not is_openai_path(request.url.path):
            return PlainTextResponse("Internal Server Error", status_code=500)  # Starlette's own answer
        return error_response(500, "The server had an error while processing your request.")

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

    @app.post(f"{PREFIX}/videos")
    async def create_video(request: Request) -> dict[str, Any]:
        fields, upload = await _create_fields(request)
        data = await upload.read() if upload is not None else None
        name = (upload.filename if upload is not None else None) or "input_reference"
        new = await run_in_threadpool(
            checked_job,
            fields["prompt"],
            fields["model"],
            fields["size"],
            fields["seconds"],
            data,
            name,
            service,
            reference_param="input_reference",
            exact_reference_size=True,
        )
        (job,) = await run_in_threadpool(service.create, new)
        return video_object(job, "queued", 0)

    @app.get(f"{PREFIX}/videos")
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

    @app.get(f"{PREFIX}/videos/{{video_id}}")
    def retrieve_video(video_id: str, response: Response) -> dict[str, Any]:
        job, word, progress = current_or_404(video_id)
        response.headers["openai-poll-after-ms"] = str(_poll_after_ms(job, word, service.latency))
        return video_object(job, word, progress)

    @app.get(f"{PREFIX}/videos/{{video_id}}/content")
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

    @app.get(f"{PREFIX}/_assets/{{token}}", name="openai_asset")
    def asset(token: str) -> Response:
        with assets_lock:
            target = assets.pop(token, None)
        if target is None or time.time() - target[2] > ASSET_URL_LIFETIME:
            raise ApiError(404, "This asset URL has been used or has expired.", code="asset_not_found")
        video_id, variant, _ = target
        return serve_asset(video_id, variant)

    @app.delete(f"{PREFIX}/videos/{{video_id}}")
    def delete_video(video_id: str) -> dict[str, Any]:
        if not service.delete(video_id):
            raise _not_found(video_id)
        return {"id": video_id, "object": "video.deleted", "deleted": True}
