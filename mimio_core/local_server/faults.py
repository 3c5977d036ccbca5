"""Faults a test or a demo can inject into the embedded server, to rehearse a provider's bad minute."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["failed", "error", "never", "refuse"]
ENDPOINTS = (
    "create",
    "create-variations",
    "create-batch",
    "status",
    "batch-status",
    "download",
    "delete",
    "health",
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
    `failed`/`error` end with that status word, `never` stays in progress, `refuse` is refused at create."""

    prompt_contains: str
    outcome: Outcome
    message: str = "the provider could not generate this video"


@dataclass
class Faults:
    http: list[HttpFault] = field(default_factory=list)
    drop_downloads: int = 0
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

    def take_download_drop(self) -> bool:
        with self._lock:
            if self.drop_downloads > 0:
                self.drop_downloads -= 1
                return True
        return False

    def outcome_for(self, prompt: str) -> OutcomeRule | None:
        return next((rule for rule in self.outcomes if rule.prompt_contains in prompt), None)

    def update(self, spec: dict[str, object]) -> None:
        """Add faults from JSON such as `{"http": [{"endpoint": "status", "status": 500, "times": 2}],
        "drop_downloads": 1, "outcomes": [{"prompt_contains": "x", "outcome": "error"}]}`."""
        http = [HttpFault(**item) for item in spec.get("http", [])]  # type: ignore[union-attr]
        outcomes = [OutcomeRule(**item) for item in spec.get("outcomes", [])]  # type: ignore[union-attr]
        for fault in http:
            if fault.endpoint not in ENDPOINTS:
                raise ValueError(f"unknown endpoint {fault.endpoint!r}; one of {', '.join(ENDPOINTS)}")
        for rule in outcomes:
            if rule.outcome not in ("failed", "error", "never", "refuse"):
                raise ValueError(f"unknown outcome {rule.outcome!r}")
        with self._lock:
            self.http += http
            self.outcomes += outcomes
            self.drop_downloads += int(spec.get("drop_downloads", 0))  # type: ignore[call-overload]

    def clear(self) -> None:
        with self._lock:
            self.http.clear()
            self.outcomes.clear()
            self.drop_downloads = 0
