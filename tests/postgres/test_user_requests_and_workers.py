"""20261202170000_user_requests_and_workers.sql: users' requests on videos, and engine heartbeats.

The migration of an existing project runs on a database of its own (the migrations up to
20261202160000, rows in every state, then this migration); everything else runs on the fully migrated
test database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.postgres.conftest import MIGRATIONS_DIR, STUB, USER_A, USER_B, Cluster

if not REQUIRE_SERVICES:  # in CI a missing psycopg must fail the run, not skip it
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -r requirements-dev.txt)")

import psycopg

from tests.postgres.test_explicit_states import (
    BAD_REFERENCE,
    LEGACY,
    OLD,
    PRE_REFERENCE_CHECK,
    _insert_legacy,
    insert_video,
)
from tests.postgres.test_migrations_and_rls import (
    advance,
    affected,
    as_anon,
    as_service,
    as_user,
    new_project,
    new_video,
    raises,
    rows,
    video,
)

pytestmark = pytest.mark.service

MIGRATION = "20261202170000_user_requests_and_workers.sql"
PREVIOUS = "20261202160000_explicit_states.sql"
STATES = ["queued", "claimed", "creating", "generating", "transferring", "completed", "failed", "cancelled"]
ACTIVE = ["claimed", "creating", "generating", "transferring"]
ACTIONS = ["retry", "cancel", "delete"]


@pytest.fixture
def db(db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The shared fixture empties videos and projects; engines rows are this file's to clear."""
    db.execute("delete from public.engines")
    yield db
    db.execute("delete from public.engines")


def request(conn: psycopg.Connection, user: UUID, video_id: UUID, action: str | None) -> tuple[int, Any]:
    """One request by `user` setting requested_action; the rows it changed and that request's now()."""
    with as_user(conn, user):
        changed = affected(
            conn, "update public.videos set requested_action = %s where id = %s", [action, video_id]
        )
        return changed, conn.execute("select now()").fetchone()[0]


def requested(conn: psycopg.Connection, video_id: UUID) -> tuple[str | None, Any]:
    row = video(conn, video_id)
    return row["requested_action"], row["requested_at"]


# --- a. a user's requests --------------------------------------------------------------------------


def test_the_columns_check_and_index(db: psycopg.Connection) -> None:
    assert rows(
        db,
        "select column_name, data_type, is_nullable, column_default from information_schema.columns"
        " where table_schema = 'public' and table_name = 'videos'"
        " and column_name in ('requested_action', 'requested_at') order by 1",
    ) == [
        ("requested_action", "text", "YES", None),
        ("requested_at", "timestamp with time zone", "YES", None),
    ]
    assert rows(
        db,
        "select pg_get_constraintdef(oid) from pg_constraint where conname = 'videos_requested_action_check'",
    ) == [("CHECK ((requested_action = ANY (ARRAY['retry'::text, 'cancel'::text, 'delete'::text])))",)]
    assert rows(db, "select indexdef from pg_indexes where indexname = 'videos_requested'") == [
        (
            "CREATE INDEX videos_requested ON public.videos USING btree (requested_at)"
            " WHERE (requested_action IS NOT NULL)",
        )
    ]
    triggers = rows(
        db,
        "select tgname, tgenabled from pg_trigger where tgrelid = 'public.videos'::regclass"
        " and not tgisinternal order by 1",
    )  # later migrations add their own
    assert {
        ("videos_enforce_transition", "O"),
        ("videos_stamp_request", "O"),
        ("videos_updated_at", "O"),
    } <= set(triggers)


