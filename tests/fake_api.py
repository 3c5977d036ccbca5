"""A scripted HTTP server on loopback, for provider adapter tests: replies per (method, path)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

PIECE = 64 * 1024


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None  # a Content-Length larger than the body: the connection drops
    delay: float = 0.0  # seconds before answering
    pace: float = 0.0  # seconds between 64 KiB pieces of the body: a client that stops reading is seen


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    sent: int = 0  # bytes of the reply's body the server managed to send before the client hung up

    def json(self) -> Any:
        return json.loads(self.body)


class FakeApi:
    """Replies scripted per (method, path): a list is used up in order, a function answers every call."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply] | Callable[[Seen], Reply]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.url = ""

    def script(self, method: str, path: str, *replies: Reply | Callable[[Seen], Reply]) -> None:
        if len(replies) == 1 and callable(replies[0]):
            self.routes[(method, path)] = replies[0]
        else:
            self.routes[(method, path)] = list(replies)  # type: ignore[arg-type]

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    def answer(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            route = self.routes.get((seen.method, seen.path))
            if callable(route):
                return route(seen)
            if route:
                return route.pop(0)
        return Reply(599, {"detail": f"unscripted {seen.method} {seen.path}"})


def handler_for(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = Seen(self.command, parts.path, parse_qs(parts.query), headers, body)
            reply = api.answer(seen)
            time.sleep(reply.delay)
            payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            if not isinstance(reply.body, bytes):
                self.send_header("Content-Type", "application/json")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(reply.declared_length or len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for start in range(0, len(payload), PIECE):
                    self.wfile.write(payload[start : start + PIECE])
                    self.wfile.flush()
                    seen.sent += len(payload[start : start + PIECE])
                    time.sleep(reply.pace)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: `seen.sent` says how far it got

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def sleeps() -> list[float]:
    return []
