"""The OpenAI-compatible adapter against a scripted server: what a status answer may and may not mean."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from mimio_core.providers.base import Health, JobFailure, JobRequest, JobState, JobStatus, ProviderRefused
from mimio_core.providers.http import MAX_UNWRAP_CHARS, error_detail, unwrap_error
from mimio_core.providers.openai import OpenAIProvider, job_failure
from mimio_core.providers.retry import RetryPolicy
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.transfer import StoredVideo, transfer_video
from tests import litellm_answers as litellm
from tests.fake_api import FakeApi, Reply, Seen
from tests.media import mp4_bytes, png_bytes

REQUEST = JobRequest(prompt="a fox", model="sora-2", size="720x1280", seconds=4)


@pytest.fixture
def gateway(api: FakeApi, sleeps: list[float]) -> Iterator[OpenAIProvider]:
    p = OpenAIProvider(
        f"{api.url}/v1", api_key="sk-test", policy=RetryPolicy(attempts=3), sleep=sleeps.append
    )
    yield p
    p.close()


def video(job_id: str, status: str, **extra: object) -> dict[str, object]:
    return {"id": job_id, "object": "video", "status": status, "progress": 10, **extra}


def test_a_create_without_reference_is_json_with_seconds_as_a_string(
    api: FakeApi, gateway: OpenAIProvider
) -> None:
    api.script("POST", "/v1/videos", Reply(200, video("v1", "queued")))
    assert gateway.create(REQUEST) == "v1"
    (seen,) = api.calls("POST", "/v1/videos")
    assert seen.json() == {"prompt": "a fox", "model": "sora-2", "size": "720x1280", "seconds": "4"}
    assert seen.headers["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize("status", [401, 403, 402])
def test_a_refused_status_request_is_unknown_not_a_failed_video(
    api: FakeApi,
    gateway: OpenAIProvider,
    status: int,
) -> None:
    api.script("GET", "/v1/videos/v1", Reply(status, {"error": {"message": "no", "code": "invalid_api_key"}}))
    assert gateway.statuses(["v1"]) == {}


NOT_FOUND = Reply(404, {"error": {"message": "Video not found", "code": "video_not_found"}})


@pytest.fixture
def clock() -> list[float]:
    """The adapter's clock, moved by hand: `clock[0]` is now."""
    return [1000.0]


@pytest.fixture
def timed(api: FakeApi, sleeps: list[float], clock: list[float]) -> Iterator[OpenAIProvider]:
    p = OpenAIProvider(
        f"{api.url}/v1", policy=RetryPolicy(attempts=3), sleep=sleeps.append, clock=lambda: clock[0]
    )
    yield p
    p.close()


def gone(span: str) -> str:
    return (
        f"The provider no longer knows job v1 (404 on every status check for {span}; it said: "
        "Video not found (video_not_found)). Retry starts a new generation."
    )


def polls_at(provider: OpenAIProvider, clock: list[float], *offsets: float) -> list[JobStatus | None]:
    """Poll job v1 at each offset (seconds after the first poll); what each poll said of it."""
    start, found = clock[0], []
    for offset in offsets:
        clock[0] = start + offset
        found.append(provider.statuses(["v1"]).get("v1"))
    return found


@pytest.mark.parametrize(
    ("offsets", "span"),
    [((0, 10, 20, 59.9, 60), "1 minute"), ((0, 130, 131), "2 minutes")],
    ids=["many-polls-then-a-minute", "a-minute-then-three-polls"],
)
def test_a_404_is_unknown_until_three_polls_over_a_minute_say_it(
    api: FakeApi, timed: OpenAIProvider, clock: list[float], offsets: tuple[float, ...], span: str
) -> None:
    """A gateway can route one poll to a replica or deployment that does not know the job: LiteLLM
    rewrites ids (1.108.7 answered `video_` + base64 of `litellm:custom_llm_provider:openai;
    model_id:sora-2;video_id:...;deployment_id:...`) and routes every poll by decoding it
    (`decode_video_id_with_provider` in litellm/proxy/video_endpoints/endpoints.py). So a 404 is final
    only when it persists; until then the job is unknown (left out), never failed."""
    api.script("GET", "/v1/videos/v1", lambda seen: NOT_FOUND)
    *unknown, last = polls_at(timed, clock, *offsets)
    assert unknown == [None] * (len(offsets) - 1)
    assert last == JobStatus(
        job_id="v1",
        state=JobState.FAILED,
        progress=0,
        word="missing",
        error=gone(span),
    )
    assert timed.statuses(["v1"], fresh=True)["v1"].state is JobState.FAILED  # a Retry then starts anew
    assert len(api.calls("GET", "/v1/videos/v1")) == len(offsets) + 1


