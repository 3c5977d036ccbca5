"""What only the Supabase store (PostgreSQL through PostgREST) has, with the engine's service-role store
over PostgRESTHarness. Everything both backends promise is in tests/contract, which runs on this
store too."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mimio_core.domain import EngineBeat, FailureKind, UserRequest, VideoStatus
from mimio_core.store.base import GONE, ProjectError, RequestRefused, Usage, VideoFilter
from mimio_core.store.supabase import SupabaseError, search_condition
from tests.contract.conftest import A, B, new_video, put
from tests.supabase.conftest import USER_A, USER_B

pytestmark = pytest.mark.service

S = VideoStatus


def test_completing_without_a_file_is_refused_with_the_reason(service_store):
    """The migration's check: a completed video always has its file (the typed `completed` always
    gives one; the one door underneath is held to it too)."""
    video_id = put(service_store, S.TRANSFERRING)
    with pytest.raises(SupabaseError, match=r"^Could not move video .* to completed: .*check.*\[23514\]$"):
        service_store._move(video_id, {S.TRANSFERRING}, S.COMPLETED, "a", {})
    assert service_store.get_video(video_id).status is S.TRANSFERRING


def test_the_lifecycle_trigger_holds_the_service_role_through_postgrest(service_store):
    """Even a write that skips the store's own check (a bug) is refused by the database."""
    video_id = put(service_store, S.COMPLETED)
    with pytest.raises(
        SupabaseError,
        match=r"^Could not move video .* to queued: a video cannot go from completed to queued \[23514\]$",
    ):
        service_store._write_move(video_id, frozenset({S.COMPLETED}), None, {"status": "queued"})
    assert service_store.get_video(video_id).status is S.COMPLETED


def test_a_long_project_description_is_refused_before_any_request(service_store, harness):
    before = len(harness.seen)
    with pytest.raises(ProjectError, match=r"^A project description can have at most 500 characters\.$"):
        service_store.create_project(A, "Ads", "x" * 501)
    ads = service_store.create_project(A, "Ads", "x" * 500)
    with pytest.raises(ProjectError, match=r"^A project description can have at most 500 characters\.$"):
        service_store.rename_project(A, ads.id, "Ads", "y" * 501)
    assert service_store.get_project(A, ads.id) == ads
    assert len(harness.seen) == before + 2  # the create and the read


def test_ids_are_found_whatever_their_case(service_store):
    [recorded] = service_store.insert_videos([new_video()])
    upper = recorded.id.upper()
    assert service_store.get_videos([upper, upper]) == [recorded, recorded]
    assert service_store.get_video(upper) == recorded
    again = service_store.insert_videos([dataclasses.replace(new_video(), id=upper)])
    assert again == [recorded]  # the same id: recorded once, and returned
    assert service_store.count_videos(A) == 1


def test_ids_that_are_not_uuids_are_answered_without_a_request(service_store, harness):
    before = len(harness.seen)
    assert service_store.get_video("v1") is None
    assert service_store.get_videos(["v1", "v2"]) == []
    assert service_store.get_project(A, "missing") is None
    assert service_store.list_projects("nobody") == []
    assert service_store.list_videos("nobody") == []
    assert service_store.list_videos(A, VideoFilter(project_id="junk")) == []
    assert service_store.count_videos("nobody") == 0
    assert service_store.count_videos(A, VideoFilter(project_id="junk")) == 0
    assert service_store.usage("nobody") == []
    assert service_store.progress("v1", "a", 5) is False
    assert service_store.creating("v1", "a") is None
    assert service_store.not_started("v1", "a", "busy") is None
    assert service_store.started("v1", "a", "job") is None
    assert service_store.transferring("v1", "a") is None
    assert service_store.completed("v1", "a", "u/v1.mp4", None) is None
    assert service_store.failed("v1", "a", FailureKind.INTERNAL, "x") is None
    assert service_store.cancelled("v1", "Cancelled.") is None
    assert service_store.requeue("v1") is None
    assert service_store.recover("v1") is None
    assert service_store.remove("v1") is False
    assert service_store.clear_request("v1", UserRequest.CANCEL) is False
    with pytest.raises(RequestRefused, match=rf"^{re.escape(GONE)}$"):
        service_store.ask(A, "v1", UserRequest.CANCEL)
    assert service_store._record_request(A, "v1", UserRequest.CANCEL) is None
    assert service_store._record_request("nobody", str(uuid.uuid4()), UserRequest.CANCEL) is None
    service_store.delete_project(A, "junk")
    with pytest.raises(ProjectError, match=r"^That project does not exist \(it may have been deleted\)\.$"):
        service_store.rename_project(A, "junk", "X")
    with pytest.raises(ProjectError, match=r"^Project junk does not exist \(it may have been deleted\)\.$"):
        service_store.insert_videos([new_video(project_id="junk")])
    assert len(harness.seen) == before


