"""Who a page acts for, and the store and file storage that act as them."""

from __future__ import annotations

from dataclasses import dataclass

from mimio_core.store.base import FileStorage, Library


@dataclass(frozen=True)
class Workspace:
    """With Supabase, the signed-in user's own store and files (Row Level Security scopes every read
    and write); with the embedded default, the one local user and the engine's SQLite and folder."""

    user_id: str
    email: str | None  # None: the embedded default's local user, who never signs in
    store: Library  # a person's videos and projects: never the engine's queue
    files: FileStorage
