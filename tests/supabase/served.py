"""PostgRESTHarness (fake Auth included) served over real HTTP on loopback, so a whole app (AppTest,
or a browser in the end-to-end test) can use it as its SUPABASE_URL: signed URLs it hands out then
work for a browser's video player too."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import uvicorn

from mimio_core.local_server.runner import bind_socket
from tests.supabase.harness import PostgRESTHarness

DROPPED = {b"content-length", b"transfer-encoding", b"connection"}


def asgi_app(harness: PostgRESTHarness) -> Any:
    """Each HTTP request handed to the harness as the httpx.Request a client would have sent."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        host = dict(scope["headers"]).get(b"host", b"127.0.0.1").decode()
        url = f"http://{host}{scope['path']}" + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        request = httpx.Request(scope["method"], url, headers=scope["headers"], content=body)

        def answer() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = harness.handle(request)
            content = response.read()
            headers = [(k, v) for k, v in response.headers.raw if k.lower() not in DROPPED]
            return response.status_code, [*headers, (b"content-length", str(len(content)).encode())], content

        status, headers, content = await anyio.to_thread.run_sync(answer)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    return app


@dataclass
class ServedHarness:
    url: str
    _server: uvicorn.Server
    _thread: threading.Thread

    @classmethod
    def start(cls, harness: PostgRESTHarness) -> ServedHarness:
        sock = bind_socket("127.0.0.1", 0)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(asgi_app(harness), log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the served harness did not start at {url}")
            time.sleep(0.02)
        return cls(url, server, thread)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
