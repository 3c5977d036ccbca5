"""The whole lifecycle through the fal.ai queue adapter, over real HTTP against a stand-in of fal's
queue API written from its docs (`tests/standins/fal.py`): modes, references, faults, exact outcomes."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import av
import pytest
from PIL import Image

from mimio_core.config import Settings
from mimio_core.domain import FailureKind, ReferenceUpload, UserRequest, VideoStatus
from mimio_core.engine import Engine
from mimio_core.lost_create import LOST
from mimio_core.providers.fal import FalProvider
from mimio_core.submission import as_variations
from mimio_core.ui.cards import progress_text
from tests.conftest import FAST_RETRIES, carry_out
from tests.integration.hosted import hosted_engine, hosted_request, templates
from tests.integration.test_restart import wait_for
from tests.media import png_bytes
from tests.standins.fal import FalStandin, Outcome, content_policy_item, start_fal

KLING = "fal-kling-3-turbo-pro"
KLING_T2V = "fal-ai/kling-video/v3/turbo/pro/text-to-video"
KLING_I2V = "fal-ai/kling-video/v3/turbo/pro/image-to-video"
C, F = VideoStatus.COMPLETED, VideoStatus.FAILED


@pytest.fixture
def fal() -> Iterator[FalStandin]:
    with start_fal(polls_in_queue=2, polls_in_progress=2) as standin:
        yield standin


@pytest.fixture
def engine(settings: Settings, fal: FalStandin) -> Iterator[Engine]:
    provider = FalProvider(
        "test-key",
        templates("fal"),
        base_url=fal.url,
        storage_url=fal.url,
        api_url=fal.api_url,
        policy=FAST_RETRIES,
        status_rate=50,
        private_redirects=True,
    )
    running = hosted_engine(settings, provider).start()
    yield running
    running.stop()
    provider.close()
    running.store.close()


def kling(prompt: str = "a fox in the snow", **fields: object):
    return hosted_request("fal", KLING, "1920x1080", 5, prompt=prompt, **fields)  # type: ignore[arg-type]


def test_a_video_is_submitted_followed_through_the_returned_urls_and_stored(
    engine: Engine, fal: FalStandin
) -> None:
    (video,) = engine.submit([kling()])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    (sent,) = fal.submissions
    assert (sent.endpoint_id, sent.body) == (
        KLING_T2V,
        {"prompt": "a fox in the snow", "aspect_ratio": "16:9", "duration": "5"},
    )
    assert sent.headers["authorization"] == "Key test-key"
    # the status URL names only the app (`fal-ai/kling-video`): nothing was asked at the endpoint's path
    assert fal.misrouted == []
    assert done.external_video_id == f"fal-ai/kling-video/requests/{sent.request_id}"
    assert fal.status_polls[sent.request_id] >= 5  # 2 in queue, 2 in progress, then completed
    assert fal.result_fetches[sent.request_id] == 1
    stored = engine.files.read_bytes(done.storage_path or "")
    assert stored == fal.video
    with av.open(io.BytesIO(stored)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert done.thumbnail_path and Image.open(io.BytesIO(engine.files.read_bytes(done.thumbnail_path)))
    assert sum(fal.downloads.values()) == 1
    assert fal.cancels[sent.request_id] == 1  # stored here: the finished request is released at fal


def test_a_reference_of_the_wrong_size_is_fitted_and_sent_to_the_image_endpoint(
    engine: Engine, fal: FalStandin
) -> None:
    reference = ReferenceUpload("poster.png", png_bytes(640, 480))
    (video,) = engine.submit([kling("the poster comes alive", reference=reference)])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    (sent,) = fal.submissions
    assert sent.endpoint_id == KLING_I2V
    assert set(sent.body) == {"prompt", "duration", "image_url"}  # this endpoint takes no aspect ratio
    image = Image.open(io.BytesIO(fal.sent_file(sent.body["image_url"])))
    assert image.size == (1920, 1080)  # fitted to the video's size before it left
    assert engine.files.read_bytes(done.reference_path or "") == reference.data  # the original is kept


def test_a_large_reference_is_uploaded_to_fal_storage_first(engine: Engine, fal: FalStandin) -> None:
    noise = Image.frombytes("RGB", (1920, 1080), random.Random(7).randbytes(1920 * 1080 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    (video,) = engine.submit([kling("noise", reference=ReferenceUpload("noise.png", buffer.getvalue()))])
    (done,) = engine.wait([video.id], timeout=60)
    assert done.status is C, done.error
    (sent,) = fal.submissions
    (upload,) = fal.uploads
    assert (
        not sent.body["image_url"].startswith("data:")
        and fal.sent_file(sent.body["image_url"]) == upload.data
    )
    assert upload.content_type == "image/png" and len(upload.data) > 256 * 1024


def test_variations_are_parallel_submits_each_tracked(engine: Engine, fal: FalStandin) -> None:
    videos = engine.submit(as_variations(kling("three takes"), 3))
    done = engine.wait([v.id for v in videos], timeout=60)
    assert [v.status for v in done] == [C] * 3, [v.error for v in done]
    assert len(fal.submissions) == 3 and len({v.external_video_id for v in done}) == 3


def test_a_content_policy_refusal_fails_the_video_plainly_and_is_not_sent_again(
    engine: Engine, fal: FalStandin
) -> None:
    fal.reject_next([content_policy_item("prompt", "a forbidden scene")])
    (video,) = engine.submit([kling("a forbidden scene")])
    (done,) = engine.wait([video.id], timeout=30)
    (item,) = [content_policy_item("prompt", "a forbidden scene")]
    assert (done.status, done.error) == (F, f"Refused by fal's content policy: {item['msg']}")
    assert done.failure_kind is FailureKind.REFUSED
    assert len(fal.submissions) == 1 and sum(fal.downloads.values()) == 0


def test_a_request_that_completes_with_an_infrastructure_error_fails_with_fals_words(
    engine: Engine, fal: FalStandin
) -> None:
    fal.fail_next("request_timeout", detail="The request exceeded its time limit.")
    (video,) = engine.submit([kling()])
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.error) == (
        F,
        "fal could not make the video: The request exceeded its time limit. (request_timeout)",
    )
    assert len(fal.submissions) == 1


def test_a_rate_limited_submit_waits_and_is_queued_once(engine: Engine, fal: FalStandin) -> None:
    fal.inject("submit", "rate_limited", count=2, retry_after=0)
    (video,) = engine.submit([kling()])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    assert [s.outcome for s in fal.submissions] == ["429", "429", "queued"]
    assert len(fal.queued) == 1


def test_a_lost_submit_answer_is_found_in_the_request_history_and_never_sent_again(
    engine: Engine, fal: FalStandin
) -> None:
    """fal queued it, but the answer never came: sending it again could bill twice, so the request
    is found in the Platform API's history (with its payload) and adopted."""
    fal.inject("submit", "drop")
    (video,) = engine.submit([kling("the answer got lost")])
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.error) == (C, None)
    assert [s.outcome for s in fal.submissions] == ["lost"] and fal.submit_count == 1
    (lost,) = fal.submissions
    assert done.external_video_id == f"fal-ai/kling-video/requests/{lost.request_id}"
    assert fal.history_reads >= 1