def test_a_new_video_has_no_request(db: psycopg.Connection) -> None:
    own = new_video(db, USER_A)
    assert requested(db, own) == (None, None)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_user_requests_and_clears_an_action_on_their_video(db: psycopg.Connection, action: str) -> None:
    own = new_video(db, USER_A)
    before = video(db, own)
    changed, now = request(db, USER_A, own, action)
    assert changed == 1
    assert requested(db, own) == (action, now)  # the server's clock, in the request's transaction
    after = video(db, own)
    assert after["updated_at"] == now
    untouched = {"requested_action", "requested_at", "updated_at"}
    assert {k: v for k, v in after.items() if k not in untouched} == {
        k: v for k, v in before.items() if k not in untouched
    }  # the status and every lifecycle column stay as they were
    with as_user(db, USER_A):  # the user sees their request
        assert rows(db, "select requested_action, requested_at from public.videos") == [(action, now)]
    assert request(db, USER_A, own, None)[0] == 1
    assert requested(db, own) == (None, None)


def test_asking_again_keeps_the_first_time_and_a_new_action_restamps(db: psycopg.Connection) -> None:
    own = new_video(db, USER_A)
    _, first = request(db, USER_A, own, "cancel")
    _, again = request(db, USER_A, own, "cancel")
    assert again > first
    assert requested(db, own) == ("cancel", first)
    with as_user(db, USER_A):  # a rename leaves the request alone
        db.execute("update public.videos set title = 'Renamed' where id = %s", [own])
    assert requested(db, own) == ("cancel", first)
    _, changed_at = request(db, USER_A, own, "delete")
    assert requested(db, own) == ("delete", changed_at)
    assert changed_at > first


def test_an_unknown_action_is_refused(db: psycopg.Connection) -> None:
    own = new_video(db, USER_A)
    for value in ["destroy", "", "Retry"]:
        with raises("23514") as caught:
            request(db, USER_A, own, value)
        assert caught.value.diag.constraint_name == "videos_requested_action_check"
    assert requested(db, own) == (None, None)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_user_cannot_request_on_another_users_video(db: psycopg.Connection, action: str) -> None:
    theirs = new_video(db, USER_B)
    assert request(db, USER_A, theirs, action)[0] == 0  # RLS: not even seen
    with as_user(db, USER_A):
        assert affected(db, "update public.videos set requested_action = %s", [action]) == 0
    assert requested(db, theirs) == (None, None)
    _, now = request(db, USER_B, theirs, action)
    assert request(db, USER_A, theirs, None)[0] == 0  # nor clear the owner's request
    assert requested(db, theirs) == (action, now)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("requested_at", "2000-01-01T00:00:00+00:00"),
        ("status", "cancelled"),
        ("failure_kind", "internal"),
        ("progress", 100),
        ("error", "x"),
        ("storage_path", f"{USER_A}/x.mp4"),
        ("external_video_id", "job-1"),
        ("status_note", "x"),
        ("lease_owner", "me"),
        ("lease_expires_at", "2000-01-01T00:00:00+00:00"),
        ("started_at", "2000-01-01T00:00:00+00:00"),
        ("completed_at", "2000-01-01T00:00:00+00:00"),
        ("updated_at", "2000-01-01T00:00:00+00:00"),
    ],
)
def test_a_user_writes_only_the_action(db: psycopg.Connection, column: str, value: Any) -> None:
    own = new_video(db, USER_A)
    before = video(db, own)
    for sql in [
        f"update public.videos set {column} = %s where id = %s",
        f"update public.videos set requested_action = 'cancel', {column} = %s where id = %s",
    ]:
        with raises("42501", "permission denied for table videos"), as_user(db, USER_A):
            db.execute(sql, [value, own])
    assert video(db, own) == before


def test_the_only_column_grants_on_requests(db: psycopg.Connection) -> None:
    assert rows(
        db,
        "select grantee, privilege_type, column_name from information_schema.column_privileges"
        " where table_name = 'videos' and column_name in ('requested_action', 'requested_at')"
        " and grantee in ('anon', 'authenticated') order by 1, 2, 3",
    ) == [
        ("authenticated", "SELECT", "requested_action"),
        ("authenticated", "SELECT", "requested_at"),
        ("authenticated", "UPDATE", "requested_action"),
    ]


