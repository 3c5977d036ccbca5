"""The exact HTTP the Supabase store and file storage send, seen by a recording httpx.MockTransport
handler (no database): endpoints, keys and JWTs, bodies, streamed uploads, signed URLs, and how
failures come back as exceptions a person can read."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from python_multipart.multipart import MultipartParser, parse_options_header

from mimio_core.domain import ACTIVE_STATES, FailureKind, VideoStatus
from mimio_core.store.base import NewVideo, ProjectError, VideoFilter, video_key
from mimio_core.store.supabase import (
    SupabaseError,
    SupabaseStore,
    search_condition,
    supabase_client,
)
from mimio_core.store.supabase_files import SupabaseFileStorage
from tests.supabase.conftest import ANON_KEY, SERVICE_KEY, URL, USER_A, user_client
from tests.supabase.tokens import jwt_claims, mint_jwt
from tests.supabase.transport import Seen, StreamingMockTransport

Q, F, X = VideoStatus.QUEUED, VideoStatus.FAILED, VideoStatus.CANCELLED
A = str(USER_A)
VIDEO = "11111111-1111-4111-8111-111111111111"
MB = 1 << 20


class Recorder:
    """Answers every request with `answer(request)` (default: an empty JSON list) and keeps `Seen`s."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.answer: Callable[[httpx.Request], httpx.Response] = lambda request: httpx.Response(200, json=[])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(Seen.of(request))
        return self.answer(request)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def http(recorder: Recorder) -> Iterator[httpx.Client]:
    with httpx.Client(transport=StreamingMockTransport(recorder), timeout=httpx.Timeout(5)) as client:
        yield client


@pytest.fixture
def service(http: httpx.Client) -> SupabaseStore:
    return SupabaseStore(supabase_client(URL, SERVICE_KEY, http, retry=False))


@pytest.fixture
def alice(http: httpx.Client) -> SupabaseStore:
    return SupabaseStore(user_client(http, USER_A))


def video_row(**changes: object) -> dict[str, object]:
    row = {
        "id": VIDEO,
        "user_id": A,
        "project_id": None,
        "title": "Fox",
        "prompt": "a fox",
        "model": "sora-2",
        "size": "1280x720",
        "duration_seconds": 4,
        "status": "queued",
        "progress": 0,
        "external_video_id": None,
        "error": None,
        "storage_path": None,
        "thumbnail_path": None,
        "reference_path": None,
        "batch_id": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "created_at": "2026-11-24T06:00:00.123456+00:00",
        "updated_at": "2026-11-24T07:00:00+01:00",
        "started_at": None,
        "create_started_at": None,
        "completed_at": None,
        "status_note": None,
        "failure_kind": None,
        "requested_action": None,
        "requested_at": None,
        "reference_type": None,
        "paused_at": None,
        "priority": 0,
        "queue_order": 1795586400.123456,
        "not_before": None,
    }
    return {**row, **changes}


def new_video(user_id: str = A, **changes: object) -> NewVideo:
    values: dict = {"id": VIDEO, "user_id": user_id, "title": "Fox", "prompt": "a fox"}
    return NewVideo(**{**values, "model": "sora-2", "size": "1280x720", "seconds": 4, **changes})


# --- PostgREST -------------------------------------------------------------------------------------


def test_table_calls_carry_the_anon_key_and_the_users_jwt(alice, recorder):
    alice.list_videos(
        A, VideoFilter(states=ACTIVE_STATES, model="sora-2", search="a,b)"), limit=20, offset=40
    )
    [seen] = recorder.seen
    assert (seen.method, seen.path) == ("GET", "/rest/v1/videos")
    assert seen.params == [
        ("select", "*"),
        ("user_id", f"eq.{A}"),
        ("requested_action", "isdistinct.delete"),  # being deleted: out of the lists at once
        ("status", "in.(claimed,creating,generating,transferring)"),
        ("model", "eq.sora-2"),
        ("or", f"({search_condition('a,b)')})"),
        ("order", "created_at.desc,id.desc"),
        ("offset", "40"),
        ("limit", "20"),
    ]
    assert seen.headers["apikey"] == ANON_KEY
    claims = jwt_claims(seen.headers["authorization"].removeprefix("Bearer "))
    assert (claims["role"], claims["sub"]) == ("authenticated", A)


