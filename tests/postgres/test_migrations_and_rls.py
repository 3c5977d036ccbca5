"""The Supabase migrations on a real PostgreSQL 15, and Row Level Security seen as PostgREST sees it.

Every request PostgREST serves is one transaction that starts with `set local role <role>` and
`set_config('request.jwt.claims', <the JWT's claims>, true)`; `as_user`, `as_anon` and `as_service`
do exactly that, so the policies, column privileges and function grants below are the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.postgres.conftest import USER_A, USER_B, Cluster

if not REQUIRE_SERVICES:  # in CI a missing psycopg must fail the run, not skip it
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -r requirements-dev.txt)")

import psycopg

pytestmark = pytest.mark.service

OLD = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


# --- PostgREST's way of becoming a role ------------------------------------------------------------


@contextmanager
def _as_role(conn: psycopg.Connection, role: str, claims: dict[str, str]) -> Iterator[psycopg.Connection]:
    with conn.transaction():
        conn.execute(f"set local role {role}")
        conn.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        yield conn


def as_user(conn: psycopg.Connection, user_id: UUID):
    """One request by a signed-in user: role `authenticated`, JWT `sub` = user_id."""
    return _as_role(conn, "authenticated", {"sub": str(user_id), "role": "authenticated"})


def as_anon(conn: psycopg.Connection):
    """One request with only the anon key."""
    return _as_role(conn, "anon", {"role": "anon"})


def as_service(conn: psycopg.Connection):
    """One request with the service-role key (the engine)."""
    return _as_role(conn, "service_role", {"role": "service_role"})


@contextmanager
def raises(sqlstate: str, message: str | None = None) -> Iterator[pytest.ExceptionInfo[psycopg.Error]]:
    """Expect one SQL error by SQLSTATE (and, when given, a fragment of its message)."""
    with pytest.raises(psycopg.Error) as caught:
        yield caught
    assert caught.value.sqlstate == sqlstate, f"[{caught.value.sqlstate}] {caught.value}"
    if message is not None:
        assert message in str(caught.value), str(caught.value)


def rows(conn: psycopg.Connection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params).fetchall()


def affected(conn: psycopg.Connection, sql: str, params: Any = None) -> int:
    return conn.execute(sql, params).rowcount


def new_project(conn: psycopg.Connection, user: UUID, name: str) -> UUID:
    with as_user(conn, user):
        return conn.execute("insert into public.projects (name) values (%s) returning id", [name]).fetchone()[
            0
        ]


def new_video(conn: psycopg.Connection, user: UUID, title: str = "Fox", project: UUID | None = None) -> UUID:
    with as_user(conn, user):
        return conn.execute(
            "insert into public.videos (project_id, title, prompt, model, size, duration_seconds)"
            " values (%s, %s, 'a red fox running through snow', 'sora-2', '1280x720', 4) returning id",
            [project, title],
        ).fetchone()[0]


def video(conn: psycopg.Connection, video_id: UUID) -> dict[str, Any]:
    """A row as the superuser sees it (no RLS)."""
    cursor = conn.execute("select * from public.videos where id = %s", [video_id])
    names = [column.name for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def set_lifecycle(conn: psycopg.Connection, video_id: UUID, **values: Any) -> None:
    """Change engine-owned columns as the service role (the engine's key)."""
    assignments = ", ".join(f"{name} = %({name})s" for name in values)
    with as_service(conn):
        assert (
            affected(
                conn, f"update public.videos set {assignments} where id = %(id)s", {**values, "id": video_id}
            )
            == 1
        )


# a queued video's way to its file, one allowed status change at a time
LIFE = ["claimed", "creating", "generating", "transferring", "completed"]


def advance(conn: psycopg.Connection, video_id: UUID, status: str, **values: Any) -> None:
    """Move a queued video along LIFE to `status` as the service role; `values` go with the last step."""
    for step in LIFE[: LIFE.index(status)]:
        set_lifecycle(conn, video_id, status=step)
    set_lifecycle(conn, video_id, status=status, **values)


# --- migrations ------------------------------------------------------------------------------------


def test_migrations_apply_in_filename_order(pg_cluster: Cluster, db: psycopg.Connection) -> None:
    assert pg_cluster.applied == [
        "20261124060000_projects_and_videos.sql",
        "20261124060100_private_videos_bucket.sql",
        "20261202110000_reference_in_own_folder.sql",
        "20261202140000_video_status_note.sql",
        "20261202150000_claim_per_provider.sql",
        "20261202160000_explicit_states.sql",
        "20261202170000_user_requests_and_workers.sql",
        "20261202180000_reference_type.sql",
        "20261202190000_queue_control.sql",
    ]
    assert rows(
        db,
        "select c.oid::regclass::text, c.relrowsecurity from pg_class c"
        " where c.oid in ('public.projects'::regclass, 'public.videos'::regclass,"
        " 'public.video_transitions'::regclass, 'public.engines'::regclass, 'storage.objects'::regclass,"
        " 'public.queue_pauses'::regclass) order by 1",
    ) == [
        ("engines", True),
        ("projects", True),
        ("queue_pauses", True),
        ("storage.objects", True),
        ("video_transitions", True),
        ("videos", True),
    ]
    assert rows(db, "select tablename, count(*) from pg_policies group by 1 order by 1") == [
        ("objects", 4),
        ("projects", 4),
        ("queue_pauses", 3),
        ("video_transitions", 1),
        ("videos", 4),
    ]


# --- a user's own rows -----------------------------------------------------------------------------


def test_user_creates_project_and_videos_with_defaults(db: psycopg.Connection) -> None:
    project = new_project(db, USER_A, "Ads")
    with as_user(db, USER_A):
        assert rows(db, "select id, user_id, name, description from public.projects") == [
            (project, USER_A, "Ads", "")
        ]
    filed = new_video(db, USER_A, "Fox", project)
    loose = new_video(db, USER_A, "Waves")
    with as_user(db, USER_A):
        assert rows(
            db,
            "select id, user_id, project_id, title, status, progress, storage_path, lease_owner"
            " from public.videos order by created_at",
        ) == [
            (filed, USER_A, project, "Fox", "queued", 0, None, None),
            (loose, USER_A, None, "Waves", "queued", 0, None, None),
        ]


def test_user_cannot_see_another_users_rows(db: psycopg.Connection) -> None:
    a_project = new_project(db, USER_A, "Mine")
    a_video = new_video(db, USER_A, "Mine", a_project)
    b_project = new_project(db, USER_B, "Theirs")
    b_video = new_video(db, USER_B, "Theirs", b_project)
    with as_user(db, USER_A):
        assert rows(db, "select id from public.projects") == [(a_project,)]
        assert rows(db, "select id from public.videos") == [(a_video,)]
        assert rows(db, "select id from public.projects where id = %s", [b_project]) == []
        assert rows(db, "select id from public.videos where id = %s", [b_video]) == []
    with as_user(db, USER_B):
        assert rows(db, "select id from public.videos") == [(b_video,)]
    with as_service(db):  # the service role bypasses RLS: both rows exist
        assert rows(db, "select count(*) from public.videos") == [(2,)]


def test_user_cannot_change_or_delete_another_users_rows(db: psycopg.Connection) -> None:
    b_project = new_project(db, USER_B, "Theirs")
    b_video = new_video(db, USER_B, "Theirs", b_project)
    a_video = new_video(db, USER_A, "Mine")
    with as_user(db, USER_A):
        assert affected(db, "update public.videos set title = 'stolen' where id = %s", [b_video]) == 0
        assert affected(db, "update public.projects set name = 'stolen' where id = %s", [b_project]) == 0
        assert affected(db, "delete from public.videos where id = %s", [b_video]) == 0
        assert affected(db, "delete from public.projects where id = %s", [b_project]) == 0
        assert affected(db, "update public.videos set title = 'renamed'") == 1  # only A's own row
    assert video(db, b_video)["title"] == "Theirs"
    assert video(db, b_video)["project_id"] == b_project
    assert video(db, a_video)["title"] == "renamed"
    assert rows(db, "select name from public.projects where id = %s", [b_project]) == [("Theirs",)]


def test_user_cannot_create_rows_owned_by_another_user(db: psycopg.Connection) -> None:
    # user_id is not among the granted columns: the column privilege already refuses it ...
    with raises("42501", "permission denied for table videos"), as_user(db, USER_A):
        db.execute(
            "insert into public.videos (user_id, title, prompt, model, size, duration_seconds)"
            " values (%s, 't', 'p', 'sora-2', '1280x720', 4)",
            [USER_B],
        )
    with raises("42501", "permission denied for table projects"), as_user(db, USER_A):
        db.execute("insert into public.projects (user_id, name) values (%s, 'x')", [USER_B])
    # ... and the policies' WITH CHECK refuses it too, proven with the column granted for a moment.
    a_video = new_video(db, USER_A)
    with db.transaction(force_rollback=True):
        db.execute(
            "grant insert (user_id), update (user_id) on public.projects, public.videos to authenticated"
        )
        with (
            raises("42501", 'new row violates row-level security policy for table "videos"'),
            as_user(db, USER_A),
        ):
            db.execute(
                "insert into public.videos (user_id, title, prompt, model, size, duration_seconds)"
                " values (%s, 't', 'p', 'sora-2', '1280x720', 4)",
                [USER_B],
            )
        with (
            raises("42501", 'new row violates row-level security policy for table "projects"'),
            as_user(db, USER_A),
        ):
            db.execute("insert into public.projects (user_id, name) values (%s, 'x')", [USER_B])
        with (
            raises("42501", 'new row violates row-level security policy for table "videos"'),
            as_user(db, USER_A),
        ):
            db.execute("update public.videos set user_id = %s where id = %s", [USER_B, a_video])
    assert video(db, a_video)["user_id"] == USER_A


def test_user_cannot_file_a_video_under_another_users_project(db: psycopg.Connection) -> None:
    b_project = new_project(db, USER_B, "Theirs")
    with raises("23503") as caught:
        new_video(db, USER_A, "Sneaky", b_project)
    assert caught.value.diag.constraint_name == "videos_project_id_user_id_fkey"
    a_video = new_video(db, USER_A, "Mine")
    with raises("23503"), as_user(db, USER_A):
        db.execute("update public.videos set project_id = %s where id = %s", [b_project, a_video])
    assert video(db, a_video)["project_id"] is None
    assert rows(db, "select count(*) from public.videos where project_id = %s", [b_project]) == [(0,)]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("status", "completed"),
        ("status", "cancelled"),
        ("failure_kind", "internal"),
        ("progress", 100),
        ("storage_path", f"{USER_A}/x.mp4"),
        ("external_video_id", "job-1"),
        ("status_note", "Generating at fal.ai"),
        ("lease_owner", "me"),
        ("user_id", str(USER_B)),
        ("created_at", "2000-01-01"),
    ],
)
def test_lifecycle_columns_belong_to_the_engine(db: psycopg.Connection, column: str, value: Any) -> None:
    a_video = new_video(db, USER_A)
    with raises("42501", "permission denied for table videos"), as_user(db, USER_A):
        db.execute(f"update public.videos set {column} = %s where id = %s", [value, a_video])
    with raises("42501", "permission denied for table videos"), as_user(db, USER_A):
        db.execute(
            f"insert into public.videos (title, prompt, model, size, duration_seconds, {column})"
            " values ('t', 'p', 'sora-2', '1280x720', 4, %s)",
            [value],
        )
    row = video(db, a_video)
    assert (row["status"], row["progress"], row["storage_path"], row["user_id"]) == (
        "queued",
        0,
        None,
        USER_A,
    )


