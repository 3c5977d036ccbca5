"""Row Level Security as the store meets it: user-JWT stores see and change only their own rows, the
engine's service-role store works on everyone's. Every call goes supabase-py -> PostgRESTHarness ->
PostgreSQL as role `authenticated` (with the user's claims) or `service_role`."""

from __future__ import annotations

import json
import uuid

import pytest

from mimio_core.domain import FailureKind, TrackedVideo, UserRequest, VideoStatus
from mimio_core.store.base import NewVideo, ProjectError, RequestRefused, Usage, VideoFilter
from mimio_core.store.queue_control import ALL_PROJECTS, Asked, Move, QueueRefused, VideoEdit
from mimio_core.store.supabase import SupabaseError, SupabaseStore, supabase_client
from tests.supabase.conftest import ANON_KEY, URL, USER_A, USER_B

pytestmark = pytest.mark.service

Q, CL, G, C, F = (
    VideoStatus.QUEUED,
    VideoStatus.CLAIMED,
    VideoStatus.GENERATING,
    VideoStatus.COMPLETED,
    VideoStatus.FAILED,
)


def complete(store: SupabaseStore, video_id: str, owner: str, job: str = "job") -> TrackedVideo | None:
    """A claimed video through its provider job to a stored file, as the engine moves it."""
    store.creating(video_id, owner)
    store.started(video_id, owner, job)
    store.transferring(video_id, owner)
    record = store.get_video(video_id)
    assert record is not None
    return store.completed(video_id, owner, f"{record.user_id}/{video_id}.mp4", None)


A, B = str(USER_A), str(USER_B)


def new_video(user_id: str, project_id: str | None = None, **changes: object) -> NewVideo:
    values: dict = {
        "id": str(uuid.uuid4()),
        "user_id": user_id,
        "title": "Fox",
        "prompt": "a red fox running through snow",
        "model": "sora-2",
        "size": "1280x720",
        "seconds": 4,
        "project_id": project_id,
    }
    return NewVideo(**{**values, **changes})


@pytest.fixture
def alice(user_store) -> SupabaseStore:
    return user_store(USER_A)


@pytest.fixture
def bob(user_store) -> SupabaseStore:
    return user_store(USER_B)


def test_a_user_records_own_projects_and_videos_without_naming_the_owner(alice, harness):
    ads = alice.create_project(A, " Ads ", "spring campaign")
    [recorded] = alice.insert_videos([new_video(A, ads.id)])
    assert (ads.user_id, ads.name, recorded.user_id, recorded.project_id, recorded.status) == (
        A,
        "Ads",
        A,
        ads.id,
        Q,
    )
    inserts = [seen for seen in harness.seen if seen.method == "POST" and seen.path.startswith("/rest/v1/")]
    bodies = [json.loads(seen.body) for seen in inserts]
    # user_id is not the user's to write (column grants): the database fills in auth.uid()
    assert all(
        "user_id" not in row for body in bodies for row in (body if isinstance(body, list) else [body])
    )
    assert alice.list_videos(A) == [recorded]
    assert alice.count_videos(A, VideoFilter(project_id=ads.id)) == 1


def test_a_user_cannot_see_or_change_another_users_videos(alice, bob):
    [mine] = alice.insert_videos([new_video(A)])
    assert bob.get_video(mine.id) is None
    assert bob.get_videos([mine.id]) == []
    assert bob.list_videos(A) == []
    assert bob.count_videos(A) == 0
    assert bob.remove(mine.id) is False  # RLS filters it out: nothing deleted, no error
    with pytest.raises(RequestRefused, match=r"^That video does not exist"):
        bob.ask(A, mine.id, UserRequest.DELETE)
    assert alice.get_video(mine.id) == mine
    with pytest.raises(SupabaseError, match=r"permission denied for table videos \[42501\]$"):
        bob.cancelled(mine.id, "not yours")
    assert alice.get_video(mine.id).status is Q


def test_a_user_cannot_move_even_own_videos_through_the_lifecycle(alice):
    [mine] = alice.insert_videos([new_video(A)])
    with pytest.raises(SupabaseError, match=r"^Could not move video .* to cancelled: permission denied"):
        alice.cancelled(mine.id, "Cancelled.")
    for call in (
        lambda: alice.claim("engine", capacity=3, lease_seconds=30),
        lambda: alice.heartbeat("engine", lease_seconds=30),
        lambda: alice.progress(mine.id, "engine", 50),
    ):
        with pytest.raises(SupabaseError, match=r"permission denied for function"):
            call()
    assert alice.get_video(mine.id).status is Q


def test_a_user_cannot_touch_another_users_projects(alice, bob):
    ads = alice.create_project(A, "Ads")
    assert bob.get_project(A, ads.id) is None
    assert bob.list_projects(A) == []
    with pytest.raises(ProjectError, match=r"^That project does not exist"):
        bob.rename_project(B, ads.id, "Mine now")
    bob.delete_project(B, ads.id)
    with pytest.raises(
        ProjectError, match=rf"^Project {ads.id} does not exist \(it may have been deleted\)\.$"
    ):
        bob.insert_videos([new_video(B), new_video(B, ads.id)])
    assert bob.count_videos(B) == 0  # the whole insert was refused
    assert alice.get_project(A, ads.id) == ads
    assert bob.create_project(B, "Ads").name == "Ads"  # names are unique per user only


