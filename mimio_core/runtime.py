"""Assembles the pieces the configuration asks for: store, file storage, provider, engine.

The CLI and the dashboard both start from `open_runtime`, so they behave the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import httpx

from mimio_core.catalogue import CatalogueError, ModelSpec, ProviderKind, load_catalogue, route_models
from mimio_core.config import Settings
from mimio_core.engine import Engine
from mimio_core.local_server.runner import RunningServer, start_in_thread
from mimio_core.providers.base import VideoProvider
from mimio_core.providers.fal import FalProvider
from mimio_core.providers.mimio import MimioProvider
from mimio_core.providers.openai import OpenAIProvider
from mimio_core.providers.replicate import ReplicateProvider
from mimio_core.providers.router import ProviderRouter
from mimio_core.store.base import FileStorage, VideoStore
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore
from mimio_core.supabase_project import SupabaseProject

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    catalogue: Mapping[str, ModelSpec]  # every known model (labels for old records)
    models: Mapping[str, ModelSpec]  # the ones the active providers offer, the default provider's first
    store: VideoStore
    files: FileStorage
    provider: ProviderRouter  # every active provider; each model goes to the one serving it
    engine: Engine
    embedded_server: RunningServer | None
    supabase: SupabaseProject | None = None  # None: SQLite, local files and the one local user

    def describe(self, name: str) -> str:
        """One active provider as the sidebar names it: its label and where it is reached."""
        provider = self.provider.members[name]
        if name == "local":
            return f"{provider.label} (offline, free)"
        url = httpx.URL(provider.base_url)  # never show credentials written into the URL
        return f"{provider.label} ({url.copy_with(username=None, password=None)})"

    def model_label(self, name: str) -> str:
        """What a person calls a model: "Kling 3.0 Turbo Pro · fal.ai" where an active provider serves
        it, its catalogue label for older records, its name when the catalogue no longer has it."""
        spec = self.models.get(name) or self.catalogue.get(name)
        return spec.label if spec is not None else name

    @property
    def provider_description(self) -> str:
        return ", ".join(self.describe(name) for name in self.provider.members)

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
    settings: Settings, kind: ProviderKind, models: Mapping[str, ModelSpec]
) -> tuple[VideoProvider, RunningServer | None]:
    """One active provider (`models`: the ones it serves); `local` starts the embedded server."""
    options: dict[str, Any] = {
        "timeout": settings.http_timeout,
        "private_redirects": settings.private_redirects,
    }
    templates = {name: spec.request for name, spec in models.items() if spec.request is not None}
    if kind == "mimio":
        assert settings.api_url is not None  # active only with a URL
        return MimioProvider(settings.api_url, **options), None
    if kind == "openai":
        assert settings.openai_base_url is not None
        return OpenAIProvider(settings.openai_base_url, api_key=settings.openai_api_key, **options), None
    if kind == "fal":
        assert settings.fal is not None
        fal = settings.fal
        return FalProvider(
            fal.key,
            templates,
            base_url=fal.base_url,
            storage_url=fal.storage_url,
            status_rate=settings.status_rate,
            **options,
        ), None
    if kind == "replicate":
        assert settings.replicate is not None
        return ReplicateProvider(
            settings.replicate.key,
            templates,
            base_url=settings.replicate.base_url,
            status_rate=settings.status_rate,
            **options,
        ), None
    server = start_in_thread(
        settings.data_dir / "local-server",
        latency=settings.local_latency,
        render_slots=settings.local_render_slots,
        models=models,
    )
    return MimioProvider(server.url, label="Embedded renderer", **options), server


def open_providers(
    settings: Settings, catalogue: Mapping[str, ModelSpec]
) -> tuple[ProviderRouter, Mapping[str, ModelSpec], RunningServer | None]:
    """Every active provider behind one router, the models they offer, and the embedded server."""
    routes = route_models(catalogue, settings.active_providers)
    if not routes:  # before anything is started
        raise CatalogueError("No model in the catalogue is offered by an active provider.")
    members: dict[str, VideoProvider] = {}
    server = None
    for kind in settings.active_providers:
        served = {name: catalogue[name] for name, provider in routes.items() if provider == kind}
        if not served:  # e.g. a gateway beside a Mimio API server: the default one serves Sora 2
            log.warning("the %s provider serves no model: another active provider serves each of its", kind)
        members[kind], started = open_provider(settings, kind, served)
        server = server or started
    # the form's labels name the provider: "Veo 3.1 · fal.ai" and "Veo 3.1 · Replicate" differ
    models = MappingProxyType(
        {
            name: replace(catalogue[name], label=f"{catalogue[name].label} · {members[kind].label}")
            for name, kind in routes.items()
        }
    )
    # job ids recorded before there were several providers belong to the one provider of then
    legacy = "mimio" if settings.api_url else "openai" if settings.openai_base_url else "local"
    return ProviderRouter(members, routes, settings.provider, legacy), models, server


def open_runtime(settings: Settings, *, start_engine: bool = True) -> Runtime:
    """Load the catalogue, open storage, connect (or start) the providers, and start the engine, which
    resumes unfinished work."""
    catalogue = load_catalogue(settings.catalogue_file)
    supabase = SupabaseProject(settings.supabase, settings.http_timeout) if settings.supabase else None
    store, files = open_storage(settings, supabase)
    provider, models, server = open_providers(settings, catalogue)
    engine = Engine(store, files, provider, settings)
    if start_engine:
        engine.start()
    return Runtime(settings, catalogue, models, store, files, provider, engine, server, supabase)
