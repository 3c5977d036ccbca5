"""What every HTTP provider adapter shares: one httpx client with explicit timeouts, the retry loop,
error messages from either API's error shape, and a download that starts over when it breaks off."""

from __future__ import annotations

import ast
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, BinaryIO

import httpx

from mimio_core.providers.base import (
    Health,
    JobRequest,
    ProviderError,
    ProviderNotStarted,
    ProviderRefused,
    ProviderUnavailable,
    StartedJob,
    VideoProvider,
)
from mimio_core.providers.redirects import MAX_REDIRECTS, refuse_redirect
from mimio_core.providers.retry import (
    RetryPolicy,
    is_transient_error,
    is_transient_response,
    never_sent,
    retry_after_seconds,
)

log = logging.getLogger(__name__)

# how far back a search for a lost create's job pages: it is minutes old, so a few pages suffice
MAX_LIST_PAGES = 20


def moment(value: Any) -> float | None:
    """Epoch seconds from a listed job's time: a number (OpenAI) or ISO 8601 text (Replicate, fal)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return None


def in_window(
    items: Any, since: float, until: float, when: str
) -> tuple[list[tuple[float, dict[str, Any]]], bool]:
    """The listed jobs whose time `when` lies between `since` and `until`, each with that time, and
    whether any was older than `since` (a list newest first need not be paged further)."""
    hits, older = [], False
    for item in items if isinstance(items, list) else ():
        at = moment(item.get(when)) if isinstance(item, dict) else None
        if at is not None and at <= until:
            older = older or at < since
            if at >= since:
                hits.append((at, item))
    return hits, older


def input_matches(recorded: Any, expected: Mapping[str, Any], reference_field: str | None) -> bool:
    """Whether a listed job's recorded input holds every field a create sends (platforms add their
    defaults) and no reference image (a lost create with one is never matched)."""
    return (
        isinstance(recorded, dict)
        and all(recorded.get(key) == value for key, value in expected.items())
        and (reference_field is None or recorded.get(reference_field) in (None, ""))
    )


# A status poll that fails is harmless (the job is unknown until the next tick), so a routine poll
# is tried once: retrying it inside the engine's tick would hold up claims, creates and transfers.
POLL_ONCE = RetryPolicy(attempts=1)


# A gateway wraps the provider's error text in its own, a gateway before it may wrap that again.
MAX_UNWRAP_DEPTH = 3
MAX_UNWRAP_CHARS = 20_000  # a longer message is shown as it is, never parsed
MAX_OBJECT_STARTS = 10  # the `{` in a message tried as the start of an error object
BYTES_LITERAL = re.compile(r"b'(?:[^'\\]|\\.)*'" + r'|b"(?:[^"\\]|\\.)*"')  # a repr of bytes


def error_detail(response: httpx.Response) -> str:
    """The server's message: FastAPI's `detail`, or OpenAI's `error.message` (with its code), the
    provider's own when a gateway wrapped it (`unwrap_error`); else a generic one with the status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI request-validation errors
        joined = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
        if joined.strip():
            return joined.strip()
    fields = error_fields(body)
    if fields is not None:
        return with_code(*unwrap_error(*fields))
    return f"the video provider answered HTTP {response.status_code}"


def error_fields(body: Any) -> tuple[str, str | None] | None:
    """(message, code) of an error body: FastAPI's `{"detail": "..."}`, or `{"error": {"message",
    "code" or "status"}}` (OpenAI, Google; Anthropic nests it alike); None for anything else."""
    if not isinstance(body, dict):
        return None
    detail, error = body.get("detail"), body.get("error")
    if isinstance(detail, str) and detail.strip():
        return detail, None
    if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"].strip():
        return error["message"], error_code(error)
    return None


def error_code(error: dict[str, Any]) -> str | None:
    """The machine-readable reason worth showing: `code`, else Google's `status`; a number (an HTTP
    status, Google's numeric code) says nothing a person can use."""
    for key in ("code", "status"):
        value = error.get(key)
        if isinstance(value, str) and value.strip() and not value.strip().isdecimal():
            return value.strip()
    return None


def with_code(message: str, code: str | None) -> str:
    return f"{message} ({code})" if code else message


def unwrap_error(message: str, code: str | None = None) -> tuple[str, str | None]:
    """The innermost (message, code) of a message that carries the upstream provider's error as JSON
    text, as gateways wrap it: LiteLLM sends `litellm.BadRequestError: OpenAIException - {"error":
    {...}}` plus routing notes, or the repr of the provider's bytes (`b'{...}'`). Only the provider's
    sentence can tell a person what to change. At most MAX_UNWRAP_DEPTH levels, MAX_UNWRAP_CHARS long."""
    for _ in range(MAX_UNWRAP_DEPTH):
        inner = _embedded_error(message) if len(message) <= MAX_UNWRAP_CHARS else None
        if inner is None:
            break
        message, code = inner[0], inner[1] or code
    return message.strip(), code


def _embedded_error(text: str) -> tuple[str, str | None] | None:
    """The fields of the first error object written inside `text`, as a bytes literal or as JSON."""
    decoder = json.JSONDecoder()
    for candidate in [*(_bytes_text(found.group()) for found in BYTES_LITERAL.finditer(text)), text]:
        start = candidate.find("{")
        for _ in range(MAX_OBJECT_STARTS):
            if start < 0:
                break
            try:
                fields = error_fields(decoder.raw_decode(candidate, start)[0])
            except ValueError:
                fields = None
            if fields is not None:
                return fields
            start = candidate.find("{", start + 1)
    return None


