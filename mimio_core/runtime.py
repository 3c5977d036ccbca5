"""Assembles the pieces the configuration asks for: store, file storage, provider, engine.

The CLI and the dashboard both start from `open_runtime`, so they behave the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mimio_core.catalogue import EMBEDDED_MODELS, REMOTE_MIMIO_MODELS
from mimio_core.config import Settings
from mimio_core.engine import Engine
from mimio_core.local_server.runner import RunningServer, start_in_thread
from mimio_core.providers.base import VideoProvider
from mimio_core.providers.mimio import MimioProvider
from mimio_core.store.base import FileStorage, VideoStore
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: VideoStore
    files: FileStorage
    provider: VideoProvider
    engine: Engine
    embedded_server: RunningServer | None

    @property
    def provider_description(self) -> str:
        where = "embedded, offline" if self.embedded_server else self.settings.api_url
        return f"{self.provider.label} ({where})"

    @property
    def storage_description(self) -> str:
        return f"SQLite and local files in {self.settings.data_dir}"

    def close(self) -> None:
        self.engine.stop()
        self.provider.close()
        if self.embedded_server is not None:
            self.embedded_server.stop()
        self.store.close()


def open_storage(settings: Settings) -> tuple[VideoStore, FileStorage]:
    """The record store and file storage the configuration asks for."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(settings.data_dir / "mimio.sqlite3"), LocalFileStorage(settings.data_dir / "files")


def open_runtime(settings: Settings, *, start_engine: bool = True) -> Runtime:
    """Open storage, connect (or start) the provider, and start the engine, which resumes unfinished work."""
    store, files = open_storage(settings)
    server = None
    if settings.api_url:
        provider = MimioProvider(settings.api_url, REMOTE_MIMIO_MODELS, timeout=settings.http_timeout)
    else:
        server = start_in_thread(
            settings.data_dir / "local-server",
            latency=settings.local_latency,
            render_slots=settings.local_render_slots,
        )
        provider = MimioProvider(
            server.url, EMBEDDED_MODELS, timeout=settings.http_timeout, label="Embedded video server"
        )
    engine = Engine(store, files, provider, settings)
    if start_engine:
        engine.start()
    return Runtime(settings, store, files, provider, engine, server)
