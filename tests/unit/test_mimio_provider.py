"""Tests for the Mimio API adapter against a scripted HTTP server on loopback (no mocks of httpx)."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from mimio_core.domain import CheckedReference
from mimio_core.providers.base import (
    Health,
    JobRequest,
    JobState,
    JobStatus,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    StartedJob,
)
from mimio_core.providers.mimio import MimioProvider
from mimio_core.providers.redirects import redirect_problem
from mimio_core.providers.retry import RetryPolicy
from tests.fake_api import FakeApi, Reply, Seen

REQUEST = JobRequest(prompt="A fox in snow", model="sora-2", size="720x1280", seconds=8)


@pytest.fixture
def provider(api: FakeApi, sleeps: list[float]) -> Iterator[MimioProvider]:
    p = MimioProvider(api.url, timeout=5.0, policy=RetryPolicy(attempts=5), sleep=sleeps.append)
    yield p
    p.close()


def status_items(seen: Seen) -> Reply:
    """The batch-status answer for whatever ids were asked."""
    asked = seen.query["video_ids"][0].split(",")
    return Reply(body=[{"video_id": i, "status": "in_progress", "progress": 50} for i in asked])


# --- creating ------------------------------------------------------------------------------------


def test_create_sends_the_form_and_returns_the_job_id(api, provider):
    api.script("POST", "/api/videos/create", Reply(body={"success": True, "video_id": "job-1"}))
    assert provider.create(REQUEST) == "job-1"
    [seen] = api.seen
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(seen.body.decode()) == {
        "prompt": ["A fox in snow"],
        "model": ["sora-2"],
        "size": ["720x1280"],
        "seconds": ["8"],
    }


def test_create_uploads_the_reference_as_multipart(api, provider):
    api.script("POST", "/api/videos/create", Reply(body={"video_id": "job-2"}))
    ref = CheckedReference(name="cat.png", data=b"\x89PNG-bytes", mime="image/png", kind="image")
    request = JobRequest(prompt="p", model="sora-2", size="1280x720", seconds=4, reference=ref)
    assert provider.create(request) == "job-2"
    [seen] = api.seen
    assert seen.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert (
        b'name="image_reference"; filename="cat.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG-bytes'
        in seen.body
    )
    assert b'name="seconds"\r\n\r\n4\r\n' in seen.body


def test_4xx_shows_the_servers_detail_without_retrying(api, provider, sleeps):
    api.script("POST", "/api/videos/create", Reply(400, {"detail": "  Prompt violates the content policy. "}))
    with pytest.raises(ProviderRefused) as caught:
        provider.create(REQUEST)
    assert str(caught.value) == "Prompt violates the content policy."
    assert len(api.seen) == 1
    assert sleeps == []


def test_fastapi_validation_detail_is_formatted(api, provider):
    detail = [
        {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"},
        {"loc": ["body", "videos", 0, "seconds"], "msg": "must be 4, 8 or 12", "type": "value_error"},
        "not a dict",
    ]
    api.script("POST", "/api/videos/create", Reply(422, {"detail": detail}))
    with pytest.raises(ProviderRefused) as caught:
        provider.create(REQUEST)
    assert str(caught.value) == "prompt: Field required; videos.0.seconds: must be 4, 8 or 12"


@pytest.mark.parametrize("body", [b"<html>Not Found</html>", {"detail": ""}, {"error": "x"}, ["detail"]])
def test_4xx_without_a_usable_detail_names_the_status(api, provider, body):
    api.script("DELETE", "/api/videos/job-1", Reply(404, body))
    with pytest.raises(ProviderRefused) as caught:
        provider.delete("job-1")
    assert str(caught.value) == "the video provider answered HTTP 404"


def test_create_refused_in_a_200_answer(api, provider):
    api.script(
        "POST",
        "/api/videos/create",
        Reply(body={"success": False, "message": "Quota used up"}),
        Reply(body={"success": True}),
    )
    with pytest.raises(ProviderRefused, match=r"^Quota used up$"):
        provider.create(REQUEST)
    with pytest.raises(ProviderRefused, match=r"^Mimio video API did not start the video$"):
        provider.create(REQUEST)


def test_answer_that_is_not_json_is_a_provider_error(api, provider):
    api.script("POST", "/api/videos/create", Reply(body=b"<html>ok</html>"))
    with pytest.raises(ProviderError) as caught:
        provider.create(REQUEST)
    assert type(caught.value) is ProviderError
    assert str(caught.value) == "Mimio video API sent an answer that is not JSON for /api/videos/create"


def test_exhausted_5xx_on_create_is_unavailable(api, provider, sleeps):
    api.script("POST", "/api/videos/create", lambda seen: Reply(503, {"detail": "overloaded"}))
    with pytest.raises(ProviderUnavailable) as caught:
        provider.create(REQUEST)
    assert str(caught.value) == "Mimio video API kept failing: overloaded after 5 attempts"
    assert len(api.seen) == 5
    assert len(sleeps) == 4


def test_500_on_create_is_not_repeated_since_a_job_may_have_started(api, provider, sleeps):
    api.script("POST", "/api/videos/create", lambda seen: Reply(500, {"detail": "oops"}))
    with pytest.raises(ProviderUnavailable) as caught:
        provider.create(REQUEST)
    assert str(caught.value) == "Mimio video API failed: oops"
    assert len(api.seen) == 1
    assert sleeps == []


def test_unreachable_server_is_unavailable(sleeps):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    p = MimioProvider(f"http://127.0.0.1:{port}", policy=RetryPolicy(attempts=3), sleep=sleeps.append)
    try:
        with pytest.raises(ProviderUnavailable, match=r"^Mimio video API unreachable: ConnectError: "):
            p.create(REQUEST)
        assert len(sleeps) == 2  # a refused connection never reached the server: retried even for create
        assert p.health() is Health.NOT_ANSWERING
    finally:
        p.close()


def test_read_timeout_on_create_is_not_retried(api, sleeps):
    """The server may have started a billed job: repeating the create could start a second one."""
    api.script("POST", "/api/videos/create", Reply(body={"video_id": "late"}, delay=0.5))
    p = MimioProvider(api.url, timeout=0.2, sleep=sleeps.append)
    try:
        with pytest.raises(ProviderUnavailable, match=r"^Mimio video API unreachable: ReadTimeout: "):
            p.create(REQUEST)
    finally:
        p.close()
    assert len(api.seen) == 1
    assert sleeps == []


def test_a_routine_poll_is_tried_once_and_a_fresh_one_is_retried(api, sleeps):
    # a failed routine poll only leaves the job unknown until the next tick; retrying it inside the
    # tick would hold up the engine. A fresh poll (a Retry a person asked for) may wait a little.
    api.script(
        "GET",
        "/api/videos/batch/status",
        Reply(body=[], delay=0.5),
        Reply(body=[], delay=0.5),
        Reply(body=[{"video_id": "a", "status": "completed"}]),
    )
    p = MimioProvider(api.url, timeout=0.2, sleep=sleeps.append)
    try:
        assert p.statuses(["a"]) == {}
        assert (len(api.seen), sleeps) == (1, [])
        assert p.statuses(["a"], fresh=True) == {"a": JobStatus("a", JobState.COMPLETED, 0, "completed")}
    finally:
        p.close()
    assert len(api.seen) == 3
    assert len(sleeps) == 1


def test_429_retry_after_is_passed_to_sleep(api, provider, sleeps):
    api.script(
        "POST",
        "/api/videos/create",
        Reply(429, {"detail": "slow down"}, headers={"Retry-After": "7"}),
        Reply(503, {"detail": "busy"}, headers={"Retry-After": "120"}),
        Reply(body={"video_id": "job-3"}),
    )
    assert provider.create(REQUEST) == "job-3"
    assert sleeps == [7.0, 30.0]  # the second is capped at max_delay
    assert len(api.seen) == 3


def test_create_batch_reports_each_item(api, provider):
    api.script(
        "POST",
        "/api/videos/create-batch",
        Reply(
            body={
                "videos": [
                    {"success": True, "video_id": "job-a"},
                    {"success": False, "message": "Prompt refused by moderation"},
                    {"video_id": 42},
                    {"success": False},
                ]
            }
        ),
    )
    requests = [
        REQUEST,
        JobRequest(prompt="bad", model="sora-2", size="720x1280", seconds=4),
        JobRequest(prompt="third", model="sora-2-pro", size="1792x1024", seconds=12),
        REQUEST,
    ]
    assert provider.create_batch(requests) == [
        StartedJob(job_id="job-a"),
        StartedJob(error="Prompt refused by moderation"),
        StartedJob(job_id="42"),
        StartedJob(error="not started"),
    ]
    [seen] = api.seen
    assert seen.json() == {
        "videos": [
            {"prompt": "A fox in snow", "model": "sora-2", "size": "720x1280", "seconds": "8"},
            {"prompt": "bad", "model": "sora-2", "size": "720x1280", "seconds": "4"},
            {"prompt": "third", "model": "sora-2-pro", "size": "1792x1024", "seconds": "12"},
            {"prompt": "A fox in snow", "model": "sora-2", "size": "720x1280", "seconds": "8"},
        ]
    }


def test_create_batch_pads_a_short_answer(api, provider):
    api.script("POST", "/api/videos/create-batch", Reply(body={"videos": [{"video_id": "job-a"}]}))
    assert provider.create_batch([REQUEST, REQUEST]) == [
        StartedJob(job_id="job-a"),
        StartedJob(error="Mimio video API did not start this video", refused=False),
    ]


def test_create_batch_with_references_goes_one_by_one(api, provider):
    ref = CheckedReference(name="a.png", data=b"png", mime="image/png", kind="image")
    api.script(
        "POST",
        "/api/videos/create",
        Reply(body={"video_id": "job-1"}),
        Reply(400, {"detail": "Reference image too small"}),
    )
    started = provider.create_batch(
        [REQUEST, JobRequest(prompt="p", model="sora-2", size="720x1280", seconds=8, reference=ref)]
    )
    assert started == [StartedJob(job_id="job-1"), StartedJob(error="Reference image too small")]
    assert api.calls("POST", "/api/videos/create-batch") == []


def test_create_variations(api, provider):
    api.script(
        "POST",
        "/api/videos/create-variations",
        Reply(body={"videos": [{"video_id": "v1"}, {"video_id": "v2"}, {"success": False, "message": "no"}]}),
    )
    assert provider.create_variations(REQUEST, 3) == [
        StartedJob(job_id="v1"),
        StartedJob(job_id="v2"),
        StartedJob(error="no"),
    ]
    assert parse_qs(api.seen[0].body.decode())["variations"] == ["3"]


def test_batch_answer_without_a_list_is_a_provider_error(api, provider):
    api.script("POST", "/api/videos/create-batch", Reply(body={"ok": True}))
    with pytest.raises(
        ProviderError, match=r"^Mimio video API sent a batch answer without a list of videos$"
    ):
        provider.create_batch([REQUEST])


# --- watching ------------------------------------------------------------------------------------


def test_statuses_survive_two_server_errors(api, provider, sleeps):
    api.script(
        "GET",
        "/api/videos/batch/status",
        Reply(500, {"detail": "oops"}),
        Reply(502, b"bad gateway"),
        Reply(
            body=[
                {"video_id": "a", "status": "completed", "progress": 100},
                {"video_id": "b", "status": "failed", "progress": "12.7", "error": "Moderation blocked it"},
                {"video_id": "c", "status": "IN_PROGRESS", "progress": 250},
                {"video_id": "d", "status": "queued", "progress": None, "message": "waiting"},
                {"video_id": "stranger", "status": "completed"},
                {"status": "completed"},
                "junk",
            ]
        ),
    )
    found = provider.statuses(["a", "b", "c", "d", "e"], fresh=True)
    assert found == {
        "a": JobStatus("a", JobState.COMPLETED, 100, "completed"),
        "b": JobStatus("b", JobState.FAILED, 12, "failed", "Moderation blocked it"),
        "c": JobStatus("c", JobState.RUNNING, 100, "IN_PROGRESS"),
        "d": JobStatus("d", JobState.RUNNING, 0, "queued", "waiting"),
    }
    assert len(api.seen) == 3
    assert len(sleeps) == 2
    assert api.seen[0].query == {"video_ids": ["a,b,c,d,e"]}


def test_statuses_of_25_ids_use_3_requests(api, provider):
    api.script("GET", "/api/videos/batch/status", status_items)
    ids = [f"job-{n:02d}" for n in range(25)]
    found = provider.statuses(ids)
    assert sorted(found) == ids
    assert all(s.state is JobState.RUNNING and s.progress == 50 for s in found.values())
    asked = [seen.query["video_ids"][0].split(",") for seen in api.seen]
    assert [len(group) for group in asked] == [10, 10, 5]
    assert [i for group in asked for i in group] == ids


def test_failing_status_chunk_leaves_only_its_ids_missing(api, provider):
    def answer(seen: Seen) -> Reply:
        if "job-10" in seen.query["video_ids"][0].split(","):
            return Reply(503, {"detail": "busy"})
        return status_items(seen)

    api.script("GET", "/api/videos/batch/status", answer)
    ids = [f"job-{n:02d}" for n in range(25)]
    found = provider.statuses(ids)
    assert sorted(found) == ids[:10] + ids[20:]
    assert all(s.state is JobState.RUNNING for s in found.values())
    assert len(api.seen) == 3  # the busy chunk is asked once: it is asked again next tick


def test_statuses_of_nothing_sends_nothing(api, provider):
    assert provider.statuses([]) == {}
    assert api.seen == []


def test_4xx_status_chunk_is_missing_not_failed(api, provider, sleeps):
    api.script("GET", "/api/videos/batch/status", Reply(404, {"detail": "unknown ids"}))
    assert provider.statuses(["a"]) == {}
    assert sleeps == []


# --- downloading, deleting, health ---------------------------------------------------------------

VIDEO = bytes(range(256)) * 4096  # 1 MiB, more than one read chunk


def test_download_streams_into_the_file(api, provider, sleeps):
    api.script("GET", "/api/videos/job-1/download", Reply(body=VIDEO, headers={"Content-Type": "video/mp4"}))
    out = io.BytesIO(b"stale bytes from before")
    assert provider.download("job-1", out) == len(VIDEO)
    assert out.getvalue() == VIDEO
    assert sleeps == []


def test_download_starts_again_when_the_connection_drops_mid_body(api, provider, sleeps):
    api.script(
        "GET",
        "/api/videos/job-1/download",
        Reply(body=VIDEO[:300_000], declared_length=len(VIDEO)),
        Reply(body=VIDEO[:5], declared_length=len(VIDEO)),
        Reply(body=VIDEO),
    )
    out = io.BytesIO()
    assert provider.download("job-1", out) == len(VIDEO)
    assert out.getvalue() == VIDEO
    assert len(api.seen) == 3
    assert len(sleeps) == 2


def test_download_that_keeps_breaking_is_unavailable(api, provider, sleeps):
    api.script("GET", "/api/videos/job-1/download", lambda seen: Reply(body=b"abc", declared_length=100))
    out = io.BytesIO()
    with pytest.raises(ProviderUnavailable, match=r"^download of job-1 kept breaking off: "):
        provider.download("job-1", out)
    assert len(api.seen) == 5
    assert len(sleeps) == 4


def test_download_of_unknown_job_is_refused(api, provider):
    api.script("GET", "/api/videos/nope/download", Reply(404, {"detail": "Video not found"}))
    with pytest.raises(ProviderRefused, match=r"^Video not found$"):
        provider.download("nope", io.BytesIO())
    assert len(api.seen) == 1


def test_delete(api, provider):
    api.script("DELETE", "/api/videos/job-1", Reply(body={"success": True}))
    assert provider.delete("job-1") is None
    assert [(s.method, s.path) for s in api.seen] == [("DELETE", "/api/videos/job-1")]


@pytest.mark.parametrize(
    ("status", "healthy"),
    [
        (200, Health.ANSWERING),
        (503, Health.NOT_ANSWERING),
        (404, Health.NOT_ANSWERING),  # the Mimio API's own health route: missing means not this API
        (401, Health.KEY_REFUSED),
    ],
)
def test_health(api, provider, status, healthy):
    api.script("GET", "/health", Reply(status, {"status": "ok"}))
    assert provider.health() is healthy
    assert len(api.seen) == 1


def test_base_url_trailing_slash_is_dropped(api, provider):
    assert provider.base_url == api.url.rstrip("/")
    assert provider.name == "mimio"


# --- redirects: only downloads follow them, never into the server's own network ---------------------


def test_a_redirect_on_create_is_not_followed(api, provider):
    api.script("POST", "/api/videos/create", Reply(307, b"", headers={"Location": "/elsewhere"}))
    with pytest.raises(ProviderUnavailable, match="HTTP 307"):
        provider.create(JobRequest(prompt="a fox", model="sora-2", size="1280x720", seconds=4))
    assert [seen.path for seen in api.seen] == ["/api/videos/create"]


def test_a_download_follows_a_redirect_on_the_providers_host(api, provider):
    api.script("GET", "/api/videos/job-1/download", Reply(302, b"", headers={"Location": "/assets/job-1"}))
    api.script("GET", "/assets/job-1", Reply(body=VIDEO))
    out = io.BytesIO()
    assert provider.download("job-1", out) == len(VIDEO)
    assert out.getvalue() == VIDEO


@pytest.mark.parametrize("private_redirects", [False, True])
def test_a_download_redirected_to_a_local_address_elsewhere_is_refused_unless_allowed(
    api, sleeps, private_redirects
):
    port = httpx.URL(api.url).port
    api.script(
        "GET",
        "/api/videos/job-1/download",
        Reply(302, b"", headers={"Location": f"http://localhost:{port}/internal"}),
    )
    api.script("GET", "/internal", Reply(body=VIDEO))
    provider = MimioProvider(api.url, private_redirects=private_redirects, sleep=sleeps.append)
    out = io.BytesIO()
    try:
        if private_redirects:
            assert provider.download("job-1", out) == len(VIDEO)
        else:
            with pytest.raises(ProviderRefused) as refused:
                provider.download("job-1", out)
            assert str(refused.value).startswith(
                "The provider's download was refused: a redirect to localhost (127.0.0.1"
            )
            assert "/internal" not in [seen.path for seen in api.seen]  # never asked
    finally:
        provider.close()


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("http://169.254.169.254/latest/meta-data", "a private or local address"),  # cloud metadata
        ("http://10.1.2.3/x", "a private or local address"),
        ("http://[::1]:8080/x", "a private or local address"),
        ("http://100.64.0.1/x", "a private or local address"),  # shared address space
        ("file:///etc/passwd", "a redirect to a 'file' URL"),
        ("https://93.184.216.34/video.mp4", None),  # a public address
        ("http://93.184.216.34/video.mp4", "over plain http"),  # public, but readable on the way
        ("https://provider.test/other", None),  # the provider's own host
    ],
)
def test_redirect_targets(target, problem):
    found = redirect_problem(httpx.URL("https://provider.test/v"), httpx.URL(target), allow_private=False)
    assert (found is None) if problem is None else (problem in found), found