def test_any_answer_about_the_job_starts_the_404_count_again(
    api: FakeApi, timed: OpenAIProvider, clock: list[float]
) -> None:
    running = Reply(200, video("v1", "in_progress"))
    api.script(
        "GET", "/v1/videos/v1", NOT_FOUND, NOT_FOUND, running, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND
    )
    found = polls_at(timed, clock, 0, 50, 55, 60, 100, 119.9, 120)
    assert [status and status.state for status in found] == [
        None,
        None,
        JobState.RUNNING,
        None,
        None,
        None,
        JobState.FAILED,
    ]
    assert found[-1] is not None and found[-1].error == gone("1 minute")  # counted from the poll at 60


@pytest.mark.parametrize("body", [[], None, "ok"])
def test_an_answer_that_is_not_an_object_is_unknown(
    api: FakeApi, gateway: OpenAIProvider, body: object
) -> None:
    api.script("GET", "/v1/videos/v1", Reply(200, body))
    assert gateway.statuses(["v1"]) == {}


def test_a_poll_hint_is_honoured_capped_and_skipped_when_fresh(api: FakeApi, gateway: OpenAIProvider) -> None:
    api.script(
        "GET",
        "/v1/videos/v1",
        lambda seen: Reply(200, video("v1", "in_progress"), {"openai-poll-after-ms": "86400000"}),
    )
    assert "v1" in gateway.statuses(["v1"])
    assert gateway.statuses(["v1"]) == {}  # the server asked to wait
    assert "v1" in gateway.statuses(["v1"], fresh=True)  # a person's Retry asks anyway
    assert gateway._not_before["v1"] - time.monotonic() <= 60  # a day-long hint is capped


def test_policy_failures_read_plainly(api: FakeApi, gateway: OpenAIProvider) -> None:
    api.script(
        "GET",
        "/v1/videos/v1",
        Reply(
            200, video("v1", "failed", error={"code": "moderation_blocked", "message": "Blocked by policy."})
        ),
    )
    (status,) = gateway.statuses(["v1"]).values()
    assert status.error == "Refused by the provider's content policy (moderation_blocked): Blocked by policy."


CLIP = mp4_bytes(640, 360)  # its first frame is (0, 100, 150)


def content(thumbnail: Reply) -> Callable[[Seen], Reply]:
    """The content route answering by `variant`: the video is CLIP."""
    video = Reply(200, CLIP, {"Content-Type": "video/mp4"})
    return lambda seen: thumbnail if seen.query.get("variant") == ["thumbnail"] else video