def test_user_renames_and_refiles_own_video(db: psycopg.Connection) -> None:
    first = new_project(db, USER_A, "First")
    second = new_project(db, USER_A, "Second")
    a_video = new_video(db, USER_A, "Fox", first)
    with as_user(db, USER_A):
        assert affected(db, "update public.videos set title = 'Snow fox' where id = %s", [a_video]) == 1
        assert affected(db, "update public.videos set project_id = %s where id = %s", [second, a_video]) == 1
        assert affected(db, "update public.projects set name = 'Renamed' where id = %s", [first]) == 1
        assert rows(db, "select title, project_id from public.videos") == [("Snow fox", second)]
        assert affected(db, "update public.videos set project_id = null where id = %s", [a_video]) == 1
        assert rows(db, "select title, project_id, status from public.videos") == [
            ("Snow fox", None, "queued")
        ]


def test_deleting_a_project_keeps_its_videos_unfiled(db: psycopg.Connection) -> None:
    project = new_project(db, USER_A, "Ads")
    filed = [new_video(db, USER_A, f"Take {n}", project) for n in range(2)]
    with as_user(db, USER_A):
        assert affected(db, "delete from public.projects where id = %s", [project]) == 1
        assert rows(db, "select id, user_id, project_id from public.videos order by created_at") == [
            (filed[0], USER_A, None),
            (filed[1], USER_A, None),
        ]
    assert rows(db, "select count(*) from public.projects") == [(0,)]


