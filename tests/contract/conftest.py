"""One contract for every record backend: the same Library and JobQueue tests run on SQLite and on
Supabase (the engine's service-role SupabaseStore over PostgRESTHarness, on the throwaway PostgreSQL
of tests/postgres).

Tests use UUID ids and the two users that exist in the test PostgreSQL's auth.users (USER_A, USER_B)
on both backends, so nothing needs translating. What a test cannot do through the store (read a
lease, write a status behind the store's back) goes through `Backend`, which does it on the backend's
own database connection.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimio_core.domain import FailureKind, QueueShare, TrackedVideo, VideoStatus
from mimio_core.store.base import NewVideo, VideoStore
from mimio_core.store.sqlite import SQLiteStore
from tests.postgres.conftest import USER_A, USER_B, db, pg_cluster, pg_database  # noqa: F401
from tests.supabase.conftest import (  # noqa: F401 - fixtures of the supabase param
    SERVICE_KEY,
    URL,
    harness,
    http,
    service_client,
    service_store,
)

S = VideoStatus
A, B = str(USER_A), str(USER_B)
LEASE = 30.0


@dataclasses.dataclass
class Backend:
    """A store and what the tests need beside it, on that store's own database."""

    name: str
    store: VideoStore
    sibling: Callable[[], VideoStore]  # another store (connection, client) on the same records
    lease: Callable[[str], tuple[str | None, datetime | None]]  # (lease_owner, lease_expires_at)
    write_status: Callable[[str, str], None]  # an UPDATE of status behind the store's back
    write: Callable[[str, dict[str, Any]], None]  # an UPDATE of other columns behind the store's back
    refusal: type[Exception]  # what the database raises when its lifecycle trigger refuses
    # the `engines` rows, by owner: (owner, host, pid, version, started_at, last_seen, videos_held)
    engines: Callable[[], list[tuple[Any, ...]]]
    write_engine: Callable[[str, dict[str, Any]], None]  # an UPDATE of an engine's row behind its back


def _sqlite_backend(path: Path) -> Backend:
    def lease(video_id: str) -> tuple[str | None, datetime | None]:
        with sqlite3.connect(path) as raw:
            owner, expires = raw.execute(
                "SELECT lease_owner, lease_expires_at FROM videos WHERE id = ?", (video_id,)
            ).fetchone()
        return owner, None if expires is None else datetime.fromtimestamp(expires, UTC)

    def write(video_id: str, values: dict[str, Any]) -> None:
        raw = sqlite3.connect(path, isolation_level=None)
        try:
            stored = {k: v.timestamp() if isinstance(v, datetime) else v for k, v in values.items()}
            assignments = ", ".join(f"{name} = ?" for name in stored)
            raw.execute(f"UPDATE videos SET {assignments} WHERE id = ?", (*stored.values(), video_id))
        finally:
            raw.close()

    def engines() -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as raw:
            rows = raw.execute(
                "SELECT owner, host, pid, version, started_at, last_seen, videos_held FROM engines"
                " ORDER BY owner"
            ).fetchall()
        return [
            (owner, host, pid, version, _utc(started), _utc(seen), held)
            for owner, host, pid, version, started, seen, held in rows
        ]

    def write_engine(owner: str, values: dict[str, Any]) -> None:
        raw = sqlite3.connect(path, isolation_level=None)
        try:
            stored = {k: v.timestamp() if isinstance(v, datetime) else v for k, v in values.items()}
            assignments = ", ".join(f"{name} = ?" for name in stored)
            raw.execute(f"UPDATE engines SET {assignments} WHERE owner = ?", (*stored.values(), owner))
        finally:
            raw.close()

    return Backend(
        "sqlite",
        SQLiteStore(path),
        lambda: SQLiteStore(path),
        lease,
        lambda video_id, status: write(video_id, {"status": status}),
        write,
        sqlite3.IntegrityError,
        engines,
        write_engine,
    )


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _supabase_backend(request: pytest.FixtureRequest) -> Backend:
    import psycopg

    from mimio_core.store.supabase import SupabaseStore, supabase_client

    conn = request.getfixturevalue("db")
    client = request.getfixturevalue("http")

    def lease(video_id: str) -> tuple[str | None, datetime | None]:
        return conn.execute(
            "select lease_owner, lease_expires_at from public.videos where id = %s", [video_id]
        ).fetchone()

    def write(video_id: str, values: dict[str, Any]) -> None:
        assignments = ", ".join(f"{name} = %({name})s" for name in values)
        conn.execute(f"update public.videos set {assignments} where id = %(id)s", {**values, "id": video_id})

    def engines() -> list[tuple[Any, ...]]:
        return conn.execute(
            "select owner, host, pid, version, started_at, last_seen, videos_held from public.engines"
            " order by owner"
        ).fetchall()

    def write_engine(owner: str, values: dict[str, Any]) -> None:
        assignments = ", ".join(f"{name} = %({name})s" for name in values)
        conn.execute(
            f"update public.engines set {assignments} where owner = %(owner)s", {**values, "owner": owner}
        )

    # the `db` fixture empties videos and projects only: engines rows are the contract's to clear
    conn.execute("delete from public.engines")
    request.addfinalizer(lambda: conn.execute("delete from public.engines"))
    return Backend(
        "supabase",
        request.getfixturevalue("service_store"),
        lambda: SupabaseStore(supabase_client(URL, SERVICE_KEY, client, retry=False)),
        lease,
        lambda video_id, status: write(video_id, {"status": status}),
        write,
        psycopg.errors.CheckViolation,  # SQLSTATE 23514
        engines,
        write_engine,
    )


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.service)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        made = _sqlite_backend(tmp_path / "data" / "mimio.sqlite3")
    else:
        made = _supabase_backend(request)
    yield made
    made.store.close()


