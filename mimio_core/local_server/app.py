"""HTTP routes of the embedded server: the Mimio video API contract, `/health`, and `/_admin` for faults.

Requests are validated as the real server would (4xx with a string `detail`), using the same
catalogue and reference checks as the app itself. The same jobs also answer the OpenAI-compatible
Videos API under `/v1` (see `openai_routes`), with errors in OpenAI's shape there.

In front of the routes, outermost first: on loopback, requests naming another host are refused (DNS
rebinding); requests from a web page at an origin not allowed are refused whole, so a page that may
not read the answer cannot start a video either, and allowed origins get CORS answers; with an API
key, every route but `/health` demands it.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mimio_core.local_server import openai_routes
from mimio_core.local_server.contract import (
    ApiError,
    ErrorDetail,
    OpenAIErrorBody,
    checked_job,
    describe_invalid,
    error_responses,
    serve_video_file,
)
from mimio_core.local_server.faults import ENDPOINTS
from mimio_core.local_server.service import Job, LocalVideoService, NewJob

# the browser origins allowed when none are configured: pages served from this machine, on any port
LOCAL_ORIGINS = r"http://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?"
LOOPBACK_HOST = re.compile(r"(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?", re.IGNORECASE)
OPEN_PATHS = ("/health",)  # answered without the key: a probe, telling nothing but the model names
CORS_METHODS = ("GET", "POST", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type")
CORS_EXPOSED = ("Content-Disposition", "Retry-After", "retry-after-ms", "openai-poll-after-ms")
FASTAPI_422 = {"$ref": "#/components/schemas/HTTPValidationError"}


class Started(BaseModel):
    success: bool
    video_id: str
    status: str
    message: str


class VideoCreationResult(Started):
    progress: int
    model: str
    size: str
    seconds: str
    created_at: int


class BatchCreateResponse(BaseModel):
    success: bool
    batch_id: str
    videos: list[Started]
    total_videos: int
    message: str


class VideoStatus(BaseModel):
    """A job's status; an unknown id in a batch status answers only `video_id`, `status`, `progress`
    and `error`."""

    video_id: str
    status: str
    progress: int = Field(ge=0, le=100)
    model: str | None = None
    size: str | None = None
    seconds: str | None = None
    created_at: int | None = None
    completed_at: int | None = None
    download_url: str | None = None
    error: str | None = None


class Health(BaseModel):
    status: str
    models: list[str]


class Deleted(BaseModel):
    success: bool
    message: str


class BatchItem(BaseModel):
    prompt: str
    model: str = "sora-2"
    size: str = "720x1280"
    seconds: str | int = "8"


class BatchBody(BaseModel):
    videos: list[BatchItem] = Field(min_length=1, max_length=3)


def _endpoint(request: Request) -> str:
    """Which contract endpoint a request is for, by its route (for faults and request counts); the
    OpenAI-compatible `/v1/videos` routes map to the same names (`list` is theirs alone)."""
    path, method = request.url.path, request.method
    if path.startswith("/v1/"):
        parts = path.removeprefix("/v1/").strip("/").split("/")
        if parts[0] != "videos":
            return "other"
        if len(parts) == 1:
            return {"POST": "create", "GET": "list"}.get(method, "other")
        if len(parts) == 2:
            return {"GET": "status", "DELETE": "delete"}.get(method, "other")
        return "download" if len(parts) == 3 and parts[2] == "content" and method == "GET" else "other"
    if path == "/health":
        return "health"
    if path.endswith("/create"):
        return "create"
    if path.endswith("/create-variations"):
        return "create-variations"
    if path.endswith("/create-batch"):
        return "create-batch"
    if path.endswith("/batch/status"):
        return "batch-status"
    if path.endswith("/status"):
        return "status"
    if path.endswith("/download"):
        return "download"
    return "delete" if method == "DELETE" else "other"


def _started(job: Job, message: str = "Video generation started") -> dict[str, Any]:
    return {"success": True, "video_id": job.id, "status": job.status, "message": message}


def _key_refusal(request: Request, api_key: str | None) -> ApiError | None:
    """The 401 for a request without the right bearer key; None when it may pass. Asset URLs carry
    their own one-time token instead, like a CDN's signed URL."""
    path = request.url.path
    if api_key is None or path in OPEN_PATHS or path.startswith(f"{openai_routes.PREFIX}/_assets/"):
        return None
    bearer = {"WWW-Authenticate": "Bearer"}
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return ApiError(
            401,
            "You didn't provide an API key. Send it in the header 'Authorization: Bearer <key>'.",
            headers=bearer,
        )
    if not hmac.compare_digest(given.strip().encode(), api_key.encode()):
        return ApiError(401, "Incorrect API key provided.", code="invalid_api_key", headers=bearer)
    return None


