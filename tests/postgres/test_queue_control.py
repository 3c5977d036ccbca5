"""20261202190000_queue_control.sql: a user pauses, orders and edits their own waiting videos, under
RLS, and the engine's claims respect it (on the fully migrated test database)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.postgres.conftest import USER_A, USER_B

if not REQUIRE_SERVICES:  # in CI a missing psycopg must fail the run, not skip it
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -r requirements-dev.txt)")

import psycopg

from tests.postgres.test_migrations_and_rls import (
    advance,
    affected,
    as_service,
    as_user,
    claim,
    new_project,
    new_video,
    raises,
    rows,
    video,
)


def paused(db: psycopg.Connection, video_id: UUID) -> bool:
    return video(db, video_id)["paused_at"] is not None


def call(db: psycopg.Connection, user: UUID, function: str, *arguments: object) -> int:
    marks = ", ".join(["%s"] * (len(arguments) + 1))
    with as_user(db, user):
        return db.execute(f"select public.{function}({marks})", [user, *arguments]).fetchone()[0]


def test_a_user_pauses_and_resumes_only_their_own_waiting_videos(db: psycopg.Connection) -> None:
    mine, started, theirs = new_video(db, USER_A), new_video(db, USER_A), new_video(db, USER_B)
    advance(db, started, "generating")
    assert call(db, USER_A, "pause_videos", [mine, started, theirs]) == 1
    assert (paused(db, mine), paused(db, started), paused(db, theirs)) == (True, False, False)
    # naming another user changes nothing: RLS keeps a user to their own rows
    assert call(db, USER_B, "pause_videos", [mine]) == 0
    with as_user(db, USER_B):
        assert db.execute("select public.resume_videos(%s, %s)", [USER_A, [mine]]).fetchone()[0] == 0
    assert call(db, USER_A, "resume_videos", [mine]) == 1
    assert not paused(db, mine)


def test_claims_skip_paused_videos_and_take_turns_by_priority(db: psycopg.Connection) -> None:
    old = new_video(db, USER_A, "old")
    new_video(db, USER_A, "new")
    urgent = new_video(db, USER_A, "urgent")
    new_video(db, USER_B, "theirs")
    call(db, USER_A, "pause_videos", [old])
    with as_user(db, USER_A):
        assert affected(db, "update public.videos set priority = 5 where id = %s", [urgent]) == 1
    # each user's first turn, oldest first: A's is their highest priority; then A's next
    assert [title for title, *_ in claim(db, "engine-1", 2)] == ["urgent", "theirs"]
    assert [title for title, *_ in claim(db, "engine-1", 3)] == ["new"]
    assert claim(db, "engine-1", 5) == []  # the paused one waits


def test_one_users_runs_take_turns(db: psycopg.Connection) -> None:
    big, small = uuid4(), uuid4()
    videos = {title: new_video(db, USER_A, title) for title in ("big 1", "big 2", "big 3", "small 1")}
    with as_service(db):
        for title, video_id in videos.items():
            db.execute(
                "update public.videos set batch_id = %s where id = %s",
                [big if "big" in title else small, video_id],
            )
    assert [title for title, *_ in claim(db, "engine-1", 2)] == ["big 1", "small 1"]


def test_only_a_queued_video_can_be_paused(db: psycopg.Connection) -> None:
    started = new_video(db, USER_A)
    advance(db, started, "claimed")
    with as_service(db), raises("23514", "videos_pause_only_waiting"):
        db.execute("update public.videos set paused_at = now() where id = %s", [started])


def test_a_user_edits_a_waiting_video_but_never_one_that_started(db: psycopg.Connection) -> None:
    waiting, started = new_video(db, USER_A), new_video(db, USER_A)
    advance(db, started, "generating")
    edit = "update public.videos set prompt = 'a white fox', size = '720x1280' where id = %s"
    with as_user(db, USER_A):
        assert affected(db, edit, [waiting]) == 1
    assert (video(db, waiting)["prompt"], video(db, waiting)["size"]) == ("a white fox", "720x1280")
    with as_user(db, USER_A), raises("23514", "a video that has started cannot be edited"):
        db.execute(edit, [started])
    with as_user(db, USER_A):  # its title stays the user's, whatever its state
        assert affected(db, "update public.videos set title = 'Renamed' where id = %s", [started]) == 1


def test_a_paused_queue_pauses_what_is_submitted_into_it(db: psycopg.Connection) -> None:
    project = new_project(db, USER_A, "Ads")
    waiting = new_video(db, USER_A, "waiting", project)
    assert call(db, USER_A, "pause_queue", project) == 1
    filed, loose = new_video(db, USER_A, "filed", project), new_video(db, USER_A, "loose")
    others = new_video(db, USER_B, "others")
    assert [paused(db, v) for v in (waiting, filed, loose, others)] == [True, True, False, False]
    with as_user(db, USER_B):  # another user sees no pause of A's, and can end none
        assert rows(db, "select * from public.queue_pauses") == []
        assert db.execute("select public.resume_queue(%s, %s)", [USER_A, project]).fetchone()[0] == 0
    assert paused(db, waiting)
    assert call(db, USER_A, "resume_queue", project) == 2
    assert [paused(db, v) for v in (waiting, filed)] == [False, False]


def test_a_user_cannot_pause_another_users_queue(db: psycopg.Connection) -> None:
    with as_user(db, USER_B), raises("42501"):  # the policy: a pause row is its user's own
        db.execute("select public.pause_queue(%s, null)", [USER_A])
    theirs = new_video(db, USER_A)
    assert not paused(db, theirs)


def test_priority_has_bounds(db: psycopg.Connection) -> None:
    own = new_video(db, USER_A)
    with as_user(db, USER_A), raises("23514", "videos_priority_check"):
        db.execute("update public.videos set priority = 1001 where id = %s", [own])