def test_timestamps_become_aware_utc_datetimes(service, recorder):
    recorder.answer = lambda request: httpx.Response(200, json=[video_row()])
    found = service.get_video(VIDEO)
    assert found.created_at.isoformat() == "2026-11-24T06:00:00.123456+00:00"
    assert found.updated_at.isoformat() == "2026-11-24T06:00:00+00:00"  # +01:00 converted to UTC
    assert recorder.seen[0].params == [("select", "*"), ("id", f"in.({VIDEO})")]


def test_counting_is_a_head_request_with_an_exact_count(alice, recorder):
    recorder.answer = lambda request: httpx.Response(200, headers={"Content-Range": "*/42"})
    assert alice.count_videos(A, VideoFilter(search="%_")) == 42
    [seen] = recorder.seen
    assert (seen.method, seen.headers["prefer"]) == ("HEAD", "count=exact")
    assert ("select", "id") in seen.params


def test_a_change_of_state_is_a_conditional_patch_returning_the_row(service, recorder):
    lost_race = service.failed(VIDEO, "engine-1", FailureKind.TIMED_OUT, "timed out")
    assert lost_race is None  # [] = another engine, a cancel or a delete got there first
    [seen] = recorder.seen
    assert (seen.method, seen.path, seen.headers["prefer"]) == (
        "PATCH",
        "/rest/v1/videos",
        "return=representation",
    )
    assert seen.params == [
        ("id", f"eq.{VIDEO}"),
        ("status", "in.(claimed,creating,generating,transferring)"),
        ("lease_owner", "eq.engine-1"),
    ]
    assert json.loads(seen.body) == {
        "error": "timed out",
        "failure_kind": "timed_out",
        "status": "failed",
        "status_note": None,  # every change of status clears the provider's note
        "paused_at": None,  # and ends a pause
        "lease_owner": None,
        "lease_expires_at": None,
    }
    recorder.answer = lambda request: httpx.Response(200, json=[video_row(status="cancelled")])
    assert service.cancelled(VIDEO, "Cancelled.").status is X
    assert recorder.seen[-1].params == [
        ("id", f"eq.{VIDEO}"),
        ("status", "in.(claimed,creating,generating,queued,transferring)"),
    ]


def test_a_recovered_video_gets_a_real_timestamp(service, recorder):
    """PostgreSQL refuses a number where a timestamp goes (it once got `time.time()`)."""
    service.recover(VIDEO)
    [seen] = recorder.seen
    body = json.loads(seen.body)
    assert (body["status"], body["error"], body["failure_kind"]) == ("generating", None, None)
    started = datetime.fromisoformat(body["started_at"])
    assert started.tzinfo is not None and abs((datetime.now(UTC) - started).total_seconds()) < 60
    assert seen.params == [("id", f"eq.{VIDEO}"), ("status", "in.(failed)")]


def test_the_engines_atomic_steps_are_function_calls(service, recorder):
    service.claim("engine-1", capacity=3, lease_seconds=30)
    service.heartbeat("engine-1", lease_seconds=30)
    recorder.answer = lambda request: httpx.Response(200, json=True)
    assert service.progress(VIDEO, "engine-1", 40) is True
    calls = [(seen.method, seen.path, json.loads(seen.body)) for seen in recorder.seen]
    assert calls == [
        (
            "POST",
            "/rest/v1/rpc/claim_queued_videos",
            {
                "p_owner": "engine-1",
                "p_capacity": 3,
                "p_lease_seconds": 30,
                "p_models": None,
                "p_exclude": False,
            },
        ),
        ("POST", "/rest/v1/rpc/hold_video_leases", {"p_owner": "engine-1", "p_lease_seconds": 30}),
        (
            "POST",
            "/rest/v1/rpc/record_video_progress",
            {
                "p_id": VIDEO,
                "p_owner": "engine-1",
                "p_progress": 40,
                "p_external_video_id": None,
                "p_note": None,
            },
        ),
    ]