def test_a_lost_submit_answer_with_no_request_in_the_history_fails_at_the_timeout(
    settings: Settings, fal: FalStandin
) -> None:
    """The connection broke before fal queued anything: the history never shows it, so after
    MIMIO_TIMEOUT the video fails and says so (a second submit could bill twice)."""
    provider = FalProvider(
        "test-key", templates("fal"), base_url=fal.url, api_url=fal.api_url, policy=FAST_RETRIES
    )
    engine = hosted_engine(settings.replace(timeout=1.5), provider).start()
    try:
        fal.inject("submit", "server_error", status=500)  # a 500 may have queued it; here it did not
        (video,) = engine.submit([kling("never queued")])
        (done,) = engine.wait([video.id], timeout=30)
        assert (done.status, done.failure_kind) == (F, FailureKind.UNKNOWN_START)
        assert done.error == (
            f"{LOST}, and the provider listed no job of it until the timeout, so it probably did not "
            "start. Retry creates it again."
        )
        assert fal.submit_count == 1 and fal.history_reads >= 1
    finally:
        engine.stop()
        engine.store.close()
        provider.close()


def test_status_errors_are_unknown_for_a_while_never_a_failure(engine: Engine, fal: FalStandin) -> None:
    fal.inject("status", "ingress_error", count=4)
    fal.inject("status", "server_error", count=2)
    (video,) = engine.submit([kling()])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    assert len(fal.submissions) == 1


