"""A stand-in of Replicate's HTTP API (predictions + files) on loopback, for integration tests.

It answers like api.replicate.com as documented and as recorded in the official clients' test
cassettes, not like an adapter would like it to. Time is a deterministic clock: by default each poll
of a prediction moves it one step (and the clock `step_seconds`), so nothing in a test sleeps.

Sources (each behaviour below cites the one it comes from):
- DOCS_LIFECYCLE   https://replicate.com/docs/topics/predictions/lifecycle
- DOCS_CREATE      https://replicate.com/docs/topics/predictions/create-a-prediction (sync mode)
- DOCS_DEADLINES   https://replicate.com/changelog/2025-10-16-prediction-deadlines
- DOCS_RATE        https://replicate.com/docs/topics/predictions/rate-limits
- DOCS_VALIDATION  https://replicate.com/changelog/2024-05-01-improved-validation-for-api-prediction-payloads
- DOCS_ONE_ROUTE   https://replicate.com/changelog/2025-08-05-run-all-models-with-the-same-api-endpoint
- DOCS_HTTP        https://replicate.com/docs/reference/http (as generated into
                   github:replicate/replicate-python-beta src/replicate/resources/{predictions,files}.py
                   and src/replicate/types/prediction.py)
- CASSETTES        github:replicate/replicate-python tests/cassettes/*.yaml (real recorded answers)
- CLIENT           github:replicate/replicate-python replicate/{client,prediction,file}.py

Behaviour that no source pins down (5xx bodies, 404 texts, the wording of a bad data URI) is marked
"stand-in's own" where it is made.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

# failure texts seen in the wild: the cog models' NSFW check raises this text, and Replicate's moderation
# of official models fails a prediction with the E005 text (a request id is appended in the wild)
NSFW_ERROR = "NSFW content detected. Try running it again, or try a different prompt."
SENSITIVE_ERROR = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # the deterministic clock starts here
OWNER = "standin"  # the account the token belongs to (files are signed for it)
# DOCS_HTTP parameters_prefer_header: `wait` or `wait=n`, "n is a number of seconds between 1 and 60"
PREFER_WAIT = re.compile(r"^wait(=([1-9]|[1-5][0-9]|60))?$")
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
# DOCS_VALIDATION: the top-level properties a create accepts (anything else is refused)
CREATE_FIELDS = frozenset({"input", "stream", "webhook", "webhook_completed", "webhook_events_filter"})
Check = Callable[[dict[str, Any]], dict[str, "str | tuple[str, str]"]]


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """The media type and bytes of a `data:` URI (RFC 2397); ValueError when it does not decode."""
    match = re.fullmatch(r"data:([^,]*?)(;base64)?,(.*)", uri, re.DOTALL)
    if not match:
        raise ValueError("not a data URI")
    media_type = match.group(1).split(";")[0] or "text/plain"
    if not match.group(2):
        return media_type, match.group(3).encode()
    try:
        return media_type, base64.b64decode(match.group(3), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"bad base64 in data URI: {error}") from None


def parse_duration(text: str) -> float:
    """Seconds in a `Cancel-After` value: Go-style durations ("30s", "1m", "1h30m", "500ms") or bare seconds.

    DOCS_DEADLINES shows `Cancel-After: 1m`; the full grammar is not published, so this takes both forms.
    """
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(number) * scale[unit] for number, unit in parts)


def tqdm_line(done: int, total: int, elapsed: float, rate: float) -> str:
    """One progress line as tqdm prints it, e.g. ` 45%|████▌     | 9/20 [00:04<00:05,  2.10it/s]`."""
    fraction = done / total if total else 1.0
    eighths = int(fraction * 80)
    bar = "█" * (eighths // 8) + ("" if eighths % 8 == 0 else " ▏▎▍▌▋▊▉"[eighths % 8])
    remaining = (total - done) / rate if rate else 0.0

    def clock(seconds: float) -> str:
        return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"

    times = f"[{clock(elapsed)}<{clock(remaining)}, {rate:5.2f}it/s]"
    return f"{int(fraction * 100):3d}%|{bar:<10}| {done}/{total} {times}"


@dataclass
class ModelConfig:
    """How a model behaves here: its progress, its output and its input check."""

    name: str  # owner/name
    version_id: str | None = None  # a community model's version; None: an official model (version "hidden")
    starting_polls: int = 1  # polls spent in `starting` (a cold boot) before `processing`
    steps: int = 3  # polls spent in `processing`, printing tqdm lines, before the end
    iterations: int = 20  # the tqdm total printed in the logs
    output: Literal["url", "list"] = "url"  # one URL string, or a list of URLs
    outputs: int = 1  # how many URLs in a list output
    content_type: str = "video/mp4"
    extension: str = ".mp4"
    data: bytes | None = None  # the output file; None: the stand-in's video
    check: Check | None = None  # input check: returns {field: message} or {field: (type, message)}
    stream: bool = False  # whether the prediction has a `urls.stream`

    @property
    def version(self) -> str:
        # DOCS_HTTP types/prediction.py: `version: Union[str, Literal["hidden"]]`; official: "hidden"
        return self.version_id or "hidden"


@dataclass
class Prediction:
    id: str
    model: ModelConfig
    input: dict[str, Any]
    created_at: float
    status: str = "starting"
    tick: int = 0
    logs: list[str] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    deadline: float | None = None
    fail_with: str | None = None  # the error this prediction ends with instead of succeeding
    data_removed: bool = False
    output_files: dict[str, bytes] = field(default_factory=dict)  # delivery path -> bytes
    early_output: bool = False  # output shown (by a sync answer) before the status turns terminal


@dataclass
class Seen:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Created:
    """A create that made a prediction (also when its answer was then lost)."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    prediction_id: str


