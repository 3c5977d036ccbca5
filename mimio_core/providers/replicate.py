"""Replicate's predictions API: create a prediction of a model, poll it, fetch its output at once.

Docs: https://replicate.com/docs/topics/predictions/lifecycle and
https://replicate.com/docs/reference/http. Outputs are deleted about an hour after a prediction
ends, so a finished video is fetched as soon as it is seen.
"""

from __future__ import annotations

import re
from typing import Any

from mimio_core.config import PROVIDER_LABELS
from mimio_core.domain import CheckedReference, VideoSpec
from mimio_core.providers.base import (
    Health,
    JobRequest,
    JobState,
    JobStatus,
    ProviderError,
    ProviderRefused,
)
from mimio_core.providers.hosted import HostedProvider
from mimio_core.providers.http import MAX_LIST_PAGES, POLL_ONCE, in_window, input_matches
from mimio_core.request_template import RequestTemplate

# models print tqdm bars: " 45%|████▌     | 9/20 [00:04<00:05,  2.1it/s]"
TQDM_PERCENT = re.compile(r"(\d{1,3})%\|")
ENDED = {
    "failed": "Replicate could not make the video",
    "canceled": "The prediction was cancelled at Replicate",
    "aborted": "Replicate gave up on the prediction before it started (its deadline passed; not billed)",
}


# how Replicate's models say a content filter stopped them ("NSFW content detected. ...", "The input or
# output was flagged as sensitive. ... (E005)"): the same request would be refused again
POLICY_SIGNS = ("NSFW content", "flagged as sensitive", "(E005)")


def log_progress(logs: Any) -> int:
    """The last percentage a model printed, or 0."""
    found = TQDM_PERCENT.findall(logs) if isinstance(logs, str) else []
    return max(0, min(100, int(found[-1]))) if found else 0


class ReplicateProvider(HostedProvider):
    """Adapter for Replicate's HTTP API (`Authorization: Bearer ...`)."""

    name = "replicate"
    # "data URLs for files of 256 KB or less": https://replicate.com/docs/reference/http
    data_uri_limit = 256 * 1024
    key_setting, default_output = "REPLICATE_API_TOKEN", ""
    missing_is_final = True  # a prediction Replicate does not know is gone

    def __init__(
        self,
        token: str,
        templates: dict[str, RequestTemplate],
        *,
        base_url: str = "https://api.replicate.com/v1",
        label: str = PROVIDER_LABELS["replicate"],
        **options: Any,
    ) -> None:
        super().__init__(base_url, label=label, auth_header=f"Bearer {token}", templates=templates, **options)

    # creating
    def create(self, request: JobRequest) -> str:
        endpoint, model_input = self.model_input(request)
        model, _, version = endpoint.partition(":")
        if version:
            path, payload = "/predictions", {"version": version, "input": model_input}
        else:
            path, payload = f"/models/{model}/predictions", {"input": model_input}
        body = self._json("POST", path, idempotent=False, json=payload)
        if not isinstance(body, dict) or not body.get("id"):
            raise ProviderError(f"{self.label} answered the create call without a prediction id")
        return str(body["id"])

    def started_jobs(self, spec: VideoSpec, since: float, until: float) -> list[str] | None:
        """Pages `GET /predictions` (newest first, with each prediction's input) back to `since`."""
        template = self.templates.get(spec.model)
        if template is None:
            return []
        model, _, version = template.route(False).partition(":")
        expected = template.model_input(spec.prompt, spec.size, spec.seconds)
        found: list[tuple[float, str]] = []
        url = "/predictions"
        for _ in range(MAX_LIST_PAGES):
            body = self._list_page(url)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                return None
            hits, older = in_window(results, since, until, "created_at")
            found += [
                (at, str(prediction.get("id")))
                for at, prediction in hits
                if (prediction.get("version") == version if version else prediction.get("model") == model)
                and input_matches(prediction.get("input"), expected, template.reference)
            ]
            url = str(body.get("next") or "")
            if older or not url:
                break
            self.check_link(url, "the next page of its predictions")
        return [job_id for _, job_id in sorted(found)]

    def upload(self, reference: CheckedReference) -> str:
        """The Files API (https://replicate.com/docs/topics/predictions/input-files); its URL is passed."""
        body = self._json(
            "POST",
            "/files",
            idempotent=False,
            files={"content": (reference.name, reference.data, reference.mime)},
        )
        url = body.get("urls", {}).get("get") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise ProviderError(f"{self.label} did not answer the upload with the file's URL")
        return url

    # watching
    def status(self, job_id: str, fresh: bool) -> JobStatus | None:
        prediction = self._prediction(job_id, fresh)
        word = str(prediction.get("status") or "unknown")
        if word == "succeeded":
            url = self._video_url(prediction)
            if url is None:
                return JobStatus(job_id, JobState.FAILED, 0, word, self._no_output(job_id, prediction))
            self.remember_video(job_id, url)
            return JobStatus(job_id, JobState.COMPLETED, 100, word)
        if word in ENDED:
            error = prediction.get("error")
            reason = f"{ENDED[word]}: {error}" if error else f"{ENDED[word]}."
            by_policy = any(sign in str(error or "") for sign in POLICY_SIGNS)
            return JobStatus(job_id, JobState.FAILED, 0, word, reason, by_policy)
        notes = {"starting": f"Starting up at {self.label}", "processing": f"Generating at {self.label}"}
        note = notes.get(word, f"At {self.label}: {word}")
        return JobStatus(job_id, JobState.RUNNING, log_progress(prediction.get("logs")), word, note=note)

    def _prediction(self, job_id: str, fresh: bool = True) -> dict[str, Any]:
        policy = None if fresh else POLL_ONCE
        body = self._json("GET", f"/predictions/{job_id}", idempotent=True, policy=policy)
        if not isinstance(body, dict):
            raise ProviderError(f"{self.label} sent a prediction that is not an object")
        return body

    def endpoint_key(self, endpoint: str) -> str:
        return endpoint.partition(":")[0]  # owner/name, as a prediction's `model` says

    def _video_url(self, prediction: dict[str, Any]) -> str | None:
        return self.video_url_in(prediction.get("output"), str(prediction.get("model") or ""))

    def find_video_url(self, job_id: str) -> str:
        prediction = self._prediction(job_id)
        url = self._video_url(prediction)
        if url is None:
            raise ProviderRefused(self._no_output(job_id, prediction))
        return url

    def _no_output(self, job_id: str, prediction: dict[str, Any]) -> str:
        if prediction.get("data_removed"):
            return (
                f"{self.label} removed the output of prediction {job_id} before it was fetched (it keeps "
                "outputs about an hour); make the video again."
            )
        return f"{self.label}'s output holds no video URL"

    # cleaning up
    def delete(self, job_id: str) -> None:
        """Cancel the prediction; Replicate removes a finished one's files itself after about an hour."""
        with self._request("POST", f"/predictions/{job_id}/cancel", idempotent=True):
            pass

    def health(self) -> Health:
        """`GET /account` answers only a valid token (https://replicate.com/docs/reference/http)."""
        return self._health("/account")
