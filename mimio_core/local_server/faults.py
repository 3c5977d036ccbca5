"""Faults a test or a demo can inject into the embedded server, to rehearse a provider's bad minute."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["failed", "error", "never", "refuse", "weird"]
OUTCOMES: tuple[Outcome, ...] = ("failed", "error", "never", "refuse", "weird")
ENDPOINTS = (
    "create",
    "create-variations",
    "create-batch",
    "status",
    "batch-status",
    "download",
    "delete",
    "health",
    "list",
)


@dataclass
class HttpFault:
    """Answer the next `times` requests to `endpoint` with `status` instead of serving them."""

    endpoint: str
    status: int
    times: int = 1
    retry_after: float | None = None
    detail: str = "injected fault"


@dataclass
class OutcomeRule:
    """Jobs whose prompt contains `prompt_contains` end this way instead of rendering normally:
    `failed`/`error` end with that status word, `never` stays in progress, `refuse` is refused at create,
    `weird` renders but reports the status word `processing_upstream` (none of the usual ones) until
    it completes. `code` is the machine-readable reason of a `failed`/`error` job or a refusal (the
    OpenAI-compatible routes answer it as `error.code`, e.g. "moderation_blocked")."""

    prompt_contains: str
    outcome: Outcome
    message: str = "the provider could not generate this video"
    code: str | None = None


DownloadFault = Literal["drop_downloads", "garble_downloads", "redirect_downloads", "expire_downloads"]
DOWNLOAD_FAULTS: tuple[DownloadFault, ...] = (
    "drop_downloads",
    "garble_downloads",
    "redirect_downloads",
    "expire_downloads",
)


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

    def update(self, spec: dict[str, Any]) -> None:
        """Add faults from JSON such as `{"http": [{"endpoint": "status", "status": 500, "times": 2}],
        "drop_downloads": 1, "garble_downloads": 1, "redirect_downloads": 1, "expire_downloads": 1,
        "outcomes": [{"prompt_contains": "x", "outcome": "error", "code": "moderation_blocked"}]}`."""
        http = [HttpFault(**item) for item in spec.get("http", [])]
        outcomes = [OutcomeRule(**item) for item in spec.get("outcomes", [])]
        for fault in http:
            if fault.endpoint not in ENDPOINTS:
                raise ValueError(f"unknown endpoint {fault.endpoint!r}; one of {', '.join(ENDPOINTS)}")
        for rule in outcomes:
            if rule.outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {rule.outcome!r}; one of {', '.join(OUTCOMES)}")
            if rule.code is not None and not isinstance(rule.code, str):
                raise ValueError(f"outcome code must be a string, got {rule.code!r}")
        counts = {kind: int(spec.get(kind, 0)) for kind in DOWNLOAD_FAULTS}
        with self._lock:
            self.http += http
            self.outcomes += outcomes
            self.downloads.update(counts)

    def clear(self) -> None:
        with self._lock:
            self.http.clear()
            self.outcomes.clear()
            self.downloads.clear()
