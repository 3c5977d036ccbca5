"""What only the SQLite store has: a database file that outlives the store, and the in-place migration
of a database made by an earlier version (four states, perhaps no `status_note`).

Everything both backends promise is in tests/contract.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from mimio_core.domain import FailureKind, VideoStatus
from mimio_core.status import TRANSITIONS
from mimio_core.store.base import NewVideo
from mimio_core.store.sqlite import SQLiteStore

S, K = VideoStatus, FailureKind
USER = "00000000-0000-4000-8000-00000000000a"

# The schema of the last version with four states, exactly as it made its database file (its SCHEMA in
# mimio_core/store/sqlite.py); BEFORE_NOTES is that of the versions before status_note (c842ce8).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL CHECK (length(trim(name)) > 0),
    description TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    project_id TEXT REFERENCES projects(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    prompt TEXT NOT NULL,
    model TEXT NOT NULL,
    size TEXT NOT NULL,
    duration_seconds INTEGER NOT NULL CHECK (duration_seconds > 0),
    status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    external_video_id TEXT,
    error TEXT,
    storage_path TEXT,
    thumbnail_path TEXT,
    reference_path TEXT,
    batch_id TEXT,
    lease_owner TEXT,
    lease_expires_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    create_started_at REAL,
    completed_at REAL,
    status_note TEXT
);
CREATE INDEX IF NOT EXISTS videos_user_created ON videos (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS videos_status_created ON videos (status, created_at);
CREATE INDEX IF NOT EXISTS videos_batch ON videos (batch_id);
"""
BEFORE_NOTES = OLD_SCHEMA.replace(",\n    status_note TEXT", "")
assert BEFORE_NOTES != OLD_SCHEMA

# title -> (old status, old error, old extra columns, (new status, new failure_kind))
JOB = {"external_video_id": "job-1", "create_started_at": 5.0, "progress": 40}
LEGACY: dict[str, tuple[str, str | None, dict[str, Any], tuple[VideoStatus, FailureKind | None]]] = {
    "queued": ("queued", None, {}, (S.QUEUED, None)),
    "claimed": ("processing", None, {}, (S.CLAIMED, None)),
    "creating": ("processing", None, {"create_started_at": 5.0}, (S.CREATING, None)),
    "generating": ("processing", None, JOB, (S.GENERATING, None)),
    "job without create time": ("processing", None, {"external_video_id": "job-2"}, (S.GENERATING, None)),
    "completed": (
        "completed",
        None,
        {**JOB, "progress": 100, "storage_path": "u/c.mp4"},
        (S.COMPLETED, None),
    ),
    "cancelled": ("failed", "Cancelled.", {}, (S.CANCELLED, None)),
    "cancelled, job left": (
        "failed",
        "Cancelled. The provider did not stop its job; it may still finish and be billed.",
        JOB,
        (S.CANCELLED, None),
    ),
    "invalid": ("failed", "This video cannot be made: the prompt is empty.", {}, (S.FAILED, K.INVALID)),
    "refused": ("failed", "The provider refused the video: moderation.", JOB, (S.FAILED, K.REFUSED)),
    "not started": (
        "failed",
        "Could not start the video within 10 minutes: the provider stayed busy.",
        {},
        (S.FAILED, K.NOT_STARTED),
    ),
    "app stopped": (
        "failed",
        "The app stopped while the provider was starting the video; it may have started.",
        {"create_started_at": 5.0},
        (S.FAILED, K.UNKNOWN_START),
    ),
    "start unknown": (
        "failed",
        "Could not start the video: the connection broke.",
        {},
        (S.FAILED, K.UNKNOWN_START),
    ),
    "timed out": (
        "failed",
        "Timed out after 30 minutes waiting for the provider.",
        JOB,
        (S.FAILED, K.TIMED_OUT),
    ),
    # '%Storage refused%' comes before 'Download or storage failed%'
    "storage refused": (
        "failed",
        "Supabase Storage refused the file (413): too large.",
        JOB,
        (S.FAILED, K.STORAGE_REFUSED),
    ),
    "storage refused while transferring": (
        "failed",
        "Download or storage failed: Supabase Storage refused the upload (403).",
        JOB,
        (S.FAILED, K.STORAGE_REFUSED),
    ),
    "not fetched": (
        "failed",
        "The provider's video could not be fetched: 404.",
        JOB,
        (S.FAILED, K.TRANSFER_FAILED),
    ),
    "transfer": (
        "failed",
        "Download or storage failed 3 times (disk full). The generated video job-1 is kept.",
        JOB,
        (S.FAILED, K.TRANSFER_FAILED),
    ),
    "storing": ("failed", "Storing the video failed (KeyError: 'x').", JOB, (S.FAILED, K.INTERNAL)),
    "reference": ("failed", "Reading its reference failed (OSError: gone).", {}, (S.FAILED, K.INTERNAL)),
    "provider": ("failed", "The provider failed: content error.", JOB, (S.FAILED, K.PROVIDER_FAILED)),
    "no error": ("failed", None, {}, (S.FAILED, K.PROVIDER_FAILED)),
    "cancelled inside": ("failed", "The provider said: Cancelled.", {}, (S.FAILED, K.PROVIDER_FAILED)),
}
# A provider's own error text (the engine recorded it as it came) is matched as the Supabase migration
# matches it: PostgreSQL's LIKE is case-sensitive, so these are the provider's failures there.
PROVIDER_TEXTS: dict[str, tuple[str, str | None, dict[str, Any], tuple[VideoStatus, FailureKind | None]]] = {
    "provider timed out": (
        "failed",
        "timed out after 300 s in the render queue",
        JOB,
        (S.FAILED, K.PROVIDER_FAILED),
    ),
    "provider cancelled": (
        "failed",
        "cancelled. by the moderation service",
        JOB,
        (S.FAILED, K.PROVIDER_FAILED),
    ),
    "provider storage": ("failed", "upstream object storage refused", JOB, (S.FAILED, K.PROVIDER_FAILED)),
}