def test_user_deletes_own_video(db: psycopg.Connection) -> None:
    a_video = new_video(db, USER_A)
    with as_user(db, USER_A):
        assert affected(db, "delete from public.videos where id = %s", [a_video]) == 1
    assert rows(db, "select count(*) from public.videos") == [(0,)]


# --- anon ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "select * from public.projects",
        "select * from public.videos",
        "insert into public.projects (name) values ('x')",
        "insert into public.videos (title, prompt, model, size, duration_seconds)"
        " values ('t', 'p', 'sora-2', '1280x720', 4)",
        "update public.videos set title = 'x'",
        "delete from public.videos",
        "select * from public.project_video_counts()",
        "select * from public.video_usage()",
        "select * from public.video_transitions",
        "select * from public.engines",
        "select public.online_workers(60)",
        "update public.videos set requested_action = 'cancel'",
        "select * from storage.objects",
    ],
)
def test_anon_gets_nothing(db: psycopg.Connection, sql: str) -> None:
    new_project(db, USER_A, "Ads")
    new_video(db, USER_A)
    with raises("42501", "permission denied"), as_anon(db):
        db.execute(sql)
    assert rows(db, "select count(*) from public.videos") == [(1,)]


# --- constraints and the trigger -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"status": "done"}, "videos_status_check"),
        ({"duration_seconds": 0}, "videos_duration_seconds_check"),
        ({"progress": 101}, "videos_progress_check"),
        ({"size": "big"}, "videos_size_check"),
        ({"status": "completed"}, "videos_check"),  # completed without storage_path
        ({"status": "processing"}, "videos_status_check"),  # the coarse state is gone
        ({"status": "failed", "failure_kind": "bogus"}, "videos_failure_kind_check"),
        ({"status": "failed"}, "videos_failure_kind_only_when_failed"),  # failed without a kind
        ({"failure_kind": "internal"}, "videos_failure_kind_only_when_failed"),  # a kind on a queued row
        ({"title": "   "}, "videos_title_check"),
    ],
)
def test_check_constraints(db: psycopg.Connection, changes: dict[str, Any], constraint: str) -> None:
    a_video = new_video(db, USER_A)
    assignments = ", ".join(f"{name} = %({name})s" for name in changes)
    # The transition trigger would refuse queued -> done or queued -> completed before any check runs
    # (tests/postgres/test_explicit_states.py tests it): off for a moment, so each check is seen alone.
    with db.transaction(force_rollback=True):
        db.execute("alter table public.videos disable trigger videos_enforce_transition")
        with raises("23514") as caught, as_service(db):
            db.execute(
                f"update public.videos set {assignments} where id = %(id)s", {**changes, "id": a_video}
            )
        assert caught.value.diag.constraint_name == constraint
    values = {
        "title": "t",
        "prompt": "p",
        "model": "sora-2",
        "size": "1280x720",
        "duration_seconds": 4,
        "user_id": USER_A,
        **changes,
    }
    with raises("23514") as caught, as_service(db):
        db.execute(
            f"insert into public.videos ({', '.join(values)})"
            f" values ({', '.join(f'%({name})s' for name in values)})",
            values,
        )
    assert caught.value.diag.constraint_name == constraint
    assert video(db, a_video)["status"] == "queued"