def test_only_the_service_role_names_the_owner_of_new_rows(service, alice, recorder):
    recorder.answer = lambda request: httpx.Response(201, json=[video_row()])
    service.insert_videos([new_video()])
    alice.insert_videos([new_video()])
    as_service, as_alice = (json.loads(seen.body) for seen in recorder.seen)
    assert as_service[0]["user_id"] == A and "user_id" not in as_alice[0]
    assert recorder.seen[0].headers["authorization"] == f"Bearer {SERVICE_KEY}"


def api_error(status: int, code: str, message: str, details: str | None = None) -> Callable:
    body = {"code": code, "message": message, "details": details, "hint": None}
    return lambda request: httpx.Response(status, json=body)


def test_a_taken_project_name_is_a_project_error(alice, recorder):
    recorder.answer = api_error(
        409, "23505", 'duplicate key value violates unique constraint "projects_user_id_name_key"'
    )
    with pytest.raises(ProjectError, match=r"^You already have a project named 'Ads'\.$"):
        alice.create_project(A, "  Ads ")
    with pytest.raises(ProjectError, match=r"^You already have a project named 'Ads'\.$"):
        alice.rename_project(A, VIDEO, "Ads")


def test_a_missing_project_on_insert_is_a_project_error_naming_it(alice, recorder):
    project = "33333333-3333-4333-8333-333333333333"
    recorder.answer = api_error(
        409,
        "23503",
        'insert or update on table "videos" violates foreign key constraint "videos_project_id_user_id_fkey"',
        f'Key (project_id, user_id)=({project}, {A}) is not present in table "projects".',
    )
    with pytest.raises(
        ProjectError, match=rf"^Project {project} does not exist \(it may have been deleted\)\.$"
    ):
        alice.insert_videos([new_video(), new_video(id=str(uuid.uuid4()), project_id=project)])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (api_error(500, "XX000", "boom"), r"^Could not list videos: boom \[XX000\]$"),
        (
            api_error(403, "42501", "permission denied for table videos"),
            r"^Could not list videos: permission denied for table videos \[42501\]$",
        ),
        (
            lambda request: httpx.Response(502, text="<html>Bad gateway</html>"),
            r"^Could not list videos: Bad Gateway \(<html>Bad gateway</html>\) \[502\]$",
        ),
        (
            lambda request: (_ for _ in ()).throw(httpx.ConnectError("connection refused")),
            r"^Could not list videos: Supabase did not answer \(ConnectError: connection refused\)$",
        ),
    ],
)
def test_other_failures_say_what_failed_and_why(alice, recorder, answer, expected):
    recorder.answer = answer
    with pytest.raises(SupabaseError, match=expected):
        alice.list_videos(A)


def test_a_foreign_key_failure_that_is_not_about_projects_is_not_called_one(service, recorder):
    recorder.answer = api_error(
        409, "23503", "violates foreign key", 'Key (user_id)=(x) is not present in table "users".'
    )
    with pytest.raises(SupabaseError, match=r"^Could not record the videos: violates foreign key .*users"):
        service.insert_videos([new_video()])


# --- Storage ---------------------------------------------------------------------------------------