class _LoopbackHostOnly:
    """Refuse requests whose `Host` is not a loopback name: a web page whose domain an attacker points
    at 127.0.0.1 (DNS rebinding) reaches the socket, but names its own host."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = Headers(scope=scope).get("host", "") if scope["type"] == "http" else None
        if host is not None and not LOOPBACK_HOST.fullmatch(host):
            refusal = ApiError(
                400,
                f"This server answers requests addressed to localhost, 127.0.0.1 or [::1] only, not to "
                f"{host!r}: call it as http://127.0.0.1:<port>. (Other names are refused so that a web "
                "page cannot reach it through DNS rebinding.)",
                code="invalid_host",
            )
            await openai_routes.answer_error(scope["path"], refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _OriginGate(CORSMiddleware):
    """Starlette's CORS for the allowed origins; a request from any other origin is refused whole
    (preflight or not, without CORS headers): a browser sends a multipart POST without asking first,
    and the page must not start a video whose answer it may not read."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = Headers(scope=scope).get("origin") if scope["type"] == "http" else None
        if origin is not None and not self.is_allowed_origin(origin):
            refusal = ApiError(
                403,
                f"Requests from web pages at {origin} are not allowed. To let that page call this "
                "server, add its origin to MIMIO_CORS_ORIGINS (comma-separated).",
                code="origin_not_allowed",
            )
            await openai_routes.answer_error(scope["path"], refusal)(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    service: LocalVideoService,
    *,
    loopback: bool = True,
    api_key: str | None = None,
    cors_origins: Sequence[str] | None = None,
) -> FastAPI:
    """The server's routes. `loopback`: it listens on loopback alone, so the `/_admin` fault routes
    exist and the `Host` header must name loopback. `api_key`: every route but `/health` demands
    `Authorization: Bearer <api_key>` (None: open). `cors_origins`: the browser origins that may call
    it (None: http://localhost, 127.0.0.1 and [::1] on any port)."""
    app = FastAPI(title="Mimio embedded video API", docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def keys_faults_and_counts(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if (refused := _key_refusal(request, api_key)) is not None:
            return openai_routes.answer_error(request.url.path, refused)
        endpoint = _endpoint(request)
        if endpoint in ENDPOINTS:
            service.requests[endpoint] += 1
            fault = service.faults.take_http_fault(endpoint)
            if fault is not None:
                return openai_routes.answer_error(request.url.path, openai_routes.fault_error(fault))
        return await call_next(request)

    app.add_middleware(
        _OriginGate,
        allow_origins=cors_origins or (),
        allow_origin_regex=LOCAL_ORIGINS if cors_origins is None else None,
        allow_methods=CORS_METHODS,
        allow_headers=CORS_HEADERS,
        expose_headers=CORS_EXPOSED,
    )
    if loopback:
        app.add_middleware(_LoopbackHostOnly)

    @app.get("/health", response_model=None, responses={200: {"model": Health}})
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(service.models)}

    async def form_job(
        prompt: str = Form(...),
        model: str = Form("sora-2"),
        size: str = Form("720x1280"),
        seconds: str = Form("8"),
        project_id: str | None = Form(None),
        image_reference: UploadFile | None = File(None),
    ) -> NewJob:
        """The multipart fields shared by create and create-variations, checked."""
        data = await image_reference.read() if image_reference is not None else None
        name = (image_reference.filename if image_reference is not None else None) or "reference"
        return checked_job(prompt, model, size, seconds, data, name, service)

    @app.post(
        "/api/videos/create",
        response_model=None,
        responses={200: {"model": VideoCreationResult}, **error_responses(ErrorDetail, 400, 422)},
    )
    def create(new: NewJob = Depends(form_job)) -> dict[str, Any]:
        (job,) = service.create(new)
        return {
            **_started(job),
            "progress": 0,
            "model": job.model,
            "size": job.size,
            "seconds": str(job.seconds),
            "created_at": int(job.created_at),
        }

    @app.post(
        "/api/videos/create-variations",
        response_model=None,
        responses={200: {"model": BatchCreateResponse}, **error_responses(ErrorDetail, 400, 422)},
    )
    def create_variations(
        variations: int = Form(..., ge=1, le=3), new: NewJob = Depends(form_job)
    ) -> dict[str, Any]:
        jobs = service.create(new, count=variations)
        return {
            "success": True,
            "batch_id": f"batch_{jobs[0].id}",
            "videos": [_started(job) for job in jobs],
            "total_videos": len(jobs),
            "message": f"{len(jobs)} variations started",
        }

    @app.post(
        "/api/videos/create-batch",
        response_model=None,
        responses={200: {"model": BatchCreateResponse}, **error_responses(ErrorDetail, 422)},
    )
    def create_batch(body: BatchBody) -> dict[str, Any]:
        items = []
        for item in body.videos:
            try:
                new = checked_job(item.prompt, item.model, item.size, item.seconds, None, "", service)
            except HTTPException as refused:
                items.append(
                    {"success": False, "video_id": "", "status": "failed", "message": refused.detail}
                )
                continue
            (job,) = service.create(new)
            items.append(_started(job))
        started = sum(1 for item in items if item["success"])
        return {
            "success": started > 0,
            "batch_id": f"batch_{items[0]['video_id'] or 'none'}",
            "videos": items,
            "total_videos": started,
            "message": f"{started} of {len(items)} videos started",
        }

    def status_or_404(video_id: str) -> dict[str, Any]:
        status = service.status(video_id)
        if status is None:
            raise HTTPException(404, f"video {video_id} not found")
        return status

    @app.get(
        "/api/videos/batch/status",
        response_model=None,
        responses={200: {"model": list[VideoStatus]}, **error_responses(ErrorDetail, 400, 422)},
    )
    def batch_status(video_ids: str = Query(...)) -> list[dict[str, Any]]:
        ids = [video_id for video_id in video_ids.split(",") if video_id]
        if len(ids) > 10:
            raise HTTPException(400, "at most 10 video ids per request")
        return [
            service.status(video_id)
            or {
                "video_id": video_id,
                "status": "error",
                "progress": 0,
                "error": f"video {video_id} not found",
            }
            for video_id in ids
        ]

    @app.get(
        "/api/videos/{video_id}/status",
        response_model=None,
        responses={200: {"model": VideoStatus}, **error_responses(ErrorDetail, 404)},
    )
    def status(video_id: str) -> dict[str, Any]:
        return status_or_404(video_id)

    @app.get(
        "/api/videos/{video_id}/download",
        response_class=Response,
        responses={
            200: {"description": "The MP4", "content": {"video/mp4": openai_routes.BINARY}},
            **error_responses(ErrorDetail, 404, 409),
        },
    )
    def download(video_id: str) -> Response:
        state = status_or_404(video_id)
        path = service.finished_file(video_id)
        if path is None:
            raise HTTPException(409, f"video {video_id} is {state['status']}, not completed")
        return serve_video_file(service, video_id, path)

    @app.delete(
        "/api/videos/{video_id}",
        response_model=None,
        responses={200: {"model": Deleted}, **error_responses(ErrorDetail, 404)},
    )
    def delete(video_id: str) -> dict[str, Any]:
        if not service.delete(video_id):
            raise HTTPException(404, f"video {video_id} not found")
        return {"success": True, "message": "deleted"}

    openai_routes.add_openai_routes(app, service)
    if loopback:
        _add_admin_routes(app, service)
    _declare_refusals(app, loopback=loopback, keyed=api_key is not None)
    return app


def _add_admin_routes(app: FastAPI, service: LocalVideoService) -> None:
    """Fault injection and counters, for tests and demos; only served on loopback, and not part of
    the API the schema describes."""

    @app.post("/_admin/faults", include_in_schema=False)
    async def add_faults(request: Request) -> dict[str, Any]:
        try:
            spec = await request.json()
        except ValueError as exc:
            raise HTTPException(400, f"The fault spec is not valid JSON: {exc}.") from None
        try:
            service.faults.update(spec)
        except ValidationError as exc:
            message, _ = describe_invalid(exc.errors())
            raise HTTPException(400, f"Nothing was stored. {message}") from None
        return {"success": True}

    @app.delete("/_admin/faults", include_in_schema=False)
    def clear_faults() -> dict[str, Any]:
        service.faults.clear()
        return {"success": True}

    @app.get("/_admin/stats", include_in_schema=False)
    def stats() -> dict[str, Any]:
        return {"requests": dict(service.requests), "downloads": dict(service.downloads)}


def _declare_refusals(app: FastAPI, *, loopback: bool, keyed: bool) -> None:
    """Correct FastAPI's OpenAPI schema: no route answers FastAPI's 422 list (validation errors are
    a string `detail`, or an OpenAI error on `/v1`), and every route declares the refusals of the
    layers in front of it, in its API's error shape."""
    refusals = {"403": "The request comes from a web page at an origin not allowed (MIMIO_CORS_ORIGINS)"}
    if loopback:
        refusals["400"] = "The Host header names neither localhost, 127.0.0.1 nor [::1]"
    if keyed:
        refusals["401"] = "The API key is missing or wrong (Authorization: Bearer <key>)"

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for path, operations in schema["paths"].items():
                body = (OpenAIErrorBody if openai_routes.is_openai_path(path) else ErrorDetail).__name__
                content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}
                for operation in operations.values():
                    responses = operation["responses"]
                    if (
                        responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
                        == FASTAPI_422
                    ):
                        del responses["422"]
                    for status, why in refusals.items():
                        if not (status == "401" and path in OPEN_PATHS):
                            responses.setdefault(status, {"description": why, "content": content})
            for name in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
