"""The fal.ai stand-in over real loopback HTTP: it must answer as fal does, or adapter tests prove nothing."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.media import png_bytes
from tests.standins.fal import (
    FalStandin,
    content_policy_item,
    decode_data_uri,
    nginx_page,
    start_fal,
    validation_item,
)

ENDPOINT = "fal-ai/kling-video/v2.1/standard/text-to-video"
APP = "fal-ai/kling-video"


@pytest.fixture
def standin() -> Iterator[FalStandin]:
    with start_fal() as running:
        yield running


@pytest.fixture
def http(standin: FalStandin) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin.url, headers={"Authorization": "Key test-key"}, timeout=5) as client:
        yield client


def submit(
    http: httpx.Client, body: dict[str, Any] | None = None, endpoint: str = ENDPOINT
) -> dict[str, Any]:
    response = http.post(f"/{endpoint}", json=body if body is not None else {"prompt": "a cat"})
    assert response.status_code == 200, response.text
    return response.json()


def links(standin: FalStandin, request_id: str, app: str = APP) -> dict[str, str]:
    base = f"{standin.url}/{app}/requests/{request_id}"
    return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}


def poll(http: httpx.Client, request_id: str, logs: bool = False) -> httpx.Response:
    return http.get(f"/{APP}/requests/{request_id}/status", params={"logs": 1} if logs else None)


def run_to_completion(http: httpx.Client, request_id: str) -> None:
    for _ in range(10):
        if poll(http, request_id).json()["status"] == "COMPLETED":
            return
    raise AssertionError(f"{request_id} never completed")


# -- the queue lifecycle ---------------------------------------------------------------------------------


def test_submit_answers_urls_built_from_owner_and_alias_only(standin: FalStandin, http: httpx.Client) -> None:
    response = http.post(f"/{ENDPOINT}", json={"prompt": "a cat", "duration": "5"})

    request_id = response.json()["request_id"]
    assert response.status_code == 200
    assert response.headers["x-fal-request-id"] == request_id
    assert response.json() == {
        "status": "IN_QUEUE",
        "request_id": request_id,
        **links(standin, request_id),
        "queue_position": 0,
    }
    [seen] = standin.submissions
    assert (seen.endpoint_id, seen.body, seen.outcome, seen.request_id) == (
        ENDPOINT,
        {"prompt": "a cat", "duration": "5"},
        "queued",
        request_id,
    )
    assert seen.headers["authorization"] == "Key test-key"


def test_status_goes_in_queue_in_progress_completed_with_fal_codes(
    standin: FalStandin, http: httpx.Client
) -> None:
    request_id = submit(http)["request_id"]
    urls = links(standin, request_id)

    queued, running, done = (poll(http, request_id) for _ in range(3))

    assert queued.status_code == 202
    assert queued.json() == {"status": "IN_QUEUE", "request_id": request_id, **urls, "queue_position": 0}
    assert running.status_code == 202
    assert running.json() == {"status": "IN_PROGRESS", "request_id": request_id, **urls, "logs": None}
    assert done.status_code == 200
    assert done.json() == {
        "status": "COMPLETED",
        "request_id": request_id,
        **urls,
        "logs": None,
        "metrics": {"inference_time": 1.0},
    }
    with_logs = poll(http, request_id, logs=True).json()["logs"]
    assert [entry["message"] for entry in with_logs] == [
        f"Runner picked up request {request_id}",
        "Generating: step 1/1",
        "Request completed",
    ]
    assert {(entry["level"], entry["source"]) for entry in with_logs} == {("INFO", "USER")}


def test_result_is_the_video_output_served_without_auth(standin: FalStandin, http: httpx.Client) -> None:
    request_id = submit(http, {"prompt": "a cat", "seed": 7})["request_id"]
    run_to_completion(http, request_id)

    result = http.get(f"/{APP}/requests/{request_id}")

    assert result.status_code == 200
    assert result.json() == {
        "video": {
            "url": standin.output_url(request_id),
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": len(standin.video),
        },
        "seed": 7,
    }
    video = httpx.get(result.json()["video"]["url"])
    assert (video.status_code, video.headers["content-type"], video.content) == (
        200,
        "video/mp4",
        standin.video,
    )
    with av.open(io.BytesIO(video.content)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 5


def test_result_before_completion_is_refused(http: httpx.Client) -> None:
    request_id = submit(http)["request_id"]

    early = http.get(f"/{APP}/requests/{request_id}")

    assert (early.status_code, early.json()) == (400, {"detail": "Request is still in progress"})


def test_urls_built_from_the_full_endpoint_id_do_not_work(standin: FalStandin, http: httpx.Client) -> None:
    request_id = submit(http)["request_id"]
    wrong = f"/{ENDPOINT}/requests/{request_id}"

    answers = [http.get(f"{wrong}/status"), http.get(wrong), http.put(f"{wrong}/cancel")]

    assert [(a.status_code, a.json()) for a in answers] == [(404, {"detail": "Not Found"})] * 3
    assert standin.misrouted == [("GET", f"{wrong}/status"), ("GET", wrong), ("PUT", f"{wrong}/cancel")]
    assert standin.state(request_id) == "IN_QUEUE"  # nothing moved
    other_app = http.get(f"/fal-ai/other/requests/{request_id}/status")
    assert (other_app.status_code, other_app.json()) == (404, {"detail": "Request not found"})


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Missing authorization header"),
        ("Key wrong", "Invalid Key Authorization header format. Expected '<key_id>:<key_secret>'."),
        ("Key id:secret", "No user found for Key ID and Secret"),
        ("Bearer test-key", "No user found for Key ID and Secret"),
    ],
)
def test_queue_calls_need_the_key(standin: FalStandin, header: str | None, detail: str) -> None:
    headers = {"Authorization": header} if header else {}
    with httpx.Client(base_url=standin.url, headers=headers) as anonymous:
        answers = [
            anonymous.post(f"/{ENDPOINT}", json={"prompt": "a cat"}),
            anonymous.get(f"/{APP}/requests/x/status"),
            anonymous.get(f"/{APP}/requests/x"),
            anonymous.put(f"/{APP}/requests/x/cancel"),
            anonymous.post(
                "/storage/upload/initiate", json={"file_name": "a.png", "content_type": "image/png"}
            ),
        ]

    assert [(a.status_code, a.json()) for a in answers] == [(401, {"detail": detail})] * 5
    assert [s.outcome for s in standin.submissions] == ["401"]
    assert standin.jobs == {} and standin.submit_count == 1


def test_requests_queue_behind_each_other_for_the_runner_slots(
    http: httpx.Client, standin: FalStandin
) -> None:
    standin.runners = 1
    first, second, third = (submit(http)["request_id"] for _ in range(3))
    assert [standin.queue_position(r) for r in (first, second, third)] == [0, 1, 2]

    def round_robin() -> list[tuple[str, int | None]]:
        answers = [poll(http, r).json() for r in (first, second, third)]
        return [(a["status"], a.get("queue_position")) for a in answers]

    # the first poll of `second` lets `first`, due since its own poll, take the only slot
    assert round_robin() == [("IN_QUEUE", 0), ("IN_QUEUE", 0), ("IN_QUEUE", 1)]
    assert round_robin() == [("IN_PROGRESS", None), ("IN_QUEUE", 0), ("IN_QUEUE", 1)]
    assert round_robin() == [("COMPLETED", None), ("IN_PROGRESS", None), ("IN_QUEUE", 0)]
    assert round_robin() == [("COMPLETED", None), ("COMPLETED", None), ("IN_PROGRESS", None)]
    assert round_robin() == [("COMPLETED", None)] * 3


def test_progress_counts_and_manual_control(http: httpx.Client, standin: FalStandin) -> None:
    standin.polls_in_queue, standin.polls_in_progress = 2, 3
    request_id = submit(http)["request_id"]
    states = [poll(http, request_id).json()["status"] for _ in range(6)]
    assert states == ["IN_QUEUE", "IN_QUEUE", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]

    held = submit(http)["request_id"]
    assert standin.advance(held) == "IN_PROGRESS"
    assert standin.advance(held) == "COMPLETED"
    waiting = [submit(http)["request_id"] for _ in range(2)]
    standin.finish_all()
    assert [standin.state(r) for r in waiting] == ["COMPLETED", "COMPLETED"]
    assert http.get(f"/{APP}/requests/{waiting[0]}").json()["video"]["url"] == standin.output_url(waiting[0])


# -- cancel ----------------------------------------------------------------------------------------------


def test_cancel_a_queued_request(standin: FalStandin, http: httpx.Client) -> None:
    request_id = submit(http)["request_id"]

    cancel = http.put(f"/{APP}/requests/{request_id}/cancel")

    assert (cancel.status_code, cancel.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    status = poll(http, request_id)
    assert (status.status_code, status.json()) == (
        200,
        {
            "status": "COMPLETED",
            "request_id": request_id,
            **links(standin, request_id),
            "logs": None,
            "metrics": {"inference_time": None},
            "error": "The request was cancelled by the client.",
            "error_type": "client_cancelled",
        },
    )
    result = http.get(f"/{APP}/requests/{request_id}")
    assert (result.status_code, result.json(), result.headers["x-fal-error-type"]) == (
        499,
        {"detail": "The request was cancelled by the client.", "error_type": "client_cancelled"},
        "client_cancelled",
    )
    again = http.put(f"/{APP}/requests/{request_id}/cancel")
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})
    unknown = http.put(f"/{APP}/requests/nope/cancel")
    assert (unknown.status_code, unknown.json()) == (404, {"status": "NOT_FOUND"})
    assert standin.cancels == {request_id: 2, "nope": 1}


def test_cancel_a_running_request_stops_it_unless_the_app_ignores_cancels(
    standin: FalStandin, http: httpx.Client
) -> None:
    stopped = submit(http)["request_id"]
    standin.advance(stopped)
    assert http.put(f"/{APP}/requests/{stopped}/cancel").status_code == 202
    assert poll(http, stopped).json()["error_type"] == "client_cancelled"
    assert http.get(f"/{APP}/requests/{stopped}").status_code == 499

    standin.honour_cancel = False
    ignored = submit(http)["request_id"]
    standin.advance(ignored)
    assert http.put(f"/{APP}/requests/{ignored}/cancel").status_code == 202
    run_to_completion(http, ignored)
    assert http.get(f"/{APP}/requests/{ignored}").json()["video"]["file_size"] == len(standin.video)


def test_cancel_a_completed_request(http: httpx.Client) -> None:
    request_id = submit(http)["request_id"]
    run_to_completion(http, request_id)

    cancel = http.put(f"/{APP}/requests/{request_id}/cancel")

    assert (cancel.status_code, cancel.json()) == (400, {"status": "ALREADY_COMPLETED"})


# -- failures that end a request -------------------------------------------------------------------------


def test_completed_request_with_an_infrastructure_error(standin: FalStandin, http: httpx.Client) -> None:
    standin.fail_next("request_timeout")
    request_id = submit(http)["request_id"]
    run_to_completion(http, request_id)

    status = poll(http, request_id).json()
    result = http.get(f"/{APP}/requests/{request_id}")

    assert (status["status"], status["error"], status["error_type"]) == (
        "COMPLETED",
        "Request timed out",
        "request_timeout",
    )
    assert result.status_code == 504
    assert result.json() == {"detail": "Request timed out", "error_type": "request_timeout"}
    assert result.headers["x-fal-error-type"] == "request_timeout"
    assert result.headers["x-fal-request-id"] == request_id  # from fal itself, not the ingress


def test_infrastructure_error_types_carry_their_typical_status(
    standin: FalStandin, http: httpx.Client
) -> None:
    standin.fail_next("runner_disconnected")
    standin.fail_next("runner_server_error", detail="boom", status=502)
    first, second = (submit(http)["request_id"] for _ in range(2))
    standin.finish_all()

    one, two = (http.get(f"/{APP}/requests/{r}") for r in (first, second))

    assert (one.status_code, one.json()) == (
        503,
        {
            "detail": "The runner disconnected unexpectedly during processing.",
            "error_type": "runner_disconnected",
        },
    )
    assert (two.status_code, two.json()) == (502, {"detail": "boom", "error_type": "runner_server_error"})


def test_completed_request_with_a_model_error(standin: FalStandin, http: httpx.Client) -> None:
    standin.reject_next([content_policy_item("prompt", "a bad cat")])
    request_id = submit(http, {"prompt": "a bad cat"})["request_id"]
    run_to_completion(http, request_id)

    status = poll(http, request_id).json()
    result = http.get(f"/{APP}/requests/{request_id}")

    assert "error" not in status and status["status"] == "COMPLETED"
    assert result.status_code == 422
    assert result.headers["x-fal-retryable"] == "false"
    assert result.json() == {
        "detail": [
            {
                "loc": ["body", "prompt"],
                "msg": "The content was flagged by a content checker.",
                "type": "content_policy_violation",
                "url": "https://docs.fal.ai/errors#content_policy_violation",
                "input": "a bad cat",
            }
        ]
    }


def test_accept_checks_inputs_and_rejects_bad_ones_in_the_result(
    standin: FalStandin, http: httpx.Client
) -> None:
    def check(body: Any) -> list[dict[str, Any]]:
        if body.get("duration") in ("5", "10"):
            return []
        return [
            validation_item(
                "duration", "Input should be '5' or '10'", "literal_error", expected="'5' or '10'"
            )
        ]

    standin.accept(ENDPOINT, check)
    bad = submit(http, {"prompt": "a cat", "duration": "7"})["request_id"]
    good = submit(http, {"prompt": "a cat", "duration": "5"})["request_id"]
    standin.finish_all()

    rejected = http.get(f"/{APP}/requests/{bad}")
    accepted = http.get(f"/{APP}/requests/{good}")

    assert (rejected.status_code, rejected.json()) == (
        422,
        {
            "detail": [
                {
                    "loc": ["body", "duration"],
                    "msg": "Input should be '5' or '10'",
                    "type": "literal_error",
                    "url": "https://docs.fal.ai/errors#literal_error",
                    "ctx": {"expected": "'5' or '10'"},
                }
            ]
        },
    )
    assert accepted.status_code == 200


def test_data_uri_inputs_can_be_decoded(standin: FalStandin, http: httpx.Client) -> None:
    image = png_bytes(32, 16)
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    submit(
        http, {"prompt": "move", "image_url": uri}, endpoint="fal-ai/kling-video/v2.1/standard/image-to-video"
    )

    sent = standin.submissions[0].body["image_url"]

    assert decode_data_uri(sent) == ("image/png", image)
    assert standin.sent_file(sent) == image
    assert decode_data_uri("data:,a%20b") == ("text/plain", b"a b")
    with pytest.raises(ValueError):
        decode_data_uri("data:image/png;base64,???")


# -- transport faults ------------------------------------------------------------------------------------


def test_submit_faults_in_fal_shapes(standin: FalStandin, http: httpx.Client) -> None:
    standin.inject("submit", "rate_limited", retry_after=3)
    standin.inject("submit", "ingress_error")
    standin.inject("submit", "server_error")

    limited, ingress, broken = (http.post(f"/{ENDPOINT}", json={"prompt": "a cat"}) for _ in range(3))

    assert (limited.status_code, limited.headers["retry-after"], limited.json()) == (
        429,
        "3",
        {"detail": "Too many requests"},
    )
    assert (ingress.status_code, ingress.content) == (503, nginx_page(503))
    assert "nginx" in ingress.text and "x-fal-request-id" not in ingress.headers
    assert ingress.headers["content-type"] == "text/html" and ingress.headers["server"] == "nginx"
    assert broken.status_code == 500
    assert broken.json() == {
        "detail": "An unexpected internal error occurred.",
        "error_type": "internal_error",
    }
    assert "x-fal-request-id" in broken.headers and broken.headers["x-fal-error-type"] == "internal_error"
    assert [s.outcome for s in standin.submissions] == ["429", "503", "500"]
    assert standin.jobs == {}
    assert submit(http)["queue_position"] == 0  # the faults are used up


def test_a_lost_submit_answer_still_queues_the_request(standin: FalStandin, http: httpx.Client) -> None:
    standin.inject("submit", "drop")

    with pytest.raises(httpx.RemoteProtocolError):
        http.post(f"/{ENDPOINT}", json={"prompt": "a cat"})

    [lost] = standin.queued
    assert lost.outcome == "lost" and standin.state(lost.request_id or "") == "IN_QUEUE"
    assert standin.submit_count == 1 and len(standin.jobs) == 1


def test_status_faults_move_nothing(standin: FalStandin, http: httpx.Client) -> None:
    request_id = submit(http)["request_id"]
    standin.inject("status", "server_error", 2)
    standin.inject("status", "rate_limited")
    standin.inject("status", "ingress_error", status=502)

    answers = [poll(http, request_id) for _ in range(5)]

    assert [a.status_code for a in answers] == [500, 500, 429, 502, 202]
    assert answers[3].content == nginx_page(502)
    assert answers[0].headers["x-fal-request-id"] == request_id
    assert answers[4].json()["status"] == "IN_QUEUE"  # the first poll that got through
    assert standin.status_polls[request_id] == 5


def test_result_faults_and_dropped_answers(standin: FalStandin, http: httpx.Client) -> None:
    request_id = submit(http)["request_id"]
    standin.finish(request_id)
    standin.inject("result", "ingress_error", status=504)
    standin.inject("result", "drop")

    assert http.get(f"/{APP}/requests/{request_id}").status_code == 504
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(f"/{APP}/requests/{request_id}")
    assert http.get(f"/{APP}/requests/{request_id}").status_code == 200
    assert standin.result_fetches[request_id] == 3


def test_cut_downloads_then_a_whole_one(standin: FalStandin, http: httpx.Client) -> None:
    request_id = submit(http)["request_id"]
    standin.finish(request_id)
    url = standin.output_url(request_id)
    standin.inject("download", "cut", 2)

    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url)
    whole = httpx.get(url)

    assert whole.content == standin.video
    assert standin.downloads == {url.removeprefix(standin.url): 3}


def test_output_urls_expire_on_demand_or_after_a_ttl(standin: FalStandin, http: httpx.Client) -> None:
    first = submit(http)["request_id"]
    standin.finish(first)
    standin.expire(standin.output_url(first), status=403)
    assert httpx.get(standin.output_url(first)).status_code == 403

    standin.output_ttl = 0.0
    second = submit(http)["request_id"]
    standin.finish(second)
    gone = httpx.get(standin.output_url(second))
    assert (gone.status_code, gone.text) == (404, "Not Found")
    assert httpx.get(f"{standin.url}/files/standin/never.mp4").status_code == 404


# -- uploads ---------------------------------------------------------------------------------------------


def test_upload_by_initiate_and_put(standin: FalStandin, http: httpx.Client) -> None:
    image = png_bytes(8, 8)
    initiate = http.post(
        "/storage/upload/initiate",
        params={"storage_type": "fal-cdn-v3"},
        json={"file_name": "ref.png", "content_type": "image/png"},
    )
    target = initiate.json()
    assert initiate.status_code == 200 and set(target) == {"upload_url", "file_url"}
    assert target["upload_url"].startswith(f"{standin.url}/storage/put/")

    put = httpx.put(target["upload_url"], content=image, headers={"Content-Type": "image/png"})

    assert put.status_code == 200
    served = httpx.get(target["file_url"])
    assert (served.content, served.headers["content-type"]) == (image, "image/png")
    [stored] = standin.uploads
    assert (stored.file_name, stored.content_type, stored.via) == ("ref.png", "image/png", "storage")
    assert standin.sent_file(target["file_url"]) == image
    assert httpx.put(f"{standin.url}/storage/put/forged", content=b"x").status_code == 403


def test_upload_through_the_cdn_v3_token(standin: FalStandin, http: httpx.Client) -> None:
    token = http.post("/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={}).json()
    assert set(token) == {"token", "token_type", "base_url", "expires_at"} and token["token_type"] == "Bearer"

    uploaded = httpx.post(
        f"{standin.url}/files/upload",
        content=b"frame",
        headers={
            "Authorization": f"{token['token_type']} {token['token']}",
            "Content-Type": "image/jpeg",
            "X-Fal-File-Name": "a.jpg",
        },
    )

    assert uploaded.status_code == 200
    assert httpx.get(uploaded.json()["access_url"]).content == b"frame"
    assert standin.uploads[0].via == "cdn_v3"
    refused = httpx.post(
        f"{standin.url}/files/upload", content=b"x", headers={"Authorization": "Bearer nope"}
    )
    assert refused.status_code == 401


# -- the official client ---------------------------------------------------------------------------------


@pytest.fixture
def fal_client(standin: FalStandin, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real `fal_client`, pointed at the stand-in.

    fal_client builds its URLs from module constants (`QUEUE_URL_FORMAT`, `REST_URL`, `CDN_URL` in
    fal_client/client.py); the `FAL_QUEUE_RUN_HOST` environment variable only swaps the host under a fixed
    `https://` scheme, which a plain-HTTP loopback server cannot serve, so the constants are patched.
    """
    client_module = pytest.importorskip("fal_client.client", reason="fal-client is not installed")
    monkeypatch.setattr(client_module, "QUEUE_URL_FORMAT", standin.url + "/")
    monkeypatch.setattr(client_module, "REST_URL", standin.url)
    monkeypatch.setattr(client_module, "CDN_URL", standin.url)
    monkeypatch.setattr(client_module, "BASE_DELAY", 0.001)
    return client_module


