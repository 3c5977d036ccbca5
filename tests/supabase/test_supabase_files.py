"""The Supabase file storage over PostgRESTHarness: object rows in storage.objects under the bucket's
policies, bytes streamed both ways, playback through signed URLs. Last, the engine end to end on the
Supabase backend (records and files) against the embedded video server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mimio_core.domain import FailureKind, ReferenceUpload, UserRequest, VideoRequest, VideoStatus
from mimio_core.engine import Engine
from mimio_core.providers.mimio import MimioProvider
from mimio_core.store.base import thumbnail_key, video_key
from mimio_core.store.supabase import SupabaseError, supabase_client
from mimio_core.store.supabase_files import SupabaseFileStorage
from mimio_core.validation import validate_request
from tests.conftest import FAST_RETRIES, carry_out
from tests.media import assert_playable_mp4, png_bytes
from tests.supabase.conftest import SERVICE_KEY, URL, USER_A, USER_B

pytestmark = pytest.mark.service

A, B = str(USER_A), str(USER_B)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4000)
    return path


def test_a_user_stores_reads_plays_and_deletes_own_files(user_files, harness, http, source):
    files = user_files(USER_A, signed_url_seconds=120)
    key = video_key(A, "11111111-1111-4111-8111-111111111111")
    assert files.exists(key) is False
    files.put_file(key, source, "video/mp4")
    assert files.exists(key) is True
    assert files.read_bytes(key) == source.read_bytes()
    assert [len(chunk) for chunk in files.open_chunks(key, chunk_size=400_000)][:2] == [400_000, 400_000]
    url = files.media_source(key)
    assert httpx.URL(url).path == f"/storage/v1/object/sign/videos/{key}"
    assert http.get(url).content == source.read_bytes()  # what a player would fetch, no headers needed
    assert harness.storage.signed[-1].expires_in == 120
    upload = harness.storage.uploads[-1]
    assert (upload.name, upload.content_type, upload.upsert, upload.size) == (
        key,
        "video/mp4",
        "true",
        source.stat().st_size,
    )
    files.delete(key)
    assert files.exists(key) is False
    files.delete(key)  # already gone: no error, like local files


def test_uploading_again_replaces_the_object(user_files):
    files = user_files(USER_A)
    key = thumbnail_key(A, "11111111-1111-4111-8111-111111111111")
    files.put_bytes(key, b"first", "image/jpeg")
    files.put_bytes(key, b"second", "image/jpeg")  # upsert "true": a retried transfer must not fail
    assert files.read_bytes(key) == b"second"


def test_a_user_cannot_reach_another_users_files(user_files, service_files, source):
    alice, bob = user_files(USER_A), user_files(USER_B)
    key = video_key(A, "11111111-1111-4111-8111-111111111111")
    alice.put_file(key, source, "video/mp4")
    assert bob.exists(key) is False
    with pytest.raises(FileNotFoundError, match=r"^No stored file '.*' in bucket 'videos'\.$"):
        bob.media_source(key)
    with pytest.raises(FileNotFoundError):
        bob.read_bytes(key)
    bob.delete(key)  # filtered out by the delete policy: nothing happens
    assert alice.exists(key) is True
    with pytest.raises(SupabaseError, match=r"^Could not upload '.*': new row violates row-level security"):
        bob.put_bytes(f"{A}/planted.jpg", b"x", "image/jpeg")
    assert service_files.read_bytes(key) == source.read_bytes()  # the engine's key reads everyone's


def test_a_missing_file(service_files):
    key = video_key(A, "22222222-2222-4222-8222-222222222222")
    assert service_files.exists(key) is False
    with pytest.raises(FileNotFoundError):
        list(service_files.open_chunks(key))
    with pytest.raises(FileNotFoundError):
        service_files.media_source(key)
    service_files.delete(key)


def test_the_engine_makes_videos_on_the_supabase_backend(
    service_store, service_files, user_files, settings, server
):
    """Records through the service role, files in the bucket: completed rows hold object paths that
    the owner's own (user-JWT) storage can read."""
    engine = Engine(
        service_store,
        service_files,
        MimioProvider(server.url, policy=FAST_RETRIES),
        settings,
        transfer_policy=FAST_RETRIES,
    ).start()
    try:
        poster = ReferenceUpload("p.png", png_bytes())
        requests = [
            VideoRequest(prompt="a red fox running through snow", seconds=4, size="1280x720"),
            VideoRequest(prompt="the poster comes alive", seconds=4, reference=poster),
        ]
        requests = [validate_request(r, max_reference_bytes=settings.max_reference_bytes) for r in requests]
        videos = engine.submit(requests, user_id=A)
        done = engine.wait([v.id for v in videos], timeout=60)
    finally:
        engine.stop()
        engine.provider.close()
    mine = user_files(USER_A)
    for video, size in zip(done, ("1280x720", "720x1280"), strict=True):
        assert video.status is VideoStatus.COMPLETED, video.error
        assert (video.storage_path, video.thumbnail_path) == (
            video_key(A, video.id),
            thumbnail_key(A, video.id),
        )
        copy = settings.data_dir / f"{video.id}.mp4"
        copy.write_bytes(mine.read_bytes(video.storage_path))
        assert_playable_mp4(copy, size, 4)
        assert mine.read_bytes(video.thumbnail_path)[:2] == b"\xff\xd8"  # a JPEG
    assert done[1].reference_path.startswith(f"{A}/references/") and mine.exists(done[1].reference_path)
    assert service_store.lease_owners() == set()