def _old_database(path: Path, schema: str, rows: dict[str, Any]) -> None:
    """A database file as the four-state version left it, with a row per entry of `rows` (every
    column set, so a changed one shows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as old:
        old.executescript(schema)
        old.execute(
            "INSERT INTO projects (id, user_id, name, created_at, updated_at) VALUES ('p-1', ?, 'Ads', 1, 1)",
            (USER,),
        )
        has_note = "status_note" in schema
        for n, (title, (status, error, extra, _)) in enumerate(rows.items()):
            values: dict[str, Any] = {
                "id": f"00000000-0000-4000-8000-{n:012d}",
                "user_id": USER,
                "project_id": "p-1" if n % 2 else None,
                "title": title,
                "prompt": f"prompt of {title}",
                "model": "fal-veo-3.1" if n % 3 else "sora-2",
                "size": "1280x720",
                "duration_seconds": 4 + n,
                "status": status,
                "progress": 10,
                "error": error,
                "thumbnail_path": f"{USER}/{n}.jpg",
                "reference_path": f"{USER}/references/{n:064x}.png",
                "batch_id": f"batch-{n % 4}",
                "lease_owner": f"engine-{n % 2}" if status == "processing" else None,
                "lease_expires_at": 1000.0 + n if status == "processing" else None,
                "created_at": 100.0 + n,
                "updated_at": 200.0 + n,
                "started_at": 150.0 + n if status != "queued" else None,
                "completed_at": 300.0 + n if status in ("completed", "failed") else None,
                **({"status_note": f"note {n}"} if has_note else {}),
                **extra,
            }
            old.execute(
                f"INSERT INTO videos ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(path) as raw:
        raw.row_factory = sqlite3.Row
        return {row["title"]: dict(row) for row in raw.execute("SELECT * FROM videos")}


def _schema(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as raw:
        return {name: sql for name, sql in raw.execute("SELECT name, sql FROM sqlite_master")}


def _open(path: Path) -> None:
    SQLiteStore(path).close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "mimio.sqlite3"


# --- a database file outlives its store -------------------------------------------------------------


def test_records_and_the_lifecycle_survive_reopening(db_path):
    first = SQLiteStore(db_path)
    [video] = first.insert_videos(
        [NewVideo(id="v-1", user_id=USER, title="T", prompt="P", model="sora-2", size="720x1280", seconds=8)]
    )
    assert first.claim("a", 1, 30) and first.creating("v-1", "a")
    moved = first.started("v-1", "a", "job-1")
    first.close()
    for _ in range(2):
        again = SQLiteStore(db_path)
        try:
            assert again.get_video("v-1") == moved
            assert again.get_video("v-1").created_at == video.created_at
        finally:
            again.close()
    with sqlite3.connect(db_path) as raw:  # the lifecycle is there once, exactly, and enforced
        transitions = set(raw.execute("SELECT from_status, to_status FROM video_transitions"))
        assert transitions == {
            (str(old), str(new)) for old, targets in TRANSITIONS.items() for new in targets
        }
        assert raw.execute("SELECT count(*) FROM video_transitions").fetchone()[0] == len(transitions)
        with pytest.raises(sqlite3.IntegrityError, match=r"^a video cannot make this change of state$"):
            raw.execute("UPDATE videos SET status = 'queued' WHERE id = 'v-1'")


# --- the migration of a four-state database ---------------------------------------------------------


@pytest.mark.parametrize("schema", [OLD_SCHEMA, BEFORE_NOTES], ids=["four states", "before status_note"])
def test_every_old_row_gets_its_explicit_state_and_failure_kind(db_path, schema):
    _old_database(db_path, schema, LEGACY)
    store = SQLiteStore(db_path)
    try:
        for title, (_, _, _, (status, kind)) in LEGACY.items():
            [video] = [v for v in store.list_videos(USER, limit=100) if v.title == title]
            assert (video.status, video.failure_kind) == (status, kind), title
    finally:
        store.close()


@pytest.mark.parametrize("schema", [OLD_SCHEMA, BEFORE_NOTES], ids=["four states", "before status_note"])
def test_the_migration_changes_nothing_else(db_path, schema):
    _old_database(db_path, schema, LEGACY)
    before = _rows(db_path)
    _open(db_path)
    after = _rows(db_path)
    assert set(after) == set(before)
    for title, old in before.items():
        new = after[title]
        expected = {**old, "status": str(LEGACY[title][3][0])}
        expected.setdefault("status_note", None)  # the version before notes gains an empty one
        expected |= {"requested_action": None, "requested_at": None}  # and no request of a person
        expected["reference_type"] = None  # types were not recorded then: the engine sniffs these
        # nothing was paused or moved then: each video's place in the queue is its age
        expected |= {"paused_at": None, "priority": 0, "queue_order": old["created_at"], "not_before": None}
        kind = LEGACY[title][3][1]
        assert new == {**expected, "failure_kind": None if kind is None else str(kind)}, title


def test_a_provider_text_is_mapped_as_the_supabase_migration_maps_it(db_path):
    _old_database(db_path, OLD_SCHEMA, PROVIDER_TEXTS)
    _open(db_path)
    after = _rows(db_path)
    assert {title: (row["status"], row["failure_kind"]) for title, row in after.items()} == {
        title: (str(status), None if kind is None else str(kind))
        for title, (_, _, _, (status, kind)) in PROVIDER_TEXTS.items()
    }


def test_the_migrated_database_has_the_new_schema_and_opening_it_again_changes_nothing(db_path):
    _old_database(db_path, OLD_SCHEMA, LEGACY)
    _open(db_path)
    fresh = db_path.with_name("fresh.sqlite3")
    _open(fresh)
    migrated, made_new = _schema(db_path), _schema(fresh)
    assert migrated.keys() == made_new.keys()
    assert {
        "videos_user_created",
        "videos_status_created",
        "videos_batch",
        "videos_enforce_transition",
    } <= set(migrated)
    assert migrated["videos"].replace('"videos"', "videos") == made_new["videos"]
    rows = _rows(db_path)
    _open(db_path)  # idempotent
    assert _rows(db_path) == rows
    assert _schema(db_path) == migrated
    with sqlite3.connect(db_path) as raw:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            raw.execute(
                "INSERT INTO videos (id, user_id, title, prompt, model, size, duration_seconds, status,"
                " created_at, updated_at)"
                " VALUES ('new', ?, 't', 'p', 'sora-2', '1280x720', 4, 'processing', 1, 1)",
                (USER,),
            )
        with pytest.raises(sqlite3.IntegrityError, match=r"^a video cannot make this change of state$"):
            raw.execute("UPDATE videos SET status = 'queued' WHERE title = 'completed'")


def test_two_stores_opening_an_old_database_at_once_migrate_it_once(db_path):
    _old_database(db_path, BEFORE_NOTES, LEGACY)
    before = _rows(db_path)
    start, errors = threading.Barrier(2), []

    def open_it() -> None:
        start.wait()
        try:
            _open(db_path)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    after = _rows(db_path)
    assert {title: row["status"] for title, row in after.items()} == {
        title: str(LEGACY[title][3][0]) for title in before
    }


def test_an_engine_resumes_the_migrated_work_and_retry_works_by_kind(db_path):
    _old_database(db_path, OLD_SCHEMA, LEGACY)
    store = SQLiteStore(db_path)
    try:
        by_title = {video.title: video for video in store.list_videos(USER, limit=100)}
        # the old leases ran out long ago: any engine's heartbeat takes the active ones, oldest first
        held = store.heartbeat("engine-new", 30)
        assert [video.title for video in held] == [
            "claimed",
            "creating",
            "generating",
            "job without create time",
        ]
        assert [video.status for video in held] == [S.CLAIMED, S.CREATING, S.GENERATING, S.GENERATING]
        assert store.started(by_title["creating"].id, "engine-new", "job-9").external_video_id == "job-9"
        assert store.transferring(by_title["generating"].id, "engine-new") is not None
        assert store.recover(by_title["timed out"].id).status is S.GENERATING  # its job is kept
        assert store.requeue(by_title["refused"].id).status is S.QUEUED
        assert store.requeue(by_title["cancelled"].id).status is S.QUEUED
        assert store.requeue(by_title["completed"].id) is None
    finally:
        store.close()