def test_fal_client_runs_a_request_end_to_end(fal_client: Any, standin: FalStandin) -> None:
    client = fal_client.SyncClient(key="test-key")

    handle = client.submit(ENDPOINT, {"prompt": "a cat", "seed": 3})
    result = handle.get(interval=0.001)

    assert result == {
        "video": {
            "url": standin.output_url(handle.request_id),
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": len(standin.video),
        },
        "seed": 3,
    }
    status = client.status(
        ENDPOINT, handle.request_id, with_logs=True
    )  # built from owner/alias by the client
    assert isinstance(status, fal_client.Completed) and status.metrics == {"inference_time": 1.0}
    with pytest.raises(fal_client.FalClientHTTPError) as refused:
        handle.cancel()
    assert refused.value.status_code == 400


def test_fal_client_sees_errors_as_fal_reports_them(fal_client: Any, standin: FalStandin) -> None:
    client = fal_client.SyncClient(key="test-key")
    standin.fail_next("request_timeout")
    standin.reject_next()

    timed_out = client.submit(ENDPOINT, {"prompt": "a cat"})
    with pytest.raises(fal_client.FalClientHTTPError) as infra:
        timed_out.get(interval=0.001)
    flagged = client.submit(ENDPOINT, {"prompt": "a cat"})
    with pytest.raises(fal_client.FalClientHTTPError) as model:
        flagged.get(interval=0.001)

    assert (infra.value.status_code, infra.value.error_type, infra.value.message) == (
        504,
        "request_timeout",
        "Request timed out",
    )
    status = timed_out.status()
    assert (status.error, status.error_type) == ("Request timed out", "request_timeout")
    assert model.value.status_code == 422 and model.value.message == [content_policy_item()]