DIGEST = "ab" * 32


@pytest.mark.parametrize(
    "path",
    [
        f"{USER_B}/references/{DIGEST}.png",  # another user's upload
        f"{USER_A}/{DIGEST}.mp4",  # one's own video, not a reference
        f"{USER_A}/references/../{USER_B}/references/{DIGEST}.png",
        f"{USER_A}/references/{DIGEST}.png/../../x",
        f"{USER_A}/references/notes.txt",
        f"/{USER_A}/references/{DIGEST}.png",
    ],
)
def test_a_reference_must_be_the_owners_own_upload(db: psycopg.Connection, path: str) -> None:
    with raises("23514") as caught, as_user(db, USER_A):
        db.execute(
            "insert into public.videos (title, prompt, model, size, duration_seconds, reference_path)"
            " values ('t', 'p', 'sora-2', '1280x720', 4, %s)",
            [path],
        )
    assert caught.value.diag.constraint_name == "videos_reference_in_own_folder"
    assert rows(db, "select count(*) from public.videos") == [(0,)]


def test_a_reference_in_the_owners_folder_is_accepted(db: psycopg.Connection) -> None:
    path = f"{USER_A}/references/{DIGEST}.png"
    with as_user(db, USER_A):
        db.execute(
            "insert into public.videos (title, prompt, model, size, duration_seconds, reference_path)"
            " values ('t', 'p', 'sora-2', '1280x720', 4, %s)",
            [path],
        )
    assert rows(db, "select reference_path from public.videos") == [(path,)]


