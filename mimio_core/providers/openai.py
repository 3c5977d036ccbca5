"""OpenAI-compatible Videos API (`POST /videos`, `GET /videos/{id}`, `/content`), as gateways serve it.

OpenAI itself switched the Sora 2 API off on 2026-09-24; LiteLLM, Azure OpenAI and relays keep the
wire shape for other models. Variations and batches are parallel single creates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import httpx

from mimio_core.config import PROVIDER_LABELS
from mimio_core.domain import VideoSpec
from mimio_core.providers.base import (
    Health,
    JobFailure,
    JobRequest,
    JobState,
    JobStatus,
    ProviderError,
    ProviderRefused,
    StartedJob,
    job_state,
)
from mimio_core.providers.http import (
    MAX_LIST_PAGES,
    POLL_ONCE,
    HttpProvider,
    error_code,
    in_window,
    unwrap_error,
    with_code,
)
from mimio_core.validation import detect_type

log = logging.getLogger(__name__)

POLICY_CODES = frozenset(
    {"moderation_blocked", "content_policy_violation", "content_filter", "policy_violation"}
)
MAX_PARALLEL = 4
MAX_POLL_WAIT = 60.0  # seconds: a larger server hint must not stop watching a job
# a gateway may route one poll to a replica that does not know the job: a 404 is final only when at
# least this many polls in a row, spanning at least this long, said it
GONE_AFTER_POLLS, GONE_AFTER_SECONDS = 3, 60.0
MAX_THUMBNAIL_BYTES = 8 * 1024 * 1024  # a still larger than this is not a thumbnail
UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream"})


def job_failure(error: Any) -> JobFailure:
    """A failed job's reason as a person should read it (the provider's own when a gateway wrapped
    it); policy refusals say so plainly."""
    if not isinstance(error, dict):
        return JobFailure("The provider reported the video as failed.")
    message, code = unwrap_error(str(error.get("message") or "no reason given"), error_code(error))
    if code and (code in POLICY_CODES or "policy" in code or "moderation" in code):
        return JobFailure(f"Refused by the provider's content policy ({code}): {message}", by_policy=True)
    return JobFailure(with_code(message, code))


def _made_from(item: dict[str, Any], spec: VideoSpec) -> bool:
    """Whether a listed video is what a create of `spec` (without a reference) asked for."""
    wanted = (spec.prompt, spec.model, spec.size, str(spec.seconds))
    listed = (item.get("prompt"), item.get("model"), item.get("size"), str(item.get("seconds")))
    return listed == wanted and not item.get("remixed_from_video_id")


def _image_body(response: httpx.Response, job_id: str) -> bytes | None:
    """The body when it is an image of thumbnail size; None as soon as it shows it is not."""
    declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
    length = response.headers.get("content-length", "")
    if not (declared.startswith("image/") or declared in UNTYPED):
        _not_a_thumbnail(job_id, f"declared {declared}")
        return None
    if length.isdecimal() and int(length) > MAX_THUMBNAIL_BYTES:
        _not_a_thumbnail(job_id, f"{length} bytes long")
        return None
    body = bytearray()
    for chunk in response.iter_bytes(64 * 1024):
        if not body and not (mime := detect_type(chunk)[0]).startswith("image/"):
            _not_a_thumbnail(job_id, mime)
            return None
        body += chunk
        if len(body) > MAX_THUMBNAIL_BYTES:
            _not_a_thumbnail(job_id, f"longer than {MAX_THUMBNAIL_BYTES} bytes")
            return None
    return bytes(body) or None


def _not_a_thumbnail(job_id: str, why: str) -> None:
    log.info("the provider's thumbnail of %s is %s, not a still image; its first frame serves", job_id, why)


class OpenAIProvider(HttpProvider):
    """Adapter for an OpenAI-compatible Videos API at `base_url` (ending in /v1)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        label: str = PROVIDER_LABELS["openai"],
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        super().__init__(base_url, label=label, headers=headers, **options)
        self._pool = ThreadPoolExecutor(MAX_PARALLEL, thread_name_prefix="mimio-openai")
        self._clock = clock
        self._not_before: dict[str, float] = {}  # the server's `openai-poll-after-ms`, per job
        # 404 polls in a row per job and when the first came; kept once it failed, so a Retry sees it gone
        self._missing: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()  # guards both: polls run in parallel

    # creating
    def create(self, request: JobRequest) -> str:
        data = request.wire_fields()
        if request.reference is None:
            body = self._json("POST", "/videos", idempotent=False, json=data)
        else:
            ref = request.reference
            files = {"input_reference": (ref.name, ref.data, ref.mime)}
            body = self._json("POST", "/videos", idempotent=False, data=data, files=files)
        if not isinstance(body, dict) or not body.get("id"):
            raise ProviderError(f"{self.label} answered the create call without a video id")
        return str(body["id"])

    def create_variations(self, request: JobRequest, count: int) -> list[StartedJob]:
        return self.create_batch([request] * count)

    def create_batch(self, requests: list[JobRequest]) -> list[StartedJob]:
        return list(self._pool.map(self._create_one, requests))

    def started_jobs(self, spec: VideoSpec, since: float, until: float) -> list[str] | None:
        """Pages `GET /videos` newest first back to `since`; a job matches by prompt, model, size and
        seconds. None where the list is refused (LiteLLM answers it 400) or shows no prompts."""
        found: list[tuple[float, str]] = []
        listed = shows_prompts = False
        params: dict[str, Any] = {"limit": 100, "order": "desc"}
        for _ in range(MAX_LIST_PAGES):
            body = self._list_page("/videos", params=params)
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list):
                return None
            hits, older = in_window(items, since, until, "created_at")
            listed = listed or bool(items)
            shows_prompts = shows_prompts or any("prompt" in item for item in items if isinstance(item, dict))
            found += [(at, str(item.get("id"))) for at, item in hits if _made_from(item, spec)]
            if older or not items or not isinstance(items[-1], dict) or not body.get("has_more"):
                break
            params = {**params, "after": str(items[-1].get("id"))}
        if listed and not shows_prompts:  # a gateway that drops prompts: nothing can be matched
            return None
        return [job_id for _, job_id in sorted(found)]

    # watching
    def statuses(self, job_ids: Collection[str], *, fresh: bool = False) -> dict[str, JobStatus]:
        now = self._clock()
        with self._lock:  # expired hints go, so jobs that ended elsewhere leave nothing behind
            self._not_before = {job_id: at for job_id, at in self._not_before.items() if at > now}
            due = [job_id for job_id in job_ids if fresh or job_id not in self._not_before]
        found = {}
        for status in self._pool.map(lambda job_id: self._status(job_id, fresh), due):
            if status is not None:
                found[status.job_id] = status
        return found

    def _status(self, job_id: str, fresh: bool) -> JobStatus | None:
        try:
            policy = None if fresh else POLL_ONCE  # a Retry a person asked for may wait a little
            with self._request("GET", f"/videos/{job_id}", idempotent=True, policy=policy) as response:
                with self._lock:
                    self._missing.pop(job_id, None)  # the provider knows the job after all
                body = response.json()
                hint = response.headers.get("openai-poll-after-ms")
        except ProviderRefused as exc:
            if exc.status_code == 404:
                return self._missing_job(job_id, str(exc))
            return None  # a rejected key or an exhausted budget says nothing about the job itself
        except (ProviderError, ValueError):
            return None  # unknown this time, never a failure
        if not isinstance(body, dict):
            return None
        if hint and hint.isdecimal():
            with self._lock:
                self._not_before[job_id] = self._clock() + min(int(hint) / 1000, MAX_POLL_WAIT)
        word = str(body.get("status") or "unknown")
        state = job_state(word)
        try:
            progress = max(0, min(100, int(float(body.get("progress") or 0))))
        except (TypeError, ValueError):
            progress = 0
        failure = job_failure(body.get("error")) if state is JobState.FAILED else None
        if state is not JobState.RUNNING:
            with self._lock:
                self._not_before.pop(job_id, None)
        return JobStatus(
            job_id=job_id,
            state=state,
            progress=progress,
            word=word,
            error=None if failure is None else failure.message,
            refused_by_policy=failure is not None and failure.by_policy,
        )

    def _missing_job(self, job_id: str, detail: str) -> JobStatus | None:
        """Failed once GONE_AFTER_POLLS polls in a row over GONE_AFTER_SECONDS said 404; unknown before."""
        now = self._clock()
        with self._lock:
            count, since = self._missing.get(job_id, (0, now))
            self._missing[job_id] = (count + 1, since)
        if count + 1 < GONE_AFTER_POLLS or now - since < GONE_AFTER_SECONDS:
            return None
        minutes = int((now - since) // 60)
        span = f"{minutes} minute{'s' if minutes > 1 else ''}"
        return JobStatus(
            job_id=job_id,
            state=JobState.FAILED,
            progress=0,
            word="missing",
            error=f"The provider no longer knows job {job_id} (404 on every status check for {span}; "
            f"it said: {detail}). Retry starts a new generation.",
        )

    # fetching and cleaning up
    def download(self, job_id: str, out: BinaryIO) -> int:
        return self._download(job_id, f"/videos/{job_id}/content", out, params={"variant": "video"})

    def thumbnail(self, job_id: str) -> bytes | None:
        """The still image, or None. Gateways may ignore `variant=thumbnail` and send the whole MP4
        (LiteLLM does), so the answer is judged by its Content-Type and first bytes and abandoned
        there: the video is already downloaded, and its first frame serves instead."""
        try:
            with self._request(
                "GET",
                f"/videos/{job_id}/content",
                idempotent=True,
                stream=True,
                follow_redirects=True,
                params={"variant": "thumbnail"},
            ) as response:
                return _image_body(response, job_id)
        except (ProviderError, httpx.HTTPError):
            return None

    def delete(self, job_id: str) -> None:
        with self._request("DELETE", f"/videos/{job_id}", idempotent=True):
            pass

    def health(self) -> Health:
        """The API has no health route, and the list is no proof: LiteLLM answers it 400 while it
        generates. So any answer but a refused key or a server error counts."""
        return self._health("/videos?limit=1", probe_only=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().close()
