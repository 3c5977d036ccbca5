"""The embedded server's OpenAI-compatible Videos API (`/v1/videos`), over real HTTP: the wire shape an
OpenAI-compatible adapter sees, OpenAI-shaped errors, bearer auth, and every fault it must survive."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mimio_core.local_server.runner import RunningServer, start_in_thread
from tests.media import assert_playable_mp4, mp4_bytes, png_bytes

SIZE = "1280x720"
IDLE = "[idle]"  # prompts containing this never render: for tests that need no finished video


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_in_thread(tmp_path_factory.mktemp("openai-server"), render_slots=2)
    yield running
    running.stop()


@pytest.fixture
def api(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/v1", timeout=30) as client:
        faults(server, outcomes=[{"prompt_contains": IDLE, "outcome": "never"}])
        yield client
        httpx.delete(f"{server.url}/_admin/faults").raise_for_status()


@pytest.fixture(scope="module")
def finished(server: RunningServer) -> dict[str, Any]:
    """One completed 4 s landscape video, shared by the tests that read a finished video."""
    with httpx.Client(base_url=f"{server.url}/v1", timeout=30) as client:
        created = client.post(
            "/videos", data={"prompt": "a lighthouse at dusk", "size": SIZE, "seconds": "4"}
        )
        assert created.status_code == 200, created.text
        return poll(client, created.json()["id"])


def faults(server: RunningServer, **spec: object) -> None:
    httpx.post(f"{server.url}/_admin/faults", json=spec).raise_for_status()


def stats(server: RunningServer) -> dict[str, dict[str, int]]:
    return httpx.get(f"{server.url}/_admin/stats").json()


def poll(
    client: httpx.Client, video_id: str, until: tuple[str, ...] = ("completed", "failed")
) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = client.get(f"/videos/{video_id}")
        assert answer.status_code == 200, answer.text
        assert int(answer.headers["openai-poll-after-ms"]) >= 250
        video = answer.json()
        if video["status"] in until:
            return video
        time.sleep(0.1)
    raise AssertionError(f"{video_id} never reached {until}: {video}")


def assert_openai_error(answer: httpx.Response, status: int, **expected: object) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    for key, value in expected.items():
        assert error[key] == value, (key, error)
    return error


def test_multipart_create_answers_a_queued_video_object(api: httpx.Client) -> None:
    answer = api.post(
        "/videos", data={"prompt": f"a red fox {IDLE}", "model": "sora-2-pro", "size": SIZE, "seconds": "8"}
    )
    assert answer.status_code == 200, answer.text
    video = answer.json()
    assert video["id"].startswith("video_")
    assert video["created_at"] == pytest.approx(time.time(), abs=5)
    assert {k: v for k, v in video.items() if k not in ("id", "created_at")} == {
        "object": "video",
        "status": "queued",
        "progress": 0,
        "completed_at": None,
        "expires_at": None,
        "error": None,
        "model": "sora-2-pro",
        "size": SIZE,
        "seconds": "8",
        "prompt": f"a red fox {IDLE}",
        "remixed_from_video_id": None,
    }
    defaults = api.post("/videos", data={"prompt": f"defaults {IDLE}"}).json()
    assert (defaults["model"], defaults["size"], defaults["seconds"]) == ("sora-2", "720x1280", "4")


def test_json_create_takes_string_seconds_and_refuses_an_integer(api: httpx.Client) -> None:
    accepted = api.post("/videos", json={"prompt": f"json {IDLE}", "size": SIZE, "seconds": "12"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["seconds"] == "12"
    refused = api.post("/videos", json={"prompt": f"json {IDLE}", "size": SIZE, "seconds": 4})
    error = assert_openai_error(
        refused, 400, type="invalid_request_error", param="seconds", code="invalid_type"
    )
    assert "integer" in error["message"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "sora-3"}, "model"),
        ({"size": "1792x1024"}, "size"),  # sora-2 does not render it
        ({"seconds": "5"}, "seconds"),
        # digits int() takes but a number of seconds is not written with (a 500 before)
        ({"seconds": "\u00b2"}, "seconds"),
        ({"seconds": "\u2460"}, "seconds"),
        ({"seconds": "\u0664"}, "seconds"),
        ({"seconds": "\uff14"}, "seconds"),
        ({"seconds": "4" * 4301}, "seconds"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),  # the app's own limit: a long prompt would tie up a render slot
    ],
)
def test_catalogue_refusals_are_openai_shaped(api: httpx.Client, fields: dict[str, str], param: str) -> None:
    data = {"prompt": f"checked {IDLE}", "model": "sora-2", "size": SIZE, "seconds": "4", **fields}
    assert_openai_error(api.post("/videos", data=data), 400, param=param, code="invalid_value")


def test_missing_prompt_is_a_missing_parameter(api: httpx.Client) -> None:
    assert_openai_error(api.post("/videos", json={"seconds": "4"}), 400, param="prompt")


def test_input_reference_must_be_exactly_the_video_size(api: httpx.Client) -> None:
    fields = {"prompt": f"the poster comes alive {IDLE}", "size": SIZE, "seconds": "4"}
    wrong = api.post(
        "/videos", data=fields, files={"input_reference": ("poster.png", png_bytes(640, 480), "image/png")}
    )
    error = assert_openai_error(
        wrong, 400, type="invalid_request_error", param="input_reference", code="invalid_value"
    )
    assert "input_reference must be 1280x720 pixels, got 640x480" in error["message"]
    exact = api.post(
        "/videos", data=fields, files={"input_reference": ("poster.png", png_bytes(1280, 720), "image/png")}
    )
    assert exact.status_code == 200, exact.text
    not_an_image = api.post(
        "/videos", data=fields, files={"input_reference": ("notes.png", b"just text", "image/png")}
    )
    assert_openai_error(not_an_image, 400, param="input_reference")


def test_a_video_reference_is_accepted_for_mimio_local_only(api: httpx.Client) -> None:
    fields = {"prompt": f"continue this clip {IDLE}", "size": SIZE, "seconds": "4"}
    clip = {"input_reference": ("clip.mp4", mp4_bytes(), "video/mp4")}
    accepted = api.post("/videos", data={**fields, "model": "mimio-local"}, files=clip)
    assert accepted.status_code == 200, accepted.text
    refused = api.post("/videos", data={**fields, "model": "sora-2"}, files=clip)
    assert_openai_error(refused, 400, param="input_reference")


def test_polled_video_completes_with_times_and_poll_hint(finished: dict[str, Any]) -> None:
    assert finished["status"] == "completed" and finished["progress"] == 100
    assert finished["error"] is None
    assert isinstance(finished["completed_at"], int)
    assert finished["completed_at"] >= finished["created_at"]
    assert finished["expires_at"] == finished["completed_at"] + 3600


def test_content_streams_a_playable_mp4_and_counts_the_download(
    api: httpx.Client, server: RunningServer, finished: dict[str, Any], tmp_path: Path
) -> None:
    before = stats(server)["downloads"].get(finished["id"], 0)
    target = tmp_path / "video.mp4"
    with api.stream("GET", f"/videos/{finished['id']}/content") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "video/mp4"
        with target.open("wb") as out:
            for chunk in answer.iter_bytes():
                out.write(chunk)
    assert int(answer.headers["content-length"]) == target.stat().st_size
    assert_playable_mp4(target, SIZE, 4)
    assert stats(server)["downloads"][finished["id"]] == before + 1


def test_thumbnail_is_a_webp_of_the_first_frame(api: httpx.Client, finished: dict[str, Any]) -> None:
    answer = api.get(f"/videos/{finished['id']}/content", params={"variant": "thumbnail"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(answer.content)) as image:
        assert (image.format, image.size) == ("WEBP", (1280, 720))
    again = api.get(f"/videos/{finished['id']}/content", params={"variant": "thumbnail"})
    assert again.content == answer.content  # made once, then served from its cache
    spritesheet = api.get(f"/videos/{finished['id']}/content", params={"variant": "spritesheet"})
    assert_openai_error(spritesheet, 400, param="variant")
    bogus = api.get(f"/videos/{finished['id']}/content", params={"variant": "poster"})
    assert_openai_error(bogus, 400, param="variant")


def test_content_of_an_unfinished_video_is_a_conflict(api: httpx.Client) -> None:
    video = api.post("/videos", data={"prompt": f"still going {IDLE}", "seconds": "4"}).json()
    assert api.get(f"/videos/{video['id']}").json()["status"] == "in_progress"
    assert_openai_error(api.get(f"/videos/{video['id']}/content"), 409, code="video_not_ready")


def test_delete_then_the_video_is_gone(api: httpx.Client) -> None:
    video = api.post("/videos", data={"prompt": f"short lived {IDLE}", "seconds": "4"}).json()
    deleted = api.delete(f"/videos/{video['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    assert_openai_error(api.get(f"/videos/{video['id']}"), 404, code="video_not_found")
    assert_openai_error(api.get(f"/videos/{video['id']}/content"), 404)
    assert_openai_error(api.delete(f"/videos/{video['id']}"), 404)
    assert_openai_error(api.get("/videos/video_nonsense"), 404, type="invalid_request_error")
    assert_openai_error(api.get("/no-such-route"), 404)


def test_list_is_newest_first_and_pages_with_limit(api: httpx.Client) -> None:
    made = [api.post("/videos", data={"prompt": f"listed {n} {IDLE}"}).json()["id"] for n in range(3)]
    listing = api.get("/videos", params={"limit": 100}).json()
    assert listing["object"] == "list" and listing["has_more"] is False
    ids = [video["id"] for video in listing["data"]]
    assert ids[:3] == made[::-1]
    assert all(video["object"] == "video" for video in listing["data"])
    page = api.get("/videos", params={"limit": 2}).json()
    assert [v["id"] for v in page["data"]] == made[:0:-1] and page["has_more"] is True
    following = api.get("/videos", params={"limit": 1, "after": page["last_id"]}).json()
    assert [v["id"] for v in following["data"]] == [made[0]]
    assert_openai_error(api.get("/videos", params={"limit": 0}), 400, param="limit")


def test_requests_are_counted_under_the_shared_endpoint_names(
    api: httpx.Client, server: RunningServer, finished: dict[str, Any]
) -> None:
    before = stats(server)["requests"]
    video = api.post("/videos", data={"prompt": f"counted {IDLE}"}).json()
    api.get(f"/videos/{video['id']}")
    api.get(f"/videos/{finished['id']}/content", params={"variant": "thumbnail"})
    api.get("/videos")
    api.delete(f"/videos/{video['id']}")
    after = stats(server)["requests"]
    for endpoint in ("create", "status", "download", "list", "delete"):
        assert after.get(endpoint, 0) == before.get(endpoint, 0) + 1, endpoint


def test_bearer_key_is_required_when_configured(tmp_path: Path) -> None:
    keyed = start_in_thread(tmp_path / "keyed", api_key="sk-local-test")
    try:
        base = f"{keyed.url}/v1"
        missing = httpx.get(f"{base}/videos")
        assert_openai_error(missing, 401, type="invalid_request_error")
        wrong = httpx.get(f"{base}/videos", headers={"Authorization": "Bearer sk-wrong"})
        assert_openai_error(wrong, 401, code="invalid_api_key")
        good = {"Authorization": "Bearer sk-local-test"}
        assert httpx.get(f"{base}/videos", headers=good).json()["data"] == []
        created = httpx.post(f"{base}/videos", headers=good, data={"prompt": "keyed", "seconds": "4"})
        assert created.status_code == 200, created.text
        assert keyed.service.requests["list"] == 1  # refused requests reach no endpoint
        assert httpx.get(f"{keyed.url}/health").status_code == 200  # a probe needs no key
        status = f"{keyed.url}/api/videos/{created.json()['id']}/status"
        refused = httpx.get(status)  # the Mimio routes demand the key too, in their own error shape
        assert refused.status_code == 401 and set(refused.json()) == {"detail"}
        assert httpx.get(status, headers=good).status_code == 200
    finally:
        keyed.stop()


def test_injected_429_is_openai_shaped_with_retry_after(api: httpx.Client, server: RunningServer) -> None:
    video = api.post("/videos", data={"prompt": f"throttled {IDLE}"}).json()
    faults(server, http=[{"endpoint": "status", "status": 429, "times": 2, "retry_after": 1.5}])
    throttled = api.get(f"/videos/{video['id']}")
    assert_openai_error(throttled, 429, code="rate_limit_exceeded", message="injected fault")
    assert throttled.headers["retry-after"] == "1.5"
    mimio = httpx.get(f"{server.url}/api/videos/{video['id']}/status")  # same fault, Mimio's shape
    assert mimio.status_code == 429 and mimio.json() == {"detail": "injected fault"}
    assert api.get(f"/videos/{video['id']}").status_code == 200
    faults(server, http=[{"endpoint": "create", "status": 503, "detail": "overloaded"}])
    assert_openai_error(
        api.post("/videos", data={"prompt": "x"}), 503, type="server_error", message="overloaded"
    )


def test_redirected_download_serves_the_same_bytes_once(
    api: httpx.Client, server: RunningServer, finished: dict[str, Any]
) -> None:
    direct = api.get(f"/videos/{finished['id']}/content").content
    faults(server, redirect_downloads=2)
    redirected = api.get(f"/videos/{finished['id']}/content")
    assert redirected.status_code == 302
    location = redirected.headers["location"]
    assert "/v1/_assets/" in location
    assert httpx.get(location).content == direct
    assert_openai_error(httpx.get(location), 404)  # one-time URL
    followed = api.get(f"/videos/{finished['id']}/content", follow_redirects=True)
    assert followed.status_code == 200 and followed.headers["content-type"] == "video/mp4"
    assert followed.content == direct
    assert len(followed.history) == 1 and followed.history[0].status_code == 302


def test_expired_download_is_a_404_video_expired(
    api: httpx.Client, server: RunningServer, finished: dict[str, Any]
) -> None:
    faults(server, expire_downloads=1)
    expired = api.get(f"/videos/{finished['id']}/content")
    assert_openai_error(expired, 404, code="video_expired", message="The video's assets have expired")
    assert api.get(f"/videos/{finished['id']}/content").status_code == 200  # one fault, used up


def test_failed_outcome_carries_its_code(api: httpx.Client, server: RunningServer) -> None:
    faults(
        server,
        outcomes=[
            {
                "prompt_contains": "forbidden",
                "outcome": "failed",
                "message": "Blocked by moderation",
                "code": "moderation_blocked",
            },
            {"prompt_contains": "unlucky", "outcome": "error", "message": "GPU fell over"},
        ],
    )
    blocked = api.post("/videos", data={"prompt": "something forbidden"}).json()
    failed = poll(api, blocked["id"])
    assert failed["status"] == "failed" and failed["expires_at"] is None
    assert failed["error"] == {"code": "moderation_blocked", "message": "Blocked by moderation"}
    mimio = httpx.get(f"{server.url}/api/videos/{blocked['id']}/status").json()
    assert (mimio["status"], mimio["error"]) == ("failed", "Blocked by moderation")
    errored = poll(api, api.post("/videos", data={"prompt": "an unlucky one"}).json()["id"])
    assert errored["error"] == {"code": "generation_failed", "message": "GPU fell over"}
    assert_openai_error(api.get(f"/videos/{blocked['id']}/content"), 409)


def test_refused_create_carries_its_code(api: httpx.Client, server: RunningServer) -> None:
    faults(
        server,
        outcomes=[
            {
                "prompt_contains": "banned",
                "outcome": "refuse",
                "message": "Refused",
                "code": "moderation_blocked",
            }
        ],
    )
    refused = api.post("/videos", data={"prompt": "a banned scene"})
    assert_openai_error(refused, 400, code="moderation_blocked", message="Refused")


def test_weird_status_word_until_the_latency_passes(tmp_path: Path) -> None:
    slow = start_in_thread(tmp_path / "slow", latency=2.0)
    try:
        faults(slow, outcomes=[{"prompt_contains": "odd", "outcome": "weird"}])
        with httpx.Client(base_url=f"{slow.url}/v1", timeout=30) as client:
            video = client.post("/videos", data={"prompt": "an odd gateway", "seconds": "4"}).json()
            seen = client.get(f"/videos/{video['id']}")
            assert seen.json()["status"] == "processing_upstream"
            assert 250 <= int(seen.headers["openai-poll-after-ms"]) <= 1000
            mimio = httpx.get(f"{slow.url}/api/videos/{video['id']}/status").json()
            assert mimio["status"] == "processing_upstream"
            done = poll(client, video["id"])
            assert done["status"] == "completed" and done["error"] is None
    finally:
        slow.stop()