def test_completed_video_with_storage_path_is_accepted(db: psycopg.Connection) -> None:
    a_video = new_video(db, USER_A)
    advance(db, a_video, "completed", progress=100, storage_path=f"{USER_A}/{a_video}.mp4")
    assert video(db, a_video)["status"] == "completed"


def test_updated_at_is_bumped_on_every_update(db: psycopg.Connection) -> None:
    # rows written long ago (inserted directly: the trigger fires on update only)
    project, a_video = uuid4(), uuid4()
    db.execute(
        "insert into public.projects (id, user_id, name, created_at, updated_at)"
        " values (%s, %s, 'Ads', %s, %s)",
        [project, USER_A, OLD, OLD],
    )
    db.execute(
        "insert into public.videos (id, user_id, project_id, title, prompt, model, size, duration_seconds,"
        " created_at, updated_at) values (%s, %s, %s, 'Fox', 'p', 'sora-2', '1280x720', 4, %s, %s)",
        [a_video, USER_A, project, OLD, OLD],
    )
    with as_user(db, USER_A):
        db.execute("update public.videos set title = 'Snow fox' where id = %s", [a_video])
        db.execute("update public.projects set description = 'spring' where id = %s", [project])
        now = db.execute("select now()").fetchone()[0]
    assert (video(db, a_video)["created_at"], video(db, a_video)["updated_at"]) == (OLD, now)
    assert rows(db, "select created_at, updated_at from public.projects") == [(OLD, now)]

    set_lifecycle(db, a_video, progress=10)  # the engine's updates (a later transaction) bump it too
    assert video(db, a_video)["updated_at"] > now
    assert video(db, a_video)["created_at"] == OLD


