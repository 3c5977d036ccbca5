"""What the adapters of model-hosting platforms (fal.ai, Replicate) share.

Each hosted model has its own endpoint and input fields (its catalogue entry's request template);
jobs are polled one request each, so polls are paced to the provider's rate; finished videos are
files at a URL on the platform's CDN, fetched without the API key.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Collection, Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import httpx

from mimio_core.domain import CheckedReference
from mimio_core.providers.base import (
    JobRequest,
    JobState,
    JobStatus,
    ProviderError,
    ProviderNotStarted,
    ProviderRefused,
    StartedJob,
)
from mimio_core.providers.http import HttpProvider
from mimio_core.providers.redirects import refuse_redirect
from mimio_core.request_template import RequestTemplate, output_url

log = logging.getLogger(__name__)

MAX_PARALLEL = 4


class HostAuth(httpx.Auth):
    """Sends the key only to the platform's own hosts (its API, its upload service): a video on a
    CDN, or a redirect, never sees it."""

    def __init__(self, header: str, *urls: str) -> None:
        self.header = header
        self.origins = frozenset(_origin(httpx.URL(url)) for url in urls)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) in self.origins:  # scheme too: never the key over plain http by mistake
            request.headers["Authorization"] = self.header
        yield request


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class PollPacer:
    """A token bucket for status requests: at most `rate` per second on average, bursts of a few
    seconds' worth. Non-blocking: a tick polls as many jobs as it may, the rest wait their turn."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.capacity, self.clock = rate, max(1.0, rate * 2), clock
        self._tokens, self._at = self.capacity, clock()
        self._last_polled: dict[str, float] = {}
        self._lock = threading.Lock()

    def choose(self, job_ids: Collection[str]) -> list[str]:
        """The jobs to poll now: the longest unpolled first, as many as the budget allows."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            wanted = set(job_ids)
            self._last_polled = {job: at for job, at in self._last_polled.items() if job in wanted}
            chosen = sorted(job_ids, key=lambda job: self._last_polled.get(job, -1.0))[: int(self._tokens)]
            self._tokens -= len(chosen)
            for job in chosen:
                self._last_polled[job] = now
            return chosen


class HostedProvider(HttpProvider):
    """Base of the fal and Replicate adapters: templates, references, paced polls, CDN downloads."""

    data_uri_limit: int  # bytes: a reference up to this size travels inline, a larger one is uploaded
    key_setting: str  # the setting holding the key, named when the platform refuses it
    default_output: str  # where the video URL is in a result when no template of the model says
    missing_is_final: bool  # a 404 on a routine poll means the job is gone (else only on a Retry's)

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        auth_header: str,
        templates: Mapping[str, RequestTemplate],
        auth_urls: Collection[str] = (),
        status_rate: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        super().__init__(base_url, label=label, auth=HostAuth(auth_header, base_url, *auth_urls), **options)
        self.templates = dict(templates)
        self.pacer = PollPacer(status_rate, clock)
        self._pool = ThreadPoolExecutor(MAX_PARALLEL, thread_name_prefix=f"mimio-{self.name}")
        self._video_urls: dict[str, str] = {}  # finished jobs' video URLs, found while polling
        self._urls_lock = threading.Lock()

    def template(self, model: str) -> RequestTemplate:
        template = self.templates.get(model)
        if template is None:
            raise ProviderRefused(f"{self.label} has no request template for the model {model!r}.")
        return template

    def model_input(self, request: JobRequest) -> tuple[str, dict[str, Any]]:
        """(endpoint, input) of one request; a reference goes inline or is uploaded first."""
        template = self.template(request.model)
        reference = None
        if request.reference is not None:
            if template.reference is None:
                raise ProviderRefused(f"{request.model} takes no reference image at {self.label}.")
            reference = self.reference_url(request.reference)
        endpoint = template.route(reference is not None)
        return endpoint, template.model_input(request.prompt, request.size, request.seconds, reference)

    def reference_url(self, reference: CheckedReference) -> str:
        if len(reference.data) <= self.data_uri_limit:
            return f"data:{reference.mime};base64,{base64.b64encode(reference.data).decode('ascii')}"
        try:
            return self.upload(reference)
        except ProviderRefused:
            raise
        except ProviderError as exc:  # nothing was submitted yet: the create may be sent again later
            raise ProviderNotStarted(f"The reference could not be uploaded to {self.label}: {exc}") from exc

    @abstractmethod
    def upload(self, reference: CheckedReference) -> str:
        """Put a file in the platform's storage; returns the URL a model input takes."""

    # creating: parallel single creates (neither platform has a batch call)
    def create_variations(self, request: JobRequest, count: int) -> list[StartedJob]:
        return self.create_batch([request] * count)

    def create_batch(self, requests: list[JobRequest]) -> list[StartedJob]:
        return list(self._pool.map(self._create_one, requests))

    # watching
    def statuses(self, job_ids: Collection[str], *, fresh: bool = False) -> dict[str, JobStatus]:
        due = list(job_ids) if fresh else self.pacer.choose(job_ids)
        found = {}
        for status in self._pool.map(lambda job_id: self._poll(job_id, fresh), due):
            if status is not None:
                found[status.job_id] = status
        return found

    def _poll(self, job_id: str, fresh: bool) -> JobStatus | None:
        """One job's status, the platform's failures read the same way for both platforms: a refused
        key says so on the card (the job itself is fine), a 404 is final where the platform's 404
        means gone, anything else is unknown this time."""
        try:
            return self.status(job_id, fresh)
        except ProviderRefused as exc:
            if exc.status_code in (401, 403):
                refused = (
                    f"{self.label} refuses the API key: check {self.key_setting}. "
                    "The video waits until it is accepted."
                )
                return JobStatus(job_id, JobState.RUNNING, 0, "refused", note=refused)
            if exc.status_code == 404 and (fresh or self.missing_is_final):
                return JobStatus(
                    job_id, JobState.FAILED, 0, "missing", f"{self.label} does not know {job_id}."
                )
            log.info("status of %s at %s unknown this time: %s", job_id, self.label, exc)
        except ProviderError as exc:
            log.info("status of %s at %s unknown this time: %s", job_id, self.label, exc)
        return None

    @abstractmethod
    def status(self, job_id: str, fresh: bool) -> JobStatus | None:
        """One job's status (None: unknown this time); a finished job's video URL is remembered.
        Raises `ProviderError` as the platform answered (see `_poll`)."""

    @abstractmethod
    def endpoint_key(self, endpoint: str) -> str:
        """What a template's endpoint has in common with a finished job's answer (fal's app, Replicate's
        model), to find where that model's output puts the video."""

    def video_url_in(self, result: Any, key: str) -> str | None:
        """The video URL in a result, where the templates of the endpoints sharing `key` say it is."""
        paths = {t.output for t in self.templates.values() if self.endpoint_key(t.endpoint) == key}
        urls = (output_url(result, path) for path in sorted(paths or {self.default_output}))
        return next((url for url in urls if url), None)

    def remember_video(self, job_id: str, url: str) -> None:
        with self._urls_lock:
            self._video_urls[job_id] = url

    @abstractmethod
    def find_video_url(self, job_id: str) -> str:
        """Ask the platform where the finished job's video is (after a restart, or an expired URL)."""

    # fetching
    def download(self, job_id: str, out: BinaryIO) -> int:
        with self._urls_lock:
            url = self._video_urls.pop(job_id, None)
        url = url or self.find_video_url(job_id)
        self.check_link(url, "the video link in its answer")
        return self._download(job_id, url, out)

    def check_link(self, url: str, what: str) -> None:
        """A URL the platform's answer gave (a result's video, an upload target) is fetched only when
        it is https and public, as a redirect would be: a model's output must not reach this
        server's own network."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ProviderRefused(f"The provider's answer gave an unusable link ({exc}).") from None
        refuse_redirect(httpx.URL(self.base_url), target, allow_private=self.private_redirects, what=what)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().close()