def test_a_user_cannot_record_a_video_with_a_request(db: psycopg.Connection) -> None:
    with raises("42501", "permission denied for table videos"), as_user(db, USER_A):
        db.execute(
            "insert into public.videos (title, prompt, model, size, duration_seconds, requested_action)"
            " values ('t', 'p', 'sora-2', '1280x720', 4, 'delete')"
        )
    assert rows(db, "select count(*) from public.videos") == [(0,)]


@pytest.mark.parametrize(
    "sql",
    [
        "update public.videos set requested_action = 'cancel'",
        "update public.videos set requested_action = null",
        "select requested_action from public.videos",
    ],
)
def test_anon_gets_nothing(db: psycopg.Connection, sql: str) -> None:
    own = new_video(db, USER_A)
    _, now = request(db, USER_A, own, "retry")
    with raises("42501", "permission denied for table videos"), as_anon(db):
        db.execute(sql)
    assert requested(db, own) == ("retry", now)


def test_the_server_stamps_the_time_whoever_writes(db: psycopg.Connection) -> None:
    own = new_video(db, USER_A)
    with as_service(db):  # a requested_at sent along is overwritten
        db.execute(
            "update public.videos set requested_action = 'retry', requested_at = %s where id = %s",
            [OLD, own],
        )
        now = db.execute("select now()").fetchone()[0]
    assert requested(db, own) == ("retry", now)
    with as_service(db):  # the same action again keeps the first time, whatever is sent
        db.execute(
            "update public.videos set requested_action = 'retry', requested_at = %s where id = %s",
            [OLD, own],
        )
    assert requested(db, own) == ("retry", now)
    with as_service(db):  # the engine clears the request once carried out: the time goes too
        db.execute(
            "update public.videos set requested_action = null, requested_at = %s where id = %s", [OLD, own]
        )
    assert requested(db, own) == (None, None)


@pytest.mark.parametrize("action", [*ACTIONS, None])
def test_an_insert_is_stamped_too(db: psycopg.Connection, action: str | None) -> None:
    with as_service(db):
        video_id = insert_video(db, "queued", requested_action=action, requested_at=OLD)
        now = db.execute("select now()").fetchone()[0]
    assert requested(db, video_id) == (action, now if action else None)


@pytest.mark.parametrize("status", STATES)
def test_a_request_changes_no_state(db: psycopg.Connection, status: str) -> None:
    video_id = insert_video(db, status)
    before = video(db, video_id)
    _, now = request(db, USER_A, video_id, "cancel")
    after = video(db, video_id)
    assert (after["status"], after["requested_action"], after["requested_at"]) == (status, "cancel", now)
    ignored = {"requested_action", "requested_at", "updated_at"}
    assert {k: v for k, v in after.items() if k not in ignored} == {
        k: v for k, v in before.items() if k not in ignored
    }


# --- b. engines and their heartbeats ---------------------------------------------------------------


def beat(conn: psycopg.Connection, owner: str, held: int = 0, **values: Any) -> Any:
    """One heartbeat as the engine (service role) sends it; that request's now()."""
    args = {"host": "host-1", "pid": 100, "version": "1.0.0", "started_at": OLD, "held": held, **values}
    with as_service(conn):
        result = conn.execute(
            "select public.record_engine_beat(%(owner)s, %(host)s, %(pid)s, %(version)s, %(started_at)s,"
            " %(held)s)",
            {"owner": owner, **args},
        ).fetchone()
        assert result == (None,)  # returns void
        return conn.execute("select now()").fetchone()[0]


