"""The whole lifecycle through the OpenAI-compatible provider, over real HTTP against the embedded
server's /v1 routes: modes, reference fitting, thumbnails, and a gateway's bad minute."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from mimio_core.domain import FailureKind, ReferenceUpload, TrackedVideo, UserRequest, VideoStatus
from mimio_core.engine import Engine
from mimio_core.local_server.runner import start_in_thread
from mimio_core.providers.base import Health, JobRequest
from mimio_core.providers.openai import OpenAIProvider
from mimio_core.store.base import thumbnail_key
from mimio_core.submission import as_variations
from tests.conftest import Harness, carry_out
from tests.integration.test_pipeline import assert_completed, valid
from tests.media import png_bytes


def test_single_video_with_a_thumbnail_from_the_provider(harness: Harness) -> None:
    engine = harness.engine(api="openai").start()
    (video,) = engine.submit([valid(prompt="a gateway fox", seconds=4, size="1280x720")])
    (done,) = engine.wait([video.id], timeout=60)
    assert_completed(harness, [done], "1280x720", 4)
    assert done.thumbnail_path == thumbnail_key(done.user_id, done.id)
    thumbnail = Image.open(io.BytesIO(engine.files.read_bytes(done.thumbnail_path)))
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (320, 180))


def test_variations_and_batches_are_parallel_single_creates(harness: Harness) -> None:
    engine = harness.engine(api="openai").start()
    variations = engine.submit(as_variations(valid(prompt="dusk waves", seconds=4), 3))
    batch = engine.submit([valid(prompt=f"scene {n}", seconds=4) for n in range(2)])
    done = engine.wait([v.id for v in variations + batch], timeout=120)
    assert [v.status for v in done] == [VideoStatus.COMPLETED] * 5, [v.error for v in done]
    assert harness.stats()["requests"]["create"] == 5


def test_a_reference_of_the_wrong_size_is_fitted_and_the_original_kept(harness: Harness) -> None:
    engine = harness.engine(api="openai").start()
    original = png_bytes(640, 480)
    image = ReferenceUpload("poster.png", original)
    videos = engine.submit(
        [
            valid(prompt="poster wakes", seconds=4, size="1280x720", reference=image),
            valid(prompt="plain", seconds=4),
        ]
    )
    done = engine.wait([v.id for v in videos], timeout=90)
    assert [v.status for v in done] == [VideoStatus.COMPLETED] * 2, [v.error for v in done]
    assert engine.files.read_bytes(done[0].reference_path) == original  # the upload is kept as it was


def test_without_fitting_the_gateway_refuses_the_reference(harness: Harness) -> None:
    """The control for the test above: the server really demands the exact size."""
    answer = httpx.post(
        f"{harness.server.url}/v1/videos",
        data={"prompt": "x", "model": "sora-2", "size": "1280x720", "seconds": "4"},
        files={"input_reference": ("poster.png", png_bytes(640, 480), "image/png")},
    )
    assert answer.status_code == 400
    assert "must be 1280x720 pixels, got 640x480" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "faults",
    [
        {"http": [{"endpoint": "status", "status": 429, "times": 2, "retry_after": 0.2}]},
        {
            "http": [
                {"endpoint": "status", "status": 502, "times": 2},
                {"endpoint": "download", "status": 503},
            ]
        },
        {"redirect_downloads": 1},
        {"outcomes": [{"prompt_contains": "slow", "outcome": "weird"}]},
        {"http": [{"endpoint": "status", "status": 404, "times": 2}]},
    ],
    ids=["429-retry-after", "5xx", "redirect-on-content", "unknown-status-word", "polls-routed-wrongly"],
)
def test_a_gateways_bad_minute_still_completes(harness: Harness, faults: dict) -> None:
    harness.faults(**faults)
    engine = harness.engine(api="openai").start()
    (video,) = engine.submit([valid(prompt="slow but steady", seconds=4)])
    (done,) = engine.wait([video.id], timeout=60)
    assert done.status is VideoStatus.COMPLETED, done.error
    stats = harness.stats()
    assert stats["requests"]["create"] == 1
    assert stats["downloads"] == {done.external_video_id: 1}


def test_a_policy_failure_is_final_and_not_retried(harness: Harness) -> None:
    harness.faults(
        outcomes=[
            {
                "prompt_contains": "forbidden",
                "outcome": "failed",
                "code": "moderation_blocked",
                "message": "Blocked.",
            }
        ]
    )
    engine = harness.engine(api="openai", poll_interval=0.1).start()
    (video,) = engine.submit([valid(prompt="something forbidden", seconds=4)])
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.REFUSED)  # edit, then retry
    assert done.error == "Refused by the provider's content policy (moderation_blocked): Blocked."
    engine.tick()
    assert engine.store.get_video(video.id).status is VideoStatus.FAILED
    assert harness.stats()["requests"]["create"] == 1


def test_an_expired_asset_fails_with_a_clear_message(harness: Harness) -> None:
    harness.faults(expire_downloads=1)
    engine = harness.engine(api="openai").start()
    (video,) = engine.submit([valid(prompt="too late", seconds=4)])
    (done,) = engine.wait([video.id], timeout=60)
    assert done.status is VideoStatus.FAILED
    assert (
        done.error
        == "The provider's video could not be fetched: The video's assets have expired (video_expired)"
    )


def test_the_bearer_key_is_sent_and_a_wrong_one_is_explained(harness: Harness, tmp_path: Path) -> None:
    locked = start_in_thread(tmp_path / "locked", api_key="sk-right")
    try:
        harness.server = locked
        good = harness.engine(api="openai", api_key="sk-right").start()
        bad = harness.engine(api="openai", api_key="sk-wrong")
        (ok,) = good.submit([valid(prompt="with the key", seconds=4)])
        assert good.wait([ok.id], timeout=60)[0].status is VideoStatus.COMPLETED
        (refused,) = bad.submit([valid(prompt="without the key", seconds=4)])
        good.stop()
        bad.start()
        (done,) = bad.wait([refused.id], timeout=30)
        assert done.status is VideoStatus.FAILED
        assert done.error.startswith("The provider refused the video: ")
        assert "invalid_api_key" in done.error and "sk-" not in done.error
    finally:
        locked.stop()


def test_the_servers_poll_hint_spaces_out_status_requests(tmp_path: Path) -> None:
    slow = start_in_thread(tmp_path / "slow", latency=30)
    provider = OpenAIProvider(f"{slow.url}/v1")
    try:
        job_id = provider.create(JobRequest(prompt="patience", model="sora-2", size="720x1280", seconds=4))
        assert job_id in provider.statuses([job_id])
        assert provider.statuses([job_id]) == {}  # asked again at once: the hint says wait
        assert slow.service.requests["status"] == 1
    finally:
        provider.close()
        slow.stop()


def test_a_gateway_that_refuses_its_list_answers_and_generates_and_a_stopped_one_does_not(
    harness: Harness, tmp_path: Path
) -> None:
    """LiteLLM answers `GET /v1/videos` 400 while it generates (tests/litellm_answers.py)."""
    harness.faults(
        http=[{"endpoint": "list", "status": 400, "times": 100, "detail": "LLM Provider NOT provided."}]
    )
    engine = harness.engine(api="openai").start()
    assert engine.provider.health() is Health.ANSWERING
    (video,) = engine.submit([valid(prompt="listless", seconds=4)])
    assert engine.wait([video.id], timeout=60)[0].status is VideoStatus.COMPLETED
    gone = start_in_thread(tmp_path / "gone")
    provider = OpenAIProvider(f"{gone.url}/v1")
    gone.stop()
    try:
        assert provider.health() is Health.NOT_ANSWERING
    finally:
        provider.close()


def started(engine: Engine, video_id: str) -> TrackedVideo:
    """The video once its provider job exists."""
    deadline = time.monotonic() + 30
    while not (video := engine.store.get_video(video_id)) or not video.external_video_id:
        assert time.monotonic() < deadline, video
        time.sleep(0.05)
    return video


@pytest.mark.parametrize(
    ("fault", "note"),
    [
        (
            {"status": 405, "times": 1, "detail": "Method Not Allowed"},
            " The provider does not let this app stop its job {job} (HTTP 405), so it may still finish "
            "and be billed.",
        ),
        (
            {"status": 503, "times": 5},
            " The provider did not stop its job {job} (OpenAI-compatible Videos API kept failing: injected "
            "fault after 5 attempts), so it may still finish and be billed.",
        ),
        ({"status": 404, "times": 1}, ""),  # already gone: nothing left to bill
        (None, ""),
    ],
    ids=["no-delete-route", "unreachable", "already-gone", "deleted"],
)
def test_a_cancel_that_cannot_stop_the_job_says_it_may_still_be_billed(
    harness: Harness, fault: dict | None, note: str
) -> None:
    """LiteLLM's proxy has no DELETE route for videos (litellm/proxy/video_endpoints/endpoints.py
    registers create, list, status, content and remix); 1.108.7 answered `DELETE /v1/videos/{id}` 405
    `{"detail": "Method Not Allowed"}` (seen live)."""
    harness.faults(
        outcomes=[{"prompt_contains": "forever", "outcome": "never"}],
        http=[{"endpoint": "delete", **fault}] if fault else [],
    )
    engine = harness.engine(api="openai").start()
    (video,) = engine.submit([valid(prompt="forever rendering", seconds=4)])
    job = started(engine, video.id).external_video_id
    cancelled = carry_out(engine, video.id, video.user_id, UserRequest.CANCEL)
    assert (cancelled.status, cancelled.error) == (VideoStatus.CANCELLED, "Cancelled." + note.format(job=job))
    assert harness.stats()["requests"]["delete"] == (fault or {"times": 1})["times"]
    polls = harness.stats()["requests"].get("status", 0)
    engine.stop()  # so the retried video stays where the retry put it
    retried = carry_out(engine, video.id, video.user_id, UserRequest.RETRY)  # made again, its job not asked
    assert retried.status is VideoStatus.QUEUED
    assert harness.stats()["requests"].get("status", 0) == polls
