"""The Mimio video API (the original app's server), spoken over one httpx client.

The embedded local server implements the same contract, so this adapter drives both.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from typing import Any, BinaryIO

from mimio_core.config import PROVIDER_LABELS
from mimio_core.providers.base import (
    Health,
    JobRequest,
    JobStatus,
    ProviderError,
    ProviderRefused,
    StartedJob,
    job_state,
)
from mimio_core.providers.http import POLL_ONCE, HttpProvider

log = logging.getLogger(__name__)

STATUS_IDS_PER_REQUEST = 10


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MimioProvider(HttpProvider):
    """Adapter for the Mimio video API contract (`../shared/reference/mimio-api.md`)."""

    name = "mimio"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        label: str = PROVIDER_LABELS["mimio"],
        **options: Any,
    ) -> None:
        """`api_key`: sent as `Authorization: Bearer` (the contract asks for none; a keyed
        `serve-local` does)."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        super().__init__(base_url, label=label, headers=headers, **options)

    @staticmethod
    def _form(request: JobRequest) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
        data = request.wire_fields()
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
        payload = {"videos": [request.wire_fields() for request in requests]}
        body = self._json("POST", "/api/videos/create-batch", idempotent=False, json=payload)
        return self._started(body, len(requests))

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
    def statuses(self, job_ids: Collection[str], *, fresh: bool = False) -> dict[str, JobStatus]:
        found: dict[str, JobStatus] = {}
        for group in chunks(list(job_ids), STATUS_IDS_PER_REQUEST):
            try:
                body = self._json(
                    "GET",
                    "/api/videos/batch/status",
                    idempotent=True,
                    policy=None if fresh else POLL_ONCE,  # a Retry a person asked for may wait a little
                    params={"video_ids": ",".join(group)},
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
        return self._download(job_id, f"/api/videos/{job_id}/download", out)

    def delete(self, job_id: str) -> None:
        with self._request("DELETE", f"/api/videos/{job_id}", idempotent=True):
            pass

    def health(self) -> Health:
        return self._health("/health")