def engines(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return rows(
        conn,
        "select owner, host, pid, version, started_at, last_seen, videos_held from public.engines order by 1",
    )


def test_the_engines_table(db: psycopg.Connection) -> None:
    assert rows(
        db,
        "select column_name, data_type, is_nullable from information_schema.columns"
        " where table_schema = 'public' and table_name = 'engines' order by ordinal_position",
    ) == [
        ("owner", "text", "NO"),
        ("host", "text", "NO"),
        ("pid", "integer", "NO"),
        ("version", "text", "NO"),
        ("started_at", "timestamp with time zone", "NO"),
        ("last_seen", "timestamp with time zone", "NO"),
        ("videos_held", "integer", "NO"),
    ]
    assert rows(db, "select relrowsecurity from pg_class where oid = 'public.engines'::regclass") == [(True,)]
    assert rows(db, "select count(*) from pg_policies where tablename = 'engines'") == [(0,)]
    assert (
        rows(
            db,
            "select grantee, privilege_type from information_schema.role_table_grants"
            " where table_schema = 'public' and table_name = 'engines'"
            " and grantee in ('anon', 'authenticated', 'PUBLIC')",
        )
        == []
    )


@pytest.mark.parametrize(
    "sql",
    [
        "select * from public.engines",
        "select count(*) from public.engines",
        "insert into public.engines (owner, host, pid, version, started_at) values ('x', 'h', 1, 'v', now())",
        "update public.engines set last_seen = now()",
        "delete from public.engines",
        "truncate public.engines",
    ],
)
@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_users_cannot_touch_engines(db: psycopg.Connection, sql: str, role: str) -> None:
    seen = beat(db, "engine-1")
    become = as_user(db, USER_A) if role == "authenticated" else as_anon(db)
    with raises("42501", "permission denied for table engines"), become:
        db.execute(sql)
    assert engines(db) == [("engine-1", "host-1", 100, "1.0.0", OLD, seen, 0)]


def test_a_beat_records_then_refreshes_the_engines_row(db: psycopg.Connection) -> None:
    first = beat(db, "engine-1", 2)
    assert engines(db) == [("engine-1", "host-1", 100, "1.0.0", OLD, first, 2)]
    restarted = OLD + timedelta(hours=1)
    second = beat(db, "engine-1", 5, host="host-2", pid=200, version="1.1.0", started_at=restarted)
    assert second > first
    assert engines(db) == [("engine-1", "host-2", 200, "1.1.0", restarted, second, 5)]
    other = beat(db, "engine-2")
    assert engines(db) == [
        ("engine-1", "host-2", 200, "1.1.0", restarted, second, 5),
        ("engine-2", "host-1", 100, "1.0.0", OLD, other, 0),
    ]


def test_a_beat_cannot_hold_a_negative_count(db: psycopg.Connection) -> None:
    with raises("23514") as caught:
        beat(db, "engine-1", -1)
    assert caught.value.diag.constraint_name == "engines_videos_held_check"
    assert engines(db) == []


def test_forget_engine_deletes_only_its_row(db: psycopg.Connection) -> None:
    beat(db, "engine-1")
    kept = beat(db, "engine-2")
    with as_service(db):
        assert rows(db, "select public.forget_engine('engine-1')") == [(None,)]
        assert rows(db, "select public.forget_engine('never there')") == [(None,)]
    assert engines(db) == [("engine-2", "host-1", 100, "1.0.0", OLD, kept, 0)]


def online(conn: psycopg.Connection, within: float, role: str = "authenticated") -> int:
    become = as_user(conn, USER_A) if role == "authenticated" else as_service(conn)
    with become:
        return conn.execute("select public.online_workers(%s)", [within]).fetchone()[0]


def test_online_workers_counts_the_recent_beats_only(db: psycopg.Connection) -> None:
    for owner in ["fresh", "a minute ago", "an hour ago", "just now"]:
        beat(db, owner)
    db.execute(
        "update public.engines set last_seen = now() - interval '61 seconds' where owner = 'a minute ago'"
    )
    db.execute("update public.engines set last_seen = now() - interval '1 hour' where owner = 'an hour ago'")
    assert online(db, 60) == 2
    assert online(db, 60, "service_role") == 2
    assert online(db, 62) == 3
    assert online(db, 7200) == 4
    assert online(db, 0) == 0
    db.execute("delete from public.engines")
    assert online(db, 7200) == 0


def test_online_workers_includes_a_beat_exactly_at_the_edge(db: psycopg.Connection) -> None:
    beat(db, "edge")
    with db.transaction():  # one transaction: now() is the same for the update and the count
        db.execute("update public.engines set last_seen = now() - interval '30 seconds'")
        db.execute("set local role authenticated")
        assert db.execute("select public.online_workers(30)").fetchone()[0] == 1
        assert db.execute("select public.online_workers(29.999)").fetchone()[0] == 0


def test_online_workers_is_no_window_onto_engines(db: psycopg.Connection) -> None:
    beat(db, "engine-1")
    assert rows(
        db,
        "select prosecdef, provolatile, proconfig, pg_get_function_result(oid) from pg_proc"
        " where proname = 'online_workers'",
    ) == [(True, "s", ['search_path=""'], "integer")]
    with raises("42501", "permission denied for function online_workers"), as_anon(db):
        db.execute("select public.online_workers(60)")


ENGINE_ONLY = [
    "select public.record_engine_beat('x', 'h', 1, 'v', now(), 0)",
    "select public.forget_engine('engine-1')",
    "select * from public.requested_videos('engine-1', 10)",
]


@pytest.mark.parametrize("sql", ENGINE_ONLY)
@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_engine_functions_are_service_role_only(db: psycopg.Connection, sql: str, role: str) -> None:
    seen = beat(db, "engine-1")
    become = as_user(db, USER_A) if role == "authenticated" else as_anon(db)
    with raises("42501", "permission denied for function"), become:
        db.execute(sql)
    assert engines(db) == [("engine-1", "host-1", 100, "1.0.0", OLD, seen, 0)]


def test_the_functions_signatures(db: psycopg.Connection) -> None:
    assert rows(
        db,
        "select proname, pg_get_function_identity_arguments(oid), pg_get_function_result(oid)"
        " from pg_proc where pronamespace = 'public'::regnamespace and proname in"
        " ('stamp_video_request', 'record_engine_beat', 'forget_engine', 'online_workers',"
        " 'requested_videos') order by 1",
    ) == [
        ("forget_engine", "p_owner text", "void"),
        ("online_workers", "p_within_seconds double precision", "integer"),
        (
            "record_engine_beat",
            "p_owner text, p_host text, p_pid integer, p_version text,"
            " p_started_at timestamp with time zone, p_videos_held integer",
            "void",
        ),
        ("requested_videos", "p_owner text, p_limit integer", "SETOF videos"),
        ("stamp_video_request", "", "trigger"),
    ]
    with raises("42501", "permission denied for function stamp_video_request"), as_service(db):
        db.execute("select public.stamp_video_request()")


# --- c. the requests an engine may carry out -------------------------------------------------------

LIVE, EXPIRED = "now() + interval '30 seconds'", "now() - interval '1 second'"


def requested_by(db: psycopg.Connection, owner: str = "engine-1", limit: int = 100) -> list[str]:
    with as_service(db):
        return [
            row[0] for row in rows(db, "select title from public.requested_videos(%s, %s)", [owner, limit])
        ]


def make(
    db: psycopg.Connection,
    title: str,
    status: str,
    action: str | None,
    owner: str | None = None,
    expires: str | None = None,
    minute: int = 0,
) -> UUID:
    """A video in `status`, leased to `owner` until `expires`, with `action` requested `minute` min ago."""
    video_id = insert_video(db, status, title)
    db.execute(
        f"update public.videos set lease_owner = %s, lease_expires_at = {expires or 'null'},"
        " requested_action = %s where id = %s",
        [owner, action, video_id],
    )
    db.execute(  # requested_at alone: the stamp trigger fires on requested_action only
        "update public.videos set requested_at = case when requested_action is not null"
        " then now() - make_interval(mins => %s) end where id = %s",
        [minute, video_id],
    )
    return video_id


def test_requested_videos_are_those_the_engine_may_carry_out(db: psycopg.Connection) -> None:
    expected = []
    minute = 100
    for status in ["queued", "completed", "failed", "cancelled"]:  # not active: whoever holds them
        for action in ACTIONS:
            make(db, f"{status} {action}", status, action, minute=minute)
            expected.append(f"{status} {action}")
            minute -= 1
        make(db, f"{status} stale lease", status, "delete", "engine-2", LIVE, minute)
        expected.append(f"{status} stale lease")
        minute -= 1
    for status in ACTIVE:
        for case, owner, expires in [
            ("own", "engine-1", LIVE),
            ("own expired", "engine-1", EXPIRED),
            ("unowned", None, None),
            ("unowned with time", None, LIVE),
            ("expired", "engine-2", EXPIRED),
        ]:
            make(db, f"{status} {case}", status, "cancel", owner, expires, minute)
            expected.append(f"{status} {case}")
            minute -= 1
        make(db, f"{status} held by another", status, "cancel", "engine-2", LIVE, minute)
        make(db, f"{status} no request", status, None, "engine-1", LIVE, minute)
        minute -= 1
    for status in STATES:
        make(db, f"{status} nothing asked", status, None)
    assert minute > 0
    assert requested_by(db) == expected  # oldest request first
    held_by_two = [title for title in expected if not title.endswith(" own")] + [
        f"{status} held by another" for status in ACTIVE
    ]
    assert sorted(requested_by(db, "engine-2")) == sorted(held_by_two)


def test_requested_videos_returns_whole_rows(db: psycopg.Connection) -> None:
    video_id = make(db, "asked", "queued", "retry")
    with as_service(db):
        cursor = db.execute("select * from public.requested_videos('engine-1', 10)")
        names = [column.name for column in cursor.description]
        [row] = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    assert row == video(db, video_id)


def test_requested_videos_orders_by_time_then_id_and_respects_the_limit(db: psycopg.Connection) -> None:
    ids = {title: make(db, title, "queued", "cancel", minute=5) for title in ["p", "q", "r"]}
    make(db, "newest", "failed", "retry", minute=1)
    make(db, "oldest", "generating", "delete", "engine-1", LIVE, minute=9)
    same_time = sorted(ids, key=lambda title: ids[title])
    db.execute(  # the three at exactly the same time: id decides
        "update public.videos set requested_at = (select requested_at from public.videos where id = %s)"
        " where id = any(%s)",
        [ids["p"], list(ids.values())],
    )
    assert requested_by(db) == ["oldest", *same_time, "newest"]
    assert requested_by(db, limit=2) == ["oldest", same_time[0]]
    assert requested_by(db, limit=0) == []
    assert requested_by(db, limit=1) == ["oldest"]


def test_requested_videos_changes_nothing(db: psycopg.Connection) -> None:
    video_id = make(db, "held", "creating", "cancel", "engine-1", EXPIRED)
    before = video(db, video_id)
    assert requested_by(db) == ["held"]
    assert video(db, video_id) == before  # no lease is taken: hold_video_leases does that


# --- d. claiming skips videos about to be cancelled or removed ------------------------------------


def claim(db: psycopg.Connection, capacity: int, models: list[str] | None = None) -> list[str]:
    with as_service(db):
        return [
            row[0]
            for row in rows(
                db,
                "select title from public.claim_queued_videos('engine-1', %s, 30, %s) order by created_at",
                [capacity, models],
            )
        ]


def queued(db: psycopg.Connection, spec: dict[str, str | None]) -> dict[str, UUID]:
    """Queued videos, oldest first in `spec` order, each with its requested action."""
    ids = {}
    for n, (title, action) in enumerate(spec.items()):
        ids[title] = insert_video(db, "queued", title, created_at=OLD + timedelta(minutes=n))
        db.execute("update public.videos set requested_action = %s where id = %s", [action, ids[title]])
    return ids


def test_claim_skips_cancel_and_delete_requests(db: psycopg.Connection) -> None:
    ids = queued(db, {"cancel": "cancel", "delete": "delete", "retry": "retry", "plain": None})
    assert claim(db, 1) == ["retry"]  # the two older ones are passed over, not counted against the slot
    assert claim(db, 2) == ["plain"]
    assert claim(db, 100) == []
    assert {title: video(db, ids[title])["status"] for title in ids} == {
        "cancel": "queued",
        "delete": "queued",
        "retry": "claimed",
        "plain": "claimed",
    }
    assert requested(db, ids["retry"])[0] == "retry"  # the claim leaves the request for the engine
    db.execute("update public.videos set requested_action = null where id = %s", [ids["cancel"]])
    assert claim(db, 100) == ["cancel"]  # withdrawn: claimed as any other


def test_claim_still_counts_active_videos_with_requests(db: psycopg.Connection) -> None:
    for status, action in zip(ACTIVE, ["cancel", "delete", "retry", None], strict=True):
        make(db, f"active {status}", status, action, "engine-2", LIVE)
    make(db, "other share", "generating", "cancel", "engine-2", LIVE)
    db.execute("update public.videos set model = 'fal-veo-3.1' where title = 'other share'")
    queued(db, {"first": "retry", "second": None, "skipped": "delete"})
    assert claim(db, 4, ["sora-2"]) == []  # four active in this share, requests or not
    assert claim(db, 5, ["sora-2"]) == ["first"]
    assert claim(db, 6) == []  # the whole queue: six active now
    assert claim(db, 100, ["fal-veo-3.1"]) == []
    assert claim(db, 7) == ["second"]
    assert claim(db, 100) == []


def test_claim_keeps_its_signature_and_grants(db: psycopg.Connection) -> None:
    assert rows(
        db,
        "select pg_get_function_identity_arguments(oid),"
        " has_function_privilege('service_role', oid, 'execute'),"
        " has_function_privilege('authenticated', oid, 'execute'),"
        " has_function_privilege('anon', oid, 'execute')"
        " from pg_proc where proname = 'claim_queued_videos'",
    ) == [
        (
            "p_owner text, p_capacity integer, p_lease_seconds double precision, p_models text[],"
            " p_exclude boolean",
            True,
            False,
            False,
        )
    ]


# --- e. the summaries leave out what a user deleted ------------------------------------------------


def test_summaries_leave_out_videos_being_deleted(db: psycopg.Connection) -> None:
    ads, promo = new_project(db, USER_A, "Ads"), new_project(db, USER_A, "Promo")
    titles = ["kept", "deleting", "cancelling", "retrying", "unfiled", "unfiled deleting", "queued deleting"]
    ids = {title: new_video(db, USER_A, title, None if "unfiled" in title else ads) for title in titles}
    gone = new_video(db, USER_A, "promo deleting", promo)
    for title in titles[:-1]:
        advance(db, ids[title], "completed", progress=100, storage_path=f"files/{ids[title]}.mp4")
    advance(db, gone, "completed", progress=100, storage_path=f"files/{gone}.mp4")
    theirs = new_video(db, USER_B, "theirs", new_project(db, USER_B, "Theirs"))
    for title, action in [
        ("deleting", "delete"),
        ("cancelling", "cancel"),
        ("retrying", "retry"),
        ("unfiled deleting", "delete"),
        ("queued deleting", "delete"),
    ]:
        assert request(db, USER_A, ids[title], action)[0] == 1
    request(db, USER_A, gone, "delete")
    request(db, USER_B, theirs, "delete")
    with as_user(db, USER_A):
        assert rows(db, "select * from public.project_video_counts()") == [(ads, 3)]  # promo: none left
        assert sorted(rows(db, "select * from public.video_usage()"), key=str) == sorted(
            [(ads, "sora-2", "1280x720", 3, 12), (None, "sora-2", "1280x720", 1, 4)], key=str
        )
    with as_user(db, USER_B):
        assert rows(db, "select * from public.project_video_counts()") == []
        assert rows(db, "select * from public.video_usage()") == []
    request(db, USER_A, ids["deleting"], None)  # the request withdrawn: counted again
    with as_user(db, USER_A):
        assert rows(db, "select * from public.project_video_counts()") == [(ads, 4)]


def test_summaries_keep_their_signatures_and_grants(db: psycopg.Connection) -> None:
    assert rows(
        db,
        "select proname, prosecdef, pg_get_function_result(oid),"
        " has_function_privilege('authenticated', oid, 'execute'),"
        " has_function_privilege('anon', oid, 'execute') from pg_proc"
        " where proname in ('project_video_counts', 'video_usage') order by 1",
    ) == [
        ("project_video_counts", False, "TABLE(project_id uuid, videos bigint)", True, False),
        (
            "video_usage",
            False,
            "TABLE(project_id uuid, model text, size text, videos bigint, seconds bigint)",
            True,
            False,
        ),
    ]


# --- f. an existing project ------------------------------------------------------------------------


def _snapshot(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    cursor = conn.execute("select * from public.videos")
    names = [column.name for column in cursor.description]
    return {row[names.index("title")]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


@pytest.fixture(scope="module")
def upgrade(pg_cluster: Cluster) -> Iterator[tuple[dict[str, Any], dict[str, Any], psycopg.Connection]]:
    """A project migrated up to PREVIOUS with rows from every era and in every state, then migrated."""
    name = "mimio_upgrade_requests"
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
            project = UUID(int=7)
            earlier = sorted(path for path in MIGRATIONS_DIR.glob("*.sql") if path.name <= PREVIOUS)
            assert earlier[-1].name == PREVIOUS
            for migration in earlier:
                if migration.name == "20261202110000_reference_in_own_folder.sql":
                    _insert_legacy(conn, PRE_REFERENCE_CHECK, reference_path=BAD_REFERENCE)
                if migration.name == PREVIOUS:
                    _insert_legacy(conn, LEGACY, project_id=project, status_note="Generating at fal.ai")
                with conn.transaction():
                    conn.execute(migration.read_text())
                if migration.name == "20261124060000_projects_and_videos.sql":
                    conn.execute(
                        "insert into public.projects (id, user_id, name) values (%s, %s, 'Ads')",
                        [project, USER_A],
                    )
            for status in STATES:  # rows recorded in the explicit states
                insert_video(conn, status, f"new {status}", project_id=project, lease_owner="engine-1")
            before = _snapshot(conn)
            with conn.transaction():
                conn.execute((MIGRATIONS_DIR / MIGRATION).read_text())
            yield before, _snapshot(conn), conn
    finally:
        with pg_cluster.connect() as admin:
            admin.execute(f"drop database if exists {name}")


def test_upgrade_adds_an_empty_request_and_changes_nothing_else(upgrade: Any) -> None:
    before, after, _ = upgrade
    assert len(before) == len(LEGACY) + len(PRE_REFERENCE_CHECK) + len(STATES)
    assert sorted(after) == sorted(before)
    for title, old in before.items():
        assert "requested_action" not in old
        assert after[title] == {**old, "requested_action": None, "requested_at": None}, title
    assert after["legacy reference"]["reference_path"] == BAD_REFERENCE


def test_upgrade_brings_the_requests_and_engines(upgrade: Any) -> None:
    before, _, conn = upgrade
    queued_id = before["new queued"]["id"]
    assert rows(
        conn,
        "select tgname from pg_trigger where tgrelid = 'public.videos'::regclass"
        " and not tgisinternal order by 1",
    ) == [("videos_enforce_transition",), ("videos_stamp_request",), ("videos_updated_at",)]
    assert rows(conn, "select count(*) from public.engines") == [(0,)]
    _, now = request(conn, USER_A, queued_id, "delete")
    assert rows(
        conn, "select requested_action, requested_at from public.videos where id = %s", [queued_id]
    ) == [("delete", now)]
    with as_service(conn):
        assert rows(conn, "select title from public.claim_queued_videos('engine-2', 100, 30)") == [
            ("queued",)
        ]  # the legacy queued row; the one being deleted stays
        assert [
            row[0] for row in rows(conn, "select title from public.requested_videos('engine-2', 10)")
        ] == ["new queued"]
