"""A stand-in of fal.ai's queue API, storage uploads and CDN, on loopback HTTP, for integration tests.

It answers like the real service as fal documents it and as the official clients (`fal_client`, `fal`,
`@fal-ai/client`) expect it, so an adapter that passes here is not merely passing its own assumptions.
Sources, cited next to each behaviour below:

- queue API: https://docs.fal.ai/documentation/model-apis/inference/queue and the API reference
  https://fal.ai/docs/api-reference/inference-api (status, result, cancel operation pages under
  https://fal.ai/docs/inference-api/queue/)
- request (infrastructure) errors: https://fal.ai/docs/documentation/model-apis/request-errors
- model errors: https://docs.fal.ai/errors (also https://fal.ai/docs/documentation/model-apis/errors.md)
- the official Python client, fal-client 1.0.3 (github.com/fal-ai/fal, projects/fal_client/src/fal_client/
  client.py) and the platform SDK (projects/fal/src/fal/apps.py, toolkit/file/providers/fal.py)

One server holds three of fal's hosts, so an adapter is pointed at it by replacing each base URL by `url`:

- queue        `https://queue.fal.run`                        -> `{url}`  (submit, status, result, cancel)
- REST/storage `https://rest.fal.ai` (SDK: `rest.alpha.fal.ai`) -> `{url}`  (`/storage/...`)
- CDN          `https://v3.fal.media`                         -> `{url}`  (`/files/upload`, `/files/...`)

Upload protocol (both forms fal's clients use; see `FalStandin` for the exact bodies):

1. initiate + PUT (fal_client's "fal" repository, the JS client, the fal SDK's v3 repository):
   `POST {url}/storage/upload/initiate?storage_type=gcs|fal-cdn-v3` with `Authorization: Key <key>` and JSON
   `{"file_name", "content_type"}` -> `{"upload_url", "file_url"}`; then `PUT <upload_url>` with the bytes
   and `Content-Type` (no auth: a signed URL) -> 200; `file_url` is what goes into the model input.
2. CDN v3 (fal_client's default "fal_v3" repository): `POST {url}/storage/auth/token?storage_type=fal-cdn-v3`
   with `Authorization: Key <key>` and body `{}` -> `{"token", "token_type", "base_url", "expires_at"}`;
   then `POST {url}/files/upload` with `Authorization: <token_type> <token>`, `Content-Type` and optional
   `X-Fal-File-Name`, body = the bytes -> `{"access_url"}`.

Not modelled: `/status/stream` (SSE), webhooks (`fal_webhook` is only recorded), multipart uploads over
100 MB, result retention limits, per-account concurrency beyond `runners`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

import pytest

State = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
Operation = Literal["submit", "status", "result", "cancel", "download"]
FaultKind = Literal["rate_limited", "ingress_error", "server_error", "drop", "cut"]
Check = Callable[[Any], list[dict[str, Any]]]

ERRORS_URL = "https://docs.fal.ai/errors"

# Infrastructure error types and their typical status codes, as tabled on
# https://fal.ai/docs/documentation/model-apis/request-errors (the detail of request_timeout is the page's
# example; the others are the page's descriptions).
REQUEST_ERRORS: dict[str, tuple[int, str]] = {
    "request_timeout": (504, "Request timed out"),
    "startup_timeout": (504, "The runner did not start within the allowed time."),
    "runner_scheduling_failure": (503, "No runner could be allocated to handle the request."),
    "runner_connection_timeout": (503, "The connection to the runner timed out."),
    "runner_disconnected": (503, "The runner disconnected unexpectedly during processing."),
    "runner_connection_refused": (503, "The runner refused the connection."),
    "runner_connection_error": (503, "A general connection error occurred with the runner."),
    "runner_incomplete_response": (502, "The runner sent an incomplete response payload."),
    "runner_server_error": (500, "The runner encountered an internal server error."),
    "client_disconnected": (499, "The client closed the connection before the response was sent."),
    "client_cancelled": (499, "The request was cancelled by the client."),
    "bad_request": (400, "The request was malformed (e.g., invalid timeout header)."),
    "internal_error": (500, "An unexpected internal error occurred."),
}

# nginx's own reason phrases: fal_client tells an ingress error from fal's by "nginx" in the body and no
# `x-fal-request-id` header (fal_client/client.py `_is_ingress_error`), and retries only those 502/503/504.
_NGINX_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def nginx_page(status: int) -> bytes:
    """The HTML page nginx answers itself with, as fal's ingress does when it cannot reach the queue."""
    title = f"{status} {_NGINX_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def content_policy_item(field_name: str = "prompt", value: Any = None) -> dict[str, Any]:
    """A model error item for flagged content, in the shape of https://docs.fal.ai/errors."""
    item: dict[str, Any] = {
        "loc": ["body", field_name],
        "msg": "The content was flagged by a content checker.",
        "type": "content_policy_violation",
        "url": f"{ERRORS_URL}#content_policy_violation",
    }
    if value is not None:
        item["input"] = value
    return item


