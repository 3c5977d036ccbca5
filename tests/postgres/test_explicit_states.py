"""20261202160000_explicit_states.sql: the explicit video states, their trigger, failure_kind, the engine.

The migration of an existing project runs on a database of its own (the migrations before it, rows in
every old state, then the migration); everything else runs on the fully migrated test database.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.postgres.conftest import MIGRATIONS_DIR, STUB, USER_A, USER_B, Cluster

if not REQUIRE_SERVICES:  # in CI a missing psycopg must fail the run, not skip it
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -r requirements-dev.txt)")

import psycopg

from mimio_core.domain import ACTIVE_STATES, FailureKind, VideoStatus
from mimio_core.status import TRANSITIONS
from tests.postgres.test_migrations_and_rls import (
    as_anon,
    as_service,
    as_user,
    new_video,
    raises,
    rows,
    video,
)

pytestmark = pytest.mark.service

MIGRATION = "20261202160000_explicit_states.sql"
STATES = ["queued", "claimed", "creating", "generating", "transferring", "completed", "failed", "cancelled"]
ACTIVE = ["claimed", "creating", "generating", "transferring"]
KINDS = [
    "invalid",
    "refused",
    "not_started",
    "unknown_start",
    "provider_failed",
    "timed_out",
    "transfer_failed",
    "storage_refused",
    "internal",
]
# The state machine of mimio_core/status.py: the migration's table and trigger must hold the same.
ALLOWED = {(str(old), str(new)) for old, targets in TRANSITIONS.items() for new in targets}
OLD = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


def insert_video(conn: psycopg.Connection, status: str, title: str | None = None, **values: Any) -> UUID:
    """A video inserted directly in `status` as the superuser (an insert is no transition)."""
    values = {
        "id": uuid4(),
        "user_id": USER_A,
        "title": title or status,
        "prompt": "a red fox running through snow",
        "model": "sora-2",
        "size": "1280x720",
        "duration_seconds": 4,
        "status": status,
        "failure_kind": "internal" if status == "failed" else None,
        "storage_path": f"{USER_A}/{title or status}.mp4" if status == "completed" else None,
        **values,
    }
    conn.execute(
        f"insert into public.videos ({', '.join(values)})"
        f" values ({', '.join(f'%({key})s' for key in values)})",
        values,
    )
    return values["id"]


# --- a. an existing project's rows -----------------------------------------------------------------

# title -> (old status, old error, old extra columns, (new status, new failure_kind))
JOB = {"external_video_id": "job-1", "create_started_at": OLD, "progress": 40}
LEGACY: dict[str, tuple[str, str | None, dict[str, Any], tuple[str, str | None]]] = {
    "queued": ("queued", None, {}, ("queued", None)),
    "claimed": ("processing", None, {}, ("claimed", None)),
    "creating": ("processing", None, {"create_started_at": OLD}, ("creating", None)),
    "generating": ("processing", None, JOB, ("generating", None)),
    "job without create time": ("processing", None, {"external_video_id": "job-2"}, ("generating", None)),
    "completed": ("completed", None, {**JOB, "progress": 100}, ("completed", None)),
    "cancelled": ("failed", "Cancelled.", {}, ("cancelled", None)),
    "cancelled, job left": (
        "failed",
        "Cancelled. The provider did not stop its job; it may still finish and be billed.",
        JOB,
        ("cancelled", None),
    ),
    "invalid": ("failed", "This video cannot be made: the prompt is empty.", {}, ("failed", "invalid")),
    "refused": ("failed", "The provider refused the video: moderation.", JOB, ("failed", "refused")),
    "not started": (
        "failed",
        "Could not start the video within 10 minutes: the provider stayed busy.",
        {},
        ("failed", "not_started"),
    ),
    "app stopped": (
        "failed",
        "The app stopped while the provider was starting the video; it may have started.",
        {"create_started_at": OLD},
        ("failed", "unknown_start"),
    ),
    "start unknown": (
        "failed",
        "Could not start the video: the connection broke.",
        {},
        ("failed", "unknown_start"),
    ),
    "timed out": ("failed", "Timed out after 30 minutes.", JOB, ("failed", "timed_out")),
    # '%Storage refused%' comes before 'Download or storage failed%'
    "storage refused": (
        "failed",
        "Download or storage failed: Storage refused the upload (403).",
        JOB,
        ("failed", "storage_refused"),
    ),
    "not fetched": (
        "failed",
        "The provider's video could not be fetched: 404.",
        JOB,
        ("failed", "transfer_failed"),
    ),
    "transfer": ("failed", "Download or storage failed: disk full.", JOB, ("failed", "transfer_failed")),
    "storing": ("failed", "Storing the video failed: a bug.", JOB, ("failed", "internal")),
    "reference": ("failed", "Reading its reference failed: gone.", {}, ("failed", "internal")),
    "provider": ("failed", "The provider failed: content error.", JOB, ("failed", "provider_failed")),
    "no error": ("failed", None, {}, ("failed", "provider_failed")),
    "cancelled inside": (
        "failed",
        "The provider said: Cancelled.",
        {},
        ("failed", "provider_failed"),
    ),
}
# Recorded before 20261202110000 (which checks only new rows): its reference is another user's file.
BAD_REFERENCE = f"{USER_B}/references/{'ab' * 32}.png"
PRE_REFERENCE_CHECK = {"legacy reference": ("processing", None, JOB, ("generating", None))}


def _insert_legacy(conn: psycopg.Connection, rows_to_add: dict[str, Any], **common: Any) -> None:
    for n, (title, (status, error, extra, _)) in enumerate(rows_to_add.items()):
        values = {
            "id": uuid4(),
            "user_id": USER_A,
            "title": title,
            "prompt": f"prompt of {title}",
            "model": "fal-veo-3.1" if n % 2 else "sora-2",
            "size": "1280x720",
            "duration_seconds": 4 + n,
            "status": status,
            "error": error,
            "progress": 10,
            "storage_path": f"{USER_A}/{n}.mp4" if status == "completed" else None,
            "thumbnail_path": f"{USER_A}/{n}.jpg",
            "batch_id": uuid4(),
            "lease_owner": f"engine-{n}" if status == "processing" else None,
            "lease_expires_at": OLD + timedelta(minutes=n) if status == "processing" else None,
            "created_at": OLD + timedelta(seconds=n),
            "updated_at": OLD,  # long ago (an update here would trip the reference check on the legacy row)
            "started_at": OLD if status != "queued" else None,
            "completed_at": OLD if status in ("completed", "failed") else None,
            **extra,
            **common,
        }
        conn.execute(
            f"insert into public.videos ({', '.join(values)})"
            f" values ({', '.join(f'%({key})s' for key in values)})",
            values,
        )


def _snapshot(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    cursor = conn.execute("select * from public.videos")
    names = [column.name for column in cursor.description]
    return {row[names.index("title")]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


@pytest.fixture(scope="module")
def upgrade(pg_cluster: Cluster) -> Iterator[tuple[dict[str, Any], dict[str, Any], psycopg.Connection]]:
    """A project migrated up to just before MIGRATION, with rows in every old state, then migrated.

    Yields the rows before and after (by title) and a connection to that database.
    """
    name = "mimio_upgrade"
    with pg_cluster.connect() as admin:
        admin.execute(f"drop database if exists {name}")
        admin.execute(f"create database {name}")
    try:
        with pg_cluster.connect(name) as conn:
            conn.execute(STUB.read_text())
            conn.execute(
                "insert into auth.users (id, email) values (%s, 'a@example.com'), (%s, 'b@example.com')",
                [USER_A, USER_B],
            )
            project = uuid4()
            earlier = sorted(path for path in MIGRATIONS_DIR.glob("*.sql") if path.name < MIGRATION)
            for migration in earlier:
                if migration.name == "20261202110000_reference_in_own_folder.sql":
                    _insert_legacy(conn, PRE_REFERENCE_CHECK, reference_path=BAD_REFERENCE)
                with conn.transaction():
                    conn.execute(migration.read_text())
                if migration.name == "20261124060000_projects_and_videos.sql":
                    conn.execute(
                        "insert into public.projects (id, user_id, name) values (%s, %s, 'Ads')",
                        [project, USER_A],
                    )
            _insert_legacy(conn, LEGACY, project_id=project, status_note="Generating at fal.ai")
            reference_check = conn.execute(
                "select pg_get_constraintdef(oid), convalidated from pg_constraint"
                " where conname = 'videos_reference_in_own_folder'"
            ).fetchall()
            before = _snapshot(conn)
            with conn.transaction():
                conn.execute((MIGRATIONS_DIR / MIGRATION).read_text())
            after = _snapshot(conn)
            assert (
                conn.execute(
                    "select pg_get_constraintdef(oid), convalidated from pg_constraint"
                    " where conname = 'videos_reference_in_own_folder'"
                ).fetchall()
                == reference_check
            ), "the reference check must come back exactly as it was (NOT VALID)"
            yield before, after, conn
    finally:
        with pg_cluster.connect() as admin:
            admin.execute(f"drop database if exists {name}")


def test_upgrade_maps_every_old_row_to_its_explicit_state(upgrade: Any) -> None:
    before, after, _ = upgrade
    expected = {title: spec[3] for title, spec in {**LEGACY, **PRE_REFERENCE_CHECK}.items()}
    assert sorted(after) == sorted(before) == sorted(expected)  # no row lost, none added
    assert {title: (row["status"], row["failure_kind"]) for title, row in after.items()} == expected


def test_upgrade_changes_nothing_else(upgrade: Any) -> None:
    before, after, _ = upgrade
    for title, old in before.items():
        new = dict(after[title])
        assert "failure_kind" not in old
        del new["failure_kind"]
        new["status"] = old["status"]
        assert new == old, title  # error, progress, job, files, lease, prompt, updated_at ...
    assert after["legacy reference"]["reference_path"] == BAD_REFERENCE


def test_upgrade_leaves_the_triggers_on(upgrade: Any) -> None:
    _, after, conn = upgrade
    assert rows(
        conn,
        "select tgname, tgenabled from pg_trigger where tgrelid = 'public.videos'::regclass"
        " and not tgisinternal order by 1",
    ) == [("videos_enforce_transition", "O"), ("videos_updated_at", "O")]
    video_id = after["claimed"]["id"]
    with raises("23514", "a video cannot go from claimed to completed"):
        conn.execute(
            "update public.videos set status = 'completed', storage_path = 'x' where id = %s", [video_id]
        )
    conn.execute("update public.videos set status = 'creating' where id = %s", [video_id])
    assert rows(conn, "select updated_at > %s from public.videos where id = %s", [OLD, video_id]) == [(True,)]


# --- b. the transition trigger ---------------------------------------------------------------------


def test_the_states_and_kinds_are_those_of_the_app() -> None:
    assert [str(status) for status in VideoStatus] == STATES
    assert sorted(map(str, ACTIVE_STATES), key=STATES.index) == ACTIVE
    assert sorted(KINDS) == sorted(map(str, FailureKind))
    assert {old for old, _ in ALLOWED} | {new for _, new in ALLOWED} == set(STATES)


def test_the_checks_allow_exactly_the_states_and_kinds(db: psycopg.Connection) -> None:
    checks = dict(
        rows(
            db,
            "select conname, pg_get_constraintdef(oid) from pg_constraint"
            " where conrelid = 'public.videos'::regclass and contype = 'c'"
            " and conname in ('videos_status_check', 'videos_failure_kind_check',"
            " 'videos_failure_kind_only_when_failed')",
        )
    )
    assert sorted(checks) == [
        "videos_failure_kind_check",
        "videos_failure_kind_only_when_failed",
        "videos_status_check",
    ]
    assert checks["videos_failure_kind_only_when_failed"] == (
        "CHECK (((status = 'failed'::text) = (failure_kind IS NOT NULL)))"
    )
    for name, values in [("videos_status_check", STATES), ("videos_failure_kind_check", KINDS)]:
        assert sorted(checks[name].split("'")[1::2]) == sorted(values), checks[name]


def move(conn: psycopg.Connection, video_id: UUID, new: str) -> None:
    """A status change as the engine makes it: failure_kind set on failing, cleared otherwise."""
    with as_service(conn):
        conn.execute(
            "update public.videos set status = %(new)s, storage_path = coalesce(storage_path, 'f.mp4'),"
            " failure_kind = case when %(new)s = 'failed' then 'timed_out' end where id = %(id)s",
            {"new": new, "id": video_id},
        )


@pytest.mark.parametrize(("old", "new"), [pair for pair in itertools.permutations(STATES, 2)])
def test_every_status_change_is_held_to_the_state_machine(db: psycopg.Connection, old: str, new: str) -> None:
    video_id = insert_video(db, old, updated_at=OLD)
    before = video(db, video_id)
    if (old, new) in ALLOWED:
        move(db, video_id, new)
        after = video(db, video_id)
        assert (after["status"], after["failure_kind"]) == (new, "timed_out" if new == "failed" else None)
        assert after["updated_at"] > OLD
    else:
        with raises("23514") as caught:
            move(db, video_id, new)
        assert caught.value.diag.message_primary == f"a video cannot go from {old} to {new}"
        assert video(db, video_id) == before


@pytest.mark.parametrize("status", STATES)
def test_a_video_may_stay_in_its_state(db: psycopg.Connection, status: str) -> None:
    video_id = insert_video(db, status)
    with as_service(db):  # status set to itself, and other columns changed, in any state
        db.execute("update public.videos set status = status, title = 'renamed' where id = %s", [video_id])
    assert (video(db, video_id)["status"], video(db, video_id)["title"]) == (status, "renamed")


def test_the_superuser_is_held_too(db: psycopg.Connection) -> None:
    video_id = insert_video(db, "completed")
    with raises("23514", "a video cannot go from completed to queued"):
        db.execute("update public.videos set status = 'queued' where id = %s", [video_id])
    assert video(db, video_id)["status"] == "completed"


def test_one_refused_row_refuses_the_whole_update(db: psycopg.Connection) -> None:
    claimed, queued = insert_video(db, "claimed"), insert_video(db, "queued")
    with raises("23514", "a video cannot go from queued to creating"), as_service(db):
        db.execute("update public.videos set status = 'creating'")
    assert (video(db, claimed)["status"], video(db, queued)["status"]) == ("claimed", "queued")


# --- c. the transitions table ----------------------------------------------------------------------


def test_video_transitions_holds_exactly_the_state_machine(db: psycopg.Connection) -> None:
    assert set(rows(db, "select from_status, to_status from public.video_transitions")) == ALLOWED
    assert rows(db, "select count(*) from public.video_transitions") == [(len(ALLOWED),)]
    with as_user(db, USER_A):
        assert set(rows(db, "select * from public.video_transitions")) == ALLOWED
    with as_service(db):
        assert set(rows(db, "select * from public.video_transitions")) == ALLOWED


def test_anon_cannot_read_video_transitions(db: psycopg.Connection) -> None:
    with raises("42501", "permission denied for table video_transitions"), as_anon(db):
        db.execute("select * from public.video_transitions")


@pytest.mark.parametrize(
    "sql",
    [
        "insert into public.video_transitions values ('completed', 'queued')",
        "update public.video_transitions set to_status = 'completed' where from_status = 'queued'",
        "delete from public.video_transitions",
        "truncate public.video_transitions",
    ],
)
@pytest.mark.parametrize("role", ["authenticated", "service_role"])
def test_no_api_role_can_change_video_transitions(db: psycopg.Connection, sql: str, role: str) -> None:
    become = as_user(db, USER_A) if role == "authenticated" else as_service(db)
    with raises("42501", "permission denied for table video_transitions"), become:
        db.execute(sql)
    assert set(rows(db, "select * from public.video_transitions")) == ALLOWED


# --- d. failure_kind -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [("failed", None), *((status, "internal") for status in STATES if status != "failed")],
)
def test_a_failure_kind_exactly_on_failed_rows(db: psycopg.Connection, status: str, kind: str | None) -> None:
    with raises("23514") as caught:
        insert_video(db, status, failure_kind=kind)
    assert caught.value.diag.constraint_name == "videos_failure_kind_only_when_failed"
    video_id = insert_video(db, status)  # with the right kind, or none
    with raises("23514") as caught, as_service(db):
        db.execute("update public.videos set failure_kind = %s where id = %s", [kind, video_id])
    assert caught.value.diag.constraint_name == "videos_failure_kind_only_when_failed"
    assert video(db, video_id)["failure_kind"] == ("internal" if status == "failed" else None)


def test_leaving_failed_must_clear_the_kind(db: psycopg.Connection) -> None:
    video_id = insert_video(db, "failed")
    with raises("23514") as caught, as_service(db):
        db.execute("update public.videos set status = 'queued' where id = %s", [video_id])
    assert caught.value.diag.constraint_name == "videos_failure_kind_only_when_failed"
    with as_service(db):
        db.execute(
            "update public.videos set status = 'queued', failure_kind = null where id = %s", [video_id]
        )
    assert (video(db, video_id)["status"], video(db, video_id)["failure_kind"]) == ("queued", None)


@pytest.mark.parametrize("kind", KINDS)
def test_every_failure_kind_is_accepted(db: psycopg.Connection, kind: str) -> None:
    video_id = insert_video(db, "failed", failure_kind=kind)
    assert video(db, video_id)["failure_kind"] == kind


def test_an_unknown_failure_kind_is_refused(db: psycopg.Connection) -> None:
    with raises("23514") as caught:
        insert_video(db, "failed", failure_kind="oops")
    assert caught.value.diag.constraint_name == "videos_failure_kind_check"


@pytest.mark.parametrize(
    ("column", "value"), [("status", "cancelled"), ("status", "failed"), ("failure_kind", "internal")]
)
def test_a_user_cannot_write_status_or_failure_kind(db: psycopg.Connection, column: str, value: str) -> None:
    own = new_video(db, USER_A)
    with raises("42501", "permission denied for table videos"), as_user(db, USER_A):
        db.execute(f"update public.videos set {column} = %s where id = %s", [value, own])
    assert (video(db, own)["status"], video(db, own)["failure_kind"]) == ("queued", None)
    assert (
        rows(
            db,
            "select privilege_type from information_schema.column_privileges where grantee = 'authenticated'"
            " and table_name = 'videos' and column_name = %s and privilege_type <> 'SELECT'",
            [column],
        )
        == []
    )


# --- e. the engine's functions ---------------------------------------------------------------------


def claim(db: psycopg.Connection, capacity: int, models: list[str] | None = None) -> list[dict[str, Any]]:
    with as_service(db):
        cursor = db.execute(
            "select * from public.claim_queued_videos('engine-1', %s, 30, %s) order by created_at",
            [capacity, models],
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_claim_yields_claimed_and_clears_the_last_attempt(db: psycopg.Connection) -> None:
    video_id = insert_video(
        db,
        "queued",
        progress=30,
        error="Timed out after 30 minutes.",
        external_video_id="old-job",
        create_started_at=OLD,
        status_note="Waiting at fal.ai",
        started_at=OLD,
    )
    with as_service(db):
        now = db.execute("select now()").fetchone()[0]
    [claimed] = claim(db, 1)
    assert claimed["id"] == video_id
    picked = {name: claimed[name] for name in ("status", "progress", "error", "failure_kind")}
    assert picked == {"status": "claimed", "progress": 0, "error": None, "failure_kind": None}
    assert (claimed["external_video_id"], claimed["create_started_at"], claimed["status_note"]) == (
        None,
        None,
        None,
    )
    assert claimed["lease_owner"] == "engine-1"
    assert claimed["started_at"] > now
    assert claimed["lease_expires_at"] - claimed["started_at"] == timedelta(seconds=30)
    assert video(db, video_id) == claimed


def test_claim_counts_every_active_state_against_capacity(db: psycopg.Connection) -> None:
    for status in [*ACTIVE, "completed", "failed", "cancelled"]:
        insert_video(db, status)
    insert_video(db, "generating", "other provider's", model="fal-veo-3.1")
    first, second = insert_video(db, "queued", "first"), insert_video(db, "queued", "second")
    assert claim(db, 4, ["sora-2"]) == []  # claimed, creating, generating, transferring: 4 slots taken
    assert claim(db, 5, ["sora-2"]) == [video(db, first)]  # the final ones and the other share's do not
    assert claim(db, 5, ["sora-2"]) == []
    assert claim(db, 6) == []  # the whole queue: six active now
    assert [row["id"] for row in claim(db, 7)] == [second]


@pytest.mark.parametrize("taken", ["generating", "transferring"])
def test_a_generating_or_transferring_video_takes_a_slot(db: psycopg.Connection, taken: str) -> None:
    insert_video(db, taken)
    insert_video(db, "queued")
    assert claim(db, 1) == []
    assert len(claim(db, 2)) == 1


def test_hold_video_leases_holds_the_active_states_only(db: psycopg.Connection) -> None:
    ids = {
        status: insert_video(
            db, status, created_at=OLD + timedelta(minutes=n), lease_owner=None if n % 2 else "gone"
        )
        for n, status in enumerate(STATES)
    }
    db.execute("update public.videos set lease_expires_at = now() - interval '1 second'")
    before = {status: video(db, video_id) for status, video_id in ids.items()}
    with as_service(db):
        held = rows(
            db,
            "select status, lease_owner, lease_expires_at = now() + interval '60 seconds'"
            " from public.hold_video_leases('engine-1', 60)",
        )
    assert held == [(status, "engine-1", True) for status in ACTIVE]  # by created_at
    for status in set(STATES) - set(ACTIVE):
        assert video(db, ids[status]) == before[status], status


@pytest.mark.parametrize("status", STATES)
def test_record_video_progress_only_in_an_active_state(db: psycopg.Connection, status: str) -> None:
    video_id = insert_video(db, status, lease_owner="engine-1", progress=10)
    before = video(db, video_id)
    with as_service(db):
        recorded = db.execute(
            "select public.record_video_progress(%s, 'engine-1', 50, 'job-9', 'Generating at fal.ai')",
            [video_id],
        ).fetchone()[0]
    after = video(db, video_id)
    if status in ACTIVE:
        assert recorded is True
        assert (after["status"], after["progress"], after["external_video_id"], after["status_note"]) == (
            status,
            50,
            "job-9",
            "Generating at fal.ai",
        )
    else:
        assert recorded is False
        assert after == before
