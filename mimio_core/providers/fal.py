"""fal.ai's queue API: submit to a model's endpoint, poll the request, fetch its result.

Docs: https://docs.fal.ai/model-apis/model-endpoints/queue and
https://docs.fal.ai/model-apis/errors. The URLs a submit returns use only the app's `owner/alias`,
not the endpoint's sub-path (`.../kling-video/requests/{id}`, not `.../text-to-video/requests/{id}`),
so the job id is the returned request path; status, result and cancel hang off it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from mimio_core.config import PROVIDER_LABELS
from mimio_core.domain import CheckedReference, VideoSpec
from mimio_core.providers.base import (
    Health,
    JobFailure,
    JobRequest,
    JobState,
    JobStatus,
    ProviderError,
    ProviderRefused,
)
from mimio_core.providers.hosted import HostedProvider
from mimio_core.providers.http import MAX_LIST_PAGES, POLL_ONCE, error_detail, in_window, input_matches
from mimio_core.request_template import RequestTemplate

log = logging.getLogger(__name__)

POLICY_TYPES = frozenset({"content_policy_violation"})
# answers to a result fetch that are about the fetch, not the request's outcome
NOT_THE_ANSWER = frozenset({401, 403, 408, 409, 429})


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def app_of(endpoint: str) -> str:
    """`fal-ai/kling-video/v2.1/standard/text-to-video` -> `fal-ai/kling-video` (owner/alias)."""
    return "/".join(endpoint.split("/")[:2])


def fal_failure(response: httpx.Response) -> JobFailure:
    """A finished request's error as a person should read it: a content-policy refusal says so.

    fal answers either `{"detail": "<text>", "error_type": ...}` (infrastructure) or
    `{"detail": [{"loc", "msg", "type"}]}` (the model refused its input):
    https://docs.fal.ai/model-apis/errors"""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        items = [item for item in detail if isinstance(item, dict)]
        if any(item.get("type") in POLICY_TYPES for item in items):
            reasons = "; ".join(str(item.get("msg") or "no reason given") for item in items)
            return JobFailure(f"Refused by fal's content policy: {reasons}", by_policy=True)
        reasons = "; ".join(
            f"{item.get('msg') or 'no reason given'} ({item.get('type') or 'error'})" for item in items
        )
        return JobFailure(f"fal could not make the video: {reasons}")
    error_type = (body.get("error_type") if isinstance(body, dict) else None) or response.headers.get(
        "x-fal-error-type"
    )
    message = error_detail(response)
    return JobFailure(f"fal could not make the video: {message}" + (f" ({error_type})" if error_type else ""))