def test_a_cut_download_starts_over_and_an_expired_one_fails_plainly(engine: Engine, fal: FalStandin) -> None:
    fal.inject("download", "cut")
    (video,) = engine.submit([kling("cut once")])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    assert engine.files.read_bytes(done.storage_path or "") == fal.video
    assert sum(fal.downloads.values()) == 2
    fal.output_ttl = 0.0  # the CDN forgets the file at once
    (video,) = engine.submit([kling("expired")])
    (gone,) = engine.wait([video.id], timeout=30)
    assert gone.status is F and gone.error is not None
    assert gone.error.startswith("The provider's video could not be fetched:"), gone.error


def test_cancelling_a_video_in_flight_cancels_its_fal_request(engine: Engine, fal: FalStandin) -> None:
    fal.polls_in_queue = 1000  # it stays queued at fal
    (video,) = engine.submit([kling()])
    wait_for(lambda: (engine.store.get_video(video.id) or video).external_video_id, 30, "the fal request")
    cancelled = carry_out(engine, video.id, video.user_id, UserRequest.CANCEL)
    assert cancelled is not None and (cancelled.status, cancelled.error) == (
        VideoStatus.CANCELLED,
        "Cancelled.",
    )
    (sent,) = fal.submissions
    assert fal.cancels[sent.request_id] == 1 and fal.state(sent.request_id) == "COMPLETED"


def test_the_card_says_where_a_request_is_at_fal_never_a_made_up_percentage(
    engine: Engine, fal: FalStandin
) -> None:
    fal.runners, fal.polls_in_queue, fal.polls_in_progress = 1, 1, 1000  # one runs, one waits behind it
    videos = engine.submit([kling("first"), kling("second")])
    ids = [v.id for v in videos]

    def notes() -> set[tuple[str | None, int]]:
        return {(v.status_note, v.progress) for v in engine.store.get_videos(ids)}

    wait_for(
        lambda: notes() == {("Generating at fal.ai", 0), ("Waiting at fal.ai, position 1", 0)}, 30, "notes"
    )
    cards = {progress_text(video) for video in engine.store.get_videos(ids)}
    assert cards == {"Generating at fal.ai", "Waiting at fal.ai, position 1"}  # no "0%" for fal
    fal.finish_all()
    done = engine.wait(ids, timeout=30)
    assert [(v.status, v.status_note) for v in done] == [(C, None), (C, None)]


def test_a_rate_limited_result_fetch_is_asked_again_not_a_failure(engine: Engine, fal: FalStandin) -> None:
    fal.inject("result", "rate_limited", count=2, retry_after=0)
    (video,) = engine.submit([kling()])
    (done,) = engine.wait([video.id], timeout=30)
    assert done.status is C, done.error
    (sent,) = fal.submissions
    assert fal.result_fetches[sent.request_id] == 3 and len(fal.submissions) == 1


def test_a_refused_key_says_so_on_the_card_and_the_video_waits(engine: Engine, fal: FalStandin) -> None:
    fal.polls_in_queue = 1000
    (video,) = engine.submit([kling()])
    wait_for(lambda: (engine.store.get_video(video.id) or video).external_video_id, 30, "the request")
    fal.key = "rotated"  # the key was revoked at fal
    refused = "fal.ai refuses the API key: check FAL_KEY. The video waits until it is accepted."
    wait_for(lambda: (engine.store.get_video(video.id) or video).status_note == refused, 30, "the note")
    fal.key, fal.polls_in_queue = "test-key", 0
    (done,) = engine.wait([video.id], timeout=30)
    assert (done.status, done.status_note) == (C, None)


def test_a_video_link_to_this_servers_own_network_is_never_fetched(
    settings: Settings, fal: FalStandin
) -> None:
    """A model's output names the URL: it must not reach cloud metadata or localhost services."""
    provider = FalProvider(
        "test-key", templates("fal"), base_url=fal.url, storage_url=fal.url, policy=FAST_RETRIES
    )
    engine = hosted_engine(settings, provider).start()
    try:
        with fal.lock:
            fal._next_outcomes.append(
                Outcome(body={"video": {"url": "http://169.254.169.254/latest/meta-data"}})
            )
        (video,) = engine.submit([kling()])
        (done,) = engine.wait([video.id], timeout=30)
        assert (done.status, done.error) == (
            F,
            "The provider's video could not be fetched: The provider's download was refused: the video link "
            "in its answer to 169.254.169.254 (169.254.169.254), a private or local address (set "
            "MIMIO_PRIVATE_REDIRECTS=on for a local setup).",
        )
    finally:
        engine.stop()
        provider.close()
        engine.store.close()
