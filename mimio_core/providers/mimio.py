"""The Mimio video API (the original app's server), spoken over one httpx client.

The embedded local server implements the same contract, so this adapter drives both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import httpx

from mimio_core.providers.base import (
    JobRequest,
    JobStatus,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    StartedJob,
    VideoProvider,
    job_state,
)
from mimio_core.providers.retry import (
    RetryPolicy,
    is_transient_error,
    is_transient_response,
    retry_after_seconds,
)

log = logging.getLogger(__name__)

STATUS_IDS_PER_REQUEST = 10


def error_detail(response: httpx.Response) -> str:
    """The server's `detail` (FastAPI style), else a generic message with the status code."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI request-validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    if isinstance(detail, str) and detail.strip():
        return detail.strip()
    return f"the video provider answered HTTP {response.status_code}"


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MimioProvider(VideoProvider):
    """Adapter for the Mimio video API contract (`../shared/reference/mimio-api.md`)."""

    name = "mimio"

    def __init__(
        self,
        base_url: str,
        models: tuple[str, ...],
        *,
        timeout: float = 30.0,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        label: str = "Mimio video API",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.models = models
        self.label = label
        self.policy = policy
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            follow_redirects=True,
        )

    # the one retry loop
    @contextmanager
    def _request(
        self, method: str, path: str, *, idempotent: bool, stream: bool = False, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """Send with retries for transient failures; yields a 2xx response or raises `ProviderError`."""
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                request = self._client.build_request(method, path, **kwargs)
                response = self._client.send(request, stream=stream)
            except httpx.HTTPError as exc:
                if not (is_transient_error(exc, idempotent=idempotent) and self.policy.should_retry(attempt)):
                    raise ProviderUnavailable(
                        f"{self.label} unreachable: {type(exc).__name__}: {exc}"
                    ) from exc
                log.warning("%s %s failed (%s); retrying", method, path, type(exc).__name__)
            else:
                if response.is_success:
                    try:
                        yield response
                    finally:
                        response.close()
                    return
                if stream:
                    response.read()
                response.close()
                if response.is_client_error and not is_transient_response(response.status_code):
                    raise ProviderRefused(error_detail(response))
                if not is_transient_response(response.status_code, idempotent=idempotent):
                    raise ProviderUnavailable(f"{self.label} failed: {error_detail(response)}")
                if not self.policy.should_retry(attempt):
                    raise ProviderUnavailable(
                        f"{self.label} kept failing: {error_detail(response)} after {attempt + 1} attempts"
                    )
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
                log.warning("%s %s answered %s; retrying", method, path, response.status_code)
            self._sleep(self.policy.delay(attempt, retry_after))
            attempt += 1

    def _json(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Any:
        with self._request(method, path, idempotent=idempotent, **kwargs) as response:
            try:
                return response.json()
            except ValueError:
                raise ProviderError(f"{self.label} sent an answer that is not JSON for {path}") from None

    @staticmethod
    def _form(request: JobRequest) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
        data = {
            "prompt": request.prompt,
            "model": request.model,
            "size": request.size,
            "seconds": str(request.seconds),
        }
        files = {}
        if request.reference is not None:
            ref = request.reference
            files["image_reference"] = (ref.name, ref.data, ref.mime)
        return data, files

    # creating
    def create(self, request: JobRequest) -> str:
        data, files = self._form(request)
        body = self._json("POST", "/api/videos/create", idempotent=False, data=data, files=files or None)
        if not isinstance(body, dict) or not body.get("success", True) or not body.get("video_id"):
            message = body.get("message") if isinstance(body, dict) else None
            raise ProviderRefused(message or f"{self.label} did not start the video")
        return str(body["video_id"])

    def create_variations(self, request: JobRequest, count: int) -> list[StartedJob]:
        data, files = self._form(request)
        data["variations"] = str(count)
        body = self._json(
            "POST", "/api/videos/create-variations", idempotent=False, data=data, files=files or None
        )
        return self._started(body, count)

    def create_batch(self, requests: list[JobRequest]) -> list[StartedJob]:
        if any(request.reference is not None for request in requests):
            # create-batch takes JSON only: items with reference files go one by one
            return [self._create_one(request) for request in requests]
        payload = {
            "videos": [
                {"prompt": r.prompt, "model": r.model, "size": r.size, "seconds": str(r.seconds)}
                for r in requests
            ]
        }
        body = self._json("POST", "/api/videos/create-batch", idempotent=False, json=payload)
        return self._started(body, len(requests))

    def _create_one(self, request: JobRequest) -> StartedJob:
        try:
            return StartedJob(job_id=self.create(request))
        except ProviderError as exc:
            return StartedJob(error=str(exc), refused=isinstance(exc, ProviderRefused))

    def _started(self, body: Any, expected: int) -> list[StartedJob]:
        items = body.get("videos") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ProviderError(f"{self.label} sent a batch answer without a list of videos")
        started = [
            StartedJob(job_id=str(item["video_id"]))
            if isinstance(item, dict) and item.get("success", True) and item.get("video_id")
            else StartedJob(error=(item.get("message") if isinstance(item, dict) else None) or "not started")
            for item in items[:expected]
        ]
        missing = expected - len(started)
        return started + [StartedJob(error=f"{self.label} did not start this video", refused=False)] * missing

    # watching
    def statuses(self, job_ids: Collection[str]) -> dict[str, JobStatus]:
        found: dict[str, JobStatus] = {}
        for group in chunks(list(job_ids), STATUS_IDS_PER_REQUEST):
            try:
                body = self._json(
                    "GET", "/api/videos/batch/status", idempotent=True, params={"video_ids": ",".join(group)}
                )
            except ProviderError as exc:
                log.warning("status of %d videos unknown this tick: %s", len(group), exc)
                continue
            for item in body if isinstance(body, list) else []:
                status = self._status(item)
                if status is not None and status.job_id in group:
                    found[status.job_id] = status
        return found

    @staticmethod
    def _status(item: Any) -> JobStatus | None:
        if not isinstance(item, dict) or not item.get("video_id"):
            return None
        word = str(item.get("status") or "unknown")
        try:
            progress = int(float(item.get("progress") or 0))
        except (TypeError, ValueError):
            progress = 0
        error = item.get("error") or item.get("message")
        return JobStatus(
            job_id=str(item["video_id"]),
            state=job_state(word),
            progress=max(0, min(100, progress)),
            word=word,
            error=str(error) if error else None,
        )

    # fetching and cleaning up
    def download(self, job_id: str, out: BinaryIO) -> int:
        attempt = 0
        while True:
            out.seek(0)
            out.truncate()
            try:
                with self._request(
                    "GET", f"/api/videos/{job_id}/download", idempotent=True, stream=True
                ) as response:
                    written = 0
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                        written += len(chunk)
                    return written
            except httpx.HTTPError as exc:  # the connection dropped mid-body
                if not self.policy.should_retry(attempt):
                    raise ProviderUnavailable(f"download of {job_id} kept breaking off: {exc}") from exc
                log.warning("download of %s broke off (%s); starting it again", job_id, exc)
                self._sleep(self.policy.delay(attempt))
                attempt += 1

    def delete(self, job_id: str) -> None:
        with self._request("DELETE", f"/api/videos/{job_id}", idempotent=True):
            pass

    def health(self) -> bool:
        try:
            response = self._client.get("/health", timeout=5.0)
        except httpx.HTTPError:
            return False
        return response.is_success

    def close(self) -> None:
        self._client.close()
