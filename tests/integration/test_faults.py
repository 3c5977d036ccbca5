"""A provider's bad minute: each fault ends in an exact, explained state and nothing is lost."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from mimio_core.domain import FailureKind, UserRequest, VideoStatus
from mimio_core.local_server.runner import start_in_thread
from tests.conftest import Harness, TurnedClock, carry_out
from tests.integration.test_pipeline import valid
from tests.integration.test_restart import wait_for


def test_transient_500s_and_429s_on_status_and_download_all_complete(harness: Harness) -> None:
    harness.faults(
        http=[
            {"endpoint": "batch-status", "status": 500, "times": 2},
            {"endpoint": "batch-status", "status": 429, "times": 2, "retry_after": 0.1},
            {"endpoint": "download", "status": 503, "times": 2},
            {"endpoint": "download", "status": 429, "times": 1, "retry_after": 0.1},
        ]
    )
    engine = harness.engine().start()
    videos = engine.submit([valid(prompt=f"flaky {n}", seconds=4) for n in range(3)])
    done = engine.wait([v.id for v in videos], timeout=90)
    assert [v.status for v in done] == [VideoStatus.COMPLETED] * 3, [v.error for v in done]
    stats = harness.stats()
    assert stats["requests"]["create-batch"] == 1  # no generation was repeated
    assert stats["downloads"] == {v.external_video_id: 1 for v in done}


def test_job_ending_error_fails_with_the_providers_message(harness: Harness) -> None:
    harness.faults(outcomes=[{"prompt_contains": "doomed", "outcome": "error", "message": "GPU fell over"}])
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="a doomed scene", seconds=4)])
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.PROVIDER_FAILED)
    assert done.error == "GPU fell over"
    assert done.external_video_id  # kept for reference


def test_refused_create_fails_with_the_servers_detail(harness: Harness) -> None:
    harness.faults(
        outcomes=[{"prompt_contains": "forbidden", "outcome": "refuse", "message": "content policy"}]
    )
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="something forbidden", seconds=4)])
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.REFUSED)
    assert done.error == "The provider refused the video: content policy"
    assert done.external_video_id is None


def test_provider_down_at_create_keeps_the_batch_and_makes_every_video_once_it_is_back(
    harness: Harness,
) -> None:
    # 503s (the provider says it did not act) on every create for a while: each video waits and is
    # sent again with a growing delay; none fails, none is made twice
    harness.faults(http=[{"endpoint": "create-batch", "status": 503, "times": 25}])
    engine = harness.engine(concurrency=3).start()
    videos = engine.submit([valid(prompt=f"outage {n}", seconds=4) for n in range(9)])
    notes: set[str] = set()
    done = engine.wait(
        [v.id for v in videos],
        timeout=120,
        on_change=lambda seen: notes.update(v.status_note or "" for v in seen),
        interval=0.01,
    )
    # a waiting video says why it waits, not "processing 0%"
    assert any(note.startswith("Not started yet (Mimio video API kept failing: ") for note in notes), notes
    assert [v.status for v in done] == [VideoStatus.COMPLETED] * 9, [v.error for v in done]
    assert len({v.external_video_id for v in done}) == 9
    deadline = time.monotonic() + 10  # each stored video's job is deleted at the provider ...
    while harness.stats()["requests"].get("delete", 0) < 9:
        assert time.monotonic() < deadline, harness.stats()
        time.sleep(0.05)
    # ... so a second, billed generation of any of them would still be listed
    assert httpx.get(f"{harness.server.url}/v1/videos", params={"limit": 100}).json()["data"] == []
    assert harness.stats()["downloads"] == {v.external_video_id: 1 for v in done}


def test_unreachable_provider_keeps_the_video_until_its_timeout_then_says_why(harness: Harness) -> None:
    engine = harness.engine(timeout=1.5)
    harness.server.stop()
    (video,) = engine.submit([valid(prompt="nobody home", seconds=4)])
    engine.start()
    time.sleep(0.8)
    waiting = engine.store.get_video(video.id)  # sent again, or waiting to be: never failed early
    assert waiting.status in (VideoStatus.CLAIMED, VideoStatus.CREATING), waiting
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.NOT_STARTED)
    assert done.error.startswith(
        "Could not start the video within 1.5 seconds: Mimio video API unreachable: ConnectError"
    )
    assert done.external_video_id is None


def test_create_that_may_have_started_is_not_sent_again(harness: Harness) -> None:
    # a 500 can come after the provider started a billed job: no second create
    harness.faults(http=[{"endpoint": "create", "status": 500, "times": 1}])
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="maybe started", seconds=4)])
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.UNKNOWN_START)
    assert done.error == (
        "Could not start the video: Mimio video API failed: injected fault, so it is unknown whether it "
        "started (this provider cannot list its jobs to find it). Retry creates it again."
    )
    assert harness.stats()["requests"]["create"] == 1


def test_job_that_never_finishes_times_out_keeping_the_provider_id(harness: Harness) -> None:
    harness.faults(outcomes=[{"prompt_contains": "forever", "outcome": "never"}])
    clock = TurnedClock()
    engine = harness.engine(timeout=60, clock=clock)  # ticked by hand: an hour passes in no time
    (video,) = engine.submit([valid(prompt="render forever", seconds=4)])
    wait_for(lambda: engine.tick() or engine.store.get_video(video.id).external_video_id, 30, "the job")
    clock.turn(59)
    engine.tick()
    assert engine.store.get_video(video.id).status is VideoStatus.GENERATING  # not yet
    clock.turn(2)
    engine.tick()
    done = engine.store.get_video(video.id)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.TIMED_OUT)
    assert done.error == (
        f"Timed out after 1 minute waiting for the provider. Its job {done.external_video_id} is kept: "
        "Retry checks it again."
    )
    assert done.external_video_id


def test_retry_after_timeout_recovers_the_same_job_without_a_new_generation(
    harness: Harness, tmp_path: Path
) -> None:
    slow = start_in_thread(tmp_path / "slow-server", latency=3.0)
    try:
        harness.server = slow
        engine = harness.engine(timeout=1.0).start()
        (video,) = engine.submit([valid(prompt="slow but sure", seconds=4)])
        (timed_out,) = engine.wait([video.id], timeout=30)
        assert timed_out.status is VideoStatus.FAILED and timed_out.error.startswith("Timed out")
        engine.settings = engine.settings.replace(timeout=60)
        retried = carry_out(engine, video.id, video.user_id, UserRequest.RETRY)
        assert retried is not None and retried.status is not VideoStatus.QUEUED  # its kept job, not a new one
        (done,) = engine.wait([video.id], timeout=30)
        assert done.status is VideoStatus.COMPLETED and done.error is None
        assert done.external_video_id == timed_out.external_video_id
        assert harness.stats()["requests"]["create"] == 1
    finally:
        slow.stop()


def test_one_failing_item_in_a_batch_fails_alone(harness: Harness) -> None:
    harness.faults(
        outcomes=[{"prompt_contains": "bad apple", "outcome": "refuse", "message": "item refused"}]
    )
    engine = harness.engine().start()
    videos = engine.submit(
        [
            valid(prompt="good one", seconds=4),
            valid(prompt="bad apple", seconds=4),
            valid(prompt="good two", seconds=4),
        ]
    )
    done = engine.wait([v.id for v in videos], timeout=90)
    assert [v.status for v in done] == [VideoStatus.COMPLETED, VideoStatus.FAILED, VideoStatus.COMPLETED]
    assert done[1].error == "The provider refused the video: item refused"
    assert harness.stats()["requests"]["create-batch"] == 1


def test_dropped_download_retries_the_transfer_only(harness: Harness) -> None:
    harness.faults(drop_downloads=1)
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="fragile transfer", seconds=4)])
    (done,) = engine.wait([video.id], timeout=60)
    assert done.status is VideoStatus.COMPLETED, done.error
    stats = harness.stats()
    assert stats["requests"]["create"] == 1
    assert stats["requests"]["download"] == 2
    assert stats["downloads"] == {done.external_video_id: 1}


def test_download_that_keeps_failing_fails_then_retry_fetches_without_generating(harness: Harness) -> None:
    harness.faults(http=[{"endpoint": "download", "status": 500, "times": 1000}])
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="stubborn download", seconds=4)])
    (failed,) = engine.wait([video.id], timeout=60)
    assert (failed.status, failed.failure_kind) == (VideoStatus.FAILED, FailureKind.TRANSFER_FAILED)
    assert failed.error.startswith("Download or storage failed 5 times")
    assert f"The generated video {failed.external_video_id} is kept" in failed.error
    harness.clear_faults()
    carry_out(engine, video.id, video.user_id, UserRequest.RETRY)
    (done,) = engine.wait([video.id], timeout=60)
    assert done.status is VideoStatus.COMPLETED
    assert done.external_video_id == failed.external_video_id
    assert harness.stats()["requests"]["create"] == 1


def test_cancel_a_queued_video(harness: Harness) -> None:
    engine = harness.engine()
    (video,) = engine.submit([valid(prompt="never mind", seconds=4)])
    cancelled = carry_out(engine, video.id, video.user_id, UserRequest.CANCEL)
    assert cancelled is not None and (cancelled.status, cancelled.error) == (
        VideoStatus.CANCELLED,
        "Cancelled.",
    )
    engine.tick()
    assert engine.store.get_video(video.id).status is VideoStatus.CANCELLED
    assert "create" not in harness.stats()["requests"]


def test_a_download_that_is_not_a_video_fails_with_what_was_sent(harness: Harness) -> None:
    harness.faults(garble_downloads=1)
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="garbled transfer", seconds=4)])
    (done,) = engine.wait([video.id], timeout=60)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.TRANSFER_FAILED)
    assert done.error.startswith(
        "The provider's video could not be fetched: the provider's download is HTML document"
    )
    assert done.error.endswith("not a video")
    assert done.storage_path is None
    assert not list((harness.settings.data_dir / "files").rglob("*.mp4"))