def storage_answer(received: dict[str, object]) -> Callable[[httpx.Request], httpx.Response]:
    """Uploads: parse the multipart stream a chunk at a time, count the file's bytes, keep nothing."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.startswith("/storage/v1/object/sign/"):
            name = request.url.path.removeprefix("/storage/v1/object/sign/")
            return httpx.Response(200, json={"signedURL": f"/object/sign/{name}?token=t0k3n"})
        if request.method == "GET" and request.url.path.startswith("/storage/v1/object/sign/"):
            chunks = (bytes([n]) * MB for n in range(3))
            return httpx.Response(200, headers={"content-type": "video/mp4"}, content=chunks)
        _, options = parse_options_header(request.headers["content-type"])
        part: dict[str, object] = {"size": 0, "headers": {}}
        field: list[bytes] = [b""]

        def on_header_field(data: bytes, start: int, end: int) -> None:
            field[0] += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            part["headers"][field[0].decode().lower()] = data[start:end].decode()  # type: ignore[index]
            field[0] = b""

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if "filename=" in part["headers"].get("content-disposition", ""):  # type: ignore[attr-defined]
                part["size"] += end - start  # type: ignore[operator]

        def on_part_begin() -> None:
            part["headers"] = {}

        def on_part_end() -> None:
            if "filename=" in part["headers"].get("content-disposition", ""):  # type: ignore[attr-defined]
                received.update(file_headers=part["headers"], size=part["size"])

        parser = MultipartParser(
            options[b"boundary"],
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )
        received["stream_type"] = type(request.stream).__name__
        for chunk in request.stream:  # type: ignore[union-attr]
            parser.write(chunk)
        parser.finalize()
        return httpx.Response(200, json={"Key": f"videos/{request.url.path.split('/videos/', 1)[1]}"})

    return answer


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.mp4"
    with path.open("wb") as out:
        for _ in range(50):
            out.write(os.urandom(MB))
    return path


def test_put_file_streams_a_50_mb_video_from_its_path_with_flat_memory(http, recorder, big_file):
    files = SupabaseFileStorage(user_client(http, USER_A))
    received: dict[str, object] = {}
    recorder.answer = storage_answer(received)
    key = video_key(A, VIDEO)
    tracemalloc.start()
    try:
        files.put_file(key, big_file, "video/mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MB while uploading 50 MB"
    [seen] = recorder.seen
    assert (seen.method, seen.path) == ("POST", f"/storage/v1/object/videos/{key}")
    assert seen.streamed and received["stream_type"] == "MultipartStream"  # never one bytes object
    assert int(seen.headers["content-length"]) > 50 * MB  # sized from the file, not buffered
    assert seen.headers["x-upsert"] == "true"  # the string: storage3 raises on a bool
    assert seen.headers["apikey"] == ANON_KEY
    assert jwt_claims(seen.headers["authorization"].removeprefix("Bearer "))["sub"] == A
    assert received["size"] == 50 * MB
    assert received["file_headers"]["content-type"] == "video/mp4"  # type: ignore[index]


def test_put_bytes_sends_its_content_type_and_upserts(http, recorder):
    files = SupabaseFileStorage(user_client(http, USER_A))
    received: dict[str, object] = {}
    recorder.answer = storage_answer(received)
    files.put_bytes(f"{A}/{VIDEO}.jpg", b"\xff\xd8jpeg", "image/jpeg")
    assert recorder.seen[0].headers["x-upsert"] == "true"
    assert received["file_headers"]["content-type"] == "image/jpeg"  # type: ignore[index]
    assert received["size"] == 6


def test_media_source_is_a_signed_url_with_the_configured_lifetime(http, recorder):
    files = SupabaseFileStorage(user_client(http, USER_A), signed_url_seconds=900)
    recorder.answer = storage_answer({})
    key = video_key(A, VIDEO)
    url = files.media_source(key)
    assert url == f"{URL}/storage/v1/object/sign/videos/{key}?token=t0k3n"
    [seen] = recorder.seen
    assert (seen.method, seen.path, json.loads(seen.body)) == (
        "POST",
        f"/storage/v1/object/sign/videos/{key}",
        {"expiresIn": "900"},
    )
    assert seen.headers["authorization"] != f"Bearer {ANON_KEY}"  # signed as the user


def test_a_signed_url_is_handed_out_again_until_half_its_life_is_gone(http, recorder, monkeypatch):
    """A player whose URL changed on each rerun would reload mid-play: the same URL comes back while
    it has more than half its lifetime left, then a new one is signed; a deleted file's is dropped."""
    clock = [1000.0]
    monkeypatch.setattr("mimio_core.store.supabase_files.time.monotonic", lambda: clock[0])
    files = SupabaseFileStorage(user_client(http, USER_A), signed_url_seconds=900)
    recorder.answer = storage_answer({})
    key = video_key(A, VIDEO)
    first = files.media_source(key)
    clock[0] += 449
    assert files.media_source(key) == first
    assert [seen.path for seen in recorder.seen] == [f"/storage/v1/object/sign/videos/{key}"]
    clock[0] += 2  # less than half of 900 s left
    files.media_source(key)
    assert len(recorder.seen) == 2
    recorder.answer = lambda request: httpx.Response(200, json=[])
    files.delete(key)
    recorder.answer = storage_answer({})
    files.media_source(key)
    assert [seen.method for seen in recorder.seen] == ["POST", "POST", "DELETE", "POST"]


