"""The embedded server as a drop-in for the original Mimio API server, over real HTTP on loopback:
what a browser client needs (CORS, string error details), the `/v1` details an OpenAI client relies
on, the guards around it (Host check, API key) and fault specs that are checked before they are kept."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from mimio_core import cli
from mimio_core.config import ConfigError, load_settings
from mimio_core.local_server.app import create_app
from mimio_core.local_server.runner import RunningServer, serve_forever, start_in_thread
from mimio_core.local_server.service import LocalVideoService
from mimio_core.providers.base import JobRequest, ProviderRefused
from mimio_core.providers.mimio import MimioProvider
from tests.integration.test_server_openai_api import assert_openai_error, poll
from tests.media import png_bytes

IDLE = "[idle]"  # prompts containing this never render: for tests that need no finished video
SIZE = "1280x720"
PAGE = "http://localhost:3000"  # where the original web app runs in development


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_in_thread(tmp_path_factory.mktemp("dropin-server"), render_slots=2)
    yield running
    running.stop()


@pytest.fixture
def mimio(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/_admin/faults", json={"outcomes": [{"prompt_contains": IDLE, "outcome": "never"}]})
        yield client
        client.delete("/_admin/faults").raise_for_status()


def asgi_get(app: Any, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """One GET to an app built here (not served): for settings `start_in_thread` does not take."""

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return await client.get(url, headers=headers)

    return asyncio.run(get())


def assert_detail(answer: httpx.Response, status: int, detail: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json() == {"detail": detail}


def form(**fields: str) -> dict[str, str]:
    return {"prompt": f"a harbour at dawn {IDLE}", "model": "sora-2", "size": SIZE, "seconds": "4", **fields}


# --- browsers: CORS, and nothing started for a page that may not read the answer ------------------


def test_preflight_from_a_local_page_is_answered(mimio: httpx.Client) -> None:
    for path, headers in (
        ("/api/videos/create", "content-type"),
        ("/v1/videos", "authorization,content-type"),
    ):
        answer = mimio.options(
            path,
            headers={
                "Origin": PAGE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": headers,
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == PAGE
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert "authorization" in answer.headers["access-control-allow-headers"].lower()


def test_a_local_page_reads_the_answer_of_its_create(mimio: httpx.Client, server: RunningServer) -> None:
    answer = mimio.post("/api/videos/create", data=form(), headers={"Origin": "http://127.0.0.1:5173"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    assert answer.json()["video_id"] in server.service.job_ids()


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example", "null"])
def test_a_page_at_another_origin_is_refused_and_starts_nothing(
    mimio: httpx.Client, server: RunningServer, origin: str
) -> None:
    before = (server.service.job_ids(), server.service.requests["create"])
    preflight = mimio.options(
        "/api/videos/create", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    simple = mimio.post("/api/videos/create", data=form(), headers={"Origin": origin})
    openai = mimio.post("/v1/videos", data=form(), headers={"Origin": origin})
    message = (
        f"Requests from web pages at {origin} are not allowed. To let that page call this server, "
        "add its origin to MIMIO_CORS_ORIGINS (comma-separated)."
    )
    for answer in (preflight, simple):
        assert_detail(answer, 403, message)
    assert_openai_error(openai, 403, code="origin_not_allowed", message=message)
    for answer in (preflight, simple, openai):
        assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
    assert (server.service.job_ids(), server.service.requests["create"]) == before


def test_configured_origins_replace_the_local_ones(tmp_path: Path) -> None:
    settings = load_settings(environ={"MIMIO_CORS_ORIGINS": " https://App.example.com/ ,http://[::1]:8080"})
    assert settings.cors_origins == ("https://app.example.com", "http://[::1]:8080")
    service = LocalVideoService(tmp_path)
    try:
        app = create_app(service, cors_origins=settings.cors_origins)
        allowed = asgi_get(app, "http://127.0.0.1:8005/health", {"Origin": "https://app.example.com"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert asgi_get(app, "http://127.0.0.1:8005/health", {"Origin": PAGE}).status_code == 403
    finally:
        service.close()


@pytest.mark.parametrize(
    "value", ["app.example.com", "https://app.example.com/studio", "ftp://files.example"]
)
def test_an_origin_that_is_not_one_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError, match=rf"MIMIO_CORS_ORIGINS must list origins .* got '{value}'"):
        load_settings(environ={"MIMIO_CORS_ORIGINS": f"http://localhost:3000,{value}"})


# --- every Mimio 4xx carries a string detail --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "request_kwargs", "status", "detail"),
    [
        ("/api/videos/create", {"data": form(prompt="   ")}, 400, "prompt must not be empty"),
        ("/api/videos/create", {"data": {"seconds": "4"}}, 422, "Missing required parameter: 'prompt'."),
        (
            "/api/videos/create-variations",
            {"data": form(variations="4")},
            422,
            "Invalid value for 'variations': Input should be less than or equal to 3.",
        ),
        (
            "/api/videos/create-variations",
            {"data": form(variations="0")},
            422,
            "Invalid value for 'variations': Input should be greater than or equal to 1.",
        ),
        (
            "/api/videos/create-variations",
            {"data": form(variations="two")},
            422,
            "Invalid value for 'variations': Input should be a valid integer, unable to parse string as an "
            "integer.",
        ),
        (
            "/api/videos/create-batch",
            {"json": {"videos": [{"prompt": f"batched {n} {IDLE}"} for n in range(4)]}},
            422,
            "Invalid value for 'videos': at most 3 items, got 4.",
        ),
        (
            "/api/videos/create-batch",
            {"json": {"videos": []}},
            422,
            "Invalid value for 'videos': List should have at least 1 item after validation, not 0.",
        ),
        (
            "/api/videos/create-batch",
            {"json": {"videos": [{"prompt": 5}]}},
            422,
            "Invalid value for 'videos.0.prompt': Input should be a valid string.",
        ),
        (
            "/api/videos/create-batch",
            {"content": b'{"videos": [', "headers": {"Content-Type": "application/json"}},
            422,
            "The request body is not valid JSON: Expecting value.",
        ),
        (
            "/api/videos/create-batch",
            {"json": ["a prompt"]},
            422,
            "Invalid type for the request body: expected an object.",
        ),
    ],
)
def test_refused_mimio_requests_say_why_in_a_string_and_start_nothing(
    mimio: httpx.Client,
    server: RunningServer,
    path: str,
    request_kwargs: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    before = server.service.job_ids()
    assert_detail(mimio.post(path, **request_kwargs), status, detail)
    assert server.service.job_ids() == before


def test_status_routes_refuse_in_strings_too(mimio: httpx.Client) -> None:
    assert_detail(mimio.get("/api/videos/batch/status"), 422, "Missing required parameter: 'video_ids'.")
    ids = ",".join(f"video_{n:032x}" for n in range(11))
    assert_detail(
        mimio.get("/api/videos/batch/status", params={"video_ids": ids}),
        400,
        "at most 10 video ids per request",
    )
    assert_detail(mimio.get("/api/videos/nope/status"), 404, "video nope not found")
    assert_detail(mimio.put("/api/videos/nope"), 405, "Method Not Allowed")


def test_v1_validation_errors_are_openai_shaped(mimio: httpx.Client) -> None:
    error = assert_openai_error(
        mimio.get("/v1/videos", params={"order": "sideways"}), 400, param="order", code="invalid_value"
    )
    assert error["message"] == "Invalid value for 'order': Input should be 'asc' or 'desc'."
    error = assert_openai_error(mimio.get("/v1/videos", params={"limit": "many"}), 400, param="limit")
    assert error["message"].startswith("Invalid value for 'limit': Input should be a valid integer")


# --- /v1: prompt, one seed per job, input_reference, unsupported endpoints ---------------------------


@pytest.fixture
def v1(server: RunningServer, mimio: httpx.Client) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/v1", timeout=30) as client:
        yield client


def first_frame(v1: httpx.Client, video_id: str) -> np.ndarray:
    content = v1.get(f"/videos/{video_id}/content")
    assert content.status_code == 200, content.text
    with av.open(io.BytesIO(content.content)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.int16)


def test_two_videos_of_one_prompt_differ(v1: httpx.Client) -> None:
    fields = {"prompt": "a paper boat on a pond", "size": SIZE, "seconds": "4"}
    ids = [v1.post("/videos", data=fields).json()["id"] for _ in range(2)]
    for video_id in ids:
        video = poll(v1, video_id)
        assert (video["status"], video["prompt"]) == ("completed", "a paper boat on a pond")
    first, second = (first_frame(v1, video_id) for video_id in ids)
    assert np.abs(first - second).mean() > 5  # another scene, not the same video twice


def data_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def test_a_data_url_input_reference_is_the_first_frame(v1: httpx.Client) -> None:
    red = png_bytes(1280, 720, color=(220, 20, 20))
    created = v1.post(
        "/videos",
        json={
            "prompt": "the poster comes alive",
            "size": SIZE,
            "seconds": "4",
            "input_reference": {"image_url": data_url(red)},
        },
    )
    assert created.status_code == 200, created.text
    assert poll(v1, created.json()["id"])["status"] == "completed"
    frame = first_frame(v1, created.json()["id"])
    typical = np.median(frame.reshape(-1, 3), axis=0)  # most pixels: the caption covers a few
    assert np.abs(typical - (220, 20, 20)).max() < 8  # the image, not a scene


@pytest.mark.parametrize(
    ("reference", "code", "message"),
    [
        (
            {"image_url": "https://images.example/poster.png"},
            "unsupported_value",
            "'input_reference.image_url' must be a data: URL (data:image/png;base64,iVBORw0KGgo...): this "
            "server does not fetch images from other hosts. Send the image's bytes in a data: URL, or upload "
            "the file.",
        ),
        (
            {"file_id": "file_abc123"},
            "unsupported_value",
            "'input_reference.file_id' is not supported by this server, which keeps no files: send the image "
            "as a data: URL in 'input_reference.image_url', or upload it as a multipart file.",
        ),
        (
            {"image_url": "data:text/plain;base64,aGVsbG8="},
            "invalid_value",
            "'input_reference.image_url' must be a base64 image data: URL such as "
            "data:image/png;base64,iVBORw0KGgo....",
        ),
        (
            {"image_url": "data:image/png;base64,not base64!"},
            "invalid_value",
            "'input_reference.image_url' holds data that is not valid base64.",
        ),
        (
            {},
            "missing_required_parameter",
            "Missing required parameter: 'input_reference.image_url' (a data: URL such as "
            "data:image/png;base64,iVBORw0KGgo...).",
        ),
        (
            {"image_url": "data:image/png;base64,AAAA", "detail": "high"},
            "unknown_parameter",
            "Unknown parameter: 'input_reference.detail'.",
        ),
        (
            "https://images.example/poster.png",
            "invalid_type",
            "Invalid type for 'input_reference': expected an object such as {\"image_url\": "
            '"data:image/png;base64,iVBORw0KGgo..."}, but got a string instead.',
        ),
    ],
)
def test_an_input_reference_the_server_cannot_use_is_refused(
    mimio: httpx.Client, server: RunningServer, reference: object, code: str, message: str
) -> None:
    before = server.service.job_ids()
    body = {"prompt": f"the poster comes alive {IDLE}", "size": SIZE, "input_reference": reference}
    answer = mimio.post("/v1/videos", json=body)
    assert_openai_error(answer, 400, param="input_reference", code=code, message=message)
    assert server.service.job_ids() == before


def test_a_data_url_image_of_another_size_is_refused(mimio: httpx.Client, server: RunningServer) -> None:
    before = server.service.job_ids()
    body = {
        "prompt": f"the poster comes alive {IDLE}",
        "size": SIZE,
        "input_reference": {"image_url": data_url(png_bytes(640, 480))},
    }
    error = assert_openai_error(mimio.post("/v1/videos", json=body), 400, param="input_reference")
    assert "must be 1280x720 pixels, got 640x480" in error["message"]
    assert server.service.job_ids() == before


@pytest.mark.parametrize(
    ("method", "path", "route", "what"),
    [
        ("POST", "/v1/videos/video_123/remix", "/v1/videos/{video_id}/remix", "remixing a video"),
        ("POST", "/v1/videos/edits", "/v1/videos/edits", "editing a video"),
        ("POST", "/v1/videos/extensions", "/v1/videos/extensions", "extending a video"),
        ("POST", "/v1/videos/characters", "/v1/videos/characters", "creating a character"),
        (
            "GET",
            "/v1/videos/characters/char_1",
            "/v1/videos/characters/{character_id}",
            "fetching a character",
        ),
    ],
)
def test_openai_endpoints_it_does_not_implement_are_refused_by_name(
    mimio: httpx.Client, server: RunningServer, method: str, path: str, route: str, what: str
) -> None:
    before = server.service.job_ids()
    answer = mimio.request(method, path, json={"prompt": "again, but at night", "video": {"id": "video_123"}})
    assert_openai_error(
        answer,
        400,
        type="invalid_request_error",
        code="unsupported_endpoint",
        message=f"{method} {route} ({what}) is not supported by this server, which only makes new videos "
        "from a prompt and an optional first frame: create one with POST /v1/videos instead.",
    )
    assert server.service.job_ids() == before


# --- security: Host check on loopback, the API key ----------------------------------------------------


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8005", "127.0.0.2", "0.0.0.0:8005"])
def test_a_request_naming_another_host_is_refused_on_loopback(
    mimio: httpx.Client, server: RunningServer, host: str
) -> None:
    before = (server.service.job_ids(), server.service.faults.outcomes[:])
    message = (
        f"This server answers requests addressed to localhost, 127.0.0.1 or [::1] only, not to {host!r}: "
        "call it as http://127.0.0.1:<port>. (Other names are refused so that a web page cannot reach it "
        "through DNS rebinding.)"
    )
    rebound = {"Host": host}
    assert_detail(mimio.get("/_admin/stats", headers=rebound), 400, message)
    assert_detail(mimio.post("/_admin/faults", json={"drop_downloads": 1}, headers=rebound), 400, message)
    assert_detail(mimio.post("/api/videos/create", data=form(), headers=rebound), 400, message)
    assert_openai_error(mimio.get("/v1/videos", headers=rebound), 400, code="invalid_host", message=message)
    assert (server.service.job_ids(), server.service.faults.outcomes) == before
    assert server.service.faults.downloads["drop_downloads"] == 0


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8005", "127.0.0.1", "127.0.0.1:80", "[::1]:8005"])
def test_loopback_names_pass_the_host_check(mimio: httpx.Client, host: str) -> None:
    assert mimio.get("/health", headers={"Host": host}).status_code == 200


def test_off_loopback_any_host_name_is_served(tmp_path: Path) -> None:
    service = LocalVideoService(tmp_path)
    try:
        app = create_app(service, loopback=False, api_key="sk-lan")
        assert asgi_get(app, "http://videos.lan:8005/health").status_code == 200
        key = {"Authorization": "Bearer sk-lan"}
        assert (
            asgi_get(app, "http://videos.lan:8005/_admin/stats", key).status_code == 404
        )  # none off loopback
    finally:
        service.close()


def test_the_api_key_guards_the_mimio_routes_too(tmp_path: Path) -> None:
    keyed = start_in_thread(tmp_path / "keyed", api_key="sk-local-test")
    try:
        with httpx.Client(base_url=keyed.url, timeout=30) as client:
            refused = client.post("/api/videos/create", data=form())
            assert_detail(
                refused,
                401,
                "You didn't provide an API key. Send it in the header 'Authorization: Bearer <key>'.",
            )
            assert refused.headers["www-authenticate"] == "Bearer"
            wrong = client.post("/api/videos/create", data=form(), headers={"Authorization": "Bearer sk-no"})
            assert_detail(wrong, 401, "Incorrect API key provided.")
            assert keyed.service.job_ids() == []
            # a browser asks before it sends the key: the preflight needs none
            preflight = client.options(
                "/api/videos/create",
                headers={
                    "Origin": PAGE,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert preflight.status_code == 200
            assert client.get("/health").status_code == 200
            good = {"Authorization": "Bearer sk-local-test", "Origin": PAGE}
            created = client.post("/api/videos/create", data=form(), headers=good)
            assert created.status_code == 200, created.text
            assert created.headers["access-control-allow-origin"] == PAGE
            assert keyed.service.job_ids() == [created.json()["video_id"]]
    finally:
        keyed.stop()


def test_serve_local_beyond_loopback_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    work = tmp_path / "served"
    with pytest.raises(ConfigError) as refused:
        serve_forever(work, host="0.0.0.0", port=0, latency=0, render_slots=1, models={})
    assert str(refused.value) == (
        "serve-local would listen on 0.0.0.0, reachable from other machines, without an API key. Set "
        "MIMIO_LOCAL_API_KEY (clients then send 'Authorization: Bearer <key>'), or listen on loopback alone "
        "with --host 127.0.0.1."
    )
    assert not work.exists()  # refused before anything was made


def test_the_cli_explains_the_missing_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIMIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MIMIO_LOCAL_API_KEY", raising=False)
    assert cli.main(["serve-local", "--host", "0.0.0.0", "--port", "0"]) == cli.EXIT_BAD_INPUT
    printed = " ".join(capsys.readouterr().err.split())
    assert "Configuration error: serve-local would listen on 0.0.0.0" in printed
    assert "Set MIMIO_LOCAL_API_KEY" in printed
    assert not (tmp_path / "data" / "local-server").exists()


# --- fault specs are checked before they are kept -------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "detail"),
    [
        (
            {"http": [{"endpoint": "status", "status": "500"}]},
            "Invalid value for 'http.0.status': Input should be a valid integer.",
        ),
        (
            {"http": [{"endpoint": "status", "status": 200}]},
            "Invalid value for 'http.0.status': Input should be greater than or equal to 400.",
        ),
        (
            {"http": [{"endpoint": "upload", "status": 500}]},
            "Invalid value for 'http.0.endpoint': Input should be 'create', 'create-variations', "
            "'create-batch', 'status', 'batch-status', 'download', 'delete', 'health' or 'list'.",
        ),
        (
            {"http": [{"endpoint": "status", "status": 429, "retry_after": "soon"}]},
            "Invalid value for 'http.0.retry_after': Input should be a valid number.",
        ),
        (
            {"http": [{"endpoint": "status", "status": 500, "times": 0}]},
            "Invalid value for 'http.0.times': Input should be greater than or equal to 1.",
        ),
        (
            {"http": {"endpoint": "status", "status": 500}},
            "Invalid value for 'http': Input should be a valid list.",
        ),
        (
            {"outcomes": [{"prompt_contains": 5, "outcome": "error"}]},
            "Invalid value for 'outcomes.0.prompt_contains': Input should be a valid string.",
        ),
        (
            {"outcomes": [{"prompt_contains": "x", "outcome": "explode"}]},
            "Invalid value for 'outcomes.0.outcome': Input should be 'failed', 'error', 'never', 'refuse' or "
            "'weird'.",
        ),
        (
            {"outcomes": [{"prompt_contains": "x", "outcome": "error", "message": 7}]},
            "Invalid value for 'outcomes.0.message': Input should be a valid string.",
        ),
        (
            {"outcomes": [{"prompt_contains": "x", "outcome": "error", "cdoe": "typo"}]},
            "Unknown parameter: 'outcomes.0.cdoe'.",
        ),
        ({"drop_downloads": "2"}, "Invalid value for 'drop_downloads': Input should be a valid integer."),
        (
            {"drop_downloads": -1},
            "Invalid value for 'drop_downloads': Input should be greater than or equal to 0.",
        ),
        ({"garble_downloads": 1.5}, "Invalid value for 'garble_downloads': Input should be a valid integer."),
        ({"drop_download": 1}, "Unknown parameter: 'drop_download'."),
        ([{"endpoint": "status"}], "Invalid type for the request body: expected an object."),
        (
            # a valid part is not kept either: the spec is taken whole or not at all
            {"http": [{"endpoint": "status", "status": 503}], "outcomes": [{"outcome": "never"}]},
            "Missing required parameter: 'outcomes.0.prompt_contains'.",
        ),
    ],
)
def test_a_malformed_fault_spec_is_refused_and_nothing_is_stored(
    mimio: httpx.Client, server: RunningServer, spec: object, detail: str
) -> None:
    faults = server.service.faults
    before = (list(faults.http), list(faults.outcomes), +faults.downloads)
    assert_detail(mimio.post("/_admin/faults", json=spec), 400, f"Nothing was stored. {detail}")
    assert (faults.http, faults.outcomes, +faults.downloads) == before
    video = mimio.post("/api/videos/create", data=form())  # every endpoint still works
    assert video.status_code == 200, video.text
    assert mimio.get(f"/api/videos/{video.json()['video_id']}/status").status_code == 200


def test_a_fault_spec_that_is_not_json_is_refused(mimio: httpx.Client) -> None:
    answer = mimio.post("/_admin/faults", content=b"{http: []}", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("The fault spec is not valid JSON: ")


def test_an_empty_prompt_contains_matches_every_prompt(mimio: httpx.Client, server: RunningServer) -> None:
    assert mimio.post(
        "/_admin/faults", json={"outcomes": [{"prompt_contains": "", "outcome": "refuse"}]}
    ).is_success
    before = server.service.job_ids()
    refused = mimio.post("/api/videos/create", data=form(prompt="any prompt at all"))
    assert_detail(refused, 400, "the provider could not generate this video")
    assert server.service.job_ids() == before


def test_the_app_reaches_a_keyed_server_with_mimio_api_key(tmp_path: Path) -> None:
    """MIMIO_API_URL + MIMIO_API_KEY: the engine's Mimio adapter sends the key; without it the server
    refuses the create and nothing is made."""
    keyed = start_in_thread(tmp_path / "keyed", api_key="sk-local-test")
    try:
        environ = {"MIMIO_API_URL": keyed.url, "MIMIO_API_KEY": "sk-local-test", "MIMIO_LOCAL": "off"}
        configured = load_settings(environ=environ)
        assert configured.api_key == "sk-local-test" and "sk-local-test" not in repr(configured)
        request = JobRequest(prompt="keyed", model="sora-2", size="720x1280", seconds=4)
        keyed_provider, plain = MimioProvider(keyed.url, api_key=configured.api_key), MimioProvider(keyed.url)
        try:
            job = keyed_provider.create(request)
            assert keyed.service.job_ids() == [job]
            with pytest.raises(ProviderRefused, match="API key"):
                plain.create(request)
            assert keyed.service.job_ids() == [job]
        finally:
            keyed_provider.close()
            plain.close()
    finally:
        keyed.stop()
