"""What only the Supabase store (PostgreSQL through PostgREST) has, with the engine's service-role store
over PostgRESTHarness. Everything both backends promise is in tests/contract, which runs on this
store too."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from mimio_core.domain import FailureKind, VideoStatus
from mimio_core.store.base import ProjectError, VideoFilter
from mimio_core.store.supabase import SupabaseError, search_condition
from tests.contract.conftest import A, new_video, put

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
    service_store.delete_video("v1")
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