@dataclass
class UploadedFile:
    id: str
    name: str
    content_type: str
    data: bytes
    metadata: dict[str, Any]
    created_at: float
    deleted: bool = False


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    cut: bool = False  # declare the whole Content-Length, send half, close


def _json(status: int, body: Any, headers: dict[str, str] | None = None, *, problem: bool = False) -> Answer:
    # CASSETTES run__invalid-token.yaml: errors are `application/problem+json` (RFC 7807)
    kind = "application/problem+json" if problem else "application/json"
    return Answer(status, json.dumps(body).encode(), {"Content-Type": kind, **(headers or {})})


def _problem(status: int, title: str, detail: str, **extra: Any) -> Answer:
    return _json(status, {"title": title, "detail": detail, "status": status, **extra}, problem=True)


def _server_error(status: int) -> Answer:
    """A 5xx. Stand-in's own: a problem JSON for 500, a gateway's HTML page (Replicate sits behind
    Cloudflare) for 502/503/504."""
    if status == 500:
        return _problem(500, "Internal Server Error", "An unexpected error occurred.")
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(status, "Error")
    page = (
        f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    )
    return Answer(status, page.encode(), {"Content-Type": "text/html"})


def _throttled(retry_after: int) -> Answer:
    # DOCS_RATE: 429 with a body like {"detail":"Request was throttled. Your rate limit resets in ~30s."};
    # CLIENT client.py (RetryTransport) and the JS client wait for the `Retry-After` header
    detail = f"Request was throttled. Your rate limit resets in ~{retry_after}s."
    return _json(429, {"detail": detail}, {"Retry-After": str(retry_after)})


def _not_found() -> Answer:
    return _problem(404, "Not found", "The requested resource could not be found.")  # stand-in's own text


def _invalid(errors: list[tuple[str, str, str]]) -> Answer:
    """422 in Replicate's validation shape: (type, field, description) per error.

    DOCS_VALIDATION and answers quoted from the live API: {"detail": "- input.output_format: output_format
    must be one of ...\\n", "status": 422, "title": "Input validation failed", "invalid_fields": [{"type":
    "enum", "field": "input.output_format", "description": "..."}]}; a field of "" prints no prefix.
    """
    detail = "".join(f"- {name}: {text}\n" if name else f"- {text}\n" for _, name, text in errors)
    fields = [{"type": kind, "field": name, "description": text} for kind, name, text in errors]
    return _problem(422, "Input validation failed", detail, invalid_fields=fields)


