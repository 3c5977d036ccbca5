"""The embedded record store: SQLite in the data directory.

One connection per store guarded by a lock (SQLite serialises writers anyway); WAL mode and a busy
timeout let several processes share one data directory, and `BEGIN IMMEDIATE` makes claims atomic
across them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mimio_core.domain import (
    ACTIVE_STATES,
    FINAL_STATES,
    EngineBeat,
    FailureKind,
    Project,
    QueueShare,
    TrackedVideo,
    UserRequest,
    VideoStatus,
    spec_fields,
)
from mimio_core.status import TRANSITIONS
from mimio_core.store.base import (
    GONE,
    NewVideo,
    ProjectError,
    Usage,
    Values,
    VideoFilter,
    VideoStore,
    project_from_row,
    project_name,
    video_from_row,
)
from mimio_core.store.queue_control import (
    ALL_PROJECTS,
    NEEDS_EDIT,
    Asked,
    Move,
    QueueRefused,
    VideoEdit,
    moved_places,
    not_waiting,
)

STATES = ", ".join(f"'{state}'" for state in VideoStatus)
KINDS = ", ".join(f"'{kind}'" for kind in FailureKind)
REQUESTS = ", ".join(f"'{request}'" for request in UserRequest)
ACTIVE = ", ".join(f"'{state}'" for state in sorted(ACTIVE_STATES))
FINAL = ", ".join(f"'{state}'" for state in sorted(FINAL_STATES))
NEEDS_EDIT_KINDS = ", ".join(f"'{kind}'" for kind in sorted(NEEDS_EDIT))
IDS_PER_STATEMENT = 500  # well inside SQLite's limit of variables per statement
VIDEOS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {{table}} (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    project_id TEXT REFERENCES projects(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    prompt TEXT NOT NULL,
    model TEXT NOT NULL,
    size TEXT NOT NULL,
    duration_seconds INTEGER NOT NULL CHECK (duration_seconds > 0),
    status TEXT NOT NULL CHECK (status IN ({STATES})),
    failure_kind TEXT CHECK (failure_kind IN ({KINDS})),
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    external_video_id TEXT,
    error TEXT,
    storage_path TEXT,
    thumbnail_path TEXT,
    reference_path TEXT,
    reference_type TEXT,
    batch_id TEXT,
    lease_owner TEXT,
    lease_expires_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    create_started_at REAL,
    completed_at REAL,
    status_note TEXT,
    requested_action TEXT CHECK (requested_action IN ({REQUESTS})),
    requested_at REAL,
    paused_at REAL,
    priority INTEGER NOT NULL DEFAULT 0,
    queue_order REAL,
    not_before REAL,
    CHECK ((status = 'failed') = (failure_kind IS NOT NULL))
);
"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL CHECK (length(trim(name)) > 0),
    description TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (user_id, name)
);
{VIDEOS_TABLE.format(table="videos")}
CREATE TABLE IF NOT EXISTS engines (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    started_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    videos_held INTEGER NOT NULL DEFAULT 0 CHECK (videos_held >= 0)
);
CREATE TABLE IF NOT EXISTS video_transitions (
    from_status TEXT NOT NULL, to_status TEXT NOT NULL, PRIMARY KEY (from_status, to_status)
);
CREATE TABLE IF NOT EXISTS queue_pauses (
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL DEFAULT '',  -- '': the whole queue
    created_at REAL NOT NULL,
    PRIMARY KEY (user_id, project_id)
);
"""
# what belongs to the videos table, made again when an old table is rebuilt (one statement each)
VIDEOS_EXTRAS = (
    "CREATE INDEX IF NOT EXISTS videos_user_created ON videos (user_id, created_at DESC)",
    "CREATE INDEX IF NOT EXISTS videos_status_created ON videos (status, created_at)",
    "CREATE INDEX IF NOT EXISTS videos_batch ON videos (batch_id)",
    # a claim reads each user's and each run's first waiting videos (see `_candidates`)
    "CREATE INDEX IF NOT EXISTS videos_waiting_alone ON videos (user_id, priority DESC, queue_order, id)"
    " WHERE status = 'queued' AND paused_at IS NULL AND batch_id IS NULL",
    "CREATE INDEX IF NOT EXISTS videos_waiting_in_run ON videos (batch_id, priority DESC, queue_order, id)"
    " WHERE status = 'queued' AND paused_at IS NULL AND batch_id IS NOT NULL",
    # the engine asks for people's requests every tick: only the few videos with one are read
    "CREATE INDEX IF NOT EXISTS videos_requested ON videos (requested_at) WHERE requested_action IS NOT NULL",
    # any writer is held to the lifecycle (the store's own door checks first, with a better message)
    # a paused video waits (only a queued one can be); a request is edited only while it waits
    """CREATE TRIGGER IF NOT EXISTS videos_pause_only_waiting BEFORE UPDATE ON videos
    WHEN new.paused_at IS NOT NULL AND new.status <> 'queued'
    BEGIN
        SELECT RAISE(ABORT, 'only a queued video can be paused');
    END""",
    """CREATE TRIGGER IF NOT EXISTS videos_edit_only_waiting
    BEFORE UPDATE OF prompt, model, size, duration_seconds ON videos
    WHEN old.status <> 'queued' AND (new.prompt, new.model, new.size, new.duration_seconds)
        IS NOT (old.prompt, old.model, old.size, old.duration_seconds)
    BEGIN
        SELECT RAISE(ABORT, 'a video that has started cannot be edited');
    END""",
    """CREATE TRIGGER IF NOT EXISTS videos_enforce_transition BEFORE UPDATE OF status ON videos
    WHEN new.status IS NOT old.status AND NOT EXISTS (
        SELECT 1 FROM video_transitions WHERE from_status = old.status AND to_status = new.status
    )
    BEGIN
        SELECT RAISE(ABORT, 'a video cannot make this change of state');
    END""",
)