@pytest.fixture
def store(backend: Backend) -> VideoStore:
    return backend.store


# --- making records ---------------------------------------------------------------------------------


def new_video(user_id: str = A, **changes: Any) -> NewVideo:
    """A request of `user_id` under a fresh UUID; its model is its own unless given (see `own_share`)."""
    video_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": video_id,
        "user_id": user_id,
        "title": f"Title {video_id[:8]}",
        "prompt": f"Prompt {video_id[:8]}",
        "model": f"model-{video_id}",
        "size": "720x1280",
        "seconds": 8,
        **changes,
    }
    return NewVideo(**values)


def own_share(video: NewVideo | TrackedVideo) -> QueueShare:
    """The share of the queue that holds only this video's model: claiming it takes just this video."""
    return QueueShare(frozenset({video.model}))


def ids(videos: list[TrackedVideo] | list[NewVideo]) -> list[str]:
    return [video.id for video in videos]


def changes(before: TrackedVideo, after: TrackedVideo) -> set[str]:
    """The fields (besides updated_at) whose values differ."""
    return {
        field.name
        for field in dataclasses.fields(TrackedVideo)
        if field.name != "updated_at" and getattr(before, field.name) != getattr(after, field.name)
    }


JOB = "job-1"
STORED, THUMB = f"{A}/stored.mp4", f"{A}/stored.jpg"


# the moves `put` makes after the claim to bring a video to each state
ROUTES: dict[VideoStatus, tuple[VideoStatus, ...]] = {
    S.CLAIMED: (),
    S.CREATING: (S.CREATING,),
    S.GENERATING: (S.CREATING, S.GENERATING),
    S.TRANSFERRING: (S.CREATING, S.GENERATING, S.TRANSFERRING),
    S.COMPLETED: (S.CREATING, S.GENERATING, S.TRANSFERRING, S.COMPLETED),
    S.FAILED: (S.CREATING, S.GENERATING, S.FAILED),
}


def put(store: VideoStore, state: VideoStatus, owner: str = "a", lease: float = LEASE, **fields: Any) -> str:
    """A new video of USER_A brought to `state` through the typed operations (held by `owner` while
    active; failed from generating, cancelled from queued); its id. No other video of its model may
    be queued (each video has a model of its own unless `model=` is given)."""
    [video] = store.insert_videos([new_video(**fields)])
    if state is S.CANCELLED:
        assert store.cancelled(video.id, "Cancelled.") is not None
    if state in (S.QUEUED, S.CANCELLED):
        return video.id
    # the whole share may be active already (videos of a shared model): the only queued one is this
    assert ids(store.claim(owner, 1_000_000, lease, own_share(video))) == [video.id]
    moves: dict[VideoStatus, Callable[[], TrackedVideo | None]] = {
        S.CREATING: lambda: store.creating(video.id, owner),
        S.GENERATING: lambda: store.started(video.id, owner, JOB),
        S.TRANSFERRING: lambda: store.transferring(video.id, owner),
        S.COMPLETED: lambda: store.completed(video.id, owner, STORED, THUMB),
        S.FAILED: lambda: store.failed(video.id, owner, FailureKind.PROVIDER_FAILED, "The job failed."),
    }
    for expected in ROUTES[state]:
        moved = moves[expected]()
        assert moved is not None and moved.status is expected, (expected, moved)
    return video.id


def expire(backend: Backend, *video_ids: str) -> None:
    """Let these videos' leases run out (a minute ago), as if their engine had stopped renewing them."""
    for video_id in video_ids:
        backend.write(video_id, {"lease_expires_at": datetime.now(UTC) - timedelta(minutes=1)})


S = VideoStatus
ACTIVE = [S.CLAIMED, S.CREATING, S.GENERATING, S.TRANSFERRING]
FINAL = [S.COMPLETED, S.FAILED, S.CANCELLED]
EVERY_STATE = list(VideoStatus)


def recent(moment: datetime | None, before: datetime) -> bool:
    """An aware UTC moment from `before` on (a second of slack for the database's clock)."""
    return (
        moment is not None
        and moment.utcoffset() == timedelta(0)
        and before - timedelta(seconds=1) <= moment <= datetime.now(UTC) + timedelta(seconds=1)
    )


def get(store: VideoStore, video_id: str) -> TrackedVideo:
    found = store.get_video(video_id)
    assert found is not None
    return found