def test_open_chunks_streams_through_a_signed_url_never_download(http, recorder):
    files = SupabaseFileStorage(user_client(http, USER_A))
    recorder.answer = storage_answer({})
    chunks = files.open_chunks(video_key(A, VIDEO), chunk_size=MB)
    assert next(chunks) == b"\x00" * MB  # the first chunk before the rest is read
    assert [len(chunk) for chunk in chunks] == [MB, MB]
    sign, fetch = recorder.seen
    assert (sign.method, json.loads(sign.body)) == ("POST", {"expiresIn": "60"})
    assert (fetch.method, fetch.path, dict(fetch.params)) == (
        "GET",
        f"/storage/v1/object/sign/videos/{video_key(A, VIDEO)}",
        {"token": "t0k3n"},
    )
    assert "authorization" not in fetch.headers  # the token in the URL is the credential


@pytest.mark.parametrize(
    ("status", "body", "raised", "message"),
    [
        (
            404,
            {"statusCode": "404", "error": "not_found", "message": "Object not found"},
            FileNotFoundError,
            "No stored",
        ),
        (
            403,
            {
                "statusCode": "403",
                "error": "Unauthorized",
                "message": "new row violates row-level security policy",
            },
            SupabaseError,
            r"^Could not sign a URL for '.*': new row violates row-level security policy \[403\]$",
        ),
    ],
)
def test_storage_failures_are_clear(http, recorder, status, body, raised, message):
    files = SupabaseFileStorage(user_client(http, USER_A))
    recorder.answer = lambda request: httpx.Response(status, json=body)
    with pytest.raises(raised, match=message):
        files.media_source(video_key(A, VIDEO))


# --- the client factory ----------------------------------------------------------------------------


def test_clients_share_the_http_client_but_never_their_options(http):
    first, second = (supabase_client(URL, ANON_KEY, http, retry=False) for _ in range(2))
    assert first.options is not second.options and first.options.storage is not second.options.storage
    assert first.postgrest.session is http and first.storage._client is http
    assert first.options.auto_refresh_token is False and first.postgrest.retry_enabled is False
    assert supabase_client(URL, ANON_KEY, http).postgrest.retry_enabled is True


def test_inserts_ignore_ids_already_recorded(service, recorder):
    recorder.answer = lambda request: httpx.Response(201, json=[])  # nothing new: both ids known
    service.insert_videos([new_video(), new_video(id="22222222-2222-4222-8222-222222222222")])
    insert, lookup = recorder.seen
    assert (insert.method, insert.headers["prefer"]) == (
        "POST",
        "return=representation,resolution=ignore-duplicates",
    )
    assert ("on_conflict", "id") in insert.params
    assert (lookup.method, lookup.params[-1]) == (
        "GET",
        ("id", f"in.({VIDEO},22222222-2222-4222-8222-222222222222)"),
    )


def test_after_sign_in_table_and_storage_calls_carry_the_users_jwt(http, recorder):
    """The store knows it acts for a user from the bearer token of table calls, which supabase-py
    swaps on sign-in and sign-out: checked here with an answered password grant."""
    token = mint_jwt("authenticated", sub=A, aud="authenticated")
    session = {
        "access_token": token,
        "refresh_token": "refresh",
        "expires_in": 3600,
        "expires_at": int(time.time()) + 3600,
        "token_type": "bearer",
        "user": {
            "id": A,
            "aud": "authenticated",
            "app_metadata": {},
            "user_metadata": {},
            "created_at": "2026-01-01T00:00:00Z",
        },
    }
    recorder.answer = lambda request: httpx.Response(
        200, json=session if request.url.path == "/auth/v1/token" else [video_row()]
    )
    client = supabase_client(URL, ANON_KEY, http, retry=False)
    store, files = SupabaseStore(client), SupabaseFileStorage(client)
    client.auth.sign_in_with_password({"email": "a@example.com", "password": "secret"})
    store.insert_videos([new_video()])
    files.delete(video_key(A, VIDEO))
    client.auth.sign_out({"scope": "local"})
    sign_in, insert, remove, sign_out = recorder.seen
    assert sign_in.path == "/auth/v1/token" and dict(sign_in.params) == {"grant_type": "password"}
    assert insert.headers["authorization"] == remove.headers["authorization"] == f"Bearer {token}"
    assert "user_id" not in json.loads(insert.body)[0]
    assert (sign_out.path, dict(sign_out.params)) == ("/auth/v1/logout", {"scope": "local"})
    assert client.postgrest.headers["authorization"] == f"Bearer {ANON_KEY}"


