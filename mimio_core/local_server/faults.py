"""Faults a test or a demo can inject into the embedded server, to rehearse a provider's bad minute.

A spec is checked whole before any of it is kept: a malformed fault must be refused where it is given,
not break an endpoint later until someone clears the faults.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["failed", "error", "never", "refuse", "weird"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
Endpoint = Literal[
    "create",
    "create-variations",
    "create-batch",
    "status",
    "batch-status",
    "download",
    "delete",
    "health",
    "list",
]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
DownloadFault = Literal["drop_downloads", "garble_downloads", "redirect_downloads", "expire_downloads"]
DOWNLOAD_FAULTS: tuple[DownloadFault, ...] = get_args(DownloadFault)


class _Strict(BaseModel):
    """JSON as given: no unknown keys, no "500" for 500, no NaN."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class HttpFault(_Strict):
    """Answer the next `times` requests to `endpoint` with `status` instead of serving them."""

    endpoint: Endpoint
    status: int = Field(ge=400, le=599)
    times: int = Field(default=1, ge=1)
    retry_after: float | None = Field(default=None, ge=0, le=3600)
    detail: str = "injected fault"


class OutcomeRule(_Strict):
    """Jobs whose prompt contains `prompt_contains` (every job, when it is empty) end this way instead
    of rendering normally: `failed`/`error` end with that status word, `never` stays in progress,
    `refuse` is refused at create, `weird` renders but reports the status word `processing_upstream`
    (none of the usual ones) until it completes. `code` is the machine-readable reason of a
    `failed`/`error` job or a refusal (the OpenAI-compatible routes answer it as `error.code`, e.g.
    "moderation_blocked")."""

    prompt_contains: str
    outcome: Outcome
    message: str = "the provider could not generate this video"
    code: str | None = None


class FaultSpec(_Strict):
    """What `POST /_admin/faults` takes; see `Faults.update`."""

    http: list[HttpFault] = []
    outcomes: list[OutcomeRule] = []
    drop_downloads: int = Field(default=0, ge=0)
    garble_downloads: int = Field(default=0, ge=0)
    redirect_downloads: int = Field(default=0, ge=0)
    expire_downloads: int = Field(default=0, ge=0)


@dataclass
class Faults:
    """Faults waiting to happen. Download faults are counts: `drop_downloads` breaks the next
    downloads off halfway, `garble_downloads` answers them with an HTML page and status 200.
    On the OpenAI-compatible content route only: `redirect_downloads` answers 302 to a one-time
    asset URL that serves the same bytes, `expire_downloads` answers 404 `video_expired`."""

    http: list[HttpFault] = field(default_factory=list)
    downloads: Counter[str] = field(default_factory=Counter)
    outcomes: list[OutcomeRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_http_fault(self, endpoint: str) -> HttpFault | None:
        """The fault to answer this request with, consuming one use of it."""
        with self._lock:
            for fault in self.http:
                if fault.endpoint == endpoint and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def take_download_fault(self, kind: DownloadFault) -> bool:
        """Whether this download suffers `kind`, consuming one use of it."""
        with self._lock:
            if self.downloads[kind] > 0:
                self.downloads[kind] -= 1
                return True
        return False

    def outcome_for(self, prompt: str) -> OutcomeRule | None:
        return next((rule for rule in self.outcomes if rule.prompt_contains in prompt), None)

    def update(self, spec: Any) -> None:
        """Add faults from JSON such as `{"http": [{"endpoint": "status", "status": 500, "times": 2}],
        "drop_downloads": 1, "garble_downloads": 1, "redirect_downloads": 1, "expire_downloads": 1,
        "outcomes": [{"prompt_contains": "x", "outcome": "error", "code": "moderation_blocked"}]}`.
        Raises pydantic's `ValidationError` (a `ValueError`) for a malformed spec, keeping none of it."""
        parsed = FaultSpec.model_validate(spec)
        with self._lock:
            self.http += parsed.http
            self.outcomes += parsed.outcomes
            self.downloads.update({kind: getattr(parsed, kind) for kind in DOWNLOAD_FAULTS})

    def clear(self) -> None:
        with self._lock:
            self.http.clear()
            self.outcomes.clear()
            self.downloads.clear()