def validation_item(field_name: str, msg: str, error_type: str = "value_error", **ctx: Any) -> dict[str, Any]:
    """A model validation error item (`loc`, `msg`, `type`, `url`, optional `ctx`), https://docs.fal.ai/errors."""
    item: dict[str, Any] = {
        "loc": ["body", field_name],
        "msg": msg,
        "type": error_type,
        "url": f"{ERRORS_URL}#{error_type}",
    }
    if ctx:
        item["ctx"] = ctx
    return item


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """`data:[<type>][;base64],<data>` -> (media type, bytes): what a model receives for an `image_url`."""
    if not uri.startswith("data:") or "," not in uri:
        raise ValueError(f"not a data URI: {uri[:40]!r}")
    header, payload = uri[5:].split(",", 1)
    parts = header.split(";")
    media_type = parts[0] or "text/plain"
    if "base64" in parts[1:]:
        try:
            return media_type, base64.b64decode(payload, validate=True)
        except binascii.Error as error:
            raise ValueError(f"bad base64 in data URI: {error}") from error
    return media_type, unquote_to_bytes(payload)


@cache
def _default_video() -> bytes:
    """A small real H.264 MP4, made once: adapters are checked against a video that plays."""
    from tests.media import mp4_bytes

    return mp4_bytes()


@dataclass
class Submission:
    """One submit the stand-in received, kept for assertions (faulted ones too, with their `outcome`)."""

    endpoint_id: str
    body: Any  # the parsed JSON, or None when the body was not JSON
    headers: dict[str, str]  # lower-cased names
    query: dict[str, list[str]]
    outcome: str  # "queued", "lost" (queued, answer dropped), "401", "429", "500", "503", ...
    request_id: str | None = None  # set when the request was queued


@dataclass
class Outcome:
    """How a queued request ends: its result (`status`, `body`, `headers`) and its COMPLETED status."""

    status: int = 200
    body: Any = None  # None: the default video output
    headers: dict[str, str] = field(default_factory=dict)
    status_error: str | None = None  # `error` on the COMPLETED status (fal_client `Completed.error`)
    status_error_type: str | None = None


@dataclass
class Job:
    request_id: str
    endpoint_id: str
    owner: str
    alias: str
    body: Any
    seq: int
    outcome: Outcome
    state: State = "IN_QUEUE"
    queue_polls: int = 0
    progress_polls: int = 0
    started: bool = False
    cancel_requested: bool = False
    logs: list[dict[str, str]] = field(default_factory=list)
    output_path: str | None = None
    completed_at: float | None = None
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime | None = None


@dataclass
class StoredFile:
    """A file on the stand-in's CDN: a model output or an upload."""

    path: str  # "/files/<bucket>/<name>"
    data: bytes
    content_type: str
    file_name: str
    via: str  # "output", "storage" (initiate + PUT), "cdn_v3"
    expired_status: int | None = None
    expires_at: float | None = None  # monotonic time