NOT_DELETED = "requested_action IS NOT 'delete'"  # a video a person deleted leaves their counts at once
# the order queued videos are sent in: by priority, then each one's place (its age unless moved)
CLAIM_ORDER = "priority DESC, queue_order, id"
REVERSE_CLAIM_ORDER = "priority, queue_order DESC, id DESC"
# Which waiting videos a claim takes, in turns: every user's first video before anyone's second, and
# within a user's queue their runs take turns too, so a 500-video batch starves nobody. A video at
# work counts as a turn taken (of its user and its run), so the turns hold from claim to claim; each
# user's own order (priority, then place) decides within them. A video a person paused, or asked to
# cancel or delete, is never sent to a provider.
FAIR_TURNS = f"""
WITH held AS (
    SELECT user_id, coalesce(batch_id, id) AS run, count(*) AS at_work
    FROM videos WHERE status IN ({ACTIVE}) AND {{in_share}} GROUP BY 1, 2
), waiting AS (
    SELECT v.id, v.user_id, v.priority, v.queue_order, row_number() OVER (
        PARTITION BY v.user_id, coalesce(v.batch_id, v.id) ORDER BY {CLAIM_ORDER}
    ) + coalesce((
        SELECT h.at_work FROM held h WHERE h.user_id = v.user_id AND h.run = coalesce(v.batch_id, v.id)
    ), 0) AS run_turn
    FROM videos v WHERE v.id IN (SELECT value FROM json_each(?))
), turns AS (
    SELECT w.id, w.queue_order, row_number() OVER (
        PARTITION BY w.user_id ORDER BY w.priority DESC, w.run_turn, w.queue_order, w.id
    ) + coalesce((SELECT sum(h.at_work) FROM held h WHERE h.user_id = w.user_id), 0) AS user_turn
    FROM waiting w
)
SELECT id FROM turns ORDER BY user_turn, queue_order, id LIMIT ?
"""
# a waiting video an engine may send now: not paused, nobody asked to cancel or delete it
SENDABLE = (  # its `?`: the store's clock, for a run scheduled not before a time
    "status = 'queued' AND paused_at IS NULL AND (requested_action IS NULL OR requested_action = 'retry')"
    " AND (not_before IS NULL OR not_before <= ?)"
)
# a queued video nobody asked to cancel or delete: it may be paused, moved or edited
WAITING = "status = 'queued' AND (requested_action IS NULL OR requested_action = 'retry')"
# columns added after the first release: (name, definition) for ALTER TABLE on an existing database
ADDED_COLUMNS = {
    "status_note": "TEXT",
    "requested_action": f"TEXT CHECK (requested_action IN ({REQUESTS}))",
    "requested_at": "REAL",
    "reference_type": "TEXT",
    "paused_at": "REAL",
    "priority": "INTEGER NOT NULL DEFAULT 0",
    "queue_order": "REAL",
    "not_before": "REAL",
}