@pytest.mark.parametrize(
    ("status", "body", "raised", "message"),
    [
        (
            400,
            {"statusCode": "404", "error": "not_found", "message": "Object not found"},
            FileNotFoundError,
            "No stored",
        ),
        (
            400,
            {"statusCode": "400", "error": "InvalidJWT", "message": "jwt expired"},
            SupabaseError,
            r"^Could not read '.*': jwt expired \[400\]$",
        ),
    ],
)
def test_a_signed_url_that_fails_while_reading(http, recorder, status, body, raised, message):
    files = SupabaseFileStorage(user_client(http, USER_A))
    signing = storage_answer({})
    recorder.answer = lambda request: (
        httpx.Response(status, json=body) if request.method == "GET" else signing(request)
    )
    with pytest.raises(raised, match=message):
        files.read_bytes(video_key(A, VIDEO))


def test_a_page_of_sources_is_signed_in_one_request_and_then_reused(http, recorder):
    files = SupabaseFileStorage(user_client(http, USER_A), signed_url_seconds=900)
    keys = [video_key(A, f"{n:08d}-0000-4000-8000-000000000000") for n in range(3)]
    recorder.answer = lambda request: httpx.Response(
        200,
        json=[
            {"error": None, "path": keys[0], "signedURL": f"/object/sign/videos/{keys[0]}?token=a"},
            {"error": "Either the object does not exist", "path": keys[1], "signedURL": None},
            {"error": None, "path": keys[2], "signedURL": f"/object/sign/videos/{keys[2]}?token=c"},
        ],
    )
    files.prefetch_media_sources([keys[0], keys[1], keys[2], keys[0]])
    [seen] = recorder.seen
    assert (seen.method, seen.path, json.loads(seen.body)) == (
        "POST",
        "/storage/v1/object/sign/videos",
        {"paths": keys, "expiresIn": "900"},
    )
    assert files.media_source(keys[2]) == f"{URL}/storage/v1/object/sign/videos/{keys[2]}?token=c"
    files.prefetch_media_sources([keys[0], keys[2]])
    assert len(recorder.seen) == 1  # both still good: no request
    recorder.answer = lambda request: httpx.Response(
        404, json={"statusCode": "404", "error": "not_found", "message": "Object not found"}
    )
    with pytest.raises(FileNotFoundError):
        files.media_source(keys[1])  # the missing one is reported when asked for


def test_a_project_without_this_versions_migration_is_named_as_such(service, recorder):
    """PostgREST's answer when a column the migration adds is missing (seen on a project that had not
    applied `explicit_states`): the message says what to do, not only what broke."""
    body = {
        "code": "PGRST204",
        "details": None,
        "hint": None,
        "message": "Could not find the 'failure_kind' column of 'videos' in the schema cache",
    }
    recorder.answer = lambda request: httpx.Response(400, json=body)
    with pytest.raises(SupabaseError) as caught:
        service.failed(VIDEO, "engine-1", FailureKind.INTERNAL, "boom")
    assert str(caught.value) == (
        f"Could not move video {VIDEO} to failed: Could not find the 'failure_kind' column of 'videos' "
        "in the schema cache [PGRST204] This Supabase project lacks a migration of this version of Mimio: "
        "apply every file of supabase/migrations/ (README, Upgrading), then restart."
    )