@pytest.mark.parametrize("declared", [{"Content-Type": "video/mp4"}, {}], ids=["says-mp4", "says-nothing"])
def test_a_thumbnail_that_is_the_video_is_abandoned_and_the_first_frame_stored(
    api: FakeApi, gateway: OpenAIProvider, tmp_path: Path, declared: dict[str, str]
) -> None:
    """LiteLLM's proxy ignores `variant=thumbnail` and answers the whole MP4: its `video_content` route
    returns `Response(content=video_bytes, media_type="video/mp4")` for every variant
    (litellm/proxy/video_endpoints/endpoints.py), and e.g. Vertex's `transform_video_content_request`
    takes no variant at all (litellm/llms/vertex_ai/videos/transformation.py). The answer is judged by
    its Content-Type, or else its first bytes, and abandoned; the video is not downloaded twice."""
    big = CLIP + bytes(4 * 1024 * 1024)  # a long video, sent slowly: reading all of it would show
    api.script("GET", "/v1/videos/v1/content", content(Reply(200, big, declared, pace=0.02)))
    files = LocalFileStorage(tmp_path / "files")
    stored = transfer_video(gateway, files, "u1", "vid1", "v1", tmp_path / "scratch")
    video, thumbnail = api.calls("GET", "/v1/videos/v1/content")
    assert (video.query, video.sent) == ({"variant": ["video"]}, len(CLIP))
    assert thumbnail.query == {"variant": ["thumbnail"]}
    assert thumbnail.sent < len(big) // 4  # abandoned at once, not read to the end
    assert_first_frame_stored(files, stored)


def test_a_thumbnail_that_does_not_decode_falls_back_to_the_first_frame(
    api: FakeApi, gateway: OpenAIProvider, tmp_path: Path
) -> None:
    broken = png_bytes()[:200]  # a PNG's first bytes, cut off
    api.script("GET", "/v1/videos/v1/content", content(Reply(200, broken, {"Content-Type": "image/png"})))
    files = LocalFileStorage(tmp_path / "files")
    assert_first_frame_stored(files, transfer_video(gateway, files, "u1", "vid1", "v1", tmp_path / "scratch"))


def assert_first_frame_stored(files: LocalFileStorage, stored: StoredVideo) -> None:
    assert stored.thumbnail_key == "u1/vid1.jpg"
    image = Image.open(io.BytesIO(files.read_bytes(stored.thumbnail_key)))
    assert (image.format, image.size) == ("JPEG", (320, 180))
    assert all(abs(a - b) <= 8 for a, b in zip(image.getpixel((160, 90)), (0, 100, 150), strict=True))


def test_an_image_thumbnail_is_taken(api: FakeApi, gateway: OpenAIProvider) -> None:
    still = png_bytes(1280, 720, (10, 200, 30))
    api.script("GET", "/v1/videos/v1/content", Reply(200, still, {"Content-Type": "image/png"}))
    assert gateway.thumbnail("v1") == still


def test_a_thumbnail_too_large_to_be_one_is_not_read(api: FakeApi, gateway: OpenAIProvider) -> None:
    api.script(
        "GET",
        "/v1/videos/v1/content",
        Reply(200, png_bytes() + bytes(9 * 1024 * 1024), {"Content-Type": "image/png"}, pace=0.02),
    )
    assert gateway.thumbnail("v1") is None
    (seen,) = api.seen
    assert seen.sent < 4 * 1024 * 1024  # given up once past the limit, not read to the end


@pytest.mark.parametrize(
    ("reply", "health"),
    [
        (Reply(200, {"object": "list", "data": []}), Health.ANSWERING),
        (Reply(400, litellm.LIST_400), Health.ANSWERING),
        (Reply(405, {"detail": "Method Not Allowed"}), Health.ANSWERING),
        (
            Reply(401, {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}}),
            Health.KEY_REFUSED,
        ),
        (Reply(403, {"error": {"message": "Key not allowed to access this route"}}), Health.KEY_REFUSED),
        (Reply(500, b"Internal Server Error"), Health.NOT_ANSWERING),
        (Reply(502, {"error": {"message": "upstream down"}}), Health.NOT_ANSWERING),
    ],
    ids=["list", "litellm-list-400", "no-list-route", "wrong-key", "forbidden", "500", "502"],
)
def test_health_is_any_answer_but_a_refused_key_or_a_server_error(
    api: FakeApi, gateway: OpenAIProvider, reply: Reply, health: Health
) -> None:
    """A gateway without a usable list route still generates (LiteLLM answers the list 400:
    tests/litellm_answers.py), so the list is a probe only: the server answered, and did not refuse
    the key."""
    api.script("GET", "/v1/videos", reply)
    assert gateway.health() is health
    (seen,) = api.seen
    assert (seen.query, seen.headers["authorization"]) == ({"limit": ["1"]}, "Bearer sk-test")


