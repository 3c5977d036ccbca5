"""Assembles the pieces the configuration asks for: store, file storage, provider, engine.

The CLI and the dashboard both start from `open_runtime`, so they behave the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mimio_core.catalogue import CatalogueError, ModelSpec, load_catalogue, models_for
from mimio_core.config import Settings
from mimio_core.engine import Engine
from mimio_core.local_server.runner import RunningServer, start_in_thread
from mimio_core.providers.base import VideoProvider
from mimio_core.providers.mimio import MimioProvider
from mimio_core.providers.openai import OpenAIProvider
from mimio_core.store.base import FileStorage, VideoStore
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore
from mimio_core.supabase_project import SupabaseProject

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    catalogue: Mapping[str, ModelSpec]  # every known model (labels for old records)
    models: Mapping[str, ModelSpec]  # the ones the active provider offers
    store: VideoStore
    files: FileStorage
    provider: VideoProvider
    engine: Engine
    embedded_server: RunningServer | None
    supabase: SupabaseProject | None = None  # None: SQLite, local files and the one local user

    @property
    def provider_description(self) -> str:
        if self.embedded_server:
            return f"{self.provider.label} (embedded, offline)"
        url = httpx.URL(self.provider.base_url)  # never show credentials written into the URL
        return f"{self.provider.label} ({url.copy_with(username=None, password=None)})"

    @property
    def storage_description(self) -> str:
        if self.supabase is not None:
            return f"Supabase ({self.supabase.host})"
        return f"SQLite and local files in {self.settings.data_dir}"

    def close(self) -> None:
        self.engine.stop()
        self.provider.close()
        if self.embedded_server is not None:
            self.embedded_server.stop()
        self.store.close()
        if self.supabase is not None:
            self.supabase.close()


def open_storage(settings: Settings, supabase: SupabaseProject | None) -> tuple[VideoStore, FileStorage]:
    """The engine's record store and file storage: Supabase's when configured, else SQLite and files."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the engine's scratch space, in any case
    if supabase is not None:
        return supabase.engine_storage()
    return SQLiteStore(settings.data_dir / "mimio.sqlite3"), LocalFileStorage(settings.data_dir / "files")


def open_provider(
    settings: Settings, models: Mapping[str, ModelSpec]
) -> tuple[VideoProvider, RunningServer | None]:
    """The configured provider; the embedded server is started when no remote one is configured."""
    options: dict[str, Any] = {
        "timeout": settings.http_timeout,
        "private_redirects": settings.private_redirects,
    }
    if settings.provider == "mimio":
        assert settings.api_url is not None  # load_settings refuses mimio without a URL
        return MimioProvider(settings.api_url, **options), None
    if settings.provider == "openai" and settings.openai_base_url:
        return OpenAIProvider(settings.openai_base_url, api_key=settings.openai_api_key, **options), None
    server = start_in_thread(
        settings.data_dir / "local-server",
        latency=settings.local_latency,
        render_slots=settings.local_render_slots,
        models=models,
    )
    if settings.provider == "openai":  # no gateway configured: the embedded server's own /v1
        label = "Embedded video server, OpenAI-compatible API"
        return OpenAIProvider(f"{server.url}/v1", label=label, **options), server
    return MimioProvider(server.url, label="Embedded video server", **options), server


def open_runtime(settings: Settings, *, start_engine: bool = True) -> Runtime:
    """Load the catalogue, open storage, connect (or start) the provider, and start the engine, which
    resumes unfinished work."""
    catalogue = load_catalogue(settings.catalogue_file)
    models = models_for(catalogue, settings.provider)
    if not models:
        raise CatalogueError(f"No model in the catalogue is offered by the {settings.provider!r} provider.")
    supabase = SupabaseProject(settings.supabase, settings.http_timeout) if settings.supabase else None
    store, files = open_storage(settings, supabase)
    provider, server = open_provider(settings, models)
    engine = Engine(store, files, provider, settings)
    if start_engine:
        engine.start()
    return Runtime(settings, catalogue, models, store, files, provider, engine, server, supabase)