# --- the engine's functions (service role) ---------------------------------------------------------


def queued_videos(db: psycopg.Connection, ages_in_minutes: dict[str, int]) -> dict[str, UUID]:
    """Videos of users A and B, each created the given number of minutes ago."""
    ids = {}
    for n, (title, minutes) in enumerate(ages_in_minutes.items()):
        ids[title] = new_video(db, USER_A if n % 2 == 0 else USER_B, title)
        db.execute(
            "update public.videos set created_at = now() - make_interval(mins => %s::int),"
            " queue_order = extract(epoch from now() - make_interval(mins => %s::int)) where id = %s",
            [minutes, minutes, ids[title]],  # its place in the queue is its age
        )
    return ids


def claim(db: psycopg.Connection, owner: str, capacity: int) -> list[tuple[Any, ...]]:
    with as_service(db):
        return rows(
            db,
            "select title, status, progress, lease_owner, lease_expires_at - started_at,"
            " started_at is not null from public.claim_queued_videos(%s, %s, 30) order by created_at",
            [owner, capacity],
        )


def test_claim_queued_videos_takes_turns_between_users_oldest_first(db: psycopg.Connection) -> None:
    # inserted in another order than their age, alternating between two users: A has "a3" and
    # "a1" (minutes old), B has "b9" and "b5"; each user's oldest goes before anyone's second
    queued_videos(db, {"a3": 3, "b9": 9, "a1": 1, "b5": 5})
    lease = timedelta(seconds=30)
    assert claim(db, "engine-1", 2) == [
        ("b9", "claimed", 0, "engine-1", lease, True),
        ("a3", "claimed", 0, "engine-1", lease, True),
    ]
    assert claim(db, "engine-2", 2) == []  # two already claimed: no capacity left
    assert claim(db, "engine-2", 3) == [("b5", "claimed", 0, "engine-2", lease, True)]
    assert claim(db, "engine-2", 3) == []
    assert rows(db, "select title, status from public.videos order by created_at") == [
        ("b9", "claimed"),
        ("b5", "claimed"),
        ("a3", "claimed"),
        ("a1", "queued"),
    ]


def test_claim_queued_videos_gives_each_providers_share_its_own_capacity(db: psycopg.Connection) -> None:
    ids = queued_videos(db, {"fal one": 9, "fal two": 8, "local": 7, "unserved": 6})
    for title, model in [("fal one", "fal-veo-3.1"), ("fal two", "fal-veo-3.1"), ("unserved", "gone")]:
        db.execute("update public.videos set model = %s where id = %s", [model, ids[title]])

    def claim_share(capacity: int, models: list[str], exclude: bool) -> list[str]:
        with as_service(db):
            return [
                row[0]
                for row in rows(
                    db,
                    "select title from public.claim_queued_videos('engine-1', %s, 30, %s, %s)"
                    " order by created_at",
                    [capacity, models, exclude],
                )
            ]

    assert claim_share(1, ["fal-veo-3.1"], False) == ["fal one"]
    assert claim_share(1, ["fal-veo-3.1"], False) == []  # fal's one slot is taken ...
    assert claim_share(1, ["fal-veo-3.1"], True) == ["local"]  # ... the default provider's is not
    assert claim_share(2, ["fal-veo-3.1"], True) == ["unserved"]  # claimed there, then refused
    assert [row[0] for row in claim(db, "engine-1", 9)] == ["fal two"]  # without a share: the whole queue


ENGINE_FUNCTIONS = [
    "select * from public.claim_queued_videos('x', 3, 30)",
    "select * from public.claim_queued_videos('x', 3, 30, array['m'], true)",
    "select * from public.hold_video_leases('x', 30)",
    "select public.record_video_progress(gen_random_uuid(), 'x', 50, null)",
    "select * from public.requested_videos('x', 10)",
    "select public.record_engine_beat('x', 'h', 1, 'v', now(), 0)",
    "select public.forget_engine('x')",
]