# A database of the version with four states ('processing' for everything in between, cancelled and
# failure reasons only in the message) gets the explicit states, rows mapped as the Supabase
# migration 20261202160000_explicit_states.sql maps them (GLOB: case-sensitive, as PostgreSQL's LIKE
# is; SQLite's LIKE would ignore case and read a provider's "timed out after" as our own message).
OLD_STATUS_TO_STATE = """
CASE
    WHEN status = 'processing' AND external_video_id IS NOT NULL THEN 'generating'
    WHEN status = 'processing' AND create_started_at IS NOT NULL THEN 'creating'
    WHEN status = 'processing' THEN 'claimed'
    WHEN status = 'failed' AND error GLOB 'Cancelled.*' THEN 'cancelled'
    ELSE status
END"""
OLD_ERROR_TO_KIND = """
CASE
    WHEN status <> 'failed' OR error GLOB 'Cancelled.*' THEN NULL
    WHEN error GLOB 'This video cannot be made:*' THEN 'invalid'
    WHEN error GLOB 'The provider refused the video*' THEN 'refused'
    WHEN error GLOB 'Could not start the video within*' THEN 'not_started'
    WHEN error GLOB 'The app stopped while the provider was starting*' THEN 'unknown_start'
    WHEN error GLOB 'Could not start the video*' THEN 'unknown_start'
    WHEN error GLOB 'Timed out after*' THEN 'timed_out'
    WHEN error GLOB '*Storage refused*' THEN 'storage_refused'
    WHEN error GLOB 'The provider''s video could not be fetched*' THEN 'transfer_failed'
    WHEN error GLOB 'Download or storage failed*' THEN 'transfer_failed'
    WHEN error GLOB 'Storing the video failed*' THEN 'internal'
    WHEN error GLOB 'Reading its reference failed*' THEN 'internal'
    ELSE 'provider_failed'
END"""
COPIED_COLUMNS = (
    "id, user_id, project_id, title, prompt, model, size, duration_seconds, progress, external_video_id,"
    " error, storage_path, thumbnail_path, reference_path, batch_id, lease_owner, lease_expires_at,"
    " created_at, updated_at, started_at, create_started_at, completed_at, status_note"
)


