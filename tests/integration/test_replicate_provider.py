"""The whole lifecycle through the Replicate adapter, over real HTTP against a stand-in of Replicate's
predictions and files API written from its docs (`tests/standins/replicate.py`)."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from PIL import Image

from mimio_core.config import Settings
from mimio_core.domain import FailureKind, ReferenceUpload, UserRequest, VideoStatus
from mimio_core.engine import Engine
from mimio_core.providers.base import JobRequest
from mimio_core.providers.replicate import ReplicateProvider, log_progress
from mimio_core.submission import as_variations
from tests.conftest import FAST_RETRIES, carry_out
from tests.integration.hosted import hosted_engine, hosted_request, templates
from tests.integration.test_restart import wait_for
from tests.media import png_bytes
from tests.standins.replicate import EPOCH, NSFW_ERROR, ReplicateStandin, running_replicate

KLING = "replicate-kling-3"
C, F = VideoStatus.COMPLETED, VideoStatus.FAILED


@pytest.fixture
def replicate() -> Iterator[ReplicateStandin]:
    with running_replicate() as standin:
        yield standin


@pytest.fixture
def provider(replicate: ReplicateStandin) -> Iterator[ReplicateProvider]:
    adapter = ReplicateProvider(
        "r8_test",
        templates("replicate"),
        base_url=replicate.url,
        policy=FAST_RETRIES,
        status_rate=50,
        private_redirects=True,
    )
    yield adapter
    adapter.close()


@pytest.fixture
def engine(settings: Settings, provider: ReplicateProvider) -> Iterator[Engine]:
    running = hosted_engine(settings, provider).start()
    yield running
    running.stop()
    running.store.close()


def kling(prompt: str = "a fox in the snow", **fields: object):
    return hosted_request("replicate", KLING, "1920x1080", 5, prompt=prompt, **fields)  # type: ignore[arg-type]


def test_a_prediction_is_created_polled_and_its_output_stored_at_once(
    engine: Engine, replicate: ReplicateStandin
) -> None:
    (video,) = engine.submit([kling()])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    (made,) = replicate.created
    assert made.path == "/v1/models/kwaivgi/kling-v3-video/predictions"
    assert made.body == {
        "input": {
            "prompt": "a fox in the snow",
            "aspect_ratio": "16:9",
            "mode": "pro",
            "duration": 5,
            "generate_audio": False,
        }
    }
    assert made.headers["authorization"] == "Bearer r8_test"
    assert done.external_video_id == made.prediction_id
    assert engine.files.read_bytes(done.storage_path or "") == replicate.video
    assert replicate.downloads == 1


def test_a_small_reference_goes_inline_and_a_large_one_through_the_files_api(
    engine: Engine, replicate: ReplicateStandin
) -> None:
    small = ReferenceUpload("poster.png", png_bytes(640, 480))
    noise = Image.frombytes("RGB", (1920, 1080), random.Random(7).randbytes(1920 * 1080 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    large = ReferenceUpload("noise.png", buffer.getvalue())
    videos = engine.submit([kling("poster", reference=small), kling("noise", reference=large)])
    done = engine.wait([v.id for v in videos], timeout=60)
    assert [v.status for v in done] == [C, C], [v.error for v in done]
    inputs = {made.body["input"]["prompt"]: made.body["input"] for made in replicate.created}
    inline, uploaded = inputs["poster"]["start_image"], inputs["noise"]["start_image"]
    assert inline.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(replicate.input_file(inline))).size == (1920, 1080)  # fitted first
    assert uploaded.startswith(f"{replicate.url}/files/") and replicate.uploads == 1
    assert replicate.input_file(uploaded) == next(iter(replicate.files.values())).data
    assert "aspect_ratio" in inputs["poster"]  # Replicate's Kling takes one model for both


def test_variations_and_a_refused_input(engine: Engine, replicate: ReplicateStandin) -> None:
    replicate.accept("minimax/hailuo-2.3", lambda given: {"prompt": "prompt is too vague"})
    hailuo = hosted_request("replicate", "replicate-hailuo-2.3", "1366x768", 6, prompt="vague")
    videos = engine.submit(as_variations(kling("two takes"), 2)) + engine.submit([hailuo])
    done = engine.wait([v.id for v in videos], timeout=60)
    assert [v.status for v in done] == [C, C, F]
    assert done[2].error == "The provider refused the video: - input.prompt: prompt is too vague"
    assert replicate.creates == 2


def test_a_failed_prediction_and_a_content_filter_show_replicates_error(
    engine: Engine, replicate: ReplicateStandin
) -> None:
    replicate.filter_next_predictions(1)
    (video,) = engine.submit([kling("flagged")])
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.error) == (F, f"Replicate could not make the video: {NSFW_ERROR}")
    assert done.failure_kind is FailureKind.REFUSED  # the same prompt would be filtered again
    assert replicate.creates == 1 and replicate.downloads == 0


def test_throttled_creates_wait_and_are_made_once(engine: Engine, replicate: ReplicateStandin) -> None:
    replicate.throttle_creates(2, retry_after=0)
    (video,) = engine.submit([kling("patient")])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    assert (replicate.create_attempts, replicate.creates) == (3, 1)


def on_standin_time(replicate: ReplicateStandin) -> Callable[[], float]:
    """Our clock as the stand-in's: its predictions are dated on a clock of its own."""
    return lambda: (EPOCH + timedelta(seconds=replicate.clock)).timestamp()


