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
from mimio_core.config import PROVIDER_LABELS, ConfigError, Settings
from mimio_core.engine import Engine
from mimio_core.local_server.runner import RunningServer, start_in_thread
from mimio_core.providers.base import VideoProvider
from mimio_core.providers.fal import FalProvider
from mimio_core.providers.mimio import MimioProvider
from mimio_core.providers.openai import OpenAIProvider
from mimio_core.providers.replicate import ReplicateProvider
from mimio_core.providers.router import ProviderRouter
from mimio_core.storage import open_storage
from mimio_core.store.base import FileStorage, VideoStore
from mimio_core.supabase_project import SupabaseProject

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What this process has opened. With MIMIO_ENGINE=off (a web tier) there is no engine, no
    provider, no embedded server, and on Supabase no engine store: only the catalogue, and (SQLite)
    the local user's store."""

    settings: Settings
    catalogue: Mapping[str, ModelSpec]  # every known model (labels for old records)
    models: Mapping[str, ModelSpec]  # the ones the active providers offer, the default provider's first
    store: VideoStore | None  # the engine's (SQLite: also the local user's); None: Supabase, no engine
    files: FileStorage | None
    provider: ProviderRouter | None  # every active provider; each model goes to the one serving it
    engine: Engine | None
    embedded_server: RunningServer | None
    supabase: SupabaseProject | None = None  # None: SQLite, local files and the one local user

    @property
    def own_engine(self) -> Engine:
        """This process's engine: the CLI's commands run one whatever MIMIO_ENGINE says."""
        if self.engine is None:
            raise ConfigError("this process runs no engine (MIMIO_ENGINE=off)")
        return self.engine

    @property
    def local_store(self) -> VideoStore:
        """The embedded store (SQLite), the one local user's library and the engine's queue."""
        if self.store is None:
            raise ConfigError("with Supabase, videos belong to signed-in users: there is no local store")
        return self.store

    def describe(self, name: str) -> str:
        """One active provider as the sidebar names it: its label and where it is reached."""
        assert self.provider is not None
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

    def wake(self) -> None:
        """Have this process's engine, if it runs one, look for new work and requests now (not at its
        next poll); workers elsewhere see them at theirs."""
        if self.engine is not None:
            self.engine.wake()

    @property
    def provider_description(self) -> str:
        assert self.provider is not None
        return ", ".join(self.describe(name) for name in self.provider.members)

    @property
    def storage_description(self) -> str:
        if self.supabase is not None:
            return f"Supabase ({self.supabase.host})"
        return f"SQLite and local files in {self.settings.data_dir}"

    def close(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        if self.provider is not None:
            self.provider.close()
        if self.embedded_server is not None:
            self.embedded_server.stop()
        if self.store is not None:
            self.store.close()
        if self.supabase is not None:
            self.supabase.close()


def open_provider(
    settings: Settings, kind: ProviderKind, models: Mapping[str, ModelSpec]
) -> tuple[VideoProvider, RunningServer | None]:
    """One active provider (`models`: the ones it serves); `local` starts the embedded server."""
    options: dict[str, Any] = {
        "timeout": settings.http_timeout,
        "private_redirects": settings.private_redirects,
    }
    templates = {name: spec.request for name, spec in models.items() if spec.request is not None}
    options["label"] = PROVIDER_LABELS[kind]
    if kind == "mimio":
        assert settings.api_url is not None  # active only with a URL
        return MimioProvider(settings.api_url, api_key=settings.api_key, **options), None
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
            api_url=fal.api_url,
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
    return MimioProvider(server.url, **options), server


def offered_models(settings: Settings, catalogue: Mapping[str, ModelSpec]) -> Mapping[str, ModelSpec]:
    """The models the active providers offer, the default provider's first, each labelled with its
    provider: "Veo 3.1 · fal.ai" and "Veo 3.1 · Replicate" differ. Nothing is opened for it."""
    routes = route_models(catalogue, settings.active_providers)
    if not routes:  # before anything is started
        raise CatalogueError("No model in the catalogue is offered by an active provider.")
    return MappingProxyType(
        {
            name: replace(catalogue[name], label=f"{catalogue[name].label} · {PROVIDER_LABELS[kind]}")
            for name, kind in routes.items()
        }
    )


def open_providers(
    settings: Settings, catalogue: Mapping[str, ModelSpec]
) -> tuple[ProviderRouter, RunningServer | None]:
    """Every active provider behind one router, and the embedded server when it is one of them."""
    routes = route_models(catalogue, settings.active_providers)
    members: dict[str, VideoProvider] = {}
    server = None
    for kind in settings.active_providers:
        served = {name: catalogue[name] for name, provider in routes.items() if provider == kind}
        if not served:  # e.g. a gateway beside a Mimio API server: the default one serves Sora 2
            log.warning("the %s provider serves no model: another active provider serves each of its", kind)
        members[kind], started = open_provider(settings, kind, served)
        server = server or started
    # job ids recorded before there were several providers belong to the one provider of then
    legacy = "mimio" if settings.api_url else "openai" if settings.openai_base_url else "local"
    return ProviderRouter(members, routes, settings.provider, legacy), server


def open_runtime(settings: Settings, *, start_engine: bool = True) -> Runtime:
    """Load the catalogue, open storage, connect (or start) the providers, and start the engine, which
    resumes unfinished work. With MIMIO_ENGINE=off only the catalogue (and, on SQLite, the local
    user's store) is opened: no engine, no provider, and no service-role key is needed."""
    catalogue = load_catalogue(settings.catalogue_file)
    models = offered_models(settings, catalogue)
    supabase = SupabaseProject(settings.supabase, settings.http_timeout) if settings.supabase else None
    if not settings.engine:
        store, files = (None, None) if supabase is not None else open_storage(settings, None)
        return Runtime(settings, catalogue, models, store, files, None, None, None, supabase)
    store, files = open_storage(settings, supabase)
    provider, server = open_providers(settings, catalogue)
    engine = Engine(store, files, provider, settings)
    if start_engine:
        engine.start()
    return Runtime(settings, catalogue, models, store, files, provider, engine, server, supabase)