class FalProvider(HostedProvider):
    """Adapter for fal.ai's queue API (`Authorization: Key ...`)."""

    name = "fal"
    # "Some models also accept data URIs ... URLs are the universal format": only small references go
    # inline, others to fal's CDN first (https://docs.fal.ai/documentation/model-apis/fal-cdn)
    data_uri_limit = 256 * 1024
    key_setting, default_output = "FAL_KEY", "video.url"
    missing_is_final = False  # fal answers 404 to a URL it routes elsewhere: final only on a Retry

    def __init__(
        self,
        key: str,
        templates: dict[str, RequestTemplate],
        *,
        base_url: str = "https://queue.fal.run",
        storage_url: str = "https://rest.alpha.fal.ai",
        api_url: str = "https://api.fal.ai/v1",
        label: str = PROVIDER_LABELS["fal"],
        **options: Any,
    ) -> None:
        super().__init__(
            base_url,
            label=label,
            auth_header=f"Key {key}",
            templates=templates,
            auth_urls=[storage_url, api_url],
            **options,
        )
        self.storage_url = storage_url.rstrip("/")
        self.api_url = api_url.rstrip("/")

    # creating
    def create(self, request: JobRequest) -> str:
        endpoint, model_input = self.model_input(request)
        body = self._json("POST", f"/{endpoint}", idempotent=False, json=model_input)
        if not isinstance(body, dict) or not body.get("request_id"):
            raise ProviderError(f"{self.label} answered the submit without a request id")
        returned = str(body.get("response_url") or "")
        prefix = f"{self.base_url}/"
        if returned.startswith(prefix):
            return returned.removeprefix(prefix)
        return f"{app_of(endpoint)}/requests/{body['request_id']}"

    def started_jobs(self, spec: VideoSpec, since: float, until: float) -> list[str] | None:
        """The platform API's request history of the model's endpoint with payloads
        (https://fal.ai/docs/platform-apis/v1/models/requests/by-endpoint); a request whose input
        was not stored (payload storage off) cannot be matched."""
        template = self.templates.get(spec.model)
        if template is None:
            return []
        endpoint = template.route(False)
        expected = template.model_input(spec.prompt, spec.size, spec.seconds)
        params: dict[str, Any] = {
            "endpoint_id": endpoint,
            "start": _iso(since),
            "end": _iso(until + 1),  # exclusive, and whole seconds
            "expand": "payloads",
            "limit": 100,
        }
        found: list[tuple[float, str]] = []
        for _ in range(MAX_LIST_PAGES):
            url = f"{self.api_url}/models/requests/by-endpoint"
            body = self._list_page(url, params=params)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                return None
            hits, _ = in_window(items, since, until, "sent_at")
            found += [
                (at, f"{app_of(endpoint)}/requests/{item['request_id']}")
                for at, item in hits
                if item.get("request_id")
                and input_matches(item.get("json_input"), expected, template.reference)
            ]
            if not body.get("has_more") or not body.get("next_cursor"):
                break
            params = {**params, "cursor": str(body["next_cursor"])}
        return [job_id for _, job_id in sorted(found)]

    def upload(self, reference: CheckedReference) -> str:
        """fal's storage: initiate an upload, PUT the bytes, pass the file's URL (as `fal_client` does)."""
        target = self._json(
            "POST",
            f"{self.storage_url}/storage/upload/initiate",
            idempotent=True,
            params={"storage_type": "fal-cdn-v3"},
            json={"content_type": reference.mime, "file_name": reference.name},
        )
        if not isinstance(target, dict) or not target.get("upload_url") or not target.get("file_url"):
            raise ProviderError(f"{self.label} storage did not say where to upload the reference")
        self.check_link(str(target["upload_url"]), "the upload link in its answer")
        with self._request(
            "PUT",
            str(target["upload_url"]),
            idempotent=True,
            content=reference.data,
            headers={"Content-Type": reference.mime},
        ):
            pass
        return str(target["file_url"])

    # watching
    def status(self, job_id: str, fresh: bool) -> JobStatus | None:
        policy = None if fresh else POLL_ONCE
        body = self._json("GET", f"/{job_id}/status", idempotent=True, policy=policy)
        word = str(body.get("status") or "unknown") if isinstance(body, dict) else "unknown"
        if word != "COMPLETED":  # IN_QUEUE, IN_PROGRESS, or a word not known yet: never final
            return JobStatus(job_id, JobState.RUNNING, 0, word.lower(), note=self._note(word, body))
        return self._result(job_id)

    def _note(self, word: str, body: dict[str, Any]) -> str:
        """fal gives no percentage: say where the request is (https://docs.fal.ai/model-apis/model-endpoints/queue)."""
        position = body.get("queue_position")
        if word == "IN_QUEUE":
            ahead = f", position {position + 1}" if isinstance(position, int) and position >= 0 else ""
            return f"Waiting at {self.label}{ahead}"
        if word == "IN_PROGRESS":
            return f"Generating at {self.label}"
        return f"At {self.label}: {word.lower()}"

    def _result(self, job_id: str) -> JobStatus | None:
        """A completed request's result decides: a video, or the error it ended with."""
        try:
            response = self._client.get(f"/{job_id}")
        except httpx.HTTPError as exc:
            log.info("result of fal request %s unknown this time: %s", job_id, exc)
            return None
        if response.is_success:
            try:
                url = self._video_url(job_id, response.json())
            except ValueError:
                return None
            if url is None:
                return JobStatus(
                    job_id, JobState.FAILED, 0, "failed", f"{self.label}'s result holds no video URL"
                )
            self.remember_video(job_id, url)
            return JobStatus(job_id=job_id, state=JobState.COMPLETED, progress=100, word="completed")
        if response.status_code in NOT_THE_ANSWER or (
            response.status_code >= 500 and "x-fal-request-id" not in response.headers
        ):
            return None  # the key, a rate limit or fal's ingress, not the request's own answer: ask again
        failure = fal_failure(response)
        return JobStatus(job_id, JobState.FAILED, 0, "failed", failure.message, failure.by_policy)

    def endpoint_key(self, endpoint: str) -> str:
        return app_of(endpoint)

    def _video_url(self, job_id: str, result: Any) -> str | None:
        return self.video_url_in(result, job_id.split("/requests/")[0])

    def find_video_url(self, job_id: str) -> str:
        with self._request("GET", f"/{job_id}", idempotent=True) as response:
            url = self._video_url(job_id, response.json())
        if url is None:
            raise ProviderRefused(f"{self.label}'s result for {job_id} holds no video URL")
        return url

    # cleaning up
    def delete(self, job_id: str) -> None:
        """Cancel the request (fal keeps no deletable job); a finished one stays as it is."""
        try:
            with self._request("PUT", f"/{job_id}/cancel", idempotent=True):
                pass
        except ProviderRefused as exc:
            if exc.status_code != 400:  # 400: ALREADY_COMPLETED, nothing left to stop
                raise

    def health(self) -> Health:
        """fal has no health route: any answer of the queue host but a refused key or a server error."""
        return self._health("/", probe_only=True)