def test_a_gateway_that_is_down_is_not_answering(sleeps: list[float]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = OpenAIProvider(f"http://127.0.0.1:{port}/v1", sleep=sleeps.append)
    try:
        assert down.health() is Health.NOT_ANSWERING
    finally:
        down.close()


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            litellm.CREATE_400,
            "size '999x999' is not supported by sora-2; supported: 720x1280, 1280x720 (invalid_value)",
        ),
        (
            litellm.STATUS_404,
            "Video with id 'video_3888b842c1704d49ac1a4498dc23d315' not found. (video_not_found)",
        ),
        (
            litellm.proxy_error(litellm.VERTEX_BYTES),
            "Unable to submit request because at least one contents field is required. Learn more: "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini (INVALID_ARGUMENT)",
        ),
        (litellm.proxy_error(litellm.ANTHROPIC_BYTES), "请求参数不合法，请检查后重试"),
        (litellm.proxy_error(litellm.OPENAI_COMPATIBLE_404, "404"), "File Not Found"),
        (litellm.proxy_error(litellm.VERTEX_ANTHROPIC), "output_config: Extra inputs are not permitted"),
        (litellm.proxy_error(litellm.NOTHING_INSIDE), litellm.NOTHING_INSIDE),
        (
            litellm.RELAY,
            "Hmmm something didn't look right with your request. Please try again later or visit "
            "https://help.openai.com if this issue persists. (sentinel_block)",
        ),
    ],
    ids=[
        "create",
        "status-404",
        "vertex-bytes",
        "anthropic-utf8",
        "json",
        "vertex-anthropic",
        "plain",
        "relay",
    ],
)
def test_a_gateways_wrapped_error_shows_the_providers_own_message(body: dict, shown: str) -> None:
    """Real wrapped texts (tests/litellm_answers.py): the provider's message and code are kept, the
    gateway's exception names, HTTP status code and routing notes are not."""
    assert error_detail(httpx.Response(400, json=body)) == shown


def test_unwrapping_is_bounded_in_depth_and_length() -> None:
    def wrap(message: str, times: int) -> str:
        for level in range(times):
            message = f"gateway {level} - " + json.dumps({"error": {"message": message, "code": f"c{level}"}})
        return message

    left = wrap("the provider's reason", 1)  # what is left after three levels of four
    assert unwrap_error(wrap("the provider's reason", 4)) == (left, "c1")
    long = wrap("x" * MAX_UNWRAP_CHARS, 1)
    assert unwrap_error(long, "outer") == (long, "outer")  # too long to parse: shown as it is


def test_a_refused_create_through_litellm_says_what_the_provider_refused(
    api: FakeApi, gateway: OpenAIProvider
) -> None:
    api.script("POST", "/v1/videos", Reply(400, litellm.CREATE_400))
    with pytest.raises(ProviderRefused) as refused:
        gateway.create(REQUEST)
    assert (str(refused.value), refused.value.status_code) == (
        "size '999x999' is not supported by sora-2; supported: 720x1280, 1280x720 (invalid_value)",
        400,
    )


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            {"code": "generation_failed", "message": litellm.VERTEX_BYTES},
            "Unable to submit request because at least one contents field is required. Learn more: "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini (INVALID_ARGUMENT)",
        ),
        (
            {
                "code": "upstream_error",
                "message": 'relay - {"error": {"code": "moderation_blocked", "message": "Blocked."}}',
            },
            "Refused by the provider's content policy (moderation_blocked): Blocked.",
        ),
        (
            {"code": 3, "message": "Veo could not render this."},
            "Veo could not render this.",
        ),  # Vertex's number
    ],
    ids=["wrapped", "wrapped-policy", "numeric-code"],
)
def test_a_failed_jobs_wrapped_reason_is_unwrapped(error: dict, shown: str) -> None:
    assert job_failure(error) == JobFailure(shown, by_policy=shown.startswith("Refused"))
