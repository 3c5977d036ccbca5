"""The Replicate stand-in answers like Replicate: over real HTTP with httpx, and with the official client.

The expected bodies below are the shapes recorded from the live API (see the sources in
tests/standins/replicate.py); a test failing here means the stand-in drifted from Replicate, not that an
adapter needs something else.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.media import mp4_bytes, png_bytes
from tests.standins.replicate import (
    NSFW_ERROR,
    ReplicateStandin,
    decode_data_uri,
    parse_duration,
    start_replicate,
    tqdm_line,
)

TOKEN = "r8_test"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VIDEO = mp4_bytes(frames=3)
MODEL = "kwaivgi/kling-v2.1"
VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
# the Python client's own progress pattern (replicate/prediction.py Prediction.Progress)
CLIENT_PROGRESS = re.compile(r"^\s*(?P<percentage>\d+)%\s*\|.+?\|\s*(?P<current>\d+)\/(?P<total>\d+)")
# one transport for every test: building an httpx client's TLS context costs more than a whole test here
TRANSPORT = httpx.HTTPTransport()
PLAIN = httpx.Client(transport=TRANSPORT, timeout=5)  # no token: outputs, signed downloads, refusals


@pytest.fixture
def standin() -> Iterator[ReplicateStandin]:
    running = start_replicate(TOKEN, video=VIDEO)
    yield running
    running.stop()


@pytest.fixture
def http(standin: ReplicateStandin) -> Iterator[httpx.Client]:
    yield httpx.Client(base_url=standin.url, headers=AUTH, timeout=5, transport=TRANSPORT)


def create(http: httpx.Client, model: str = MODEL, **input: Any) -> dict[str, Any]:
    answer = http.post(f"/models/{model}/predictions", json={"input": input or {"prompt": "a fox"}})
    assert answer.status_code == 201, answer.text
    return answer.json()


def poll(http: httpx.Client, prediction_id: str) -> dict[str, Any]:
    answer = http.get(f"/predictions/{prediction_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


# starting, auth


def test_starts_fast_on_a_free_port_and_stops_cleanly() -> None:
    began = time.monotonic()
    running = start_replicate(video=b"x")
    assert time.monotonic() - began < 0.5
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", running.url)
    port = int(running.root.rsplit(":", 1)[1])
    running.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_the_default_video_is_a_real_mp4() -> None:
    running = start_replicate()
    try:
        assert running.video[4:8] == b"ftyp"
    finally:
        running.stop()


def test_a_missing_or_wrong_token_answers_401_problems(standin: ReplicateStandin) -> None:
    missing = PLAIN.post(f"{standin.url}/models/{MODEL}/predictions", json={"input": {}})
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass an authentication token",
        "status": 401,
    }
    wrong = PLAIN.get(f"{standin.url}/predictions/x", headers={"Authorization": "Bearer r8_other"})
    assert wrong.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass a valid authentication token",
        "status": 401,
    }
    assert standin.creates == 0
    # the older `Token` scheme is accepted too
    older = PLAIN.post(
        f"{standin.url}/models/{MODEL}/predictions",
        json={"input": {}},
        headers={"Authorization": f"Token {TOKEN}"},
    )
    assert older.status_code == 201


# creating


def test_create_of_an_official_model_answers_the_new_prediction(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    answer = http.post(
        f"/models/{MODEL}/predictions",
        json={"input": {"prompt": "a fox", "duration": 5}},
        headers={"X-Trace": "1"},
    )
    assert answer.status_code == 201
    assert answer.headers["ratelimit-remaining"] == "599"
    body = answer.json()
    pid = body["id"]
    assert re.fullmatch(r"[a-z2-7]{26}", pid)
    assert body == {
        "id": pid,
        "model": MODEL,
        "version": "hidden",
        "input": {"prompt": "a fox", "duration": 5},
        "logs": "",
        "output": None,
        "data_removed": False,
        "error": None,
        "status": "starting",
        "created_at": "2026-01-01T00:00:00.000000Z",
        "urls": {
            "cancel": f"{standin.url}/predictions/{pid}/cancel",
            "get": f"{standin.url}/predictions/{pid}",
            "web": f"https://replicate.com/p/{pid}",
        },
    }
    assert standin.creates == standin.create_attempts == 1
    (made,) = standin.created
    assert (made.path, made.body, made.prediction_id) == (
        f"/v1/models/{MODEL}/predictions",
        {"input": {"prompt": "a fox", "duration": 5}},
        pid,
    )
    assert made.headers["x-trace"] == "1"
    assert made.headers["authorization"] == f"Bearer {TOKEN}"


def test_create_by_version_and_by_model_name_on_the_predictions_route(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    standin.model("acme/wan-video", version_id=VERSION)
    by_id = http.post("/predictions", json={"version": VERSION, "input": {"prompt": "a"}}).json()
    assert (by_id["model"], by_id["version"]) == ("acme/wan-video", VERSION)
    by_ref = http.post("/predictions", json={"version": f"acme/wan-video:{VERSION}", "input": {}}).json()
    assert (by_ref["model"], by_ref["version"]) == ("acme/wan-video", VERSION)
    official = http.post("/predictions", json={"version": MODEL, "input": {}}).json()
    assert (official["model"], official["version"]) == (MODEL, "hidden")
    unknown = http.post("/predictions", json={"version": "0" * 64, "input": {}})
    assert unknown.status_code == 422
    assert unknown.json() == {
        "title": "Invalid version or not permitted",
        "detail": "The specified version does not exist (or perhaps you don't have permission to use it?)",
        "status": 422,
    }
    assert standin.creates == 3


def test_a_malformed_create_body_answers_422_with_invalid_fields(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    answer = http.post("/predictions", json={"model": MODEL, "inptu": {"prompt": "a"}})
    assert answer.status_code == 422
    assert answer.json() == {
        "title": "Input validation failed",
        "detail": "- version is required\n- input is required\n- Additional property model is not allowed\n"
        "- Additional property inptu is not allowed\n",
        "status": 422,
        "invalid_fields": [
            {"type": "required", "field": "", "description": "version is required"},
            {"type": "required", "field": "", "description": "input is required"},
            {
                "type": "additional_property_not_allowed",
                "field": "",
                "description": "Additional property model is not allowed",
            },
            {
                "type": "additional_property_not_allowed",
                "field": "",
                "description": "Additional property inptu is not allowed",
            },
        ],
    }
    # the official-model route takes no version
    versioned = http.post(f"/models/{MODEL}/predictions", json={"version": VERSION, "input": {}})
    assert versioned.json()["invalid_fields"] == [
        {
            "type": "additional_property_not_allowed",
            "field": "",
            "description": "Additional property version is not allowed",
        }
    ]
    not_an_object = http.post(f"/models/{MODEL}/predictions", json={"input": "a fox"})
    assert not_an_object.json()["invalid_fields"] == [
        {
            "type": "invalid_type",
            "field": "input",
            "description": "Invalid type. Expected: object, given: string",
        }
    ]
    assert standin.creates == 0 and [seen.method for seen in standin.requests] == ["POST"] * 3


def test_a_model_check_refuses_input_in_replicates_validation_shape(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    def check(model_input: dict[str, Any]) -> dict[str, str | tuple[str, str]]:
        refusals: dict[str, str | tuple[str, str]] = {}
        if "prompt" not in model_input:
            refusals["prompt"] = ("required", "prompt is required")
        if model_input.get("duration") not in (5, 10):
            refusals["duration"] = ("enum", "duration must be one of the following: 5, 10")
        return refusals

    standin.accept(MODEL, check)
    answer = http.post(f"/models/{MODEL}/predictions", json={"input": {"duration": 7}})
    assert answer.status_code == 422
    assert answer.json() == {
        "title": "Input validation failed",
        "detail": "- input: prompt is required\n"
        "- input.duration: duration must be one of the following: 5, 10\n",
        "status": 422,
        "invalid_fields": [
            {"type": "required", "field": "input", "description": "prompt is required"},
            {
                "type": "enum",
                "field": "input.duration",
                "description": "duration must be one of the following: 5, 10",
            },
        ],
    }
    assert standin.creates == 0 and standin.create_attempts == 1
    assert create(http, prompt="a fox", duration=5)["status"] == "starting"


# the lifecycle


def test_a_prediction_starts_processes_with_growing_tqdm_logs_and_succeeds(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    pid = create(http)["id"]
    seen = [poll(http, pid) for _ in range(4)]
    assert [s["status"] for s in seen] == ["processing", "processing", "processing", "succeeded"]
    logs = [s["logs"] for s in seen]
    assert all(later.startswith(earlier) and later != earlier for earlier, later in itertools.pairwise(logs))
    last_lines = [s["logs"].rstrip("\n").rsplit("\n", 1)[-1] for s in seen]
    percentages = [int(CLIENT_PROGRESS.match(line)["percentage"]) for line in last_lines]  # type: ignore[index]
    assert percentages == [0, 30, 65, 100]
    assert last_lines[-1].startswith("100%|██████████| 20/20 [00:03<00:00,")
    done = seen[-1]
    assert done["output"] == f"{standin.root}/delivery/{pid}/output.mp4"
    assert (done["started_at"], done["completed_at"]) == (
        "2026-01-01T00:00:01.000000Z",
        "2026-01-01T00:00:04.000000Z",
    )
    assert done["metrics"] == {"predict_time": 3.0, "total_time": 4.0}
    assert seen[0]["completed_at"] is None and seen[0]["metrics"] is None
    assert standin.polls[pid] == 4
    # outputs are served without a token, like replicate.delivery
    video = PLAIN.get(done["output"])
    assert video.status_code == 200
    assert (video.content, video.headers["content-type"]) == (VIDEO, "video/mp4")
    assert standin.downloads == 1
    assert poll(http, pid)["status"] == "succeeded"  # an ended prediction stays as it is


def test_a_model_can_answer_a_list_of_urls_and_its_own_pace(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    standin.model(
        "acme/frames", output="list", outputs=2, starting_polls=2, steps=1, data=b"png", extension=".png"
    )
    pid = create(http, "acme/frames")["id"]
    assert [poll(http, pid)["status"] for _ in range(3)] == ["starting", "processing", "succeeded"]
    output = standin.prediction(pid)["output"]
    assert output == [f"{standin.root}/delivery/{pid}/out-0.png", f"{standin.root}/delivery/{pid}/out-1.png"]
    assert PLAIN.get(output[1]).content == b"png"


def test_advance_and_finish_all_move_predictions_without_polls(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    first, second = create(http)["id"], create(http)["id"]
    assert standin.advance(first, 2)["status"] == "processing"
    standin.finish_all()
    assert standin.prediction(first)["status"] == standin.prediction(second)["status"] == "succeeded"
    assert standin.polls == {}


def test_prefer_wait_holds_the_answer_until_the_files_are_out(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    answer = http.post(f"/models/{MODEL}/predictions", json={"input": {}}, headers={"Prefer": "wait"})
    assert answer.status_code == 201
    assert answer.headers["preference-applied"] == "wait"
    body = answer.json()
    # Replicate answers as soon as the files exist, while the status may still say processing
    assert (body["status"], body["output"]) == (
        "processing",
        f"{standin.root}/delivery/{body['id']}/output.mp4",
    )
    assert "completed_at" not in body and "metrics" not in body
    assert poll(http, body["id"])["status"] == "succeeded"


def test_prefer_wait_n_gives_up_after_n_seconds(standin: ReplicateStandin, http: httpx.Client) -> None:
    answer = http.post(f"/models/{MODEL}/predictions", json={"input": {}}, headers={"Prefer": "wait=2"})
    assert answer.headers["preference-applied"] == "wait=2"
    body = answer.json()
    assert (body["status"], body["output"]) == ("processing", None)
    assert standin.clock == 2.0


def test_cancel_after_aborts_a_prediction_that_never_started(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    standin.model("acme/cold", starting_polls=10)
    answer = http.post("/models/acme/cold/predictions", json={"input": {}}, headers={"Cancel-After": "2s"})
    body = answer.json()
    assert body["deadline"] == "2026-01-01T00:00:02.000000Z"
    assert poll(http, body["id"])["status"] == "starting"
    ended = poll(http, body["id"])
    assert (ended["status"], ended["started_at"], ended["metrics"]) == ("aborted", None, {})
    assert ended["completed_at"] == "2026-01-01T00:00:02.000000Z"


def test_cancel_after_cancels_a_running_prediction(standin: ReplicateStandin, http: httpx.Client) -> None:
    standin.model("acme/slow", steps=10)
    pid = http.post(
        "/models/acme/slow/predictions", json={"input": {}}, headers={"Cancel-After": "1m"}
    ).json()["id"]
    assert poll(http, pid)["status"] == "processing"
    standin.tick(60)
    ended = standin.prediction(pid)
    assert (ended["status"], ended["output"]) == ("canceled", None)
    assert parse_duration("1h30m") == 5400 and parse_duration("500ms") == 0.5


def test_cancel_answers_the_canceled_prediction(standin: ReplicateStandin, http: httpx.Client) -> None:
    pid = create(http)["id"]
    poll(http, pid)
    answer = http.post(f"/predictions/{pid}/cancel")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["output"], body["error"]) == ("canceled", None, None)
    assert body["completed_at"] == "2026-01-01T00:00:01.000000Z"
    assert body["metrics"] == {"predict_time": 0.0, "total_time": 1.0}
    assert poll(http, pid)["status"] == "canceled"
    assert standin.cancels == 1
    # an ended prediction is answered as it is
    done = create(http)["id"]
    standin.finish_all()
    assert http.post(f"/predictions/{done}/cancel").json()["status"] == "succeeded"
    assert http.post("/predictions/nope/cancel").status_code == 404


# faults


def test_throttled_creates_answer_429_with_retry_after_and_make_nothing(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    standin.throttle_creates(2, retry_after=3)
    for _ in range(2):
        answer = http.post(f"/models/{MODEL}/predictions", json={"input": {}})
        assert answer.status_code == 429
        assert answer.headers["retry-after"] == "3"
        assert answer.json() == {"detail": "Request was throttled. Your rate limit resets in ~3s."}
    assert create(http)["status"] == "starting"
    assert (standin.create_attempts, standin.creates) == (3, 1)


def test_failed_creates_answer_5xx_and_make_nothing(standin: ReplicateStandin, http: httpx.Client) -> None:
    standin.fail_creates(1, 503)
    standin.fail_creates(1, 500)
    standin.fail_creates(1, 429, retry_after=2)
    gateway = http.post(f"/models/{MODEL}/predictions", json={"input": {}})
    assert (gateway.status_code, gateway.headers["content-type"]) == (503, "text/html")
    server = http.post(f"/models/{MODEL}/predictions", json={"input": {}})
    assert server.status_code == 500
    assert server.json() == {
        "title": "Internal Server Error",
        "detail": "An unexpected error occurred.",
        "status": 500,
    }
    throttled = http.post(f"/models/{MODEL}/predictions", json={"input": {}})
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "2")
    assert standin.creates == 0 and standin.predictions == {}


def test_a_lost_answer_still_made_the_prediction(standin: ReplicateStandin, http: httpx.Client) -> None:
    standin.lose_create_answers(1)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(f"/models/{MODEL}/predictions", json={"input": {"prompt": "once"}})
    assert standin.creates == 1
    (made,) = standin.created
    assert made.body == {"input": {"prompt": "once"}}
    assert standin.prediction(made.prediction_id)["status"] == "starting"
    create(http)  # the next create is answered
    assert standin.creates == 2


def test_failing_polls_answer_errors_and_move_nothing(standin: ReplicateStandin, http: httpx.Client) -> None:
    pid = create(http)["id"]
    standin.fail_polls(1, 503)
    standin.fail_polls(1, 429, retry_after=0)
    assert http.get(f"/predictions/{pid}").status_code == 503
    throttled = http.get(f"/predictions/{pid}")
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "0")
    assert standin.prediction(pid)["status"] == "starting"
    assert poll(http, pid)["status"] == "processing"
    assert standin.polls[pid] == 3


def test_predictions_can_fail_with_an_error_or_a_content_filter(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    standin.fail_next_predictions(1, "CUDA out of memory")
    standin.filter_next_predictions(1)
    broken, filtered, fine = create(http)["id"], create(http)["id"], create(http)["id"]
    standin.finish_all()
    assert (standin.prediction(broken)["status"], standin.prediction(broken)["error"]) == (
        "failed",
        "CUDA out of memory",
    )
    assert standin.prediction(filtered)["error"] == NSFW_ERROR
    assert standin.prediction(filtered)["output"] is None
    assert standin.prediction(fine)["status"] == "succeeded"
    late = create(http)["id"]
    standin.fail(late, "stopped")
    assert poll(http, late)["status"] == "failed"


def test_cut_downloads_declare_more_than_they_send_and_ranges_resume(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    pid = create(http)["id"]
    standin.finish_all()
    url = standin.prediction(pid)["output"]
    standin.cut_downloads(1)
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), PLAIN.stream("GET", url) as response:
        assert response.headers["content-length"] == str(len(VIDEO))
        for chunk in response.iter_raw():
            received += chunk
    assert 0 < len(received) < len(VIDEO)
    rest = PLAIN.get(url, headers={"Range": f"bytes={len(received)}-"})
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {len(received)}-{len(VIDEO) - 1}/{len(VIDEO)}"
    assert bytes(received) + rest.content == VIDEO
    assert standin.downloads == 2


def test_outputs_expire_after_an_hour_or_on_demand(standin: ReplicateStandin, http: httpx.Client) -> None:
    first, second = create(http)["id"], create(http)["id"]
    standin.finish_all()
    first_url, second_url = standin.prediction(first)["output"], standin.prediction(second)["output"]
    standin.expire_output(first)
    assert PLAIN.get(first_url).status_code == 404
    assert (poll(http, first)["output"], poll(http, first)["data_removed"]) == (None, True)
    assert PLAIN.get(second_url).status_code == 200
    standin.tick(3600)
    assert PLAIN.get(second_url).status_code == 404
    assert poll(http, second)["output"] is None


# files


def upload(http: httpx.Client, content: bytes, **extra: Any) -> httpx.Response:
    # as replicate-python's Files.create sends it: files={"content": (name, file, type)},
    # data={"metadata": json}
    return http.post("/files", files={"content": ("ref.png", io.BytesIO(content), "image/png")}, **extra)


def test_files_upload_answers_the_file_object(standin: ReplicateStandin, http: httpx.Client) -> None:
    image = png_bytes(8, 8)
    answer = upload(http, image, data={"metadata": json.dumps({"job": 7})})
    assert answer.status_code == 201
    body = answer.json()
    fid = body["id"]
    assert body == {
        "id": fid,
        "name": "ref.png",
        "content_type": "image/png",
        "size": len(image),
        "etag": hashlib.md5(image).hexdigest(),
        "checksums": {"sha256": hashlib.sha256(image).hexdigest(), "md5": hashlib.md5(image).hexdigest()},
        "metadata": {"job": 7},
        "created_at": "2026-01-01T00:00:00.000000Z",
        "expires_at": "2026-01-02T00:00:00.000000Z",
        "urls": {"get": f"{standin.url}/files/{fid}"},
    }
    assert standin.uploads == 1 and standin.files[fid].data == image
    assert standin.input_file(body["urls"]["get"]) == image
    # GET of urls.get needs the token and answers the file object, not the bytes
    assert PLAIN.get(body["urls"]["get"]).status_code == 401
    assert http.get(body["urls"]["get"]).json() == body
    assert http.get("/files").json() == {"next": None, "previous": None, "results": [body]}
    # the bytes come from a signed download URL, no token
    assert PLAIN.get(standin.download_url(fid)).content == image
    assert (
        PLAIN.get(f"{standin.url}/files/{fid}/download?expiry=1&owner=standin&signature=x").status_code == 403
    )
    assert http.delete(f"/files/{fid}").status_code == 204
    assert http.get(f"/files/{fid}").status_code == 404


def test_an_upload_without_content_is_refused(standin: ReplicateStandin, http: httpx.Client) -> None:
    answer = http.post("/files", files={"other": ("a.txt", b"a", "text/plain")})
    assert answer.status_code == 422
    assert answer.json()["invalid_fields"] == [
        {"type": "required", "field": "", "description": "content is required"}
    ]
    assert standin.uploads == 0


def test_data_uris_in_inputs_decode_or_fail_the_prediction(
    standin: ReplicateStandin, http: httpx.Client
) -> None:
    image = png_bytes(4, 4)
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    assert decode_data_uri(uri) == ("image/png", image)
    good = create(http, prompt="a", image=uri)
    assert standin.input_file(standin.created[-1].body["input"]["image"]) == image
    bad = create(http, prompt="a", image="data:image/png;base64,@@@")
    standin.finish_all()
    assert standin.prediction(good["id"])["status"] == "succeeded"
    failed = standin.prediction(bad["id"])
    assert failed["status"] == "failed" and failed["error"].startswith("input.image: bad base64")
    with pytest.raises(ValueError):
        decode_data_uri("https://example.com/a.png")


def test_tqdm_lines_look_like_tqdm() -> None:
    assert tqdm_line(9, 20, 4, 2.1) == " 45%|████▌     | 9/20 [00:04<00:05,  2.10it/s]"


# the official client


@pytest.fixture
def client(standin: ReplicateStandin) -> Any:
    replicate = pytest.importorskip("replicate", reason="the official `replicate` client is not installed")
    # the client joins base_url (https://api.replicate.com by default) with paths that start with /v1
    return replicate.Client(api_token=TOKEN, base_url=standin.root)


def test_the_official_client_creates_polls_cancels_and_uploads(
    standin: ReplicateStandin, client: Any
) -> None:
    prediction = client.predictions.create(
        model=MODEL, input={"prompt": "a fox", "image": io.BytesIO(b"ref")}
    )
    assert prediction.status == "starting"
    # the client uploaded the file input and passed its urls.get
    (uploaded,) = standin.files.values()
    assert uploaded.data == b"ref"
    assert standin.created[0].body["input"]["image"] == f"{standin.url}/files/{uploaded.id}"
    while prediction.status not in ("succeeded", "failed", "canceled"):
        prediction.reload()
    assert prediction.status == "succeeded"
    assert prediction.progress.percentage == 1.0
    assert prediction.output == f"{standin.root}/delivery/{prediction.id}/output.mp4"
    assert standin.polls[prediction.id] == 4

    running = client.predictions.create(model=MODEL, input={"prompt": "stop"})
    running.reload()
    running.cancel()
    assert running.status == "canceled"
    assert standin.cancels == 1

    file = client.files.create(io.BytesIO(b"clip"), filename="clip.mp4")
    assert (file.name, file.content_type, file.size) == ("clip.mp4", "video/mp4", 4)
    assert client.files.get(file.id).urls["get"] == f"{standin.url}/files/{file.id}"
    assert standin.uploads == 2


def test_the_official_client_retries_throttled_polls(standin: ReplicateStandin, client: Any) -> None:
    prediction = client.predictions.create(model=MODEL, input={})
    standin.fail_polls(2, 429, retry_after=0)
    prediction.reload()  # RetryTransport retries GETs on 429 after Retry-After
    assert prediction.status == "processing"
    assert standin.polls[prediction.id] == 3


def test_the_official_client_run_uses_prefer_wait(standin: ReplicateStandin, client: Any) -> None:
    output = client.run(MODEL, input={"prompt": "a fox"})
    (made,) = standin.created
    assert made.headers["prefer"] == "wait"
    # the client stops at a sync answer that is not `starting`; an http:// URL stays a string (the
    # client wraps https: URLs only)
    assert output == f"{standin.root}/delivery/{made.prediction_id}/output.mp4"
