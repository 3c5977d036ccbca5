"""An engine over real SQLite and local files driving a hosted provider (fal, Replicate) that talks to
a stand-in of the platform over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

from mimio_core.catalogue import MODELS, ProviderKind, models_for
from mimio_core.config import Settings
from mimio_core.domain import ReferenceUpload, ValidRequest, VideoRequest
from mimio_core.engine import Engine
from mimio_core.providers.base import VideoProvider
from mimio_core.request_template import RequestTemplate
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore
from mimio_core.validation import validate_request
from tests.conftest import FAST_RETRIES


def templates(kind: ProviderKind) -> dict[str, RequestTemplate]:
    return {name: spec.request for name, spec in models_for(MODELS, kind).items() if spec.request is not None}


def hosted_request(
    kind: ProviderKind,
    model: str,
    size: str,
    seconds: int,
    reference: ReferenceUpload | None = None,
    **fields: str,
) -> ValidRequest:
    """A request validated against the models `kind` offers, as the form and the CLI validate it."""
    request = VideoRequest(model=model, size=size, seconds=seconds, reference=reference, **fields)  # type: ignore[arg-type]
    return validate_request(request, max_reference_bytes=25 << 20, models=models_for(MODELS, kind))


def hosted_engine(
    settings: Settings, provider: VideoProvider, clock: Callable[[], float] = time.time
) -> Engine:
    """`clock`: the store's (a stand-in on a clock of its own dates its jobs by that one)."""
    return Engine(
        SQLiteStore(settings.data_dir / "mimio.sqlite3", clock),
        LocalFileStorage(settings.data_dir / "files"),
        provider,
        settings,
        transfer_policy=FAST_RETRIES,
        create_backoff=FAST_RETRIES,
    )