@pytest.mark.parametrize("sql", ENGINE_FUNCTIONS)
@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_engine_functions_are_service_role_only(db: psycopg.Connection, sql: str, role: str) -> None:
    new_video(db, USER_A)
    become = as_user(db, USER_A) if role == "authenticated" else as_anon(db)
    with raises("42501", "permission denied for function"), become:
        db.execute(sql)
    assert rows(db, "select status from public.videos") == [("queued",)]


def test_hold_video_leases_renews_own_takes_expired_and_leaves_others(db: psycopg.Connection) -> None:
    ids = queued_videos(db, {"own": 5, "expired": 4, "others": 3, "unowned": 2, "queued": 1})
    soon, past = "now() + interval '20 seconds'", "now() - interval '1 second'"
    for title, status, owner, expires in [
        ("own", "claimed", "engine-1", soon),
        ("expired", "creating", "engine-2", past),
        ("others", "generating", "engine-2", soon),
        ("unowned", "transferring", None, None),
    ]:
        advance(db, ids[title], status)
        db.execute(
            f"update public.videos set lease_owner = %s, lease_expires_at = {expires or 'null'}"
            " where id = %s",
            [owner, ids[title]],
        )
    with as_service(db):
        held = rows(
            db,
            "select title, lease_owner, lease_expires_at = now() + interval '60 seconds'"
            " from public.hold_video_leases('engine-1', 60)",
        )
    assert held == [("own", "engine-1", True), ("expired", "engine-1", True), ("unowned", "engine-1", True)]
    assert rows(db, "select title, status, lease_owner from public.videos order by created_at") == [
        ("own", "claimed", "engine-1"),
        ("expired", "creating", "engine-1"),
        ("others", "generating", "engine-2"),
        ("unowned", "transferring", "engine-1"),
        ("queued", "queued", None),
    ]


def test_record_video_progress_never_lowers_and_checks_the_owner(db: psycopg.Connection) -> None:
    ids = queued_videos(db, {"claimed": 2, "waiting": 1})
    claim(db, "engine-1", 1)
    claimed, waiting = ids["claimed"], ids["waiting"]

    def record(video_id: UUID, owner: str, progress: int, job: str | None) -> bool:
        with as_service(db):
            return db.execute(
                "select public.record_video_progress(%s, %s, %s, %s)", [video_id, owner, progress, job]
            ).fetchone()[0]

    def state(video_id: UUID) -> tuple[int, str | None]:
        row = video(db, video_id)
        return row["progress"], row["external_video_id"]

    assert record(claimed, "engine-1", 40, "job-1") is True
    assert state(claimed) == (40, "job-1")
    assert record(claimed, "engine-1", 10, None) is True  # lower progress is ignored, the job id kept
    assert state(claimed) == (40, "job-1")
    assert record(claimed, "engine-2", 90, "job-2") is False  # not the lease owner
    assert state(claimed) == (40, "job-1")
    assert record(claimed, "engine-1", 150, None) is True  # clamped to 100
    assert state(claimed) == (100, "job-1")
    assert record(waiting, "engine-1", 50, "job-3") is False  # queued: not active
    assert state(waiting) == (0, None)
    assert record(UUID(int=0), "engine-1", 50, None) is False


def test_record_video_progress_keeps_the_providers_latest_note(db: psycopg.Connection) -> None:
    claimed = queued_videos(db, {"claimed": 1})["claimed"]
    claim(db, "engine-1", 1)

    def record(note: str | None) -> str | None:
        with as_service(db):
            db.execute("select public.record_video_progress(%s, 'engine-1', 0, 'job-1', %s)", [claimed, note])
        return video(db, claimed)["status_note"]

    assert record("Waiting at fal.ai, position 3") == "Waiting at fal.ai, position 3"
    assert record("Generating at fal.ai") == "Generating at fal.ai"  # each note replaces the last
    assert record("x" * 600) == "x" * 500  # bounded, never refused: progress must still be saved
    assert record(None) is None


