"""Start the embedded server: in a background thread on a free loopback port, or in the foreground."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from mimio_core.catalogue import ModelSpec
from mimio_core.config import ConfigError
from mimio_core.local_server.app import create_app
from mimio_core.local_server.faults import Faults
from mimio_core.local_server.service import LocalVideoService

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    """An embedded server running in this process; `stop()` ends it and its renders."""

    url: str
    service: LocalVideoService
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.service.close()


def bind_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only then, and without it every second request on a
    # kept-alive connection waits ~40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume it is reachable from elsewhere
        return False


def _uvicorn(
    service: LocalVideoService,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    cors_origins: Sequence[str] | None = None,
) -> uvicorn.Server:
    """The `/_admin` fault routes and the `Host` check exist only when the server listens on
    loopback alone."""
    app = create_app(service, loopback=_is_loopback(host), api_key=api_key, cors_origins=cors_origins)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def start_in_thread(
    work_dir: Path,
    *,
    latency: float = 0.0,
    render_slots: int = 1,
    port: int = 0,
    faults: Faults | None = None,
    api_key: str | None = None,
    models: Mapping[str, ModelSpec] | None = None,
) -> RunningServer:
    """Serve on 127.0.0.1 (port 0: any free one) and return once `/health` answers. `api_key`: every
    route but `/health` demands it as a bearer token (None: open). `models`: what it renders (None:
    the catalogue's local models)."""
    service = LocalVideoService(
        work_dir, latency=latency, render_slots=render_slots, faults=faults, models=models
    )
    sock = bind_socket("127.0.0.1", port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _uvicorn(service, api_key=api_key)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="mimio-local-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).is_success:
                log.info("embedded video server at %s (work folder %s)", url, work_dir)
                return RunningServer(url=url, service=service, _server=server, _thread=thread)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server.should_exit = True
    service.close()
    raise RuntimeError(f"the embedded video server did not start at {url}")


def serve_forever(
    work_dir: Path,
    *,
    host: str,
    port: int,
    latency: float,
    render_slots: int,
    models: Mapping[str, ModelSpec],
    api_key: str | None = None,
    cors_origins: Sequence[str] | None = None,
) -> None:
    """Run in the foreground until interrupted (`python -m mimio_core serve-local`). Refuses, before
    touching anything, to listen beyond loopback without an API key: anyone on the network could
    make videos, and read and delete everyone's."""
    if not _is_loopback(host) and api_key is None:
        raise ConfigError(
            f"serve-local would listen on {host}, reachable from other machines, without an API key. "
            "Set MIMIO_LOCAL_API_KEY (clients then send 'Authorization: Bearer <key>'), or listen on "
            "loopback alone with --host 127.0.0.1."
        )
    service = LocalVideoService(work_dir, latency=latency, render_slots=render_slots, models=models)
    try:
        _uvicorn(service, host, port, api_key, cors_origins).run()
    finally:
        service.close()