def _bytes_text(literal: str) -> str:
    """The text a Python bytes literal (`b'{\\n  "error": ...}'`) holds, or "" when it is not one."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


class HttpProvider(VideoProvider):
    """Base of the HTTP adapters; subclasses speak one API's paths and shapes."""

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        timeout: float = 30.0,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        private_redirects: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.private_redirects = private_redirects
        self.label = label
        self.policy = policy
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            follow_redirects=False,  # only downloads follow them, each hop checked (`_follow`)
            headers=dict(headers or {}),
            auth=auth,
        )

    # the one retry loop
    @contextmanager
    def _request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        stream: bool = False,
        policy: RetryPolicy | None = None,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> Iterator[httpx.Response]:
        """Send with retries for transient failures (`policy`, default the provider's); yields a 2xx
        response or raises `ProviderError`. `follow_redirects`: for downloads only (assets often live
        on a CDN), each hop checked by `refuse_redirect`."""
        policy = policy or self.policy
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                request = self._client.build_request(method, path, **kwargs)
                response = self._client.send(request, stream=stream)
                if follow_redirects:
                    response = self._follow(response, stream=stream)
            except httpx.HTTPError as exc:
                if not (is_transient_error(exc, idempotent=idempotent) and policy.should_retry(attempt)):
                    unreachable = ProviderNotStarted if never_sent(exc) else ProviderUnavailable
                    raise unreachable(f"{self.label} unreachable: {type(exc).__name__}: {exc}") from exc
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
                    raise ProviderRefused(error_detail(response), response.status_code)
                if not is_transient_response(response.status_code, idempotent=idempotent):
                    raise ProviderUnavailable(f"{self.label} failed: {error_detail(response)}")
                if not policy.should_retry(attempt):
                    kept_failing = (
                        ProviderNotStarted
                        if is_transient_response(response.status_code, idempotent=False)
                        else ProviderUnavailable
                    )
                    raise kept_failing(
                        f"{self.label} kept failing: {error_detail(response)} after {attempt + 1} attempts"
                    )
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
                log.warning("%s %s answered %s; retrying", method, path, response.status_code)
            self._sleep(policy.delay(attempt, retry_after))
            attempt += 1

    def _follow(self, response: httpx.Response, *, stream: bool) -> httpx.Response:
        """Follow a download's redirects, refusing a hop that leaves for a private address."""
        for _ in range(MAX_REDIRECTS):
            target = response.next_request
            if not response.is_redirect or target is None:
                return response
            response.close()
            refuse_redirect(response.request.url, target.url, allow_private=self.private_redirects)
            response = self._client.send(target, stream=stream)
        response.close()
        raise ProviderRefused(f"The provider's download redirected more than {MAX_REDIRECTS} times.")

    def _json(
        self, method: str, path: str, *, idempotent: bool, policy: RetryPolicy | None = None, **kwargs: Any
    ) -> Any:
        with self._request(method, path, idempotent=idempotent, policy=policy, **kwargs) as response:
            try:
                return response.json()
            except ValueError:
                raise ProviderError(f"{self.label} sent an answer that is not JSON for {path}") from None

    def _list_page(self, path: str, **kwargs: Any) -> Any:
        """One page of a provider's list of jobs; None when it refuses to list them (a gateway without
        the route: LiteLLM answers 400). A refused key still raises: the list may work once fixed."""
        try:
            return self._json("GET", path, idempotent=True, **kwargs)
        except ProviderRefused as exc:
            if exc.status_code in (401, 403):
                raise
            log.info("%s does not list its jobs: %s", self.label, exc)
            return None

    def _create_one(self, request: JobRequest) -> StartedJob:
        """One create, its failure turned into a per-item answer (for batches made of single creates)."""
        try:
            return StartedJob(job_id=self.create(request))
        except ProviderError as exc:
            return StartedJob.from_error(exc)
        except Exception as exc:  # one item's surprise must not lose the answers of the others
            log.exception("creating one video failed")
            return StartedJob(error=f"{type(exc).__name__}: {exc}", refused=False)

    def _download(
        self, job_id: str, path: str, out: BinaryIO, params: Mapping[str, str] | None = None
    ) -> int:
        """Stream the job's file at `path` into `out`, starting over (from byte 0) when the connection
        breaks off."""
        attempt = 0
        while True:
            out.seek(0)
            out.truncate()
            try:
                with self._request(
                    "GET", path, idempotent=True, stream=True, follow_redirects=True, params=params
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

    def _health(self, path: str, *, probe_only: bool = False) -> Health:
        """Ask `path`; a refused key (401, 403) is reported as such. `probe_only`: the path is not a
        health route but a request the API may refuse while it works, so a client error there still
        shows a server that answers and did not refuse the key."""
        try:
            response = self._client.get(path, timeout=5.0)
        except httpx.HTTPError:
            return Health.NOT_ANSWERING
        if response.status_code in (401, 403):
            return Health.KEY_REFUSED
        if response.is_success or (probe_only and response.is_client_error):
            return Health.ANSWERING
        return Health.NOT_ANSWERING

    def close(self) -> None:
        self._client.close()
