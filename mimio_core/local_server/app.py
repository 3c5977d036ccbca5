"""HTTP routes of the embedded server: the Mimio video API contract, `/health`, and `/_admin` for faults.

Requests are validated as the real server would (4xx with `detail`), using the same catalogue and
reference checks as the app itself. The same jobs also answer the OpenAI-compatible Videos API under
`/v1` (see `openai_routes`), with errors in OpenAI's shape there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mimio_core.local_server import openai_routes
from mimio_core.local_server.contract import checked_job, serve_video_file
from mimio_core.local_server.faults import ENDPOINTS
from mimio_core.local_server.service import Job, LocalVideoService, NewJob


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


def create_app(service: LocalVideoService, *, admin: bool = True, api_key: str | None = None) -> FastAPI:
    """The server's routes. `api_key`: the `/v1` routes demand `Authorization: Bearer <api_key>`
    (None: open, like the Mimio routes, which never ask for one)."""
    app = FastAPI(title="Mimio embedded video API", docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def faults_and_counts(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        openai = openai_routes.is_openai_path(request.url.path)
        if openai and (refused := openai_routes.auth_failure(request, api_key)) is not None:
            return refused
        endpoint = _endpoint(request)
        if endpoint in ENDPOINTS:
            service.requests[endpoint] += 1
            fault = service.faults.take_http_fault(endpoint)
            if fault is not None:
                if openai:
                    return openai_routes.fault_response(fault)
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
                return JSONResponse({"detail": fault.detail}, status_code=fault.status, headers=headers)
        return await call_next(request)

    @app.get("/health")
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

    @app.post("/api/videos/create")
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

    @app.post("/api/videos/create-variations")
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

    @app.post("/api/videos/create-batch")
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

    @app.get("/api/videos/batch/status")
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

    @app.get("/api/videos/{video_id}/status")
    def status(video_id: str) -> dict[str, Any]:
        return status_or_404(video_id)

    @app.get("/api/videos/{video_id}/download")
    def download(video_id: str) -> Response:
        state = status_or_404(video_id)
        path = service.finished_file(video_id)
        if path is None:
            raise HTTPException(409, f"video {video_id} is {state['status']}, not completed")
        return serve_video_file(service, video_id, path)

    @app.delete("/api/videos/{video_id}")
    def delete(video_id: str) -> dict[str, Any]:
        if not service.delete(video_id):
            raise HTTPException(404, f"video {video_id} not found")
        return {"success": True, "message": "deleted"}

    openai_routes.add_openai_routes(app, service)
    if admin:
        _add_admin_routes(app, service)
    return app


def _add_admin_routes(app: FastAPI, service: LocalVideoService) -> None:
    """Fault injection and counters, for tests and demos; only served on loopback."""

    @app.post("/_admin/faults")
    def add_faults(spec: dict[str, Any]) -> dict[str, Any]:
        try:
            service.faults.update(spec)
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from None
        return {"success": True}

    @app.delete("/_admin/faults")
    def clear_faults() -> dict[str, Any]:
        service.faults.clear()
        return {"success": True}

    @app.get("/_admin/stats")
    def stats() -> dict[str, Any]:
        return {"requests": dict(service.requests), "downloads": dict(service.downloads)}
