"""The queue a person steers, on every backend: pause and resume (a video, a project, the whole
queue), the order videos are sent in, editing a waiting video, and one request for many videos."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mimio_core.domain import QueueShare, UserRequest, VideoStatus
from mimio_core.queue_actions import cancel_waiting, retry_failed, retryable, waiting
from mimio_core.store.base import GONE, VideoFilter, VideoStore
from mimio_core.store.queue_control import ALL_PROJECTS, Asked, Move, QueueRefused, VideoEdit
from tests.contract.conftest import ACTIVE, FINAL, A, B, Backend, get, ids, new_video, put

S = VideoStatus
SHARED = "model-shared"  # the queue's videos share one model, so a claim sees them all
EVERYTHING = QueueShare(frozenset({SHARED}))


def queue(store: VideoStore, count: int, user_id: str = A, **fields: object) -> list[str]:
    """`count` waiting videos of `user_id`, oldest first, in one submission."""
    made = [new_video(user_id, model=SHARED, **fields) for _ in range(count)]
    return ids(store.insert_videos(made))


def claim_order(store: VideoStore) -> list[str]:
    """The order an engine sends the waiting videos in: it claims one slot more each time, the videos
    claimed before still at work."""
    order: list[str] = []
    at_work = len(store.heartbeat("engine", 30))  # claimed by an earlier call
    while claimed := store.claim("engine", at_work + len(order) + 1, 30, EVERYTHING):
        order += ids(claimed)
    return order


# --- pause and resume ---------------------------------------------------------------------------------


def test_a_paused_video_is_never_claimed_and_resumes_in_its_place(store):
    first, second, third = queue(store, 3)
    assert store.pause(A, [second]) == 1
    paused = get(store, second)
    assert (paused.status, paused.is_paused) == (S.QUEUED, True)
    assert store.pause(A, [second]) == 0  # paused already
    assert [video.id for video in store.claim("engine", 10, 30, EVERYTHING)] == [first, third]
    assert store.resume(A, [second]) == 1
    assert get(store, second).paused_at is None
    assert store.resume(A, [second]) == 0
    assert ids(store.claim("engine", 10, 30, EVERYTHING)) == [second]


def test_resume_keeps_the_order_of_the_queue(store):
    videos = queue(store, 4)
    assert store.pause(A, videos[:2]) == 2
    assert store.resume(A, videos[:2]) == 2
    assert claim_order(store) == videos


@pytest.mark.parametrize("state", ACTIVE + FINAL)
def test_only_a_waiting_video_can_be_paused(store, state):
    video_id = put(store, state)
    assert store.pause(A, [video_id]) == 0
    assert get(store, video_id).paused_at is None


@pytest.mark.parametrize("request_", [UserRequest.CANCEL, UserRequest.DELETE])
def test_a_video_being_cancelled_or_deleted_is_not_paused(store, request_):
    (video_id,) = queue(store, 1)
    store.ask(A, video_id, request_)
    assert store.pause(A, [video_id]) == 0


def test_another_users_videos_are_left_alone(store):
    (theirs,) = queue(store, 1, user_id=B)
    assert store.pause(A, [theirs]) == 0
    assert store.pause_queue(A) == 0
    assert get(store, theirs).paused_at is None
    assert ids(store.claim("engine", 10, 30, EVERYTHING)) == [theirs]


def test_any_change_of_state_ends_a_pause(store):
    (video_id,) = queue(store, 1)
    store.pause(A, [video_id])
    cancelled = store.cancelled(video_id, "Cancelled.")
    assert cancelled is not None and cancelled.paused_at is None
    requeued = store.requeue(video_id)
    assert requeued is not None and (requeued.status, requeued.is_paused) == (S.QUEUED, False)


def test_a_paused_queue_pauses_its_videos_and_those_submitted_into_it(store):
    waiting = queue(store, 2)
    assert store.pause_queue(A) == 2
    assert store.paused_queues(A) == {ALL_PROJECTS}
    assert store.pause_queue(A) == 0  # paused already: nothing more to pause
    (later,) = queue(store, 1)
    assert get(store, later).is_paused
    (theirs,) = queue(store, 1, user_id=B)  # another user's queue is not paused
    assert claim_order(store) == [theirs]
    assert store.resume_queue(A) == 3
    assert store.paused_queues(A) == set()
    assert claim_order(store) == [*waiting, later]


def test_a_paused_project_holds_only_its_own_videos(store):
    project = store.create_project(A, "Ads").id
    (filed,) = queue(store, 1, project_id=project)
    (loose,) = queue(store, 1)
    assert store.pause_queue(A, project) == 1
    (filed_later,) = queue(store, 1, project_id=project)
    assert get(store, filed_later).is_paused
    assert store.paused_queues(A) == {project}
    assert claim_order(store) == [loose]
    assert store.resume_queue(A, project) == 2
    assert claim_order(store) == [filed, filed_later]


def test_resuming_the_queue_leaves_a_project_still_paused_paused(store):
    project = store.create_project(A, "Ads").id
    (filed,) = queue(store, 1, project_id=project)
    (loose,) = queue(store, 1)
    store.pause_queue(A, project)
    store.pause_queue(A)
    assert store.resume_queue(A) == 1  # the loose one; the project's own pause still holds
    assert (get(store, loose).is_paused, get(store, filed).is_paused) == (False, True)
    assert store.paused_queues(A) == {project}


# --- order ----------------------------------------------------------------------------------------


def test_run_next_and_moves_change_the_order_videos_are_sent_in(store):
    a, b, c, d = queue(store, 4)
    store.move(A, c, Move.NEXT)
    store.move(A, a, Move.DOWN)  # c a b d -> c b a d
    store.move(A, d, Move.UP)  # c b d a
    assert store.move(A, c, Move.UP).id == c  # first already: nothing changes
    assert store.move(A, a, Move.DOWN).id == a  # last already
    assert claim_order(store) == [c, b, d, a]


def test_priority_goes_first_and_a_move_can_cross_it(store):
    (low,) = queue(store, 1)
    (high,) = queue(store, 1, priority=5)
    assert get(store, high).priority == 5
    assert store.move(A, low, Move.NEXT).priority == 5  # next means before the high one too
    assert claim_order(store) == [low, high]


def test_a_move_counts_only_the_owners_waiting_videos(store):
    (theirs,) = queue(store, 1, user_id=B)
    a, b = queue(store, 2)
    store.move(A, b, Move.NEXT)
    order = claim_order(store)
    assert order.index(b) < order.index(a)
    assert theirs in order


@pytest.mark.parametrize("state", [S.GENERATING, S.COMPLETED])
def test_a_video_that_started_cannot_be_moved_or_edited(store, state):
    video_id = put(store, state)
    message = f"This video is {state} already, so it can no longer be changed in the queue."
    with pytest.raises(QueueRefused, match=message):
        store.move(A, video_id, Move.NEXT)
    with pytest.raises(QueueRefused, match=message):
        store.edit(A, video_id, VideoEdit(title="New", prompt="x", model="m", size="720x1280", seconds=4))


def test_someone_elses_or_a_missing_video_cannot_be_moved_or_edited(store):
    (theirs,) = queue(store, 1, user_id=B)
    for video_id in (theirs, str(uuid.uuid4())):
        with pytest.raises(QueueRefused, match=re.escape(GONE)):
            store.move(A, video_id, Move.UP)
        with pytest.raises(QueueRefused, match=re.escape(GONE)):
            store.edit(A, video_id, VideoEdit(title="N", prompt="x", model="m", size="720x1280", seconds=4))


# --- edit ---------------------------------------------------------------------------------------------


def test_a_waiting_video_is_edited_in_place(store):
    _, second = queue(store, 2)
    store.pause(A, [second])
    edit = VideoEdit(title="Fixed typo", prompt="a fox in snow", model="sora-2", size="1280x720", seconds=8)
    edited = store.edit(A, second, edit)
    assert (edited.title, edited.prompt, edited.model, edited.size, edited.seconds) == (
        "Fixed typo",
        "a fox in snow",
        "sora-2",
        "1280x720",
        8,
    )
    assert (edited.status, edited.is_paused, edited.queue_order) == (
        S.QUEUED,
        True,
        get(store, second).queue_order,
    )


# --- one request for many -----------------------------------------------------------------------------


def test_cancel_a_run_asks_each_video_not_final_and_skips_the_rest(store):
    batch = str(uuid.uuid4())
    waiting = queue(store, 2, batch_id=batch)
    done = put(store, S.COMPLETED, batch_id=batch)
    running = put(store, S.GENERATING, batch_id=batch)
    run = [video.id for video in store.list_videos(A, VideoFilter(batch_id=batch), limit=100)]
    assert sorted(run) == sorted([*waiting, done, running])
    assert store.ask_many(A, run, UserRequest.CANCEL) == Asked(asked=3, skipped=1)
    assert {video_id: get(store, video_id).requested for video_id in run} == {
        waiting[0]: UserRequest.CANCEL,
        waiting[1]: UserRequest.CANCEL,
        running: UserRequest.CANCEL,
        done: None,
    }
    assert store.claim("engine", 10, 30, EVERYTHING) == []  # nothing cancelled is sent


def test_retry_all_failed_skips_what_needs_an_edit_first(store, backend: Backend):
    failed = put(store, S.FAILED)
    cancelled = put(store, S.CANCELLED)
    refused = put(store, S.FAILED)
    backend.write(refused, {"failure_kind": "refused"})
    invalid = put(store, S.FAILED)
    backend.write(invalid, {"failure_kind": "invalid"})
    done = put(store, S.COMPLETED)
    asked = store.ask_many(A, [failed, cancelled, refused, invalid, done, failed], UserRequest.RETRY)
    assert asked == Asked(asked=2, skipped=3)
    assert [get(store, v).requested for v in (failed, cancelled, refused, invalid, done)] == [
        UserRequest.RETRY,
        UserRequest.RETRY,
        None,
        None,
        None,
    ]


def test_bulk_cancel_and_retry_act_on_what_the_filtered_list_shows(store):
    """The dashboard counts `waiting(where)` and `retryable(where)` before offering the buttons: the
    acts select the same videos, so a list filtered to failed ones cancels nothing."""
    waiting_ids = queue(store, 2)
    failed = put(store, S.FAILED)
    only_failed = VideoFilter(states=frozenset({S.FAILED}))
    assert store.count_videos(A, waiting(only_failed)) == 0
    assert cancel_waiting(store, A, only_failed) == Asked(0, 0)
    assert [get(store, v).requested for v in waiting_ids] == [None, None]
    assert store.count_videos(A, retryable(only_failed)) == 1
    assert retry_failed(store, A, only_failed) == Asked(1, 0)
    assert get(store, failed).requested is UserRequest.RETRY
    assert store.count_videos(A, waiting()) == 2
    assert cancel_waiting(store, A) == Asked(2, 0)


def test_one_request_for_many_never_replaces_a_delete_or_reaches_another_user(store):
    deleting = put(store, S.FAILED)
    store.ask(A, deleting, UserRequest.DELETE)
    theirs = put(store, S.FAILED)
    store.ask_many(B, [theirs], UserRequest.RETRY)  # theirs is A's: B reaches nothing
    assert store.ask_many(A, [deleting], UserRequest.RETRY) == Asked(asked=0, skipped=1)
    assert get(store, deleting).requested is UserRequest.DELETE
    assert get(store, theirs).requested is None
    assert store.ask_many(A, [theirs], UserRequest.DELETE) == Asked(asked=1, skipped=0)


# --- fair share -----------------------------------------------------------------------------------------


def test_one_users_big_batch_does_not_starve_another_users_single_video(store):
    big = queue(store, 5, batch_id=str(uuid.uuid4()))
    (single,) = queue(store, 1, user_id=B)
    order = claim_order(store)
    assert order[:2] == [big[0], single]  # B's first turn comes right after A's first
    assert order[2:] == big[1:]


def test_one_users_runs_take_turns_and_their_own_order_holds_within(store):
    first_run = queue(store, 3, batch_id=str(uuid.uuid4()))
    second_run = queue(store, 2, batch_id=str(uuid.uuid4()))
    store.move(A, second_run[1], Move.UP)  # within its run, the later one goes first
    assert claim_order(store) == [first_run[0], second_run[1], first_run[1], second_run[0], first_run[2]]


# --- scheduled runs --------------------------------------------------------------------------------------


def test_a_scheduled_video_waits_for_its_time(store, backend: Backend):
    later = datetime.now(UTC) + timedelta(hours=1)
    (scheduled,) = ids(store.insert_videos([new_video(model=SHARED, not_before=later)]))
    (now,) = queue(store, 1)
    recorded = get(store, scheduled)
    assert recorded.not_before is not None and abs(recorded.not_before - later) < timedelta(seconds=1)
    assert recorded.is_scheduled(datetime.now(UTC))
    assert claim_order(store) == [now]
    backend.write(scheduled, {"not_before": datetime.now(UTC) - timedelta(seconds=1)})  # its time came
    assert claim_order(store) == [scheduled]