def test_fal_client_retries_the_ingress_but_resubmits_a_lost_answer(
    fal_client: Any, standin: FalStandin
) -> None:
    client = fal_client.SyncClient(key="test-key")
    standin.inject("submit", "ingress_error", 2)

    client.submit(ENDPOINT, {"prompt": "a cat"})
    assert [s.outcome for s in standin.submissions] == ["503", "503", "queued"]

    standin.inject("submit", "drop")
    client.submit(ENDPOINT, {"prompt": "a dog"})
    # fal_client retries any transport error, so a lost answer queues the same input twice: an adapter
    # must not lean on that retry for submits.
    assert [s.outcome for s in standin.submissions[3:]] == ["lost", "queued"]
    assert len(standin.jobs) == 3


def test_fal_client_uploads_both_ways(fal_client: Any, standin: FalStandin, tmp_path: Path) -> None:
    client = fal_client.SyncClient(key="test-key")
    picture = tmp_path / "ref.png"
    picture.write_bytes(png_bytes(4, 4))

    cdn_url = client.upload_file(picture)
    storage_url = client.upload(b"hello", "text/plain", file_name="a.txt", repository="fal")

    assert standin.sent_file(cdn_url) == picture.read_bytes()
    assert standin.sent_file(storage_url) == b"hello"
    assert [(f.file_name, f.content_type, f.via) for f in standin.uploads] == [
        ("ref.png", "image/png", "cdn_v3"),
        ("a.txt", "text/plain", "storage"),
    ]