@dataclass
class _Fault:
    kind: FaultKind
    status: int
    retry_after: int


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class FalStandin:
    """A running stand-in: `url`, scripting knobs, and what it saw (`submissions`, `jobs`, counters).

    Progress is deterministic and driven by status polls, never by time. A request answers IN_QUEUE until
    it has answered IN_QUEUE `polls_in_queue` times and one of `runners` slots is free; free slots go to due
    requests in submission order whenever any request is polled, so `queue_position` (requests queued
    ahead) is real and a request nobody polls (a lost submit) never takes a slot. It then answers
    IN_PROGRESS `polls_in_progress` times, and COMPLETED from the poll after. `advance`, `finish` and
    `finish_all` move requests by hand.
    """

    def __init__(
        self,
        key: str = "test-key",
        *,
        video: bytes | None = None,
        runners: int = 2,
        polls_in_queue: int = 1,
        polls_in_progress: int = 1,
    ) -> None:
        self.key = key
        self.video = video if video is not None else _default_video()
        self.runners = runners
        self.polls_in_queue = polls_in_queue
        self.polls_in_progress = polls_in_progress
        self.honour_cancel = True  # the model app stops when told (fal sends the runner a cancel signal)
        self.output_ttl: float | None = None  # seconds an output URL lives after completion; None: forever
        self.submissions: list[Submission] = []
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, StoredFile] = {}
        self.misrouted: list[tuple[str, str]] = []  # (method, path) answered 404 as an unknown route
        self.submit_count = 0
        self.history_reads = 0  # pages of the Platform API's request history served
        self.status_polls: Counter[str] = Counter()
        self.result_fetches: Counter[str] = Counter()
        self.cancels: Counter[str] = Counter()
        self.downloads: Counter[str] = Counter()  # by file path
        self.lock = threading.RLock()
        self._faults: dict[str, list[_Fault]] = {}
        self._next_outcomes: list[Outcome] = []
        self._checks: dict[str, Check] = {}
        self._cdn_tokens: set[str] = set()
        self._put_targets: dict[str, tuple[str, str, str]] = {}  # token -> (file path, name, content type)
        self._seq = 0
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fal-standin", daemon=True
        )
        self._thread.start()

    # -- lifecycle --------------------------------------------------------------------------------------

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FalStandin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def queue_url(self) -> str:
        """Stands for `https://queue.fal.run`."""
        return self.url

    @property
    def rest_url(self) -> str:
        """Stands for `https://rest.fal.ai` (the fal SDK's `rest.alpha.fal.ai`)."""
        return self.url

    @property
    def api_url(self) -> str:
        """Stands for `https://api.fal.ai/v1` (the Platform APIs)."""
        return f"{self.url}/v1"

    @property
    def cdn_url(self) -> str:
        """Stands for `https://v3.fal.media`."""
        return self.url

    # -- scripting --------------------------------------------------------------------------------------

    def inject(
        self,
        operation: Operation,
        kind: FaultKind,
        count: int = 1,
        *,
        status: int | None = None,
        retry_after: int = 1,
    ) -> None:
        """Answer the next `count` calls of `operation` with a fault instead of the real answer.

        - `rate_limited`: 429 with `retry-after` (fal_client retries 429).
        - `ingress_error`: 503 (or `status` 502/504) nginx page without `x-fal-request-id`, as fal's
          ingress answers; the call never reached the queue, so nothing happens.
        - `server_error`: 500 (or `status`) from fal itself, in the request-error shape with
          `x-fal-request-id`; nothing happens.
        - `drop`: the call takes effect (a submit IS queued, a poll counts), then the connection is closed
          without an answer, so the client cannot know.
        - `cut` (downloads): `Content-Length` of the whole file, half of it sent, connection closed.
        """
        if kind == "cut" and operation != "download":
            raise ValueError(f"{kind!r} does not apply to {operation!r}")
        defaults = {"rate_limited": 429, "ingress_error": 503, "server_error": 500, "drop": 0, "cut": 200}
        fault = _Fault(kind, status if status is not None else defaults[kind], retry_after)
        with self.lock:
            self._faults.setdefault(operation, []).extend([fault] * count)

    def fail_next(
        self,
        error_type: str = "request_timeout",
        *,
        count: int = 1,
        detail: str | None = None,
        status: int | None = None,
    ) -> None:
        """The next `count` queued requests end COMPLETED with an infrastructure error.

        Result: the error's status code, `{"detail", "error_type"}` and header `X-Fal-Error-Type`
        (https://fal.ai/docs/documentation/model-apis/request-errors); the COMPLETED status carries `error`
        and `error_type` (fal_client `Completed.error/.error_type`, github.com/fal-ai/fal pull 906).
        """
        typical_status, typical_detail = REQUEST_ERRORS.get(error_type, (500, "Request failed"))
        text = detail if detail is not None else typical_detail
        outcome = Outcome(
            status=status if status is not None else typical_status,
            body={"detail": text, "error_type": error_type},
            headers={"X-Fal-Error-Type": error_type},
            status_error=text,
            status_error_type=error_type,
        )
        with self.lock:
            self._next_outcomes.extend([outcome] * count)

    def reject_next(
        self,
        items: list[dict[str, Any]] | None = None,
        *,
        count: int = 1,
        status: int = 422,
        retryable: bool = False,
    ) -> None:
        """The next `count` queued requests end COMPLETED with a model error (default: flagged prompt).

        Result: 422 `{"detail": [items]}` and `X-Fal-Retryable: false` (https://docs.fal.ai/errors). fal runs
        such a request to COMPLETED and only its result tells (github.com/TanStack/ai pull 396, checked live).
        """
        outcome = _model_error(items or [content_policy_item()], status, retryable)
        with self.lock:
            self._next_outcomes.extend([outcome] * count)

    def accept(self, endpoint_id: str, check: Check) -> None:
        """Check every input sent to `endpoint_id`: a non-empty list of fal error items rejects it.

        As on fal, the request is still queued and runs; its result is 422 `{"detail": items}`.
        """
        with self.lock:
            self._checks[endpoint_id] = check

    def advance(self, request_id: str) -> State:
        """Move one request a step on by hand (IN_QUEUE -> IN_PROGRESS -> COMPLETED), ignoring slots."""
        with self.lock:
            job = self.jobs[request_id]
            if job.state == "IN_QUEUE":
                self._start(job)
            elif job.state == "IN_PROGRESS":
                self._complete(job)
            return job.state

    def finish(self, request_id: str) -> None:
        """Complete one request now, with its scripted outcome."""
        with self.lock:
            job = self.jobs[request_id]
            if job.state != "COMPLETED":
                self._complete(job)

    def finish_all(self) -> None:
        with self.lock:
            for job in list(self.jobs.values()):
                if job.state != "COMPLETED":
                    self._complete(job)

    def expire(self, url: str | None = None, *, status: int = 404) -> None:
        """Make one output/upload URL (or all of them) answer `status` from now on, as an expired file."""
        with self.lock:
            targets = [self._file_for(url)] if url else list(self.files.values())
            for stored in targets:
                stored.expired_status = status

    # -- inspection -------------------------------------------------------------------------------------

    @property
    def queued(self) -> list[Submission]:
        """The submits that queued a request (including those whose answer was dropped)."""
        return [s for s in self.submissions if s.request_id is not None]

    @property
    def uploads(self) -> list[StoredFile]:
        return [f for f in self.files.values() if f.via != "output"]

    def state(self, request_id: str) -> State:
        with self.lock:
            return self.jobs[request_id].state

    def queue_position(self, request_id: str) -> int:
        with self.lock:
            job = self.jobs[request_id]
            return sum(1 for j in self.jobs.values() if j.state == "IN_QUEUE" and j.seq < job.seq)

    def sent_file(self, value: str) -> bytes:
        """The bytes a model input referred to: a data URI, or a URL of a file uploaded here."""
        if value.startswith("data:"):
            return decode_data_uri(value)[1]
        return self._file_for(value).data

    def output_url(self, request_id: str) -> str:
        with self.lock:
            path = self.jobs[request_id].output_path
        if path is None:
            raise KeyError(f"{request_id} has no output file")
        return self.url + path

    # -- internals (called with the lock held) ----------------------------------------------------------

    def _file_for(self, url: str) -> StoredFile:
        path = urlsplit(url).path
        if path not in self.files:
            raise KeyError(f"no file at {url}")
        return self.files[path]

    def _take_fault(self, operation: str) -> _Fault | None:
        queue = self._faults.get(operation)
        return queue.pop(0) if queue else None

    def _links(self, job: Job) -> dict[str, str]:
        # The returned URLs use only owner/alias, never the endpoint's sub-path
        # (https://fal.ai/docs/api-reference/inference-api, "Model IDs and paths").
        base = f"{self.url}/{job.owner}/{job.alias}/requests/{job.request_id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def _enqueue(self, endpoint_id: str, body: Any) -> Job:
        owner, alias = endpoint_id.split("/")[:2]
        outcome = self._next_outcomes.pop(0) if self._next_outcomes else Outcome()
        check = self._checks.get(endpoint_id)
        if check is not None and outcome.status == 200:
            problems = check(body)
            if problems:
                outcome = _model_error(problems, 422, retryable=False)
        self._seq += 1
        job = Job(str(uuid.uuid4()), endpoint_id, owner, alias, body, self._seq, outcome)
        self.jobs[job.request_id] = job
        self._schedule()
        return job

    def _schedule(self) -> None:
        """Give free runner slots to queued requests in submission order, once each is due to leave."""
        free = self.runners - sum(1 for j in self.jobs.values() if j.state == "IN_PROGRESS")
        for job in sorted(self.jobs.values(), key=lambda j: j.seq):
            if free <= 0:
                break
            if job.state == "IN_QUEUE" and job.queue_polls >= self.polls_in_queue:
                self._start(job)
                free -= 1

    def _start(self, job: Job) -> None:
        job.state = "IN_PROGRESS"
        job.started = True
        job.logs.append(_log(f"Runner picked up request {job.request_id}"))

    def _complete(self, job: Job, outcome: Outcome | None = None) -> None:
        if outcome is not None:
            job.outcome = outcome
        job.state = "COMPLETED"
        job.completed_at, job.ended_at = time.monotonic(), datetime.now(UTC)
        if job.outcome.status == 200 and job.outcome.body is None:
            name = f"{secrets.token_urlsafe(12)}_output.mp4"
            path = f"/files/standin/{name}"
            expires = job.completed_at + self.output_ttl if self.output_ttl is not None else None
            stored = StoredFile(path, self.video, "video/mp4", "output.mp4", "output", expires_at=expires)
            self.files[path] = stored
            job.output_path = path
        job.logs.append(_log("Request completed"))
        self._schedule()

    def _poll(self, job: Job) -> None:
        """One status poll moves the request on (see the class docstring)."""
        if job.state == "IN_QUEUE":
            self._schedule()
            if job.state == "IN_QUEUE":
                job.queue_polls += 1
                return
        if job.state == "IN_PROGRESS":
            if job.cancel_requested and self.honour_cancel:
                self._complete(job, _cancelled())
            elif job.progress_polls >= self.polls_in_progress:
                self._complete(job)
            else:
                job.progress_polls += 1
                job.logs.append(_log(f"Generating: step {job.progress_polls}/{self.polls_in_progress}"))

    def _status_body(self, job: Job, with_logs: bool) -> dict[str, Any]:
        # Field names: fal-js types/common.ts (BaseQueueStatus, RequestLog, Metrics) and fal_client
        # `_parse_status`, which needs `logs` present (null without ?logs=1) for IN_PROGRESS and COMPLETED.
        body: dict[str, Any] = {"status": job.state, "request_id": job.request_id, **self._links(job)}
        if job.state == "IN_QUEUE":
            body["queue_position"] = self.queue_position(job.request_id)
            return body
        body["logs"] = list(job.logs) if with_logs else None
        if job.state == "COMPLETED":
            # seconds the runner spent (one per poll in progress here); null when it never ran
            body["metrics"] = {"inference_time": float(job.progress_polls) if job.started else None}
            if job.outcome.status_error is not None:
                body["error"] = job.outcome.status_error
            if job.outcome.status_error_type is not None:
                body["error_type"] = job.outcome.status_error_type
        return body

    def _result(self, job: Job) -> tuple[int, Any, dict[str, str]]:
        if job.outcome.status != 200 or job.outcome.body is not None:
            return job.outcome.status, job.outcome.body, dict(job.outcome.headers)
        assert job.output_path is not None
        seed = job.body.get("seed") if isinstance(job.body, dict) else None
        output = {
            "video": {
                "url": self.url + job.output_path,
                "content_type": "video/mp4",
                "file_name": "output.mp4",
                "file_size": len(self.files[job.output_path].data),
            },
            "seed": seed if isinstance(seed, int) else 1000 + job.seq,
        }
        return 200, output, {}


