"""The OpenAI-compatible adapter against a scripted server: what a status answer may and may not mean."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mimio_core.providers.base import JobRequest, JobState
from mimio_core.providers.openai import OpenAIProvider
from mimio_core.providers.retry import RetryPolicy
from tests.fake_api import FakeApi, Reply

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


def test_a_missing_job_is_failed(api: FakeApi, gateway: OpenAIProvider) -> None:
    api.script(
        "GET",
        "/v1/videos/v1",
        Reply(404, {"error": {"message": "Video not found", "code": "video_not_found"}}),
    )
    (status,) = gateway.statuses(["v1"]).values()
    assert (status.state, status.error) == (JobState.FAILED, "Video not found (video_not_found)")


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
