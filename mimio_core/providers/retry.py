"""When to retry a provider call and how long to wait: pure decisions, unit-tested on their own."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Answers that say the request was not acted on: the only ones after which a create is repeated,
# since a 500 or a gateway error may come after the provider already started a billed job.
NOT_ACTED_ON = frozenset({408, 425, 429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring a server's Retry-After up to `max_delay`."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before attempt number `attempt + 1` (attempt counts from 0)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return min(max(0.0, self.base_delay * 2**attempt * (1 + spread)), self.max_delay)

    def should_retry(self, attempt: int) -> bool:
        return attempt + 1 < self.attempts


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header: delta seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_transient_response(status_code: int, *, idempotent: bool = True) -> bool:
    """Whether an error answer is worth another try of the same request."""
    return status_code in (TRANSIENT_STATUS if idempotent else NOT_ACTED_ON)


def never_sent(error: Exception) -> bool:
    """A network failure before any byte of the request reached the server."""
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def is_transient_error(error: Exception, *, idempotent: bool) -> bool:
    """Network failures worth another try. A request that may have reached the server (read timeout,
    connection dropped mid-answer) is retried only when repeating it cannot start a second, billed job."""
    if never_sent(error):
        return True
    return idempotent and isinstance(
        error, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
    )