def test_a_users_store_refuses_to_act_for_someone_else(bob, harness):
    before = len(harness.seen)
    with pytest.raises(PermissionError, match=rf"signed in as {B}, not as user {A}"):
        bob.insert_videos([new_video(A)])
    with pytest.raises(PermissionError):
        bob.create_project(A, "Theirs")
    assert len(harness.seen) == before
    assert bob.project_video_counts(A) == {} and bob.usage(A) == []


def test_counts_and_usage_of_a_user_come_from_the_functions_under_rls(alice, bob, service_store):
    ads = alice.create_project(A, "Ads")
    mine = alice.insert_videos([new_video(A, ads.id), new_video(A, ads.id, seconds=8), new_video(A)])
    theirs = bob.insert_videos([new_video(B, bob.create_project(B, "Other").id)])
    service_store.claim("engine", capacity=10, lease_seconds=30)
    for video in [*mine, *theirs]:
        complete(service_store, video.id, "engine")
    assert alice.project_video_counts(A) == {ads.id: 2}
    assert sorted(alice.usage(A), key=str) == sorted(
        [Usage(ads.id, "sora-2", "1280x720", 2, 12), Usage(None, "sora-2", "1280x720", 1, 4)], key=str
    )
    assert sorted(service_store.usage(A), key=str) == sorted(alice.usage(A), key=str)
    assert service_store.project_video_counts(A) == alice.project_video_counts(A)


def test_the_service_store_claims_holds_and_transitions_users_videos(alice, bob, service_store):
    [a_video] = alice.insert_videos([new_video(A)])
    [b_video] = bob.insert_videos([new_video(B)])
    claimed = service_store.claim("engine", capacity=5, lease_seconds=30)
    assert [(v.id, v.status) for v in claimed] == [(a_video.id, CL), (b_video.id, CL)]
    service_store.creating(a_video.id, "engine")
    assert service_store.started(a_video.id, "engine", "job-1").status is G
    assert service_store.progress(a_video.id, "engine", 40) is True
    assert [v.id for v in service_store.heartbeat("engine", lease_seconds=30)] == [a_video.id, b_video.id]
    service_store.transferring(a_video.id, "engine")
    done = service_store.completed(a_video.id, "engine", f"{A}/{a_video.id}.mp4", None)
    assert (done.status, done.progress, done.external_video_id) == (C, 100, "job-1")
    seen_by_alice = alice.get_video(a_video.id)
    assert (seen_by_alice.status, seen_by_alice.storage_path) == (C, f"{A}/{a_video.id}.mp4")
    assert service_store.failed(b_video.id, "someone-else", FailureKind.INTERNAL, "no") is None
    assert bob.get_video(b_video.id).status is CL


def test_the_anon_key_alone_gets_nothing(http, alice):
    alice.insert_videos([new_video(A)])
    anonymous = SupabaseStore(supabase_client(URL, ANON_KEY, http, retry=False))
    with pytest.raises(SupabaseError, match=r"^Could not list videos: permission denied for table videos"):
        anonymous.list_videos(A)
    with pytest.raises(SupabaseError, match=r"permission denied for table projects"):
        anonymous.create_project(A, "Sneaky")


def test_a_repeated_submission_records_nothing_new(alice, bob, service_store):
    first = alice.insert_videos([new_video(A), new_video(A)])
    again = alice.insert_videos([new_video(A, id=first[0].id, title="Changed"), new_video(A, id=first[1].id)])
    assert again == first  # the earlier records, untouched
    assert alice.count_videos(A) == 2
    # an id that is someone else's is neither changed nor shown (RLS hides it; the service filters it)
    assert bob.insert_videos([new_video(B, id=first[0].id, title="Hijack")]) == []
    assert service_store.insert_videos([new_video(B, id=first[0].id, title="Hijack")]) == []
    assert alice.get_video(first[0].id) == first[0]
    assert service_store.insert_videos([new_video(A, id=first[1].id)]) == [first[1]]


def test_a_user_steers_their_own_queue_and_never_anothers(alice, bob, service_store) -> None:
    """Pause, resume, order, edit and bulk requests through a signed-in user's store: their rows
    change; another user's (named by id) do not."""
    first, second = (video.id for video in alice.insert_videos([new_video(A), new_video(A)]))
    (theirs,) = (video.id for video in bob.insert_videos([new_video(B)]))
    assert alice.pause(A, [first, theirs]) == 1
    assert alice.move(A, second, Move.NEXT).id == second
    edit = VideoEdit(title="Dusk", prompt="a fox at dusk", model="sora-2", size="720x1280", seconds=8)
    assert alice.edit(A, first, edit).prompt == "a fox at dusk"
    assert alice.pause_queue(A) == 1  # the second one; the first is paused already
    assert alice.paused_queues(A) == {ALL_PROJECTS}
    assert bob.paused_queues(B) == set()
    (later,) = alice.insert_videos([new_video(A)])
    assert later.is_paused
    assert alice.ask_many(A, [first, theirs], UserRequest.CANCEL) == Asked(asked=1, skipped=1)
    with pytest.raises(QueueRefused):
        alice.edit(A, theirs, edit)
    assert alice.resume_queue(A) == 3  # every paused one (the first is being cancelled: never claimed)
    untouched = service_store.get_video(theirs)
    assert untouched is not None
    assert (untouched.is_paused, untouched.requested, untouched.prompt) == (False, None, new_video(B).prompt)