# --- per-user summaries ----------------------------------------------------------------------------


def test_summaries_count_only_the_callers_rows(db: psycopg.Connection) -> None:
    ads, promo = new_project(db, USER_A, "Ads"), new_project(db, USER_A, "Promo")
    theirs = new_project(db, USER_B, "Theirs")
    a_videos = [
        new_video(db, USER_A, "a", ads),
        new_video(db, USER_A, "b", ads),
        new_video(db, USER_A, "c", promo),
    ]
    a_videos.append(new_video(db, USER_A, "unfiled"))
    b_videos = [new_video(db, USER_B, "x", theirs) for _ in range(3)]
    for done in [a_videos[0], a_videos[1], a_videos[3], b_videos[0], b_videos[1]]:
        advance(db, done, "completed", progress=100, storage_path=f"files/{done}.mp4")
    db.execute("update public.videos set duration_seconds = 8 where id = %s", [a_videos[1]])

    with as_user(db, USER_A):
        assert sorted(rows(db, "select * from public.project_video_counts()")) == sorted(
            [(ads, 2), (promo, 1)]
        )
        assert sorted(rows(db, "select * from public.video_usage()"), key=str) == sorted(
            [(ads, "sora-2", "1280x720", 2, 12), (None, "sora-2", "1280x720", 1, 4)], key=str
        )
    with as_user(db, USER_B):
        assert rows(db, "select * from public.project_video_counts()") == [(theirs, 3)]
        assert rows(db, "select * from public.video_usage()") == [(theirs, "sora-2", "1280x720", 2, 8)]


# --- storage ---------------------------------------------------------------------------------------


def test_videos_bucket_exists_and_is_private(db: psycopg.Connection) -> None:
    assert rows(db, "select id, name, public from storage.buckets") == [("videos", "videos", False)]
    assert rows(db, "select storage.foldername(%s)", [f"{USER_A}/references/r.png"]) == [
        ([str(USER_A), "references"],)
    ]


def test_storage_objects_only_in_own_folder(db: psycopg.Connection) -> None:
    db.execute("insert into storage.buckets (id, name, public) values ('other', 'other', false)")
    own, theirs = f"{USER_A}/x.mp4", f"{USER_B}/x.mp4"
    insert = "insert into storage.objects (bucket_id, name, owner) values (%s, %s, %s)"
    with as_user(db, USER_A):
        db.execute(insert, ["videos", own, USER_A])
        db.execute(insert, ["videos", f"{USER_A}/references/r.png", USER_A])
        assert rows(db, "select name from storage.objects order by name") == [
            (f"{USER_A}/references/r.png",),
            (own,),
        ]
    with as_user(db, USER_B):
        db.execute(insert, ["videos", theirs, USER_B])
    for bucket, name in [("videos", theirs), ("videos", "x.mp4"), ("other", own)]:
        with (
            raises("42501", 'new row violates row-level security policy for table "objects"'),
            as_user(db, USER_A),
        ):
            db.execute(insert, [bucket, name, USER_A])
    with as_user(db, USER_A):
        assert rows(db, "select name from storage.objects where name = %s", [theirs]) == []
        assert affected(db, "update storage.objects set owner = %s where name = %s", [USER_A, theirs]) == 0
        assert affected(db, "delete from storage.objects where name = %s", [theirs]) == 0
    with raises("42501", "row-level security"), as_user(db, USER_A):  # moving a file into B's folder
        db.execute("update storage.objects set name = %s where name = %s", [f"{USER_B}/y.mp4", own])
    with as_user(db, USER_A):
        assert affected(db, "delete from storage.objects where name = %s", [own]) == 1
        assert rows(db, "select name from storage.objects") == [(f"{USER_A}/references/r.png",)]
    assert rows(db, "select name, owner from storage.objects where name = %s", [theirs]) == [(theirs, USER_B)]