def test_search_condition_quotes_and_escapes():
    assert search_condition("a,b)") == 'title.ilike."*a,b)*",prompt.ilike."*a,b)*"'
    assert search_condition("%_") == 'title.ilike."*\\\\%\\\\_*",prompt.ilike."*\\\\%\\\\_*"'
    assert search_condition('"') == 'title.ilike."*\\"*",prompt.ilike."*\\"*"'
    assert search_condition("2*3") == 'title.ilike."*2_3*",prompt.ilike."*2_3*"'


def test_a_uuid_of_no_video_answers_none_after_one_request(service_store, harness):
    missing = str(uuid.uuid4())
    before = len(harness.seen)
    assert service_store.transferring(missing, "a") is None
    assert len(harness.seen) == before + 1


# --- a signed-in user's requests and the workers count ----------------------------------------------


@pytest.fixture
def no_engines(db):
    """The `db` fixture empties videos and projects only: engines rows are this test's to clear."""
    db.execute("delete from public.engines")
    yield
    db.execute("delete from public.engines")


def test_a_signed_in_user_asks_on_their_own_video_only(service_store, user_store):
    alice, bob = user_store(USER_A), user_store(USER_B)
    mine = put(service_store, S.FAILED)
    [theirs] = service_store.insert_videos([new_video(B)])
    before = datetime.now(UTC)
    asked = alice.ask(A, mine, UserRequest.RETRY)
    assert asked == service_store.get_video(mine)
    assert (asked.status, asked.requested) == (S.FAILED, UserRequest.RETRY)
    assert asked.requested_at is not None and asked.requested_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= asked.requested_at <= datetime.now(UTC) + timedelta(seconds=1)
    again = alice.ask(A, mine, UserRequest.RETRY)  # the server's trigger keeps the first time
    assert again.requested_at == asked.requested_at
    deleting = alice.ask(A, mine, UserRequest.DELETE)
    assert deleting.requested is UserRequest.DELETE and deleting.requested_at > asked.requested_at
    with pytest.raises(RequestRefused, match=r"^This video is being deleted\.$"):
        alice.ask(A, mine, UserRequest.CANCEL)
    # another user's video is not there for them (RLS), whoever they name as its owner
    untouched = service_store.get_video(theirs.id)
    for user_id in (A, B):
        for request in UserRequest:
            with pytest.raises(RequestRefused, match=rf"^{re.escape(GONE)}$"):
                alice.ask(user_id, theirs.id, request)
    assert service_store.get_video(theirs.id) == untouched
    assert bob.ask(B, theirs.id, UserRequest.CANCEL).requested is UserRequest.CANCEL
    assert service_store.get_video(mine) == deleting


def test_a_signed_in_users_counts_leave_out_videos_being_deleted(service_store, user_store):
    alice = user_store(USER_A)
    ads = service_store.create_project(A, "Ads").id
    kept = put(service_store, S.COMPLETED, project_id=ads, model="sora-2")
    gone = put(service_store, S.COMPLETED, project_id=ads, model="sora-2")
    assert alice.project_video_counts(A) == {ads: 2}
    alice.ask(A, gone, UserRequest.DELETE)
    assert alice.project_video_counts(A) == {ads: 1}
    assert alice.usage(A) == [Usage(ads, "sora-2", "720x1280", 1, 8)]
    assert alice.get_video(kept) is not None


def test_a_signed_in_user_counts_the_workers_online(service_store, user_store, no_engines, db):
    alice = user_store(USER_A)
    assert alice.workers_online(60) == 0
    started = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    service_store.beat(EngineBeat("engine-1", "host-1", 100, "1.0.0", started, 1))
    service_store.beat(EngineBeat("engine-2", "host-2", 200, "1.0.0", started, 0))
    assert alice.workers_online(60) == 2
    db.execute("update public.engines set last_seen = now() - interval '2 minutes' where owner = 'engine-1'")
    assert alice.workers_online(60) == 1
    assert alice.workers_online(600) == 2
    service_store.forget_engine("engine-2")
    assert alice.workers_online(60) == 0