def _log(message: str) -> dict[str, str]:
    return {"message": message, "level": "INFO", "source": "USER", "timestamp": _now_iso()}


def _model_error(items: list[dict[str, Any]], status: int, retryable: bool) -> Outcome:
    return Outcome(
        status=status,
        body={"detail": items},
        headers={"X-Fal-Retryable": "true" if retryable else "false"},
    )


def _cancelled() -> Outcome:
    # A cancelled request ends with a 499 (fal's app runtime answers RequestCancelledException with 499,
    # projects/fal/src/fal/app.py; e2e test_app_cancellation); its type is `client_cancelled`
    # (https://fal.ai/docs/documentation/model-apis/request-errors). The COMPLETED status fields are inferred.
    _, detail = REQUEST_ERRORS["client_cancelled"]
    return Outcome(
        status=499,
        body={"detail": detail, "error_type": "client_cancelled"},
        headers={"X-Fal-Error-Type": "client_cancelled"},
        status_error=detail,
        status_error_type="client_cancelled",
    )


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.0, one request per connection: every answer closes, so dropping one is just not answering."""

    @property
    def standin(self) -> FalStandin:
        return self.server.standin  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        content_type: str = "application/json",
        server: str = "fal-standin",
        cut: bool = False,
    ) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response_only(status)
        self.send_header("Server", server)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2] if cut else payload)
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection without a byte of answer."""
        self.close_connection = True
        self.wfile.flush()

    def _answer_fault(self, fault: _Fault | None, request_id: str | None = None) -> bool:
        """Answer with the scripted fault, if one is due (a dropped connection, or its error)."""
        if fault is None:
            return False
        if fault.kind == "drop":
            self._drop()
        else:
            self._send_fault(fault, request_id)
        return True

    def _send_fault(self, fault: _Fault, request_id: str | None = None) -> None:
        if fault.kind == "rate_limited":  # fal_client retries 429 (RETRY_CODES); the wording is not verified
            self._send(fault.status, {"detail": "Too many requests"}, {"retry-after": str(fault.retry_after)})
        elif fault.kind == "ingress_error":
            self._send(fault.status, nginx_page(fault.status), content_type="text/html", server="nginx")
        else:  # server_error: fal's own answer, in the request-error shape, with its request id
            headers = {"x-fal-request-id": request_id or str(uuid.uuid4())}
            headers["X-Fal-Error-Type"] = "internal_error"
            detail = REQUEST_ERRORS["internal_error"][1]
            self._send(fault.status, {"detail": detail, "error_type": "internal_error"}, headers)

    def _authorised(self) -> bool:
        """`Authorization: Key <key>` (https://fal.ai/docs/api-reference/inference-api, "Authentication")."""
        given = self.headers.get("Authorization")
        if given == f"Key {self.standin.key}":
            return True
        if given is None:
            detail = "Missing authorization header"  # wording not verified
        elif given.startswith("Key ") and ":" not in given:
            # fal's answer to a key without the `<key_id>:<key_secret>` form (seen in user reports)
            detail = "Invalid Key Authorization header format. Expected '<key_id>:<key_secret>'."
        else:
            # github.com/fal-ai/fal issue 1068, fal-ai/fal-swift issue 8
            detail = "No user found for Key ID and Secret"
        self._send(401, {"detail": detail})
        return False

    # -- routing ----------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        query = parse_qs(parts.query)
        body = self._read_body()
        method = self.command
        # CDN and signed upload URLs: no fal key (public URLs, a CDN token, a signed URL)
        if segments[:1] == ["files"] and method == "GET" and len(segments) >= 3:
            return self._download(parts.path)
        if segments[:2] == ["storage", "put"] and method == "PUT" and len(segments) == 3:
            return self._put_upload(segments[2], body)
        if segments == ["files", "upload"] and method == "POST":
            return self._cdn_upload(body)
        is_submit = method == "POST" and len(segments) >= 2 and "requests" not in segments[2:3]
        if is_submit and segments[:1] != ["storage"]:
            return self._submit("/".join(segments), body, query)
        if not self._authorised():
            return None
        if segments == ["v1", "models", "requests", "by-endpoint"] and method == "GET":
            return self._requests_by_endpoint(query)
        if segments == ["storage", "auth", "token"] and method == "POST":
            return self._cdn_token()
        if segments == ["storage", "upload", "initiate"] and method == "POST":
            return self._initiate_upload(body, query)
        if len(segments) >= 4 and segments[2] == "requests":
            owner, alias, request_id, rest = segments[0], segments[1], segments[3], segments[4:]
            if method == "GET" and rest == []:
                return self._result(owner, alias, request_id)
            if method == "GET" and rest == ["status"]:
                return self._status(owner, alias, request_id, query)
            if method == "PUT" and rest == ["cancel"]:
                return self._cancel(owner, alias, request_id)
        # Anything else, notably status/result/cancel URLs built from the full endpoint id
        # (`owner/alias/sub/path/requests/<id>/status`), which fal does not serve: "The status, result, and
        # cancel URLs use only the owner and the app" (https://fal.ai/docs/api-reference/inference-api).
        # fal's exact answer to such a URL is not documented; a 404 is what its gateway gave for a mis-built
        # queue path in github.com/fal-ai/fal-js issue 214. The stand-in answers 404 and records the call.
        with self.standin.lock:
            self.standin.misrouted.append((method, parts.path))
        return self._send(404, {"detail": "Not Found"})

    # -- queue ------------------------------------------------------------------------------------------

    def _submit(self, endpoint_id: str, raw: bytes, query: dict[str, list[str]]) -> None:
        # POST https://queue.fal.run/{owner}/{alias}[/path] with the model input as the JSON body
        # (https://docs.fal.ai/documentation/model-apis/inference/queue, "Submit a Request").
        standin = self.standin
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        with standin.lock:
            standin.submit_count += 1
            record = Submission(endpoint_id, body, headers, query, "queued")
            standin.submissions.append(record)
        if not self._authorised():
            record.outcome = "401"
            return None
        with standin.lock:
            fault = standin._take_fault("submit")
            if fault is not None and fault.kind != "drop":
                record.outcome = str(fault.status)
            else:
                job = standin._enqueue(endpoint_id, body)
                record.request_id = job.request_id
                answer = {
                    "status": "IN_QUEUE",
                    "request_id": job.request_id,
                    **standin._links(job),
                    "queue_position": standin.queue_position(job.request_id),
                }
        if fault is not None and fault.kind == "drop":
            record.outcome = "lost"
            return self._drop()
        if fault is not None:
            return self._send_fault(fault)
        return self._send(200, answer, {"x-fal-request-id": record.request_id or ""})

    def _requests_by_endpoint(self, query: dict[str, list[str]]) -> None:
        # GET https://api.fal.ai/v1/models/requests/by-endpoint
        # (https://fal.ai/docs/platform-apis/v1/models/requests/by-endpoint): `endpoint_id` required;
        # `start` defaults to 24 hours ago, `end` (exclusive) to now; `limit` 1-100, default 50; `cursor`
        # "encoding the page number"; `expand=payloads` adds `json_input`/`json_output`; answers
        # `{"items", "next_cursor", "has_more"}`. Stand-in's own: a request not ended yet is listed too,
        # with `ended_at` null (the docs do not say), and the newest comes first.
        def one(name: str) -> str | None:
            return query.get(name, [None])[0]

        endpoint_id, now = one("endpoint_id"), datetime.now(UTC)
        limit = one("limit") or "50"
        if not endpoint_id or not limit.isdecimal() or not 1 <= int(limit) <= 100:
            return self._send(422, {"detail": "endpoint_id is required and limit is 1 to 100"})  # own wording
        try:
            start = datetime.fromisoformat(one("start") or (now - timedelta(hours=24)).isoformat())
            end = datetime.fromisoformat(one("end") or now.isoformat())
            page = int(base64.b64decode(one("cursor") or base64.b64encode(b"1")).decode())
        except ValueError:
            return self._send(422, {"detail": "start, end and cursor must be valid"})  # own wording
        with self.standin.lock:
            jobs = [
                job
                for job in self.standin.jobs.values()
                if job.endpoint_id == endpoint_id and start <= job.sent_at < end
            ]
        jobs.sort(key=lambda job: job.sent_at, reverse=True)
        size = int(limit)
        chosen = jobs[(page - 1) * size : page * size]
        payloads = "payloads" in (one("expand") or "").split(",")
        items = [self._listed(job, payloads) for job in chosen]
        more = page * size < len(jobs)
        cursor = base64.b64encode(str(page + 1).encode()).decode() if more else None
        with self.standin.lock:
            self.standin.history_reads += 1
        return self._send(200, {"items": items, "next_cursor": cursor, "has_more": more})

    @staticmethod
    def _listed(job: Job, payloads: bool) -> dict[str, Any]:
        item: dict[str, Any] = {
            "request_id": job.request_id,
            "endpoint_id": job.endpoint_id,
            "sent_at": job.sent_at.isoformat().replace("+00:00", "Z"),
            "started_at": job.sent_at.isoformat().replace("+00:00", "Z") if job.started else None,
            "ended_at": job.ended_at.isoformat().replace("+00:00", "Z") if job.ended_at else None,
            "status_code": job.outcome.status if job.ended_at else None,
        }
        if payloads:
            item["json_input"] = job.body
        return item

    def _find(self, owner: str, alias: str, request_id: str) -> Job | None:
        job = self.standin.jobs.get(request_id)
        return job if job is not None and (job.owner, job.alias) == (owner, alias) else None

    def _status(self, owner: str, alias: str, request_id: str, query: dict[str, list[str]]) -> None:
        # GET .../requests/{id}/status[?logs=1]: 202 while IN_QUEUE or IN_PROGRESS, 200 once COMPLETED
        # (https://fal.ai/docs/api-reference/inference-api, "Queue request lifecycle"; the fal SDK's
        # RequestHandle.status treats a 200 as Completed, projects/fal/src/fal/apps.py).
        standin = self.standin
        with_logs = (query.get("logs") or ["0"])[0].lower() in ("1", "true")
        with standin.lock:
            standin.status_polls[request_id] += 1
            fault = standin._take_fault("status")
            job = self._find(owner, alias, request_id)
            if job is not None and (fault is None or fault.kind == "drop"):
                standin._poll(job)
                answer = standin._status_body(job, with_logs)
        if self._answer_fault(fault, request_id):
            return None
        if job is None:
            return self._send(404, {"detail": "Request not found"})  # wording not verified
        code = 200 if job.state == "COMPLETED" else 202
        return self._send(code, answer, {"x-fal-request-id": request_id})

    def _result(self, owner: str, alias: str, request_id: str) -> None:
        # GET .../requests/{id}: the model's status code, headers and body; a model error comes back as is
        # (https://fal.ai/docs/inference-api/queue/result).
        standin = self.standin
        with standin.lock:
            standin.result_fetches[request_id] += 1
            fault = standin._take_fault("result")
            job = self._find(owner, alias, request_id)
            if job is not None and job.state == "COMPLETED":
                status, body, headers = standin._result(job)
        if self._answer_fault(fault, request_id):
            return None
        if job is None:
            return self._send(404, {"detail": "Request not found"})  # wording not verified
        if job.state != "COMPLETED":
            # Not documented by fal; the answer commonly reported for a result asked too early.
            detail = {"detail": "Request is still in progress"}
            return self._send(400, detail, {"x-fal-request-id": request_id})
        return self._send(status, body, {"x-fal-request-id": request_id, **headers})

    def _cancel(self, owner: str, alias: str, request_id: str) -> None:
        # PUT .../requests/{id}/cancel: a queued request is removed, a running one gets a cancel signal
        # (https://fal.ai/docs/inference-api/queue/cancel: statuses CANCELLATION_REQUESTED, ALREADY_COMPLETED,
        # NOT_FOUND). Codes 202/400/404 are as commonly reported, not verified on fal's pages.
        standin = self.standin
        with standin.lock:
            standin.cancels[request_id] += 1
            fault = standin._take_fault("cancel")
            job = self._find(owner, alias, request_id)
            if job is not None and (fault is None or fault.kind == "drop"):
                before = job.state
                if before == "IN_QUEUE":
                    standin._complete(job, _cancelled())
                elif before == "IN_PROGRESS":
                    job.cancel_requested = True
        if self._answer_fault(fault, request_id):
            return None
        if job is None:
            return self._send(404, {"status": "NOT_FOUND"})
        if before == "COMPLETED":
            return self._send(400, {"status": "ALREADY_COMPLETED"}, {"x-fal-request-id": request_id})
        return self._send(202, {"status": "CANCELLATION_REQUESTED"}, {"x-fal-request-id": request_id})

    # -- CDN and storage --------------------------------------------------------------------------------

    def _download(self, path: str) -> None:
        standin = self.standin
        with standin.lock:
            standin.downloads[path] += 1
            fault = standin._take_fault("download")
            stored = standin.files.get(path)
            expired: int | None = None
            if stored is not None:
                expired = stored.expired_status
                lapsed = stored.expires_at is not None and time.monotonic() >= stored.expires_at
                if expired is None and lapsed:
                    expired = 404
        if fault is not None and fault.kind == "drop":
            return self._drop()
        if fault is not None and fault.kind != "cut":
            return self._send_fault(fault)
        if stored is None or expired is not None:
            return self._send(expired or 404, b"Not Found", content_type="text/plain")
        return self._send(200, stored.data, content_type=stored.content_type, cut=fault is not None)

    def _cdn_token(self) -> None:
        # fal_client CDNTokenManager: POST {REST_URL}/storage/auth/token?storage_type=fal-cdn-v3, body {}.
        token = secrets.token_urlsafe(16)
        expires = datetime.now(UTC) + timedelta(hours=1)
        with self.standin.lock:
            self.standin._cdn_tokens.add(token)
        answer = {"token": token, "token_type": "Bearer", "base_url": self.standin.url}
        answer["expires_at"] = expires.isoformat()
        self._send(200, answer)

    def _cdn_upload(self, data: bytes) -> None:
        # fal_client _upload_v3: POST {CDN_URL}/files/upload, `Authorization: <token_type> <token>`.
        standin = self.standin
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        with standin.lock:
            known = scheme == "Bearer" and token in standin._cdn_tokens
        if not known:
            return self._send(401, {"detail": "Invalid token"})  # wording not verified
        content_type = self.headers.get("Content-Type") or "application/octet-stream"
        name = self.headers.get("X-Fal-File-Name") or "upload.bin"
        path = f"/files/uploads/{secrets.token_urlsafe(12)}_{name}"
        with standin.lock:
            standin.files[path] = StoredFile(path, data, content_type, name, "cdn_v3")
        return self._send(200, {"access_url": standin.url + path})

    def _initiate_upload(self, raw: bytes, query: dict[str, list[str]]) -> None:
        # POST {REST}/storage/upload/initiate?storage_type=... {"file_name", "content_type"}
        # -> {"upload_url", "file_url"} (fal_client _upload_via_storage; fal SDK FalFileRepositoryV3.save).
        try:
            request = json.loads(raw)
            name, content_type = str(request["file_name"]), str(request["content_type"])
        except (ValueError, KeyError, TypeError):
            return self._send(422, {"detail": [validation_item("file_name", "Field required", "missing")]})
        token = secrets.token_urlsafe(16)
        path = f"/files/uploads/{secrets.token_urlsafe(12)}_{name}"
        with self.standin.lock:
            self.standin._put_targets[token] = (path, name, content_type)
        upload_url = f"{self.standin.url}/storage/put/{token}"
        answer = {"upload_url": upload_url, "file_url": self.standin.url + path}
        return self._send(200, answer)

    def _put_upload(self, token: str, data: bytes) -> None:
        standin = self.standin
        with standin.lock:
            target = standin._put_targets.get(token)
            if target is not None:
                path, name, initiated_type = target
                content_type = self.headers.get("Content-Type") or initiated_type
                standin.files[path] = StoredFile(path, data, content_type, name, "storage")
        if target is None:
            return self._send(403, b"Forbidden", content_type="text/plain")
        return self._send(200, b"", content_type="text/plain")


def start_fal(
    key: str = "test-key",
    *,
    video: bytes | None = None,
    runners: int = 2,
    polls_in_queue: int = 1,
    polls_in_progress: int = 1,
) -> FalStandin:
    """A running stand-in on a free loopback port; `video` defaults to a small real MP4."""
    return FalStandin(
        key, video=video, runners=runners, polls_in_queue=polls_in_queue, polls_in_progress=polls_in_progress
    )


@pytest.fixture
def fal_standin() -> Iterator[FalStandin]:
    """A fresh stand-in per test, stopped afterwards."""
    with start_fal() as standin:
        yield standin
