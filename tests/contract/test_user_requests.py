"""A person's requests on their videos (Library.ask) and the engine's side of them (JobQueue.requested,
clear_request, remove, and the moves that carry them out), and engine heartbeats (beat,
workers_online, forget_engine), on every backend."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mimio_core.domain import EngineBeat, FailureKind, TrackedVideo, UserRequest, VideoStatus
from mimio_core.store.base import GONE, RequestRefused, Usage, VideoStore
from tests.contract.conftest import (
    ACTIVE,
    EVERY_STATE,
    FINAL,
    LEASE,
    A,
    B,
    Backend,
    changes,
    expire,
    get,
    ids,
    new_video,
    own_share,
    put,
    recent,
)

S = VideoStatus
R = UserRequest
DELETING = "This video is being deleted."
# the states each request applies to
APPLIES: dict[UserRequest, list[VideoStatus]] = {
    R.RETRY: [S.FAILED, S.CANCELLED],
    R.CANCEL: [S.QUEUED, *ACTIVE],
    R.DELETE: EVERY_STATE,
}


def tick() -> None:
    """Let the clock move on, so two requests in a row never share a time (orders by time are exact)."""
    time.sleep(0.005)


def _applying(*requests: UserRequest) -> list[Any]:
    return [
        pytest.param(request, state, id=f"{request}-{state}")
        for request in requests
        for state in APPLIES[request]
    ]


# --- ask ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("request_", "state"), _applying(R.RETRY, R.CANCEL, R.DELETE))
def test_ask_records_the_request_and_its_time(backend: Backend, request_, state):
    store = backend.store
    video_id = put(store, state)
    before, lease = get(store, video_id), backend.lease(video_id)
    moment = datetime.now(UTC)
    asked = store.ask(A, video_id, request_)
    assert asked == get(store, video_id)
    assert asked.requested is request_ and recent(asked.requested_at, moment)
    assert changes(before, asked) == {"requested", "requested_at"}  # the state is the engine's to change
    assert backend.lease(video_id) == lease


@pytest.mark.parametrize(("request_", "state"), _applying(R.RETRY, R.CANCEL))
def test_asking_the_same_again_keeps_the_first_time(store, request_, state):
    video_id = put(store, state)
    first = store.ask(A, video_id, request_)
    tick()
    again = store.ask(A, video_id, request_)
    assert (again.requested, again.requested_at) == (request_, first.requested_at)
    assert changes(first, again) == set()
    assert get(store, video_id) == again


@pytest.mark.parametrize(
    ("state", "first", "second"),
    [
        (S.QUEUED, R.CANCEL, R.DELETE),
        (S.GENERATING, R.CANCEL, R.DELETE),
        (S.FAILED, R.RETRY, R.DELETE),
        (S.CANCELLED, R.RETRY, R.DELETE),
    ],
)
def test_a_different_request_replaces_the_first_with_a_new_time(store, state, first, second):
    video_id = put(store, state)
    earlier = store.ask(A, video_id, first)
    tick()
    moment = datetime.now(UTC)
    later = store.ask(A, video_id, second)
    assert later.requested is second and recent(later.requested_at, moment)
    assert later.requested_at > earlier.requested_at
    assert changes(earlier, later) == {"requested", "requested_at"}
    assert get(store, video_id) == later


REFUSED = [
    *[
        pytest.param(
            state,
            R.RETRY,
            f"Only a failed or cancelled video can be retried; this one is {state}.",
            id=f"retry-{state}",
        )
        for state in (S.QUEUED, *ACTIVE, S.COMPLETED)
    ],
    *[
        pytest.param(
            state,
            R.CANCEL,
            f"This video is {state} already: there is nothing to cancel.",
            id=f"cancel-{state}",
        )
        for state in FINAL
    ],
]


@pytest.mark.parametrize(("state", "request_", "message"), REFUSED)
def test_a_request_that_cannot_apply_is_refused_and_changes_nothing(
    backend: Backend, state, request_, message
):
    store = backend.store
    video_id = put(store, state)
    before, lease = get(store, video_id), backend.lease(video_id)
    with pytest.raises(RequestRefused) as caught:
        store.ask(A, video_id, request_)
    assert str(caught.value) == message
    assert get(store, video_id) == before  # updated_at included: nothing was written
    assert backend.lease(video_id) == lease


@pytest.mark.parametrize("request_", list(UserRequest))
@pytest.mark.parametrize("state", [S.QUEUED, S.GENERATING, S.COMPLETED, S.FAILED, S.CANCELLED])
def test_nothing_can_be_asked_of_a_video_being_deleted(store, state, request_):
    video_id = put(store, state)
    deleting = store.ask(A, video_id, R.DELETE)
    tick()
    with pytest.raises(RequestRefused) as caught:
        store.ask(A, video_id, request_)
    assert str(caught.value) == DELETING
    assert get(store, video_id) == deleting


# for each request, a state it applies to: only whose video it is (or that there is none) refuses it
APPLICABLE = {R.RETRY: S.FAILED, R.CANCEL: S.QUEUED, R.DELETE: S.COMPLETED}


@pytest.mark.parametrize("request_", list(UserRequest))
@pytest.mark.parametrize("who", ["another user", "a made-up user"])
def test_a_request_on_someone_elses_video_is_refused_as_gone(store, request_, who):
    video_id = put(store, APPLICABLE[request_])
    before = get(store, video_id)
    with pytest.raises(RequestRefused) as caught:
        store.ask(B if who == "another user" else "nobody", video_id, request_)
    assert str(caught.value) == GONE
    assert get(store, video_id) == before


@pytest.mark.parametrize("request_", list(UserRequest))
@pytest.mark.parametrize("missing", ["a uuid of no video", "not a uuid"])
def test_a_request_on_a_missing_video_is_refused_as_gone(store, request_, missing):
    video_id = put(store, APPLICABLE[request_])
    before = get(store, video_id)
    with pytest.raises(RequestRefused) as caught:
        store.ask(A, str(uuid.uuid4()) if missing == "a uuid of no video" else "not-a-uuid", request_)
    assert str(caught.value) == GONE
    assert get(store, video_id) == before


# --- requested ----------------------------------------------------------------------------------------


def test_requested_returns_what_this_engine_may_carry_out_oldest_request_first(backend: Backend):
    store = backend.store
    made = {
        "queued": put(store, S.QUEUED),
        "failed": put(store, S.FAILED),
        "completed": put(store, S.COMPLETED),
        "cancelled": put(store, S.CANCELLED),
        "mine": put(store, S.GENERATING, owner="a"),
        "theirs": put(store, S.GENERATING, owner="b"),  # b's live lease: b's to carry out
        "expired": put(store, S.CLAIMED, owner="b"),
        "nobodys": put(store, S.TRANSFERRING, owner="gone"),
    }
    expire(backend, made["expired"])
    assert store.release("gone") == 1
    for state in (S.QUEUED, S.FAILED, S.COMPLETED, S.GENERATING):  # no request: never returned
        put(store, state, owner="a")
    asks = [  # not the order they were made in
        ("nobodys", R.CANCEL),
        ("completed", R.DELETE),
        ("theirs", R.CANCEL),
        ("mine", R.DELETE),
        ("queued", R.CANCEL),
        ("expired", R.CANCEL),
        ("cancelled", R.RETRY),
        ("failed", R.RETRY),
    ]
    for name, request in asks:
        store.ask(A, made[name], request)
        tick()
    order = [name for name, _ in asks]

    def expected(*left_out: str) -> list[TrackedVideo]:
        return store.get_videos([made[name] for name in order if name not in left_out])

    assert store.requested("a") == expected("theirs")
    assert store.requested("b") == expected("mine")  # the expired lease is still b's own
    assert store.requested("c") == expected("theirs", "mine")
    assert [video.requested for video in store.requested("a")] == [
        R.CANCEL,
        R.DELETE,
        R.DELETE,
        R.CANCEL,
        R.CANCEL,
        R.RETRY,
        R.RETRY,
    ]
    assert store.requested("a", limit=3) == expected("theirs")[:3]
    assert store.requested("a", limit=1) == expected("theirs")[:1]


def test_requested_is_empty_without_requests(store):
    for state in EVERY_STATE:
        put(store, state)
    assert store.requested("a") == []


def test_a_request_asked_again_keeps_its_place_and_a_changed_one_goes_last(store):
    first, second = put(store, S.QUEUED), put(store, S.QUEUED)
    store.ask(A, first, R.CANCEL)
    tick()
    store.ask(A, second, R.CANCEL)
    tick()
    store.ask(A, first, R.CANCEL)  # the same again: still the oldest
    assert ids(store.requested("a")) == [first, second]
    tick()
    store.ask(A, first, R.DELETE)  # a new request: the newest
    assert ids(store.requested("a")) == [second, first]


# --- clear_request, and the moves that carry a request out ------------------------------------------


def test_clear_request_drops_only_the_matching_request(store):
    video_id, other = put(store, S.GENERATING), put(store, S.QUEUED)
    asked = store.ask(A, video_id, R.CANCEL)
    untouched = store.ask(A, other, R.CANCEL)
    for wrong in (R.RETRY, R.DELETE):
        assert store.clear_request(video_id, wrong) is False
    assert get(store, video_id) == asked
    assert store.clear_request(video_id, R.CANCEL) is True
    cleared = get(store, video_id)
    assert (cleared.requested, cleared.requested_at, cleared.status) == (None, None, S.GENERATING)
    assert changes(asked, cleared) == {"requested", "requested_at"}
    assert store.clear_request(video_id, R.CANCEL) is False  # none left
    assert store.clear_request(str(uuid.uuid4()), R.CANCEL) is False
    assert store.clear_request("not-a-uuid", R.CANCEL) is False
    assert get(store, video_id) == cleared
    assert get(store, other) == untouched
    assert store.requested("a") == [untouched]


MOVES: dict[str, tuple[VideoStatus, UserRequest, VideoStatus, Callable[[VideoStore, str], Any]]] = {
    "cancelled-queued": (S.QUEUED, R.CANCEL, S.CANCELLED, lambda s, v: s.cancelled(v, "Cancelled.")),
    "cancelled-generating": (S.GENERATING, R.CANCEL, S.CANCELLED, lambda s, v: s.cancelled(v, "Cancelled.")),
    "requeue-failed": (S.FAILED, R.RETRY, S.QUEUED, lambda s, v: s.requeue(v)),
    "requeue-cancelled": (S.CANCELLED, R.RETRY, S.QUEUED, lambda s, v: s.requeue(v)),
    "recover-failed": (S.FAILED, R.RETRY, S.GENERATING, lambda s, v: s.recover(v)),
}


@pytest.mark.parametrize("move", list(MOVES))
def test_a_request_stays_until_the_engine_clears_what_it_carried_out(store, move):
    """The move does not drop the request: a delete asked after the engine read a retry would be
    lost with it. The engine clears the request it carried out, and only that one."""
    state, request, target, call = MOVES[move]
    video_id = put(store, state)
    asked = store.ask(A, video_id, request)
    moved = call(store, video_id)
    assert moved == get(store, video_id)
    assert (moved.status, moved.requested, moved.requested_at) == (target, request, asked.requested_at)
    if target is not S.CANCELLED:  # meanwhile the person asked to delete it
        store.ask(A, video_id, R.DELETE)
        assert store.clear_request(video_id, request) is False
        assert get(store, video_id).requested is R.DELETE
        return
    assert store.clear_request(video_id, request) is True
    assert store.requested("a") == []


def test_the_engines_other_moves_keep_a_pending_request(store):
    video_id = put(store, S.CLAIMED)
    asked = store.ask(A, video_id, R.DELETE)
    steps: list[Callable[[], Any]] = [
        lambda: store.creating(video_id, "a"),
        lambda: store.not_started(video_id, "a", "Busy."),
        lambda: store.creating(video_id, "a"),
        lambda: store.started(video_id, "a", "job-1"),
        lambda: store.progress(video_id, "a", 40, "Generating."),
        lambda: store.transferring(video_id, "a"),
        lambda: store.completed(video_id, "a", f"{A}/x.mp4", None),
    ]
    for step in steps:
        assert step()
        now = get(store, video_id)
        assert (now.requested, now.requested_at) == (R.DELETE, asked.requested_at)
    other = put(store, S.GENERATING)
    cancel = store.ask(A, other, R.CANCEL)
    failed = store.failed(other, "a", FailureKind.PROVIDER_FAILED, "The job failed.")
    assert (failed.requested, failed.requested_at) == (R.CANCEL, cancel.requested_at)


def test_remove_deletes_only_that_record(store):
    one, two = store.insert_videos([new_video(), new_video()])
    store.ask(A, one.id, R.DELETE)  # as the engine finds it
    assert store.remove(one.id) is True
    assert store.get_video(one.id) is None
    assert store.get_videos([one.id, two.id]) == [two]
    assert store.remove(one.id) is False  # gone already
    assert store.remove(str(uuid.uuid4())) is False
    assert store.remove("not-a-uuid") is False
    assert store.list_videos(A) == [two]
    assert store.requested("a") == []


# --- claim, usage and counts with requests ----------------------------------------------------------


def test_claim_skips_queued_videos_asked_to_cancel_or_delete_but_takes_a_retried_one(backend: Backend):
    store = backend.store
    videos = [new_video(model="shared") for _ in range(4)]
    store.insert_videos(videos)
    cancel, delete, retry, plain = ids(videos)
    store.ask(A, cancel, R.CANCEL)
    store.ask(A, delete, R.DELETE)
    # a queued video cannot be asked to retry: its request is written behind the store's back
    backend.write(retry, {"requested_action": "retry", "requested_at": datetime.now(UTC)})
    skipped = store.get_videos([cancel, delete])
    share = own_share(videos[0])
    claimed = store.claim("a", 10, LEASE, share)
    assert ids(claimed) == [retry, plain]
    assert [video.status for video in claimed] == [S.CLAIMED, S.CLAIMED]
    assert store.claim("a", 10, LEASE, share) == []
    assert store.claim("a", 10, LEASE) == []  # nor from the whole queue
    assert store.get_videos([cancel, delete]) == skipped
    assert [backend.lease(video_id) for video_id in (cancel, delete)] == [(None, None)] * 2


def test_usage_and_project_counts_leave_out_videos_being_deleted(store):
    ads, trips = store.create_project(A, "Ads").id, store.create_project(A, "Trips").id
    kept = put(store, S.COMPLETED, project_id=ads, model="sora-2", seconds=4)
    deleted = put(store, S.COMPLETED, project_id=ads, model="sora-2", seconds=8)
    queued_deleted = put(store, S.QUEUED, project_id=ads, model="waiting")
    cancelling = put(store, S.QUEUED, project_id=ads, model="other")  # another request: still counted
    loose = put(store, S.COMPLETED, project_id=None, model="sora-2", seconds=12)
    only_one = put(store, S.COMPLETED, project_id=trips, model="sora-2", seconds=8)
    assert store.project_video_counts(A) == {ads: 4, trips: 1}
    assert len(store.usage(A)) == 3
    for video_id in (deleted, queued_deleted, only_one):
        store.ask(A, video_id, R.DELETE)
    store.ask(A, cancelling, R.CANCEL)
    assert store.get_video(loose) is not None and store.get_video(kept) is not None
    assert store.project_video_counts(A) == {ads: 2}
    assert sorted(store.usage(A), key=str) == sorted(
        [Usage(ads, "sora-2", "720x1280", 1, 4), Usage(None, "sora-2", "720x1280", 1, 12)], key=str
    )


# --- engines' heartbeats ------------------------------------------------------------------------------

STARTED = datetime(2026, 12, 2, 17, 0, 0, tzinfo=UTC)


def beat(owner: str, videos_held: int = 0, host: str = "host-1", pid: int = 100) -> EngineBeat:
    return EngineBeat(owner, host, pid, "1.0.0", STARTED, videos_held)


def test_workers_online_counts_the_engines_that_beat_within_the_window(backend: Backend):
    store = backend.store
    assert store.workers_online(60) == 0
    store.beat(beat("engine-1"))
    assert store.workers_online(60) == 1
    store.beat(beat("engine-2", host="host-2"))
    assert store.workers_online(60) == 2
    backend.write_engine("engine-1", {"last_seen": datetime.now(UTC) - timedelta(seconds=120)})
    assert store.workers_online(60) == 1  # its beat is older than the window
    assert store.workers_online(300) == 2
    store.forget_engine("engine-2")
    assert store.workers_online(60) == 0
    assert store.workers_online(300) == 1
    store.forget_engine("engine-2")  # gone already: nothing happens
    store.forget_engine("nobody")
    assert [row[0] for row in backend.engines()] == ["engine-1"]


def test_a_beat_records_the_engine_and_the_next_one_refreshes_its_row(backend: Backend):
    store = backend.store
    moment = datetime.now(UTC)
    store.beat(beat("engine-1", videos_held=2))
    [first] = backend.engines()
    assert first[:5] == ("engine-1", "host-1", 100, "1.0.0", STARTED)
    assert recent(first[5], moment) and first[6] == 2
    old = datetime.now(UTC) - timedelta(minutes=5)
    backend.write_engine("engine-1", {"last_seen": old})
    assert store.workers_online(60) == 0
    moment = datetime.now(UTC)
    restarted = EngineBeat("engine-1", "host-2", 200, "1.1.0", STARTED + timedelta(hours=1), 5)
    store.beat(restarted)
    [second] = backend.engines()  # the same row, not a second one
    assert second[:5] == ("engine-1", "host-2", 200, "1.1.0", STARTED + timedelta(hours=1))
    assert recent(second[5], moment) and second[5] > old and second[6] == 5
    assert store.workers_online(60) == 1


def test_engines_are_seen_by_another_connection(backend: Backend):
    backend.store.beat(beat("engine-1"))
    other = backend.sibling()
    try:
        assert other.workers_online(60) == 1
        other.forget_engine("engine-1")
        assert backend.store.workers_online(60) == 0
    finally:
        other.close()