def test_a_submission_sent_twice_records_once(service_store, service_files, settings, server):
    engine = Engine(service_store, service_files, MimioProvider(server.url, policy=FAST_RETRIES), settings)
    try:
        request = validate_request(
            VideoRequest(prompt="ocean waves at dusk", seconds=4),
            max_reference_bytes=settings.max_reference_bytes,
        )
        submission = "44444444-4444-4444-8444-444444444444"
        first = engine.submit([request, request], user_id=A, submission_id=submission)
        again = engine.submit([request, request], user_id=A, submission_id=submission)
    finally:
        engine.provider.close()
    assert again == first and len({v.id for v in first}) == 2
    assert service_store.count_videos(A) == 2


@pytest.mark.parametrize(
    ("answer", "uploads", "outcome"),
    [
        (413, 1, "too large"),  # refused for good: stop at once, no second 100 MB upload
        (503, 2, "completed"),  # a bad minute: the transfer (only) is tried again
    ],
)
def test_storage_refusing_the_video_ends_it_clearly_and_a_bad_minute_is_retried(
    harness, service_store, settings, server, answer, uploads, outcome
):
    """Storage answers the first upload of the MP4 with `answer`: the video ends failed with the
    reason and its provider job kept, or is stored on the next try; never left processing."""
    mp4_uploads: list[str] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith(".mp4"):
            mp4_uploads.append(request.url.path)
            if len(mp4_uploads) == 1:
                body = {
                    "statusCode": str(answer),
                    "error": "Payload too large",
                    "message": "The object exceeded the maximum allowed size",
                }
                return httpx.Response(
                    answer,
                    json=body
                    if answer == 413
                    else {"statusCode": "503", "error": "Unavailable", "message": "try later"},
                )
        return harness.handle(request)

    with httpx.Client(transport=httpx.MockTransport(route)) as flaky:
        files = SupabaseFileStorage(supabase_client(URL, SERVICE_KEY, flaky, retry=False))
        provider = MimioProvider(server.url, policy=FAST_RETRIES)
        engine = Engine(service_store, files, provider, settings, transfer_policy=FAST_RETRIES).start()
        try:
            request = validate_request(
                VideoRequest(prompt="a kite over a beach", seconds=4), max_reference_bytes=1 << 20
            )
            [video] = engine.submit([request], user_id=A)
            [done] = engine.wait([video.id], timeout=60)
            stored = done.storage_path is not None and files.exists(done.storage_path)
            if outcome == "too large":  # Retry fetches the kept job again, on PostgreSQL too (it once
                retried = carry_out(engine, video.id, A, UserRequest.RETRY)  # sent a float for a timestamp)
                [again] = engine.wait([video.id], timeout=60)
                stored_again = again.storage_path is not None and files.exists(again.storage_path)
        finally:
            engine.stop()
            provider.close()
    if outcome == "completed":
        assert done.status is VideoStatus.COMPLETED and stored and len(mp4_uploads) == uploads
        return
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.STORAGE_REFUSED)
    assert done.storage_path is None
    assert retried is not None and retried.status is not VideoStatus.QUEUED  # its kept job, not a new one
    assert (again.status, again.external_video_id) == (VideoStatus.COMPLETED, done.external_video_id)
    assert stored_again and len(mp4_uploads) == uploads + 1  # the second upload was accepted
    creates = httpx.get(f"{server.url}/_admin/stats").json()["requests"]["create"]
    assert creates == 1  # fetched again, not generated again
    assert done.error == (
        f"Supabase Storage refused '{A}/{video.id}.mp4' as too large (The object exceeded the maximum "
        "allowed size): raise the file size limit of the bucket or the project (Supabase Free allows 50 MB). "
        f"The generated video {done.external_video_id} is kept: Retry fetches it without generating again."
    )