def _share_clause(share: QueueShare) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (and its parameters) of the videos in a share of the queue."""
    if share.models is None:
        return "1 = 1", ()
    models = tuple(sorted(share.models))
    return f"model {'NOT ' if share.exclude else ''}IN ({', '.join('?' * len(models))})", models


def _candidates(
    db: sqlite3.Connection, in_share: str, models: tuple[str, ...], free: int, now: float
) -> list[str]:
    """The only waiting videos a claim of `free` slots can take, read by index: each run's first
    `free`, and each user's first `free` submitted alone. Fair turns never reach further, so a queue
    of 100,000 costs what its first few do."""
    found: list[str] = []
    runs = (
        ("user_id", "batch_id IS NULL", "videos_waiting_alone"),
        ("batch_id", "batch_id IS NOT NULL", "videos_waiting_in_run"),
    )
    for column, alone, index in runs:
        where = f"{SENDABLE} AND {alone} AND {in_share}"
        videos = f"videos INDEXED BY {index}"  # the planner would rather scan every queued video
        # the distinct keys, each found by one step down the index (no scan of the whole queue)
        keys = db.execute(
            f"WITH RECURSIVE keys(k) AS (SELECT min({column}) FROM {videos} WHERE {where} UNION ALL"
            f" SELECT (SELECT min({column}) FROM {videos} WHERE {where} AND {column} > keys.k) FROM keys"
            " WHERE keys.k IS NOT NULL) SELECT k FROM keys WHERE k IS NOT NULL",
            (now, *models, now, *models),
        ).fetchall()
        for (key,) in keys:
            rows = db.execute(
                f"SELECT id FROM {videos} WHERE {column} = ? AND {where} ORDER BY {CLAIM_ORDER} LIMIT ?",
                (key, now, *models, free),
            )
            found += [row[0] for row in rows]
    return found


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _video(row: sqlite3.Row) -> TrackedVideo:
    return video_from_row(row, _time)


def _project(row: sqlite3.Row) -> Project:
    return project_from_row(row, _time)


def _where(user_id: str, where: VideoFilter) -> tuple[str, list[Any]]:
    # a video its owner asked to delete is gone from their lists at once, before the engine acts
    clauses, params = ["user_id = ?", NOT_DELETED], [user_id]
    if where.states is not None:
        states = sorted(map(str, where.states))
        clauses.append(f"status IN ({', '.join('?' * len(states))})")
        params += states
    if where.project_id is not None:
        clauses.append("project_id = ?")
        params.append(where.project_id)
    if where.model is not None:
        clauses.append("model = ?")
        params.append(where.model)
    if where.batch_id is not None:
        clauses.append("batch_id = ?")
        params.append(where.batch_id)
    if where.search:
        clauses.append("(title LIKE ? ESCAPE '\\' OR prompt LIKE ? ESCAPE '\\')")
        pattern = "%" + where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern, pattern]
    return " AND ".join(clauses), params


class SQLiteStore(VideoStore):
    """Records in `<data_dir>/mimio.sqlite3`."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
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
        with self._transaction() as db:  # one write transaction at open, whichever process is first
            self._adopt_explicit_states(db)
            for statement in VIDEOS_EXTRAS:
                db.execute(statement)
            self._hold_the_lifecycle(db)

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
        if "queue_order" not in present:  # each video's place in the queue is its age until moved
            self._db.execute("UPDATE videos SET queue_order = created_at WHERE queue_order IS NULL")

    @staticmethod
    def _adopt_explicit_states(db: sqlite3.Connection) -> None:
        """Rebuild a four-state `videos` table (SQLite cannot change a CHECK in place) with every row
        mapped to its explicit state and failure kind; nothing else changes."""
        [definition] = db.execute("SELECT sql FROM sqlite_master WHERE name = 'videos'").fetchone()
        if "'processing'" not in definition:
            return
        db.execute(VIDEOS_TABLE.format(table="videos_explicit"))
        db.execute(
            f"INSERT INTO videos_explicit ({COPIED_COLUMNS}, status, failure_kind, queue_order)"
            f" SELECT {COPIED_COLUMNS}, {OLD_STATUS_TO_STATE}, {OLD_ERROR_TO_KIND}, created_at FROM videos"
        )
        db.execute("DROP TABLE videos")
        db.execute("ALTER TABLE videos_explicit RENAME TO videos")

    @staticmethod
    def _hold_the_lifecycle(db: sqlite3.Connection) -> None:
        """The trigger's table of allowed changes is this version's (written only when it differs)."""
        wanted = {(str(old), str(new)) for old, targets in TRANSITIONS.items() for new in targets}
        if set(map(tuple, db.execute("SELECT from_status, to_status FROM video_transitions"))) != wanted:
            db.execute("DELETE FROM video_transitions")
            db.executemany("INSERT INTO video_transitions VALUES (?, ?)", sorted(wanted))

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
        now = self.clock()
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
                        self.clock(),
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
            f" AND {NOT_DELETED} GROUP BY project_id",
            (user_id,),
        )
        return {row[0]: row[1] for row in rows}

    # videos
    def insert_videos(self, videos: list[NewVideo]) -> list[TrackedVideo]:
        now = self.clock()
        with self._transaction() as db:
            for user_id, project_id in {(v.user_id, v.project_id) for v in videos if v.project_id}:
                owned = db.execute(
                    "SELECT 1 FROM projects WHERE id = ? AND user_id = ?", (project_id, user_id)
                )
                if owned.fetchone() is None:
                    raise ProjectError(f"Project {project_id} does not exist (it may have been deleted).")
            for offset, video in enumerate(videos):
                # a microsecond apart so "oldest first" keeps submission order; its place in the queue
                # is its age until it is moved
                created = (int(now * 1e6) + offset) / 1e6  # whole microseconds, as a datetime reads them
                db.execute(
                    "INSERT OR IGNORE INTO videos (id, user_id, project_id, title, prompt, model, size,"
                    " duration_seconds, status, progress, batch_id, reference_path, reference_type,"
                    " priority, not_before, paused_at, created_at, queue_order, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, (SELECT ? FROM queue_pauses"
                    " WHERE user_id = ? AND project_id IN ('', ?) LIMIT 1), ?, ?, ?)",
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
                        video.reference_type,
                        video.priority,
                        None if video.not_before is None else video.not_before.timestamp(),
                        now,  # paused at once when its project or the whole queue is paused
                        video.user_id,
                        video.project_id or "",
                        created,
                        created,
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
            f" WHERE user_id = ? AND status = 'completed' AND {NOT_DELETED} GROUP BY project_id, model, size",
            (user_id,),
        )
        return [Usage(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    # the person's side of the queue
    def _update_each(self, user_id: str, video_ids: list[str], assignment: str, condition: str) -> int:
        """`assignment` (its `?` the store's clock) on the user's videos among `video_ids` that meet
        `condition`, in one transaction; how many changed."""
        now, changed = self.clock(), 0
        with self._transaction() as db:
            for start in range(0, len(video_ids), IDS_PER_STATEMENT):
                chunk = video_ids[start : start + IDS_PER_STATEMENT]
                changed += db.execute(
                    f"UPDATE videos SET {assignment}, updated_at = ? WHERE user_id = ?"
                    f" AND id IN ({', '.join('?' * len(chunk))}) AND {condition}",
                    [now] * assignment.count("?") + [now, user_id, *chunk],
                ).rowcount
        return changed

    def pause(self, user_id: str, video_ids: list[str]) -> int:
        return self._update_each(user_id, video_ids, "paused_at = ?", f"{WAITING} AND paused_at IS NULL")

    def resume(self, user_id: str, video_ids: list[str]) -> int:
        return self._update_each(user_id, video_ids, "paused_at = NULL", "paused_at IS NOT NULL")

    def pause_queue(self, user_id: str, project_id: str | None = ALL_PROJECTS) -> int:
        now = self.clock()
        scope, params = ("", []) if project_id is None else (" AND project_id = ?", [project_id])
        with self._transaction() as db:
            hold = (user_id, project_id or "", now)
            db.execute("INSERT OR IGNORE INTO queue_pauses VALUES (?, ?, ?)", hold)
            return db.execute(
                f"UPDATE videos SET paused_at = ?, updated_at = ? WHERE user_id = ? AND {WAITING}"
                f" AND paused_at IS NULL{scope}",
                [now, now, user_id, *params],
            ).rowcount

    def resume_queue(self, user_id: str, project_id: str | None = ALL_PROJECTS) -> int:
        scope, params = ("", []) if project_id is None else (" AND project_id = ?", [project_id])
        with self._transaction() as db:
            hold = (user_id, project_id or "")
            db.execute("DELETE FROM queue_pauses WHERE user_id = ? AND project_id = ?", hold)
            return db.execute(  # a video another pause still covers stays paused
                "UPDATE videos SET paused_at = NULL, updated_at = ? WHERE user_id = ?"
                f" AND paused_at IS NOT NULL{scope} AND NOT EXISTS (SELECT 1 FROM queue_pauses h"
                " WHERE h.user_id = videos.user_id"
                " AND h.project_id IN ('', coalesce(videos.project_id, '')))",
                [self.clock(), user_id, *params],
            ).rowcount

    def paused_queues(self, user_id: str) -> set[str | None]:
        rows = self._query("SELECT project_id FROM queue_pauses WHERE user_id = ?", (user_id,))
        return {row[0] or ALL_PROJECTS for row in rows}

    def move(self, user_id: str, video_id: str, move: Move) -> TrackedVideo:
        with self._transaction() as db:
            row = db.execute(
                f"SELECT *, {WAITING} AS waiting FROM videos WHERE id = ? AND user_id = ?",
                (video_id, user_id),
            ).fetchone()
            if row is None:
                raise QueueRefused(GONE)
            if not row["waiting"]:
                raise QueueRefused(not_waiting(_video(row)))
            here = (row["priority"], row["queue_order"], row["id"])
            # NEXT: the first waiting video; UP: the one just before; DOWN: the one just after
            side, order = {
                Move.NEXT: ("1", CLAIM_ORDER),
                Move.UP: ("(-priority, queue_order, id) < (-?, ?, ?)", REVERSE_CLAIM_ORDER),
                Move.DOWN: ("(-priority, queue_order, id) > (-?, ?, ?)", CLAIM_ORDER),
            }[move]
            neighbour = db.execute(
                f"SELECT id, priority, queue_order FROM videos WHERE user_id = ? AND {WAITING} AND {side}"
                f" ORDER BY {order} LIMIT 1",
                (user_id, *(here if move is not Move.NEXT else ())),
            ).fetchone()
            video = (row["id"], row["priority"], row["queue_order"])
            other = None if neighbour is None else (neighbour[0], neighbour[1], neighbour[2])
            for moved_id, priority, place in moved_places(video, other, move):
                db.execute(
                    "UPDATE videos SET priority = ?, queue_order = ?, updated_at = ? WHERE id = ?",
                    (priority, place, self.clock(), moved_id),
                )
        moved = self.get_video(video_id)
        assert moved is not None
        return moved

    def edit(self, user_id: str, video_id: str, edit: VideoEdit) -> TrackedVideo:
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE videos SET title = ?, prompt = ?, model = ?, size = ?, duration_seconds = ?,"
                f" updated_at = ? WHERE id = ? AND user_id = ? AND {WAITING}",
                (edit.title, *spec_fields(edit).values(), self.clock(), video_id, user_id),
            ).rowcount
        video = self.get_video(video_id)
        if video is None or video.user_id != user_id:
            raise QueueRefused(GONE)
        if not changed:
            raise QueueRefused(not_waiting(video))
        return video

    def ask_many(self, user_id: str, video_ids: list[str], request: UserRequest) -> Asked:
        wanted = list(dict.fromkeys(video_ids))
        applies = {
            UserRequest.CANCEL: f"status NOT IN ({FINAL})",
            UserRequest.RETRY: "status IN ('failed', 'cancelled')"
            f" AND (failure_kind IS NULL OR failure_kind NOT IN ({NEEDS_EDIT_KINDS}))",
            UserRequest.DELETE: "1",
        }[request]
        asked = self._update_each(
            user_id,
            wanted,
            f"requested_action = '{request}', requested_at = CASE WHEN requested_action IS '{request}'"
            " THEN requested_at ELSE ? END",
            f"requested_action IS NOT 'delete' AND ({applies})",
        )
        return Asked(asked, len(wanted) - asked)

    def _record_request(self, user_id: str, video_id: str, request: UserRequest) -> TrackedVideo | None:
        now = self.clock()
        with self._transaction() as db:  # asked again: the first time it was asked stays
            changed = db.execute(
                "UPDATE videos SET requested_action = ?, updated_at = ?,"
                " requested_at = CASE WHEN requested_action IS ? THEN requested_at ELSE ? END"
                " WHERE id = ? AND user_id = ? AND requested_action IS NOT 'delete'",
                (str(request), now, str(request), now, video_id, user_id),
            ).rowcount
        return self.get_video(video_id) if changed else None

    def workers_online(self, within_seconds: float) -> int:
        rows = self._query(
            "SELECT count(*) FROM engines WHERE last_seen >= ?", (self.clock() - within_seconds,)
        )
        return int(rows[0][0])

    def requested(self, owner: str, limit: int = 100) -> list[TrackedVideo]:
        rows = self._query(
            "SELECT * FROM videos WHERE requested_action IS NOT NULL AND (status NOT IN"
            f" ({ACTIVE}) OR lease_owner = ? OR lease_owner IS NULL OR lease_expires_at < ?)"
            " ORDER BY requested_at, id LIMIT ?",
            (owner, self.clock(), limit),
        )
        return [_video(row) for row in rows]

    def clear_request(self, video_id: str, request: UserRequest) -> bool:
        with self._transaction() as db:
            return bool(
                db.execute(
                    "UPDATE videos SET requested_action = NULL, requested_at = NULL, updated_at = ?"
                    " WHERE id = ? AND requested_action = ?",
                    (self.clock(), video_id, str(request)),
                ).rowcount
            )

    def remove(self, video_id: str) -> bool:
        with self._transaction() as db:
            return bool(db.execute("DELETE FROM videos WHERE id = ?", (video_id,)).rowcount)

    def beat(self, beat: EngineBeat) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO engines (owner, host, pid, version, started_at, last_seen, videos_held)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET host = excluded.host,"
                " pid = excluded.pid, version = excluded.version, started_at = excluded.started_at,"
                " last_seen = excluded.last_seen, videos_held = excluded.videos_held",
                (
                    beat.owner,
                    beat.host,
                    beat.pid,
                    beat.version,
                    beat.started_at.timestamp(),
                    self.clock(),
                    beat.videos_held,
                ),
            )

    def forget_engine(self, owner: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM engines WHERE owner = ?", (owner,))

    def progress(self, video_id: str, owner: str, progress: int, note: str | None = None) -> bool:
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE videos SET progress = max(progress, ?), updated_at = ?, status_note = ?"
                f" WHERE id = ? AND status IN ({ACTIVE}) AND lease_owner = ?",
                (max(0, min(100, progress)), self.clock(), note, video_id, owner),
            ).rowcount
        return bool(changed)

    def _write_move(
        self, video_id: str, sources: frozenset[VideoStatus], owner: str | None, values: Values
    ) -> TrackedVideo | None:
        row: dict[str, Any] = {
            name: (value.timestamp() if isinstance(value, datetime) else value)
            for name, value in values.items()
        }
        row["updated_at"] = self.clock()
        assignments = ", ".join(f"{name} = ?" for name in row)
        states = sorted(map(str, sources))
        condition = f"id = ? AND status IN ({', '.join('?' * len(states))})"
        params: list[Any] = [video_id, *states]
        if owner is not None:
            condition += " AND lease_owner = ?"
            params.append(owner)
        with self._transaction() as db:
            changed = db.execute(
                f"UPDATE videos SET {assignments} WHERE {condition}", [*row.values(), *params]
            ).rowcount
        return self.get_video(video_id) if changed else None

    def _claim(
        self, owner: str, capacity: int, lease_seconds: float, share: QueueShare
    ) -> list[TrackedVideo]:
        now = self.clock()
        in_share, models = _share_clause(share)
        with self._transaction() as db:
            active = db.execute(
                f"SELECT count(*) FROM videos WHERE status IN ({ACTIVE}) AND {in_share}", models
            ).fetchone()[0]
            free = capacity - active
            if free <= 0:
                return []
            turns = FAIR_TURNS.format(in_share=in_share)
            candidates = json.dumps(_candidates(db, in_share, models, free, now))
            ids = [row[0] for row in db.execute(turns, (*models, candidates, free))]
            db.executemany(
                "UPDATE videos SET status = 'claimed', progress = 0, error = NULL, failure_kind = NULL,"
                " external_video_id = NULL, create_started_at = NULL, status_note = NULL, started_at = ?,"
                " updated_at = ?, lease_owner = ?, lease_expires_at = ? WHERE id = ?",
                [(now, now, owner, now + lease_seconds, video_id) for video_id in ids],
            )
        return self.get_videos(ids)

    def heartbeat(self, owner: str, lease_seconds: float) -> list[TrackedVideo]:
        now = self.clock()
        with self._transaction() as db:
            db.execute(
                f"UPDATE videos SET lease_owner = ?, lease_expires_at = ? WHERE status IN ({ACTIVE})"
                " AND (lease_owner = ? OR lease_owner IS NULL OR lease_expires_at < ?)",
                (owner, now + lease_seconds, owner, now),
            )
            rows = db.execute(
                f"SELECT * FROM videos WHERE status IN ({ACTIVE}) AND lease_owner = ? ORDER BY created_at",
                (owner,),
            ).fetchall()
        return [_video(row) for row in rows]

    def reference_used(self, key: str) -> bool:
        return bool(self._query("SELECT 1 FROM videos WHERE reference_path = ? LIMIT 1", (key,)))

    def jobs_held(self, job_ids: Collection[str]) -> set[str]:
        ids = list(job_ids)
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        rows = self._query(f"SELECT external_video_id FROM videos WHERE external_video_id IN ({marks})", ids)
        return {row[0] for row in rows}

    def lease_owners(self) -> set[str]:
        return {
            row[0]
            for row in self._query("SELECT DISTINCT lease_owner FROM videos WHERE lease_owner IS NOT NULL")
        }

    def release(self, owner: str) -> int:
        with self._transaction() as db:
            return db.execute(
                "UPDATE videos SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?",
                (owner,),
            ).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