def test_a_lost_create_answer_is_found_in_the_list_and_adopted_without_a_second_create(
    settings: Settings, provider: ReplicateProvider, replicate: ReplicateStandin
) -> None:
    replicate.list_page_size = 2  # the lost one is on a later page than the newer predictions
    engine = hosted_engine(settings, provider, on_standin_time(replicate)).start()
    try:
        replicate.lose_create_answers(1)
        (lost,) = engine.submit([kling("lost answer")])
        newer = engine.submit([kling(f"newer {n}") for n in range(3)])
        done = engine.wait([lost.id] + [v.id for v in newer], timeout=60)
        assert [(v.status, v.error) for v in done] == [(C, None)] * 4
        assert (replicate.create_attempts, replicate.creates) == (4, 4)  # nothing created twice
        adopted = done[0].external_video_id or ""
        assert replicate.prediction(adopted.removeprefix("replicate:"))["input"]["prompt"] == "lost answer"
        assert replicate.list_calls >= 1
    finally:
        engine.stop()
        engine.store.close()


def test_poll_errors_are_unknown_for_now_and_a_cut_download_starts_over(
    engine: Engine, replicate: ReplicateStandin
) -> None:
    replicate.fail_polls(3, status=503)
    replicate.cut_downloads(1)
    (video,) = engine.submit([kling()])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    assert engine.files.read_bytes(done.storage_path or "") == replicate.video
    assert replicate.downloads == 2


def test_an_expired_output_fails_plainly(engine: Engine, replicate: ReplicateStandin) -> None:
    (video,) = engine.submit([kling()])
    wait_for(lambda: (engine.store.get_video(video.id) or video).external_video_id, 30, "the prediction")
    job = (engine.store.get_video(video.id) or video).external_video_id or ""
    replicate.finish_all()
    replicate.expire_output(job)
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.error) == (
        F,
        f"Replicate removed the output of prediction {job} before it was fetched (it keeps outputs about "
        "an hour); make the video again.",
    )
    assert replicate.downloads == 0


def test_cancelling_a_video_cancels_its_prediction(engine: Engine, replicate: ReplicateStandin) -> None:
    replicate.model("kwaivgi/kling-v3-video", steps=1000)
    (video,) = engine.submit([kling()])
    wait_for(lambda: (engine.store.get_video(video.id) or video).external_video_id, 30, "the prediction")
    cancelled = carry_out(engine, video.id, video.user_id, UserRequest.CANCEL)
    assert cancelled is not None and (cancelled.status, cancelled.error) == (
        VideoStatus.CANCELLED,
        "Cancelled.",
    )
    assert replicate.cancels == 1
    assert replicate.prediction(cancelled.external_video_id or "")["status"] == "canceled"


def test_progress_comes_from_the_log_percentage(
    provider: ReplicateProvider, replicate: ReplicateStandin
) -> None:
    replicate.model("kwaivgi/kling-v3-video", starting_polls=2, steps=4)
    job = provider.create(JobRequest(prompt="a fox", model=KLING, size="1920x1080", seconds=5))
    seen = [provider.statuses([job], fresh=True)[job] for _ in range(6)]
    assert [(s.word, s.progress) for s in seen] == [
        ("starting", 0),
        ("processing", 0),
        ("processing", 25),
        ("processing", 50),
        ("processing", 75),
        ("succeeded", 100),
    ]
    assert log_progress(" 45%|████▌     | 9/20 [00:04<00:05,  2.1it/s]\n 50%|█████     | 10/20") == 50
    assert log_progress("no bar here") == 0
