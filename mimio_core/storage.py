"""Opening the record store and the file storage (SQLite and local files, or a Supabase project's),
without the providers and servers `runtime` opens beside them, so the CLI's record commands (`list`,
the requests, the queue) start in a fraction of the time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mimio_core.config import Settings
from mimio_core.store.base import FileStorage, VideoStore
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from mimio_core.supabase_project import SupabaseProject


def open_storage(settings: Settings, supabase: SupabaseProject | None) -> tuple[VideoStore, FileStorage]:
    """The engine's record store and file storage: Supabase's when configured, else SQLite and files."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the engine's scratch space, in any case
    if supabase is not None:
        return supabase.engine_storage()
    return SQLiteStore(settings.data_dir / "mimio.sqlite3"), LocalFileStorage(settings.data_dir / "files")


def worker_window(settings: Settings) -> float:
    """Seconds since its last heartbeat within which an engine counts as online: three beats (an
    engine beats every third of a lease)."""
    return settings.lease_seconds