class ReplicateStandin:
    """The running stand-in: its URLs, what it saw, its counters, and the knobs that script faults."""

    def __init__(self, token: str, video: bytes) -> None:
        self.token, self.video = token, video
        self.root = ""  # http://127.0.0.1:PORT (what replicate.Client(base_url=...) takes)
        self.url = ""  # root + "/v1" (like https://api.replicate.com/v1)
        self.lock = threading.RLock()
        self.models: dict[str, ModelConfig] = {}
        self.predictions: dict[str, Prediction] = {}
        self.files: dict[str, UploadedFile] = {}
        self.requests: list[Seen] = []
        self.created: list[Created] = []
        self.clock = 0.0  # seconds since EPOCH
        self.step_seconds = 1.0  # the clock moves this much per progress step
        self.output_ttl = 3600.0  # DOCS_HTTP predictions.get: outputs are removed after an hour
        # DOCS_CREATE: "the output field will contain all file outputs but status may still be in processing"
        # (CASSETTES test_models_predictions_create_blocking[*].yaml: a 201 with output and "processing")
        self.sync_early_output = True
        # counters
        self.create_attempts = 0  # every POST to a create route
        self.list_page_size = 100  # DOCS_HTTP predictions.list: "100 records per page"
        self.list_calls = 0
        self.creates = 0  # predictions made (lost answers included)
        self.polls: Counter[str] = Counter()  # GET /v1/predictions/{id}, per id, faults included
        self.cancels = 0
        self.downloads = 0  # GETs of output files, cut and expired ones included
        self.uploads = 0
        # scripted faults
        self._create_faults: list[Answer | Literal["lose"]] = []
        self._poll_faults: list[Answer] = []
        self._endings: list[str] = []  # errors the next predictions end with
        self._cuts = 0
        self._ids = 0
        self._secret = hashlib.sha256(token.encode() + b"files").digest()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # configuration
    def model(self, name: str, **config: Any) -> ModelConfig:
        """Configure (or re-configure) a model; unknown official models get the defaults when first run."""
        with self.lock:
            current = self.models.get(name) or ModelConfig(name)
            known = {f.name for f in fields(ModelConfig)} - {"name"}
            for key, value in config.items():
                if key not in known:
                    raise TypeError(f"ModelConfig has no {key!r}")
                setattr(current, key, value)
            self.models[name] = current
            return current

    def accept(self, name: str, check: Check) -> None:
        """Check a model's input at create: `check(input)` returns {field: message} (or (type, message)),
        and a non-empty answer refuses the create with a 422 in Replicate's validation shape."""
        self.model(name, check=check)

    # faults
    def throttle_creates(self, count: int, retry_after: int = 1) -> None:
        """The next `count` creates answer 429 with `Retry-After` (DOCS_RATE)."""
        with self.lock:
            self._create_faults += [_throttled(retry_after)] * count

    def fail_creates(self, count: int, status: int = 503, retry_after: int = 1) -> None:
        """The next `count` creates answer `status` (a 5xx; 429 as `throttle_creates`) and make nothing."""
        with self.lock:
            answer = _throttled(retry_after) if status == 429 else _server_error(status)
            self._create_faults += [answer] * count

    def lose_create_answers(self, count: int = 1) -> None:
        """The next `count` creates DO make a prediction, then the connection drops before the answer."""
        with self.lock:
            self._create_faults += ["lose"] * count

    def fail_polls(self, count: int, status: int = 503, retry_after: int = 1) -> None:
        """The next `count` GETs of a prediction answer `status` (429 with `Retry-After`), moving nothing."""
        with self.lock:
            answer = _throttled(retry_after) if status == 429 else _server_error(status)
            self._poll_faults += [answer] * count

    def fail_next_predictions(self, count: int = 1, error: str = "Prediction failed.") -> None:
        """The next `count` predictions made run their steps, then end `failed` with `error`."""
        with self.lock:
            self._endings += [error] * count

    def filter_next_predictions(self, count: int = 1, error: str = NSFW_ERROR) -> None:
        """The next `count` predictions are stopped by a content filter: `failed`, with its text."""
        self.fail_next_predictions(count, error)

    def fail(self, prediction_id: str, error: str) -> None:
        """End a running prediction now, `failed` with `error`."""
        with self.lock:
            prediction = self.predictions[prediction_id]
            if prediction.status not in TERMINAL:
                prediction.fail_with = error
                self._end(prediction)

    def cut_downloads(self, count: int = 1) -> None:
        """The next `count` downloads (outputs, signed file URLs) declare the whole Content-Length, send
        half of it and close the connection."""
        with self.lock:
            self._cuts += count

    def expire_output(self, prediction_id: str) -> None:
        """Remove a prediction's output now, as Replicate does about an hour after it ends."""
        with self.lock:
            self._remove_data(self.predictions[prediction_id])

    # the clock and progress
    def tick(self, seconds: float) -> None:
        """Let time pass (deadlines and output expiry follow the clock)."""
        with self.lock:
            self.clock += seconds
            for prediction in self.predictions.values():
                self._check_time(prediction)

    def advance(self, prediction_id: str, steps: int = 1) -> dict[str, Any]:
        """Move a prediction `steps` steps, as that many polls would, without counting polls."""
        with self.lock:
            prediction = self.predictions[prediction_id]
            for _ in range(steps):
                self._step(prediction)
            return self.render(prediction)

    def finish_all(self) -> None:
        """Run every unfinished prediction to its end."""
        with self.lock:
            for prediction in self.predictions.values():
                while prediction.status not in TERMINAL:
                    self._step(prediction)

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        """The prediction as GET /v1/predictions/{id} shows it now (no step, no poll counted)."""
        with self.lock:
            return self.render(self.predictions[prediction_id])

    def input_file(self, value: str) -> bytes:
        """The bytes an input field points at: a data URI, an uploaded file's `urls.get`, or an output URL."""
        with self.lock:
            if value.startswith("data:"):
                return decode_data_uri(value)[1]
            if value.startswith(f"{self.url}/files/"):
                return self.files[value.rsplit("/", 1)[1]].data
            path = value.removeprefix(self.root)
            for prediction in self.predictions.values():
                if path in prediction.output_files:
                    return prediction.output_files[path]
        raise KeyError(value)

    def download_url(self, file_id: str, expires_in: float = 3600.0) -> str:
        """A signed download URL of an uploaded file, as Replicate makes them (DOCS_HTTP files.download)."""
        expiry = int((EPOCH + timedelta(seconds=self.clock + expires_in)).timestamp())
        signature = quote(self._sign(file_id, expiry), safe="")
        return f"{self.url}/files/{file_id}/download?expiry={expiry}&owner={OWNER}&signature={signature}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReplicateStandin:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # the model of a prediction
    def _now(self, seconds: float | None = None) -> str | None:
        if seconds is None:
            return None
        return (EPOCH + timedelta(seconds=seconds)).isoformat(timespec="microseconds").replace("+00:00", "Z")

    def _new_id(self) -> str:
        # ids look like Replicate's: 26 lower-case base32 characters (CASSETTES: "hdwst0bb05rgp0cf0p29mzk2am")
        self._ids += 1
        digest = hashlib.sha256(f"{self.token}:{self._ids}".encode()).digest()
        return base64.b32encode(digest).decode().lower()[:26]

    def _make(self, model: ModelConfig, model_input: dict[str, Any], deadline: float | None) -> Prediction:
        prediction = Prediction(self._new_id(), model, model_input, self.clock)
        prediction.deadline = None if deadline is None else self.clock + deadline
        prediction.fail_with = self._endings.pop(0) if self._endings else None
        prediction.fail_with = prediction.fail_with or self._bad_data_uri(model_input)
        self.predictions[prediction.id] = prediction
        self.creates += 1
        self._apply(prediction)
        return prediction

    def _bad_data_uri(self, model_input: dict[str, Any]) -> str | None:
        # a data URI passes the schema's `format: uri` check and fails when the model reads it
        # (stand-in's own wording; Replicate's depends on the model)
        for name, value in model_input.items():
            if isinstance(value, str) and value.startswith("data:"):
                try:
                    decode_data_uri(value)
                except ValueError as error:
                    return f"input.{name}: {error}"
        return None

    def _step(self, prediction: Prediction) -> None:
        if prediction.early_output:
            self._settle(prediction)
            return
        if prediction.status in TERMINAL:
            return
        prediction.tick += 1
        self.clock += self.step_seconds
        if not self._check_time(prediction):
            self._apply(prediction)

    def _apply(self, prediction: Prediction) -> None:
        """Set the status, logs and output a prediction shows at its tick."""
        model, tick = prediction.model, prediction.tick
        if tick < model.starting_polls:
            prediction.status = "starting"
            return
        if prediction.started_at is None:
            prediction.started_at = self.clock
            prediction.logs.append("Using seed: 42")
        done = tick - model.starting_polls
        if done < model.steps:
            prediction.status = "processing"
            progress = model.iterations * done // model.steps
            prediction.logs.append(self._progress(prediction, progress))
            return
        self._end(prediction)

    def _settle(self, prediction: Prediction) -> None:
        """A sync answer showed the output while `processing`; now the status says so too."""
        prediction.status, prediction.completed_at, prediction.early_output = "succeeded", self.clock, False

    def _progress(self, prediction: Prediction, done: int) -> str:
        elapsed = self.clock - (prediction.started_at or self.clock)
        rate = done / elapsed if elapsed else 0.0
        return tqdm_line(done, prediction.model.iterations, elapsed, rate)

    def _end(self, prediction: Prediction) -> None:
        if prediction.started_at is None:
            prediction.started_at = self.clock
        if prediction.fail_with:
            prediction.status, prediction.error, prediction.output = "failed", prediction.fail_with, None
        else:
            prediction.logs.append(self._progress(prediction, prediction.model.iterations))
            prediction.status, prediction.output = "succeeded", self._outputs(prediction)
        prediction.completed_at = self.clock
        prediction.early_output = False

    def _outputs(self, prediction: Prediction) -> str | list[str]:
        model = prediction.model
        data = model.data if model.data is not None else self.video
        names = ["output"] if model.output == "url" else [f"out-{index}" for index in range(model.outputs)]
        urls = []
        for name in names:
            # outputs are served like replicate.delivery: a path of their own, no auth
            path = f"/delivery/{prediction.id}/{name}{model.extension}"
            prediction.output_files[path] = data
            urls.append(self.root + path)
        return urls[0] if model.output == "url" else urls

    def _check_time(self, prediction: Prediction) -> bool:
        """Apply a passed deadline or output expiry; True when the prediction just ended by its deadline."""
        if prediction.status in TERMINAL:
            if (
                prediction.completed_at is not None
                and self.clock >= prediction.completed_at + self.output_ttl
            ):
                self._remove_data(prediction)
            return False
        if prediction.early_output or prediction.deadline is None or self.clock < prediction.deadline:
            return False
        # DOCS_LIFECYCLE: past its deadline a prediction is `aborted` if it never started (not billed),
        # `canceled` if it had started
        prediction.status = "aborted" if prediction.status == "starting" else "canceled"
        prediction.completed_at, prediction.output, prediction.early_output = self.clock, None, False
        return True

    def _remove_data(self, prediction: Prediction) -> None:
        # DOCS_HTTP predictions.get: "The output key will still be present, but its value will be null after
        # the output has been removed"; `data_removed` is then true; the files are gone
        prediction.output, prediction.data_removed = None, True
        prediction.output_files.clear()

    def render(self, prediction: Prediction, *, created: bool = False) -> dict[str, Any]:
        """The prediction object. A create answers the keys CASSETTES show for an unfinished prediction
        (no started_at/completed_at/metrics, even when a sync answer says `processing`); GET shows every
        key, null until set."""
        body: dict[str, Any] = {
            "id": prediction.id,
            "model": prediction.model.name,
            "version": prediction.model.version,
            "input": prediction.input,
            "logs": "\n".join(prediction.logs) + ("\n" if prediction.logs else ""),
            "output": prediction.output,
            "data_removed": prediction.data_removed,
            "error": prediction.error,
            "status": prediction.status,
            "created_at": self._now(prediction.created_at),
            "started_at": self._now(prediction.started_at),
            "completed_at": self._now(prediction.completed_at),
            "metrics": self._metrics(prediction),
            "urls": self._urls(prediction),
        }
        if prediction.deadline is not None:
            body["deadline"] = self._now(prediction.deadline)
        if created and prediction.status not in TERMINAL:
            for key in ("started_at", "completed_at", "metrics"):
                del body[key]
        return body

    def _metrics(self, prediction: Prediction) -> dict[str, float] | None:
        if prediction.completed_at is None:
            return None
        if prediction.started_at is None:
            return {}
        # CASSETTES: {"predict_time": 0.128148, "total_time": 0.175128}
        return {
            "predict_time": round(prediction.completed_at - prediction.started_at, 6),
            "total_time": round(prediction.completed_at - prediction.created_at, 6),
        }

    def _urls(self, prediction: Prediction) -> dict[str, str]:
        # DOCS_HTTP types/prediction.py: urls.get, urls.cancel, urls.web, and urls.stream when it streams
        urls = {
            "cancel": f"{self.url}/predictions/{prediction.id}/cancel",
            "get": f"{self.url}/predictions/{prediction.id}",
            "web": f"https://replicate.com/p/{prediction.id}",
        }
        if prediction.model.stream:
            urls["stream"] = f"{self.root}/stream/{prediction.id}"
        return urls

    def _sign(self, file_id: str, expiry: int) -> str:
        # DOCS_HTTP files.download: "a base64-encoded HMAC-SHA256 checksum of the string
        # '{owner} {id} {expiry}'"
        digest = hmac.new(self._secret, f"{OWNER} {file_id} {expiry}".encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    # routes
    def answer(self, seen: Seen) -> Answer:
        with self.lock:
            self.requests.append(seen)
            path = seen.path
            if path.startswith("/delivery/"):
                return self._download(seen)
            if not path.startswith("/v1/"):
                return _not_found()
            download = re.fullmatch(r"/v1/files/([^/]+)/download", path)
            if download and seen.method in ("GET", "HEAD"):
                return self._file_download(download.group(1), seen)
            refused = self._authenticate(seen)
            if refused:
                return refused
            answer = self._route(seen)
            if answer.status < 300:
                # CASSETTES: every answer carries the rate-limit budget
                creating = seen.method == "POST" and path.endswith("/predictions")
                answer.headers.update(
                    {"ratelimit-remaining": "599" if creating else "2999", "ratelimit-reset": "1"}
                )
            return answer

    def _authenticate(self, seen: Seen) -> Answer | None:
        # CASSETTES run__invalid-token.yaml and github:replicate/replicate-python#47: missing and wrong
        # tokens answer 401 problems. Replicate takes `Bearer <token>` and the older `Token <token>`
        # (DOCS_HTTP's curl examples use both)
        header = seen.headers.get("authorization", "")
        if not header:
            return _problem(401, "Unauthenticated", "You did not pass an authentication token")
        scheme, _, given = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not hmac.compare_digest(given.strip(), self.token):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        return None

    def _route(self, seen: Seen) -> Answer:
        method, path = seen.method, seen.path
        if method == "GET" and path == "/v1/account":
            # https://replicate.com/docs/reference/http#account.get: who the token belongs to
            return _json(200, {"type": "user", "username": OWNER, "name": "Stand-in", "github_url": None})
        official = re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", path)
        if method == "POST" and official:
            return self._create(seen, f"{official.group(1)}/{official.group(2)}")
        if method == "POST" and path == "/v1/predictions":
            return self._create(seen, None)
        if method == "GET" and path == "/v1/predictions":
            return self._list(seen.query.get("cursor", [""])[0])
        one = re.fullmatch(r"/v1/predictions/([^/]+)", path)
        if method == "GET" and one:
            return self._poll(one.group(1))
        cancel = re.fullmatch(r"/v1/predictions/([^/]+)/cancel", path)
        if method == "POST" and cancel:
            return self._cancel(cancel.group(1))
        if path == "/v1/files":
            if method == "POST":
                return self._upload(seen)
            if method == "GET":
                # CASSETTES file-operations.yaml: a page, most recent first
                files = sorted((f for f in self.files.values() if not f.deleted), key=lambda f: -f.created_at)
                return _json(200, {"next": None, "previous": None, "results": [self._file(f) for f in files]})
        one_file = re.fullmatch(r"/v1/files/([^/]+)", path)
        if one_file:
            stored = self.files.get(one_file.group(1))
            if not stored or stored.deleted:
                return _not_found()
            if method == "GET":
                # CASSETTES file-operations.yaml: GET of `urls.get` answers the file object, not its bytes
                return _json(200, self._file(stored))
            if method == "DELETE":
                stored.deleted = True  # CASSETTES file-operations.yaml: 204, then the file is gone
                return Answer(204)
        return _not_found()

    def _create(self, seen: Seen, official: str | None) -> Answer:
        self.create_attempts += 1
        if self._create_faults and isinstance(self._create_faults[0], Answer):
            return self._create_faults.pop(0)  # type: ignore[return-value]
        try:
            body = seen.json()
        except ValueError:
            return _problem(400, "Bad request", "The request body is not valid JSON.")  # stand-in's own
        if not isinstance(body, dict):
            return _invalid(
                [("invalid_type", "", f"Invalid type. Expected: object, given: {_json_type(body)}")]
            )
        # DOCS_VALIDATION: unknown top-level properties and a missing input (or version) are refused
        allowed = CREATE_FIELDS | ({"version"} if official is None else set())
        errors = [("required", "", f"{name} is required") for name in ("version", "input") if name in allowed]
        errors = [error for error in errors if error[2].split()[0] not in body]
        errors += [
            ("additional_property_not_allowed", "", f"Additional property {name} is not allowed")
            for name in body
            if name not in allowed
        ]
        if not errors and not isinstance(body["input"], dict):
            given = _json_type(body["input"])
            errors.append(("invalid_type", "input", f"Invalid type. Expected: object, given: {given}"))
        if errors:
            return _invalid(errors)
        model = self._resolve(official or str(body["version"]), by_version=official is None)
        if model is None:
            # github:replicate/replicate-python#47: the answer to an unknown version
            return _problem(
                422,
                "Invalid version or not permitted",
                "The specified version does not exist (or perhaps you don't have permission to use it?)",
            )
        refusals = model.check(body["input"]) if model.check else {}
        if refusals:
            return _invalid([self._refusal(name, reason) for name, reason in refusals.items()])
        deadline = None
        if "cancel-after" in seen.headers:
            try:
                deadline = parse_duration(seen.headers["cancel-after"])
            except ValueError as error:
                return _problem(400, "Invalid Cancel-After header", str(error))  # stand-in's own
        prediction = self._make(model, body["input"], deadline)
        self.created.append(Created(seen.path, body, dict(seen.headers), prediction.id))
        if self._create_faults:  # a lost answer: only a create that made a prediction uses it up
            self._create_faults.pop(0)
            return Answer(0, drop=True)
        headers: dict[str, str] = {}
        prefer = seen.headers.get("prefer", "").strip()
        if prefer and PREFER_WAIT.match(prefer):
            self._wait(prediction, int(prefer.partition("=")[2] or 60))
            headers["Preference-Applied"] = prefer  # CASSETTES: echoed, e.g. "wait=10" or "wait"
        # DOCS_HTTP: 201 "Prediction has been created"; a sync answer is 201 too, done or not (CASSETTES)
        return _json(201, self.render(prediction, created=True), headers)

    def _list(self, cursor: str) -> Answer:
        """DOCS_HTTP predictions.list: "a paginated list of all predictions created by the user or
        organization ... 100 records per page", most recent first, `next` the URL of the next page
        (CASSETTES: `{"next", "previous", "results"}`); the cursor is opaque (here: an offset)."""
        newest = sorted(self.predictions.values(), key=lambda p: (-p.created_at, p.id))
        start = int(cursor) if cursor.isdecimal() else 0
        page = newest[start : start + self.list_page_size]
        after = start + len(page)
        next_url = f"{self.url}/predictions?cursor={after}" if after < len(newest) else None
        self.list_calls += 1
        return _json(200, {"next": next_url, "previous": None, "results": [self.render(p) for p in page]})

    def _resolve(self, ref: str, *, by_version: bool) -> ModelConfig | None:
        if not by_version:
            return self.models.get(ref) or self.model(ref)
        # DOCS_ONE_ROUTE: a version is "{owner}/{name}" (official), "{owner}/{name}:{id}" or a bare "{id}"
        name, colon, version_id = ref.partition(":")
        if not colon and "/" in ref:
            known = self.models.get(ref) or self.model(ref)
            return known if known.version_id is None else None  # a community model needs its version
        version_id = version_id if colon else ref
        for model in self.models.values():
            if model.version_id == version_id and (not colon or model.name == name):
                return model
        return None

    def _refusal(self, name: str, reason: str | tuple[str, str]) -> tuple[str, str, str]:
        kind, text = reason if isinstance(reason, tuple) else ("invalid", reason)
        # a missing field is reported on "input" ("- input: prompt is required"), others on "input.<field>"
        return (kind, "input" if kind == "required" else f"input.{name}", text)

    def _wait(self, prediction: Prediction, seconds: int) -> None:
        """Sync mode (DOCS_CREATE): hold the answer until the prediction ends or `seconds` pass."""
        waited = 0.0
        while prediction.status not in TERMINAL and waited + self.step_seconds <= seconds:
            self._step(prediction)
            waited += self.step_seconds
        if prediction.status == "succeeded" and self.sync_early_output:
            # the files are out, the status still says processing; the next GET says succeeded
            prediction.status, prediction.completed_at, prediction.early_output = "processing", None, True

    def _poll(self, prediction_id: str) -> Answer:
        self.polls[prediction_id] += 1
        if self._poll_faults:
            return self._poll_faults.pop(0)
        prediction = self.predictions.get(prediction_id)
        if prediction is None:
            return _not_found()
        self._step(prediction)
        self._check_time(prediction)
        return _json(200, self.render(prediction))

    def _cancel(self, prediction_id: str) -> Answer:
        prediction = self.predictions.get(prediction_id)
        if prediction is None:
            return _not_found()
        self.cancels += 1
        if prediction.early_output:
            self._settle(prediction)  # it had finished already
        if prediction.status not in TERMINAL:
            # CASSETTES predictions-cancel.yaml: 200 with the whole prediction, `canceled`, output null
            prediction.status, prediction.output, prediction.completed_at = "canceled", None, self.clock
        # an ended prediction is answered as it is (stand-in's choice; not documented)
        return _json(200, self.render(prediction))

    def _download(self, seen: Seen) -> Answer:
        self.downloads += 1
        data = None
        for prediction in self.predictions.values():
            self._check_time(prediction)
            data = prediction.output_files.get(seen.path, data)
        if data is None:
            return Answer(404, b"Not Found", {"Content-Type": "text/plain"})  # stand-in's own text
        return self._bytes(data, seen, self._content_type(seen.path))

    def _content_type(self, path: str) -> str:
        for model in self.models.values():
            if path.endswith(model.extension):
                return model.content_type
        return "application/octet-stream"

    def _bytes(self, data: bytes, seen: Seen, content_type: str) -> Answer:
        headers = {"Content-Type": content_type, "Accept-Ranges": "bytes"}
        status, start, end = 200, 0, len(data)
        ranged = re.fullmatch(r"bytes=(\d*)-(\d*)", seen.headers.get("range", "").strip())
        if ranged and (ranged.group(1) or ranged.group(2)):
            if ranged.group(1):
                start = int(ranged.group(1))
                end = min(len(data), int(ranged.group(2)) + 1) if ranged.group(2) else len(data)
            else:
                start = max(0, len(data) - int(ranged.group(2)))
            if start >= len(data):
                return Answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        body = data[start:end] if seen.method != "HEAD" else b""
        headers["Content-Length"] = str(end - start)
        cut = self._cuts > 0 and seen.method != "HEAD"
        if cut:
            self._cuts -= 1
        return Answer(status, body, headers, cut=cut)

    def _upload(self, seen: Seen) -> Answer:
        """POST /v1/files: multipart, a `content` file part, optional `metadata` (JSON), `filename`, `type`.

        CLIENT file.py sends files={"content": (filename, file, content_type)} and data={"metadata": json};
        DOCS_HTTP files.create documents `content` (required), `type`, `filename`, `metadata`.
        """
        parts = _multipart(seen.headers.get("content-type", ""), seen.body)
        content = parts.get("content")
        if content is None or content[1] is None:
            return _invalid([("required", "", "content is required")])
        data, filename, part_type = content
        name = filename or _text(parts.get("filename")) or "file"
        content_type = part_type or _text(parts.get("type")) or "application/octet-stream"
        try:
            metadata = json.loads(_text(parts.get("metadata")) or "{}")
        except ValueError:
            return _invalid([("invalid_type", "metadata", "metadata must be valid JSON")])
        self.uploads += 1
        stored = UploadedFile(self._new_id(), name, content_type, data, metadata, self.clock)
        self.files[stored.id] = stored
        return _json(201, self._file(stored))

    def _file(self, stored: UploadedFile) -> dict[str, Any]:
        # CASSETTES file-operations.yaml: the file object, expiring a day after it was made
        return {
            "id": stored.id,
            "name": stored.name,
            "content_type": stored.content_type,
            "size": len(stored.data),
            "etag": hashlib.md5(stored.data).hexdigest(),
            "checksums": {
                "sha256": hashlib.sha256(stored.data).hexdigest(),
                "md5": hashlib.md5(stored.data).hexdigest(),
            },
            "metadata": stored.metadata,
            "created_at": self._now(stored.created_at),
            "expires_at": self._now(stored.created_at + 86400),
            "urls": {"get": f"{self.url}/files/{stored.id}"},
        }

    def _file_download(self, file_id: str, seen: Seen) -> Answer:
        # DOCS_HTTP files.download: no token; owner, expiry and signature in the query
        stored = self.files.get(file_id)
        if not stored or stored.deleted:
            return _not_found()
        query = {key: values[0] for key, values in seen.query.items()}
        try:
            expiry = int(query["expiry"])
            valid = query.get("owner") == OWNER and hmac.compare_digest(
                query["signature"], self._sign(file_id, expiry)
            )
        except (KeyError, ValueError):
            valid = False
        now = int((EPOCH + timedelta(seconds=self.clock)).timestamp())
        if not valid or expiry < now:
            return _problem(403, "Forbidden", "The download URL is invalid or has expired.")  # stand-in's own
        return self._bytes(stored.data, seen, stored.content_type)


def _json_type(value: Any) -> str:
    """The JSON Schema name of a value's type, as the validation messages print it."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else "boolean"
    names = {str: "string", int: "integer", float: "number", list: "array", dict: "object"}
    return names.get(type(value), "unknown")


def _text(part: tuple[bytes, str | None, str | None] | None) -> str | None:
    return part[0].decode() if part else None


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None, str | None]]:
    """Form fields by name (RFC 7578): (bytes, filename, the part's own Content-Type or None)."""
    kind, _, params = content_type.partition(";")
    boundary = re.search(r'boundary="?([^";]+)"?', params)
    if kind.strip().lower() != "multipart/form-data" or not boundary:
        return {}
    found: dict[str, tuple[bytes, str | None, str | None]] = {}
    for chunk in body.split(b"--" + boundary.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        field_name = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if field_name:
            own_type = headers.get("content-type")
            found[field_name.group(1)] = (
                data.removesuffix(b"\r\n"),
                filename.group(1) if filename else None,
                own_type.split(";")[0].strip() if own_type else None,
            )
    return found


def _handler(standin: ReplicateStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = standin.answer(Seen(self.command, parts.path, parse_qs(parts.query), headers, body))
            self.close_connection = True
            if answer.drop:
                return  # the prediction exists; the client sees the connection close with no answer
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if "Content-Length" not in answer.headers:
                self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(answer.body[: len(answer.body) // 2] if answer.cut else answer.body)
                self.wfile.flush()

        do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def start_replicate(token: str = "r8_test", *, video: bytes | None = None) -> ReplicateStandin:
    """Start the stand-in on a free loopback port in a background thread; `.stop()` ends it."""
    if video is None:
        from tests.media import mp4_bytes

        video = mp4_bytes()
    standin = ReplicateStandin(token, video)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    server.daemon_threads = True
    standin._server = server
    standin.root = f"http://127.0.0.1:{server.server_address[1]}"
    standin.url = standin.root + "/v1"
    standin._thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    standin._thread.start()
    return standin


@contextlib.contextmanager
def running_replicate(token: str = "r8_test", *, video: bytes | None = None) -> Iterator[ReplicateStandin]:
    """`start_replicate` as a context manager (for fixtures)."""
    standin = start_replicate(token, video=video)
    try:
        yield standin
    finally:
        standin.stop()
