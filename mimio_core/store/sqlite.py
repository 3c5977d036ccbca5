"""The embedded record store: SQLite in the data directory.

One connection per store guarded by a lock (SQLite serialises writers anyway); WAL mode and a busy
timeout let several processes share one data directory, and `BEGIN IMMEDIATE` makes claims atomic
across them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mimio_core.domain import Project, QueueShare, TrackedVideo, VideoStatus
from mimio_core.store.base import (
    NewVideo,
    ProjectError,
    Usage,
    VideoFilter,
    VideoStore,
    project_from_row,
    project_name,
    video_from_row,
)

SCHEMA = """
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


# columns added after the first release: (name, definition) for ALTER TABLE on an existing database
ADDED_COLUMNS = {"status_note": "TEXT"}


def _share_clause(share: QueueShare) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (and its parameters) of the videos in a share of the queue."""
    if share.models is None:
        return "1 = 1", ()
    models = tuple(sorted(share.models))
    return f"model {'NOT ' if share.exclude else ''}IN ({', '.join('?' * len(models))})", models


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _video(row: sqlite3.Row) -> TrackedVideo:
    return video_from_row(row, _time)


def _project(row: sqlite3.Row) -> Project:
    return project_from_row(row, _time)


def _where(user_id: str, where: VideoFilter) -> tuple[str, list[Any]]:
    clauses, params = ["user_id = ?"], [user_id]
    if where.status is not None:
        clauses.append("status = ?")
        params.append(str(where.status))
    if where.project_id is not None:
        clauses.append("project_id = ?")
        params.append(where.project_id)
    if where.model is not None:
        clauses.append("model = ?")
        params.append(where.model)
    if where.search:
        clauses.append("(title LIKE ? ESCAPE '\\' OR prompt LIKE ? ESCAPE '\\')")
        pattern = "%" + where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern, pattern]
    return " AND ".join(clauses), params


class SQLiteStore(VideoStore):
    """Records in `<data_dir>/mimio.sqlite3`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(SCHEMA)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """A database made by an older version gains the columns added since (nothing else changes)."""
        present = {row["name"] for row in self._db.execute("PRAGMA table_info(videos)")}
        for name, definition in ADDED_COLUMNS.items():
            if name not in present:
                try:
                    self._db.execute(f"ALTER TABLE videos ADD COLUMN {name} {definition}")
                except sqlite3.OperationalError as exc:  # another process (app and worker) added it first
                    if "duplicate column" not in str(exc):
                        raise

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, so read-then-write steps are atomic across processes."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # projects
    def create_project(self, user_id: str, name: str, description: str = "") -> Project:
        name = project_name(name)
        now = time.time()
        project_id = str(uuid.uuid4())
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO projects (id, user_id, name, description, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (project_id, user_id, name, description.strip(), now, now),
                )
        except sqlite3.IntegrityError:
            raise ProjectError(f"You already have a project named {name!r}.") from None
        project = self.get_project(user_id, project_id)
        assert project is not None
        return project

    def list_projects(self, user_id: str) -> list[Project]:
        rows = self._query(
            "SELECT * FROM projects WHERE user_id = ? ORDER BY name COLLATE NOCASE", (user_id,)
        )
        return [_project(row) for row in rows]

    def get_project(self, user_id: str, project_id: str) -> Project | None:
        rows = self._query("SELECT * FROM projects WHERE user_id = ? AND id = ?", (user_id, project_id))
        return _project(rows[0]) if rows else None

    def rename_project(
        self, user_id: str, project_id: str, name: str, description: str | None = None
    ) -> Project:
        name = project_name(name)
        try:
            with self._transaction() as db:
                changed = db.execute(
                    "UPDATE projects SET name = ?, description = coalesce(?, description), updated_at = ?"
                    " WHERE id = ? AND user_id = ?",
                    (
                        name,
                        None if description is None else description.strip(),
                        time.time(),
                        project_id,
                        user_id,
                    ),
                ).rowcount
        except sqlite3.IntegrityError:
            raise ProjectError(f"You already have a project named {name!r}.") from None
        project = self.get_project(user_id, project_id) if changed else None
        if project is None:
            raise ProjectError("That project does not exist (it may have been deleted).")
        return project

    def delete_project(self, user_id: str, project_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM projects WHERE id = ? AND user_id = ?", (project_id, user_id))

    def project_video_counts(self, user_id: str) -> dict[str, int]:
        rows = self._query(
            "SELECT project_id, count(*) FROM videos WHERE user_id = ? AND project_id IS NOT NULL"
            " GROUP BY project_id",
            (user_id,),
        )
        return {row[0]: row[1] for row in rows}

    # videos
    def insert_videos(self, videos: list[NewVideo]) -> list[TrackedVideo]:
        now = time.time()
        with self._transaction() as db:
            for user_id, project_id in {(v.user_id, v.project_id) for v in videos if v.project_id}:
                owned = db.execute(
                    "SELECT 1 FROM projects WHERE id = ? AND user_id = ?", (project_id, user_id)
                )
                if owned.fetchone() is None:
                    raise ProjectError(f"Project {project_id} does not exist (it may have been deleted).")
            for offset, video in enumerate(videos):
                db.execute(
                    "INSERT OR IGNORE INTO videos (id, user_id, project_id, title, prompt, model, size,"
                    " duration_seconds, status, progress, batch_id, reference_path, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)",
                    (
                        video.id,
                        video.user_id,
                        video.project_id,
                        video.title,
                        video.prompt,
                        video.model,
                        video.size,
                        video.seconds,
                        video.batch_id,
                        video.reference_path,
                        # a microsecond apart so "oldest first" keeps submission order
                        now + offset * 1e-6,
                        now,
                    ),
                )
        recorded = self.get_videos([video.id for video in videos])
        return [video for video in recorded if video.user_id == videos[0].user_id]

    def get_video(self, video_id: str) -> TrackedVideo | None:
        rows = self._query("SELECT * FROM videos WHERE id = ?", (video_id,))
        return _video(rows[0]) if rows else None

    def get_videos(self, video_ids: list[str]) -> list[TrackedVideo]:
        if not video_ids:
            return []
        marks = ",".join("?" * len(video_ids))
        by_id = {
            row["id"]: _video(row)
            for row in self._query(f"SELECT * FROM videos WHERE id IN ({marks})", video_ids)
        }
        return [by_id[video_id] for video_id in video_ids if video_id in by_id]

    def list_videos(
        self, user_id: str, where: VideoFilter = VideoFilter(), limit: int = 50, offset: int = 0
    ) -> list[TrackedVideo]:
        clause, params = _where(user_id, where)
        rows = self._query(
            f"SELECT * FROM videos WHERE {clause} ORDER BY created_at DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_video(row) for row in rows]

    def count_videos(self, user_id: str, where: VideoFilter = VideoFilter()) -> int:
        clause, params = _where(user_id, where)
        return int(self._query(f"SELECT count(*) FROM videos WHERE {clause}", params)[0][0])

    def usage(self, user_id: str) -> list[Usage]:
        rows = self._query(
            "SELECT project_id, model, size, count(*), sum(duration_seconds) FROM videos"
            " WHERE user_id = ? AND status = 'completed' GROUP BY project_id, model, size",
            (user_id,),
        )
        return [Usage(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    def delete_video(self, video_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM videos WHERE id = ?", (video_id,))

    def update_progress(
        self, video_id: str, owner: str, progress: int, external_video_id: str | None, note: str | None = None
    ) -> bool:
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE videos SET progress = max(progress, ?), updated_at = ?,"
                " external_video_id = coalesce(?, external_video_id), status_note = ?"
                " WHERE id = ? AND status = 'processing' AND lease_owner = ?",
                (max(0, min(100, progress)), time.time(), external_video_id, note, video_id, owner),
            ).rowcount
        return bool(changed)

    def mark_creating(self, video_ids: list[str], owner: str, *, sent: bool = True) -> None:
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                "UPDATE videos SET create_started_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ?",
                [(now if sent else None, now, video_id, owner) for video_id in video_ids],
            )

    def _write_transition(
        self, video_id: str, current: VideoStatus, owner: str | None, values: dict[str, Any]
    ) -> TrackedVideo | None:
        values = {
            name: (value.timestamp() if isinstance(value, datetime) else value)
            for name, value in values.items()
        }
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in values)
        condition, params = "id = ? AND status = ?", [video_id, str(current)]
        if owner is not None:
            condition += " AND lease_owner = ?"
            params.append(owner)
        with self._transaction() as db:
            changed = db.execute(
                f"UPDATE videos SET {assignments} WHERE {condition}", [*values.values(), *params]
            ).rowcount
        return self.get_video(video_id) if changed else None

    def _claim_queued(
        self, owner: str, capacity: int, lease_seconds: float, share: QueueShare
    ) -> list[TrackedVideo]:
        now = time.time()
        in_share, models = _share_clause(share)
        with self._transaction() as db:
            active = db.execute(
                f"SELECT count(*) FROM videos WHERE status = 'processing' AND {in_share}", models
            ).fetchone()[0]
            free = capacity - active
            if free <= 0:
                return []
            ids = [
                row[0]
                for row in db.execute(
                    f"SELECT id FROM videos WHERE status = 'queued' AND {in_share}"
                    " ORDER BY created_at LIMIT ?",
                    (*models, free),
                )
            ]
            for video_id in ids:
                db.execute(
                    "UPDATE videos SET status = 'processing', progress = 0, error = NULL,"
                    " external_video_id = NULL, create_started_at = NULL, started_at = ?, updated_at = ?,"
                    " lease_owner = ?,"
                    " lease_expires_at = ? WHERE id = ?",
                    (now, now, owner, now + lease_seconds, video_id),
                )
        return self.get_videos(ids)

    def hold_leases(self, owner: str, lease_seconds: float) -> list[TrackedVideo]:
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE videos SET lease_owner = ?, lease_expires_at = ? WHERE status = 'processing'"
                " AND (lease_owner = ? OR lease_owner IS NULL OR lease_expires_at < ?)",
                (owner, now + lease_seconds, owner, now),
            )
            rows = db.execute(
                "SELECT * FROM videos WHERE status = 'processing' AND lease_owner = ? ORDER BY created_at",
                (owner,),
            ).fetchall()
        return [_video(row) for row in rows]

    def lease_owners(self) -> set[str]:
        return {
            row[0]
            for row in self._query("SELECT DISTINCT lease_owner FROM videos WHERE lease_owner IS NOT NULL")
        }

    def release_leases(self, owner: str) -> int:
        with self._transaction() as db:
            return db.execute(
                "UPDATE videos SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?",
                (owner,),
            ).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
