"""The JobQueue contract (the engine's typed operations, the only way a video changes state), on every
backend: each operation from each state, who may do it, what it writes, and what it leaves alone."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mimio_core.domain import ACTIVE_STATES, FailureKind, QueueShare, TrackedVideo, VideoStatus
from mimio_core.status import TRANSITIONS, InvalidTransition
from mimio_core.store.base import VideoFilter, VideoStore
from tests.contract.conftest import (
    ACTIVE,
    EVERY_STATE,
    FINAL,
    JOB,
    LEASE,
    STORED,
    THUMB,
    A,
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
K = FailureKind


# --- every operation, from every state ---------------------------------------------------------------

# operation -> (the states it moves a video from, the state it moves it to, how to call it as the holder)
Op = Callable[[VideoStore, str], Any]
OPS: dict[str, tuple[frozenset[VideoStatus], VideoStatus | None, Op]] = {
    "creating": (frozenset({S.CLAIMED}), S.CREATING, lambda s, v: s.creating(v, "a")),
    "not_started": (frozenset({S.CREATING}), S.CLAIMED, lambda s, v: s.not_started(v, "a", "Busy.")),
    "started": (frozenset({S.CREATING}), S.GENERATING, lambda s, v: s.started(v, "a", "job-2")),
    "transferring": (frozenset({S.GENERATING}), S.TRANSFERRING, lambda s, v: s.transferring(v, "a")),
    "completed": (frozenset({S.TRANSFERRING}), S.COMPLETED, lambda s, v: s.completed(v, "a", STORED, None)),
    "failed": (ACTIVE_STATES, S.FAILED, lambda s, v: s.failed(v, "a", K.INTERNAL, "A bug.")),
    "cancelled": (ACTIVE_STATES | {S.QUEUED}, S.CANCELLED, lambda s, v: s.cancelled(v, "Cancelled.")),
    "requeue": (frozenset({S.FAILED, S.CANCELLED}), S.QUEUED, lambda s, v: s.requeue(v)),
    "recover": (frozenset({S.FAILED}), S.GENERATING, lambda s, v: s.recover(v)),
    "progress": (ACTIVE_STATES, None, lambda s, v: s.progress(v, "a", 50, "At the provider.")),
}


def _cases(allowed: bool) -> list[Any]:
    cases = []
    for name, (sources, _, _) in OPS.items():
        for state in EVERY_STATE:
            if (state in sources) != allowed:
                continue
            cases.append(pytest.param(name, state, id=f"{name}-from-{state}"))
    return cases


@pytest.mark.parametrize(("op", "state"), _cases(allowed=False))
def test_an_operation_from_a_state_it_does_not_lead_from_changes_nothing(backend: Backend, op, state):
    store = backend.store
    video_id = put(store, state)
    before, lease = get(store, video_id), backend.lease(video_id)
    answer = OPS[op][2](store, video_id)
    assert answer is (False if op == "progress" else None)
    assert get(store, video_id) == before  # updated_at included: nothing was written
    assert backend.lease(video_id) == lease


@pytest.mark.parametrize(("op", "state"), _cases(allowed=True))
def test_an_operation_from_a_state_it_leads_from_makes_its_move(store, op, state):
    video_id = put(store, state)
    before = get(store, video_id)
    answer = OPS[op][2](store, video_id)
    target = OPS[op][1]
    after = get(store, video_id)
    if op == "progress":
        assert (answer, after.status, after.progress, after.status_note) == (
            True,
            state,
            50,
            "At the provider.",
        )
    else:
        assert answer == after and after.status is target
        assert target in TRANSITIONS[state]
    assert after.updated_at >= before.updated_at


# the operations that name the engine holding the video, each from a state it leads from
HELD = {
    "creating": S.CLAIMED,
    "not_started": S.CREATING,
    "started": S.CREATING,
    "transferring": S.GENERATING,
    "completed": S.TRANSFERRING,
    "failed": S.GENERATING,
    "progress": S.GENERATING,
}


@pytest.mark.parametrize(("op", "state"), list(HELD.items()), ids=list(HELD))
def test_another_engines_operation_changes_nothing(backend: Backend, op, state):
    store = backend.store
    video_id = put(store, state, owner="b")  # held by b; the operations act as "a"
    before, lease = get(store, video_id), backend.lease(video_id)
    assert OPS[op][2](store, video_id) is (False if op == "progress" else None)
    assert get(store, video_id) == before
    assert backend.lease(video_id) == lease


def test_an_operation_on_a_missing_video_changes_nothing(store):
    video_id = put(store, S.GENERATING)
    before = get(store, video_id)
    for op, (_, _, call) in OPS.items():
        for missing in (str(uuid.uuid4()), "not-a-uuid"):
            assert call(store, missing) is (False if op == "progress" else None), op
    assert get(store, video_id) == before


# --- claim --------------------------------------------------------------------------------------------


def test_claim_respects_capacity_across_calls_and_takes_oldest_first(backend: Backend):
    store = backend.store
    batches = [[new_video(model="sora-2") for _ in range(n)] for n in (2, 1, 2)]
    for batch in batches:
        store.insert_videos(batch)
    v1, v2, v3, v4, v5 = (video.id for batch in batches for video in batch)
    before = datetime.now(UTC)

    claimed = store.claim("engine-a", capacity=2, lease_seconds=LEASE)
    assert ids(claimed) == [v1, v2]
    for video in claimed:
        assert (video.status, video.progress, video.error, video.failure_kind) == (S.CLAIMED, 0, None, None)
        assert recent(video.started_at, before)
        owner, expires = backend.lease(video.id)
        assert owner == "engine-a" and expires is not None
        assert timedelta(seconds=LEASE - 5) < expires - before < timedelta(seconds=LEASE + 5)
    assert store.claim("engine-a", capacity=2, lease_seconds=LEASE) == []

    for step in (
        lambda: store.creating(v1, "engine-a"),
        lambda: store.started(v1, "engine-a", JOB),
        lambda: store.transferring(v1, "engine-a"),
        lambda: store.completed(v1, "engine-a", STORED, None),
    ):
        assert step() is not None
    assert ids(store.claim("engine-a", capacity=2, lease_seconds=LEASE)) == [v3]
    # active videos held by another engine count too
    assert ids(store.claim("engine-b", capacity=3, lease_seconds=LEASE)) == [v4]
    assert ids(store.claim("engine-b", capacity=10, lease_seconds=LEASE)) == [v5]
    assert store.claim("engine-b", capacity=10, lease_seconds=LEASE) == []
    assert [backend.lease(v)[0] for v in (v1, v2, v3, v4, v5)] == [
        None,
        "engine-a",
        "engine-a",
        "engine-b",
        "engine-b",
    ]


def test_claim_with_no_capacity_claims_nothing(store):
    [queued] = store.insert_videos([new_video()])
    assert store.claim("a", capacity=0, lease_seconds=LEASE) == []
    assert get(store, queued.id) == queued


def test_claim_counts_all_four_active_states_against_capacity(store):
    for state in [*FINAL, *ACTIVE]:  # final videos hold no slot
        put(store, state, model="shared")
    [queued] = store.insert_videos([new_video(model="shared")])
    share = own_share(queued)
    assert store.claim("c", capacity=4, lease_seconds=LEASE, share=share) == []
    assert store.claim("c", capacity=4, lease_seconds=LEASE) == []  # the whole queue counts them too
    assert get(store, queued.id) == queued
    assert ids(store.claim("c", capacity=5, lease_seconds=LEASE, share=share)) == [queued.id]


def test_each_share_of_the_queue_has_its_own_capacity(store):
    fal_1, fal_2, local, gone = (
        new_video(model="fal-veo-3.1"),
        new_video(model="fal-veo-3.1"),
        new_video(model="mimio-local"),
        new_video(model="a-model-nobody-serves"),
    )
    store.insert_videos([fal_1, fal_2, local, gone])
    fal = QueueShare(frozenset({"fal-veo-3.1"}))
    default = QueueShare(frozenset({"fal-veo-3.1"}), exclude=True)  # the default provider: the rest
    assert ids(store.claim("engine-1", 1, LEASE, fal)) == [fal_1.id]
    assert store.claim("engine-1", 1, LEASE, fal) == []  # fal's one slot is taken ...
    assert ids(store.claim("engine-1", 1, LEASE, default)) == [local.id]  # ... the other is not
    assert ids(store.claim("engine-1", 2, LEASE, default)) == [gone.id]
    assert store.claim("engine-1", 2, LEASE, default) == []
    assert ids(store.claim("engine-1", 9, LEASE)) == [fal_2.id]  # the whole queue: 4 active < 9
    assert store.claim("engine-1", 9, LEASE) == []


def test_claim_clears_the_previous_attempt(backend: Backend):
    store = backend.store
    video_id = put(store, S.GENERATING)
    assert store.progress(video_id, "a", 40, "Generating.")
    failed = store.failed(video_id, "a", K.TIMED_OUT, "Timed out.")
    assert (failed.failure_kind, failed.error, failed.external_video_id, failed.progress) == (
        K.TIMED_OUT,
        "Timed out.",
        JOB,
        40,
    )
    requeued = store.requeue(video_id)
    assert (requeued.status, requeued.error, requeued.failure_kind, requeued.progress) == (
        S.QUEUED,
        None,
        None,
        0,
    )
    assert changes(failed, requeued) == {"status", "error", "failure_kind", "progress"}
    assert backend.lease(video_id) == (None, None)
    # what a queued video may still carry from before (the job, the create call; and, written behind
    # the store's back, an error, a note and progress) is gone once it is claimed again
    backend.write(video_id, {"error": "stale", "status_note": "stale", "progress": 30})
    before = datetime.now(UTC)
    [again] = store.claim("b", 1, LEASE, own_share(failed))
    assert again == get(store, video_id)
    assert (again.status, again.progress, again.error, again.failure_kind, again.status_note) == (
        S.CLAIMED,
        0,
        None,
        None,
        None,
    )
    assert (again.external_video_id, again.create_started_at) == (None, None)
    assert recent(again.started_at, before) and again.started_at > failed.started_at
    assert changes(requeued, again) == {"status", "external_video_id", "create_started_at", "started_at"}


def test_two_stores_never_claim_the_same_video(backend: Backend):
    backend.store.insert_videos([new_video(model="sora-2") for _ in range(20)])
    stores = [backend.sibling(), backend.sibling()]
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim(owner: str, mine: VideoStore) -> None:
        start.wait()
        for capacity in range(1, 21):
            claimed[owner] += ids(mine.claim(owner, capacity=capacity, lease_seconds=LEASE))

    threads = [threading.Thread(target=claim, args=(o, s)) for o, s in zip("ab", stores, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not set(claimed["a"]) & set(claimed["b"])
        assert len(claimed["a"]) + len(claimed["b"]) == 20
        assert set(claimed["a"]) | set(claimed["b"]) == set(ids(backend.store.list_videos(A)))
        assert backend.store.count_videos(A, VideoFilter(states=frozenset({S.CLAIMED}))) == 20
        for owner, mine in claimed.items():
            assert {backend.lease(video_id)[0] for video_id in mine} <= {owner}
    finally:
        for other in stores:
            other.close()


def test_two_stores_share_one_capacity(backend: Backend):
    videos = [new_video(model="sora-2") for _ in range(6)]
    backend.store.insert_videos(videos)
    other = backend.sibling()
    try:
        assert len(backend.store.claim("a", capacity=4, lease_seconds=LEASE)) == 4
        assert other.claim("b", capacity=4, lease_seconds=LEASE) == []
        assert ids(other.claim("b", capacity=5, lease_seconds=LEASE)) == [videos[4].id]
    finally:
        other.close()


# --- heartbeat ----------------------------------------------------------------------------------------


def test_heartbeat_renews_the_owners_own_leases(backend: Backend):
    store = backend.store
    one, two = put(store, S.CLAIMED, lease=5), put(store, S.GENERATING, lease=5)
    before = datetime.now(UTC)
    assert ids(store.heartbeat("a", lease_seconds=LEASE)) == [one, two]
    for video_id in (one, two):
        owner, expires = backend.lease(video_id)
        assert owner == "a" and expires is not None and expires - before > timedelta(seconds=LEASE - 5)
    assert store.heartbeat("b", lease_seconds=LEASE) == []  # a's are live
    assert ids(store.heartbeat("a", lease_seconds=LEASE)) == [one, two]
    assert [backend.lease(v)[0] for v in (one, two)] == ["a", "a"]


def test_heartbeat_takes_expired_leases_but_not_live_ones(backend: Backend):
    store = backend.store
    expired = put(store, S.GENERATING, lease=1.0)
    live = put(store, S.GENERATING, owner="live")
    assert store.heartbeat("b", lease_seconds=LEASE) == []  # both still held
    time.sleep(1.1)  # the lease runs out on the database's clock
    taken = store.heartbeat("b", lease_seconds=LEASE)
    assert ids(taken) == [expired]
    assert taken == [get(store, expired)] and taken[0].status is S.GENERATING
    assert [backend.lease(expired)[0], backend.lease(live)[0]] == ["b", "live"]
    # the old owner has lost it: its writes no longer apply
    lost = get(store, expired)
    assert store.heartbeat("a", lease_seconds=LEASE) == []
    assert store.transferring(expired, "a") is None
    assert store.failed(expired, "a", K.INTERNAL, "late") is None
    assert store.progress(expired, "a", 77, "a's note") is False
    assert get(store, expired) == lost
    assert store.transferring(expired, "b") is not None  # the new owner's do


def test_heartbeat_takes_videos_nobody_holds(backend: Backend):
    store = backend.store
    video_id = put(store, S.TRANSFERRING, owner="gone")
    assert store.release("gone") == 1
    assert backend.lease(video_id) == (None, None)
    assert ids(store.heartbeat("b", lease_seconds=LEASE)) == [video_id]
    assert backend.lease(video_id)[0] == "b"


def test_heartbeat_ignores_queued_and_final_videos(backend: Backend):
    store = backend.store
    resting = [put(store, state) for state in (S.QUEUED, *FINAL)]
    before = store.get_videos(resting)
    assert store.heartbeat("b", lease_seconds=LEASE) == []
    assert store.get_videos(resting) == before
    assert [backend.lease(video_id) for video_id in resting] == [(None, None)] * 4


def test_heartbeat_returns_the_active_videos_in_each_active_state(backend: Backend):
    store = backend.store
    held = [put(store, state) for state in ACTIVE]
    put(store, S.QUEUED)
    before = store.get_videos(held)
    assert store.heartbeat("b", lease_seconds=LEASE) == []
    expire(backend, *held)
    taken = store.heartbeat("b", lease_seconds=LEASE)
    assert ids(taken) == held  # oldest first
    assert [video.status for video in taken] == ACTIVE
    assert [changes(old, new) for old, new in zip(before, taken, strict=True)] == [set()] * 4
    assert {backend.lease(video_id)[0] for video_id in held} == {"b"}
    assert store.lease_owners() == {"b"}


# --- the moves, one by one ----------------------------------------------------------------------------


def test_creating_notes_the_create_call(store):
    video_id = put(store, S.CLAIMED)
    claimed = get(store, video_id)
    before = datetime.now(UTC)
    creating = store.creating(video_id, "a")
    assert creating.status is S.CREATING and recent(creating.create_started_at, before)
    assert changes(claimed, creating) == {"status", "create_started_at"}
    assert store.creating(video_id, "a") is None  # once


def test_not_started_hands_it_back_with_the_note(backend: Backend):
    store = backend.store
    video_id = put(store, S.CREATING)
    creating = get(store, video_id)
    back = store.not_started(video_id, "a", "Not started yet (busy); trying again in 4 s.")
    assert (back.status, back.create_started_at, back.status_note) == (
        S.CLAIMED,
        None,
        "Not started yet (busy); trying again in 4 s.",
    )
    assert changes(creating, back) == {"status", "create_started_at", "status_note"}
    assert backend.lease(video_id)[0] == "a"  # still this engine's: it tries again
    again = store.creating(video_id, "a")
    assert (again.status, again.status_note) == (S.CREATING, None)
    assert again.create_started_at is not None


def test_started_records_the_job(store):
    video_id = put(store, S.CREATING)
    creating = get(store, video_id)
    generating = store.started(video_id, "a", "job-77")
    assert (generating.status, generating.external_video_id, generating.progress) == (
        S.GENERATING,
        "job-77",
        0,
    )
    assert changes(creating, generating) == {"status", "external_video_id"}
    assert generating.create_started_at == creating.create_started_at
    assert store.started(video_id, "a", "job-78") is None


def test_transferring_changes_only_the_state(backend: Backend):
    store = backend.store
    video_id = put(store, S.GENERATING)
    assert store.progress(video_id, "a", 90, "Almost.")
    generating = get(store, video_id)
    transferring = store.transferring(video_id, "a")
    assert (transferring.status, transferring.progress, transferring.external_video_id) == (
        S.TRANSFERRING,
        90,
        JOB,
    )
    assert changes(generating, transferring) == {"status", "status_note"}  # the note is cleared
    assert backend.lease(video_id)[0] == "a"


@pytest.mark.parametrize("thumbnail", [THUMB, None])
def test_completed_stores_paths_progress_and_time_and_drops_the_lease(backend: Backend, thumbnail):
    store = backend.store
    video_id = put(store, S.TRANSFERRING)
    transferring = get(store, video_id)
    before = datetime.now(UTC)
    done = store.completed(video_id, "a", STORED, thumbnail)
    assert (done.status, done.progress, done.storage_path, done.thumbnail_path, done.external_video_id) == (
        S.COMPLETED,
        100,
        STORED,
        thumbnail,
        JOB,
    )
    assert recent(done.completed_at, before) and done.completed_at >= done.started_at
    expected = {"status", "progress", "storage_path", "completed_at"} | (
        {"thumbnail_path"} if thumbnail else set()
    )
    assert changes(transferring, done) == expected
    assert backend.lease(video_id) == (None, None)
    assert store.lease_owners() == set()


@pytest.mark.parametrize("state", ACTIVE)
def test_failed_records_kind_and_message_and_drops_the_lease(backend: Backend, state):
    store = backend.store
    video_id = put(store, state)
    active = get(store, video_id)
    failed = store.failed(video_id, "a", K.REFUSED, "The provider refused the video: policy.")
    assert (failed.status, failed.failure_kind, failed.error) == (
        S.FAILED,
        K.REFUSED,
        "The provider refused the video: policy.",
    )
    assert changes(active, failed) == {"status", "failure_kind", "error"}
    assert backend.lease(video_id) == (None, None)


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_failure_kind_is_recorded(store, kind):
    video_id = put(store, S.CLAIMED)
    assert store.failed(video_id, "a", kind, f"Because {kind}.").failure_kind is kind
    assert get(store, video_id).failure_kind is kind


@pytest.mark.parametrize("state", [S.QUEUED, *ACTIVE])
def test_cancelled_from_queued_or_active_whoever_holds_it(backend: Backend, state):
    store = backend.store
    video_id = put(store, state, owner="someone")
    before = get(store, video_id)
    message = "Cancelled. The provider did not stop its job; it may still finish and be billed."
    cancelled = store.cancelled(video_id, message)
    assert (cancelled.status, cancelled.error, cancelled.failure_kind) == (S.CANCELLED, message, None)
    assert changes(before, cancelled) == {"status", "error"}
    assert backend.lease(video_id) == (None, None)
    assert store.cancelled(video_id, "again") is None
    assert get(store, video_id) == cancelled


@pytest.mark.parametrize("state", [S.FAILED, S.CANCELLED])
def test_requeue_from_failed_or_cancelled(backend: Backend, state):
    store = backend.store
    video_id = put(store, state)
    resting = get(store, video_id)
    queued = store.requeue(video_id)
    assert (queued.status, queued.error, queued.failure_kind, queued.progress, queued.status_note) == (
        S.QUEUED,
        None,
        None,
        0,
        None,
    )
    expected = {"status", "error"} | ({"failure_kind"} if state is S.FAILED else set())
    assert changes(resting, queued) == expected
    assert backend.lease(video_id) == (None, None)
    assert ids(store.claim("b", 1, LEASE, own_share(queued))) == [video_id]


def test_recover_watches_the_kept_job_again_and_a_heartbeat_takes_it(backend: Backend):
    store = backend.store
    video_id = put(store, S.GENERATING)
    failed = store.failed(video_id, "a", K.TIMED_OUT, "Timed out after 10 minutes.")
    before = datetime.now(UTC)
    recovered = store.recover(video_id)
    assert (recovered.status, recovered.error, recovered.failure_kind, recovered.external_video_id) == (
        S.GENERATING,
        None,
        None,
        JOB,
    )
    assert recent(recovered.started_at, before) and recovered.started_at > failed.started_at
    assert changes(failed, recovered) == {"status", "error", "failure_kind", "started_at"}
    assert backend.lease(video_id) == (None, None)
    assert store.recover(video_id) is None
    assert ids(store.heartbeat("b", LEASE)) == [video_id]
    assert store.transferring(video_id, "b") is not None


# --- progress -----------------------------------------------------------------------------------------


def test_progress_never_goes_lower(store):
    video_id = put(store, S.GENERATING)
    assert store.progress(video_id, "a", 60) is True
    assert store.progress(video_id, "a", 20) is True
    assert get(store, video_id).progress == 60
    assert store.progress(video_id, "a", 61) is True
    assert get(store, video_id).progress == 61


@pytest.mark.parametrize(("given", "stored"), [(150, 100), (-5, 0), (100, 100), (0, 0), (37, 37)])
def test_progress_is_clamped(store, given, stored):
    video_id = put(store, S.GENERATING)
    assert store.progress(video_id, "a", given) is True
    assert get(store, video_id).progress == stored


def test_progress_changes_only_progress_and_note(store):
    video_id = put(store, S.CREATING)
    before = get(store, video_id)
    assert store.progress(video_id, "a", 12, "Waiting at fal.ai, position 3")
    after = get(store, video_id)
    assert changes(before, after) == {"progress", "status_note"}
    assert (after.progress, after.status_note) == (12, "Waiting at fal.ai, position 3")


def test_the_note_is_replaced_by_each_progress_and_cleared_by_any_change_of_state(store):
    video_id = put(store, S.CLAIMED)
    for note in ("Waiting at fal.ai, position 3", "Generating at fal.ai"):
        assert store.progress(video_id, "a", 0, note)
        assert get(store, video_id).status_note == note
    assert store.progress(video_id, "a", 0)  # no note: the last one is gone
    assert get(store, video_id).status_note is None
    assert not store.progress(video_id, "b", 0, "someone else's")  # not the holder
    assert get(store, video_id).status_note is None
    moves: list[Callable[[], TrackedVideo | None]] = [
        lambda: store.creating(video_id, "a"),
        lambda: store.started(video_id, "a", JOB),
        lambda: store.transferring(video_id, "a"),
        lambda: store.failed(video_id, "a", K.TRANSFER_FAILED, "Download failed."),
    ]
    for move in moves:
        assert store.progress(video_id, "a", 0, "Where it is.")
        moved = move()
        assert moved is not None and moved.status_note is None
    for state in (S.QUEUED, S.TRANSFERRING):  # and into a final state by a cancel
        other = put(store, state)
        if state is not S.QUEUED:
            assert store.progress(other, "a", 0, "Storing.")
        assert store.cancelled(other, "Cancelled.").status_note is None


# --- leases -------------------------------------------------------------------------------------------


def test_jobs_held_names_only_the_job_ids_some_video_holds(store):
    first = put(store, S.CREATING)
    store.started(first, "a", "fal:fal-ai/veo3/requests/1")
    second = put(store, S.CREATING)
    store.started(second, "a", "job-2")
    store.failed(second, "a", K.TIMED_OUT, "Timed out.")  # a failed video keeps its job: still held
    asked = ["fal:fal-ai/veo3/requests/1", "job-2", "job-3", "fal:fal-ai/veo3/requests/10"]
    assert store.jobs_held(asked) == {"fal:fal-ai/veo3/requests/1", "job-2"}
    assert store.jobs_held([]) == set()


def test_reference_used_while_any_video_records_it(store):
    key = f"{A}/references/{'a' * 64}.png"
    assert store.reference_used(key) is False
    video_id = put(store, S.COMPLETED, reference_path=key)
    assert store.reference_used(key) is True
    assert store.reference_used(f"{A}/references/{'b' * 64}.png") is False
    store.remove(video_id)
    assert store.reference_used(key) is False


def test_lease_owners_and_release(backend: Backend):
    store = backend.store
    a_ids = [put(store, state, owner="a") for state in (S.CLAIMED, S.GENERATING)]
    b_id = put(store, S.CREATING, owner="b")
    put(store, S.COMPLETED, owner="c")  # a final video holds no lease
    assert store.lease_owners() == {"a", "b"}
    assert store.release("a") == 2
    assert store.release("a") == 0
    assert store.release("nobody") == 0
    assert store.lease_owners() == {"b"}
    assert [backend.lease(video_id) for video_id in a_ids] == [(None, None)] * 2
    assert [get(store, video_id).status for video_id in a_ids] == [S.CLAIMED, S.GENERATING]
    # nobody holds them: the next heartbeat (any engine) takes them; b's stays b's
    assert ids(store.heartbeat("c", lease_seconds=LEASE)) == a_ids
    assert backend.lease(b_id)[0] == "b"


# --- whole lives --------------------------------------------------------------------------------------


def test_a_whole_life_keeps_aware_utc_timestamps(store):
    video_id = put(store, S.CREATING)
    creating = get(store, video_id)
    assert store.started(video_id, "a", JOB) and store.transferring(video_id, "a")
    done = store.completed(video_id, "a", STORED, THUMB)
    for moment in (
        done.created_at,
        done.updated_at,
        done.started_at,
        creating.create_started_at,
        done.completed_at,
    ):
        assert moment is not None and moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert done.created_at <= done.started_at <= done.create_started_at <= done.completed_at
    assert done.updated_at >= done.completed_at - timedelta(seconds=1)


def test_retry_after_a_timeout_watches_the_same_job(backend: Backend):
    store = backend.store
    video_id = put(store, S.GENERATING)
    assert store.failed(video_id, "a", K.TIMED_OUT, "Timed out after 10 minutes.")
    assert store.recover(video_id).status is S.GENERATING
    [held] = store.heartbeat("b", lease_seconds=LEASE)
    assert (held.id, held.status, held.external_video_id, held.failure_kind, held.error) == (
        video_id,
        S.GENERATING,
        JOB,
        None,
        None,
    )
    assert backend.lease(video_id)[0] == "b"
    assert store.progress(video_id, "b", 70)


def test_retry_after_a_failed_transfer_completes_without_generating_again(backend: Backend):
    store = backend.store
    video_id = put(store, S.TRANSFERRING)
    assert store.failed(video_id, "a", K.TRANSFER_FAILED, "Download or storage failed 3 times.")
    assert store.recover(video_id) is not None
    [held] = store.heartbeat("b", lease_seconds=LEASE)
    assert held.id == video_id
    assert store.transferring(video_id, "b").status is S.TRANSFERRING
    done = store.completed(video_id, "b", STORED, THUMB)
    assert (done.status, done.external_video_id, done.storage_path, done.failure_kind, done.error) == (
        S.COMPLETED,
        JOB,
        STORED,
        None,
        None,
    )
    assert backend.lease(video_id) == (None, None)


def test_retry_as_a_new_generation(store):
    video_id = put(store, S.GENERATING)
    failed = store.failed(video_id, "a", K.PROVIDER_FAILED, "The provider failed.")
    assert store.requeue(video_id).status is S.QUEUED
    [claimed] = store.claim("b", 1, LEASE, own_share(failed))
    assert (claimed.id, claimed.external_video_id) == (video_id, None)
    assert store.creating(video_id, "b") and store.started(video_id, "b", "job-new")
    assert get(store, video_id).external_video_id == "job-new"


def test_the_one_door_refuses_a_move_the_lifecycle_forbids_before_writing(store):
    video_id = put(store, S.COMPLETED)
    before = get(store, video_id)
    with pytest.raises(InvalidTransition, match=r"^a video cannot go from completed to queued$"):
        store._move(video_id, {S.COMPLETED}, S.QUEUED, None, {})
    assert get(store, video_id) == before


# --- the database itself holds every writer to the lifecycle ----------------------------------------

# (from, to) that no transition allows; targets that need other columns too (failed needs a kind,
# completed a file on PostgreSQL) are left out, so only the lifecycle can refuse these
FORBIDDEN = [
    (S.COMPLETED, S.QUEUED),
    (S.COMPLETED, S.CANCELLED),
    (S.QUEUED, S.GENERATING),
    (S.QUEUED, S.TRANSFERRING),
    (S.CLAIMED, S.TRANSFERRING),
    (S.GENERATING, S.CLAIMED),
    (S.TRANSFERRING, S.GENERATING),
    (S.CANCELLED, S.CLAIMED),
    (S.CANCELLED, S.GENERATING),
]


@pytest.mark.parametrize(("old", "new"), FORBIDDEN, ids=[f"{old}-to-{new}" for old, new in FORBIDDEN])
def test_a_direct_status_update_that_breaks_the_lifecycle_is_refused(backend: Backend, old, new):
    video_id = put(backend.store, old)
    before = get(backend.store, video_id)
    with pytest.raises(backend.refusal, match=r"a video cannot"):
        backend.write_status(video_id, str(new))
    assert get(backend.store, video_id) == before


def test_a_direct_status_update_the_lifecycle_allows_is_not(backend: Backend):
    video_id = put(backend.store, S.QUEUED)
    backend.write_status(video_id, str(S.QUEUED))  # staying is no change of state
    backend.write_status(video_id, str(S.CANCELLED))
    assert get(backend.store, video_id).status is S.CANCELLED
