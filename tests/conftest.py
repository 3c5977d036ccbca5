"""Shared fixtures: settings in a temporary data directory, the embedded server, an engine."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mimio_core.config import Settings, load_settings
from mimio_core.domain import TrackedVideo, UserRequest
from mimio_core.engine import Engine
from mimio_core.local_server.runner import RunningServer, start_in_thread
from mimio_core.providers.base import VideoProvider
from mimio_core.providers.mimio import MimioProvider
from mimio_core.providers.openai import OpenAIProvider
from mimio_core.providers.retry import RetryPolicy
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore

REQUIRE_SERVICES = os.environ.get("MIMIO_REQUIRE_SERVICES") == "1"


def require_service(available: bool, reason: str) -> None:
    """Skip a test whose service is missing, or fail it when CI demands every service (no silent skips)."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"MIMIO_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


FAST_RETRIES = RetryPolicy(attempts=5, base_delay=0.05, max_delay=0.5)


class TurnedClock:
    """A clock a test turns by hand: leases run out and timeouts pass without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def turn(self, seconds: float) -> None:
        self.now += seconds


def carry_out(
    engine: Engine, video_id: str, user_id: str, request: UserRequest, within: float = 30
) -> TrackedVideo | None:
    """Ask for `request` as the video's owner and wait until the engine has carried it out (a stopped
    engine is ticked): the record then, None once deleted."""
    engine.ask(video_id, user_id, request)
    deadline = time.monotonic() + within
    while True:
        if engine._loop is None or not engine._loop.is_alive():  # not running: the test drives it
            engine.tick()
        video = engine.store.get_video(video_id)
        if video is None or video.requested is None:
            return video
        assert time.monotonic() < deadline, f"{request} of {video_id} not carried out: {video}"
        time.sleep(0.05)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}).replace(
        data_dir=tmp_path / "data", poll_interval=0.2, timeout=60, lease_seconds=5, concurrency=3
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_in_thread(tmp_path / "server", render_slots=2)
    yield running
    running.stop()


class Harness:
    """An engine over real SQLite, local files and the embedded server over loopback HTTP."""

    def __init__(self, settings: Settings, server: RunningServer) -> None:
        self.settings, self.server = settings, server
        self.engines: list[Engine] = []

    def engine(
        self,
        api: str = "mimio",
        api_key: str | None = None,
        clock: Callable[[], float] = time.time,
        **changes: object,
    ) -> Engine:
        """An engine speaking the Mimio API, or (`api="openai"`) the server's OpenAI-compatible /v1;
        `clock` is its store's (and so its leases' and timeouts')."""
        settings = self.settings.replace(**changes) if changes else self.settings
        provider: VideoProvider = (
            OpenAIProvider(f"{self.server.url}/v1", api_key=api_key, policy=FAST_RETRIES)
            if api == "openai"
            else MimioProvider(self.server.url, policy=FAST_RETRIES)
        )
        engine = Engine(
            SQLiteStore(settings.data_dir / "mimio.sqlite3", clock),
            LocalFileStorage(settings.data_dir / "files"),
            provider,
            settings,
            transfer_policy=FAST_RETRIES,
            create_backoff=FAST_RETRIES,
        )
        self.engines.append(engine)
        return engine

    def faults(self, **spec: object) -> None:
        httpx.post(f"{self.server.url}/_admin/faults", json=spec).raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(f"{self.server.url}/_admin/faults").raise_for_status()

    def stats(self) -> dict[str, dict[str, int]]:
        return httpx.get(f"{self.server.url}/_admin/stats").json()

    def close(self) -> None:
        for engine in self.engines:
            engine.stop()
            engine.provider.close()
            engine.store.close()


@pytest.fixture
def harness(settings: Settings, server: RunningServer) -> Iterator[Harness]:
    h = Harness(settings, server)
    yield h
    h.close()
