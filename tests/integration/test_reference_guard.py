"""The engine reads references with rights over every user's files, so it checks each one again
before reading: another user's file, an oversized file or a file that is not media is never sent."""

from __future__ import annotations

import hashlib

import pytest

import mimio_core.engine as engine_module
from mimio_core.domain import FailureKind, ReferenceUpload, VideoRequest, VideoStatus
from mimio_core.store.base import NewVideo, reference_key, video_key
from mimio_core.submission import as_variations
from mimio_core.validation import validate_request
from tests.conftest import Harness
from tests.media import png_bytes

ALICE, BOB = "alice-0000", "bob-0000"


def record(harness: Harness, engine, reference_path: str) -> str:
    (video,) = engine.store.insert_videos(
        [
            NewVideo(
                id="bobs-video",
                user_id=BOB,
                title="Mine",
                prompt="the poster comes alive",
                model="mimio-local",
                size="1280x720",
                seconds=4,
                reference_path=reference_path,
            )
        ]
    )
    return video.id


def own_key(user: str, data: bytes) -> str:
    return reference_key(user, hashlib.sha256(data).hexdigest(), "image/png")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("alice-reference", "is not one of this video's owner's uploads"),
        ("alice-video", "is not one of this video's owner's uploads"),
        ("climbing", "is not one of this video's owner's uploads"),
    ],
)
def test_a_reference_that_is_not_the_owners_upload_is_never_read_or_sent(
    harness: Harness, path: str, why: str
) -> None:
    engine = harness.engine()
    secret = png_bytes(1280, 720, color=(1, 2, 3))
    alice_reference = own_key(ALICE, secret)
    keys = {
        "alice-reference": alice_reference,
        "alice-video": video_key(ALICE, "her-video"),
        "climbing": f"{BOB}/references/../../{alice_reference}",
    }
    engine.files.put_bytes(alice_reference, secret, "image/png")
    engine.files.put_bytes(video_key(ALICE, "her-video"), b"\x00" * 100, "video/mp4")
    video_id = record(harness, engine, keys[path])
    engine.start()
    (done,) = engine.wait([video_id], timeout=30)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.INVALID)
    assert done.error == f"This video cannot be made: its reference {keys[path]!r} {why}."
    assert not {"create", "create-batch", "create-variations"} & set(harness.stats()["requests"])
    assert engine.files.exists(alice_reference)  # nothing of Alice's was touched


def test_an_oversized_reference_is_refused_without_reading_it_whole(harness: Harness) -> None:
    engine = harness.engine(max_reference_bytes=1024 * 1024)
    big = png_bytes(1280, 720) + b"\x00" * (3 * 1024 * 1024)
    key = own_key(BOB, big)
    engine.files.put_bytes(key, big, "image/png")
    read: list[int] = []
    original = engine.files.open_chunks

    def counted(name: str, chunk_size: int = 1 << 20):
        for chunk in original(name, chunk_size):
            read.append(len(chunk))
            yield chunk

    engine.files.open_chunks = counted  # type: ignore[method-assign]
    video_id = record(harness, engine, key)
    engine.start()
    (done,) = engine.wait([video_id], timeout=30)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.INVALID)
    assert done.error == "This video cannot be made: its reference is larger than 1 MB."
    assert sum(read) <= 2 * 1024 * 1024 < len(big)  # stopped just past the limit
    assert not {"create", "create-batch"} & set(harness.stats()["requests"])


def test_a_reference_that_is_not_media_is_refused(harness: Harness) -> None:
    engine = harness.engine()
    text = b"just some notes and not an image\n" * 10
    key = own_key(BOB, text)
    engine.files.put_bytes(key, text, "image/png")
    video_id = record(harness, engine, key)
    engine.start()
    (done,) = engine.wait([video_id], timeout=30)
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.INVALID)
    assert done.error == "This video cannot be made: its reference is ASCII text, not an image or a video."
    assert not {"create", "create-batch"} & set(harness.stats()["requests"])


def test_the_owners_own_reference_is_used(harness: Harness) -> None:
    engine = harness.engine()
    image = png_bytes(1280, 720)
    key = own_key(BOB, image)
    engine.files.put_bytes(key, image, "image/png")
    video_id = record(harness, engine, key)
    engine.start()
    (done,) = engine.wait([video_id], timeout=60)
    assert done.status is VideoStatus.COMPLETED, done.error


def test_a_recorded_type_is_trusted_and_variations_read_and_fit_their_reference_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The type recorded at upload spares the engine a sniff, and the three variations of one submit
    (one create call) read and fit their shared reference once, not three times."""
    sniffed: list[int] = []
    fits: list[str] = []
    real_fit = engine_module.fit_reference

    def fit(reference, size):  # type: ignore[no-untyped-def]
        fits.append(size)
        return real_fit(reference, size)

    monkeypatch.setattr(engine_module, "detect_type", lambda data: sniffed.append(len(data)) or ("?", "?"))
    monkeypatch.setattr(engine_module, "fit_reference", fit)
    engine = harness.engine()
    poster = ReferenceUpload("poster.png", png_bytes(900, 900))
    request = validate_request(
        VideoRequest(prompt="the poster comes alive", seconds=4, size="1280x720", reference=poster),
        max_reference_bytes=1 << 20,
    )
    videos = engine.submit(as_variations(request, 3))
    assert {v.reference_type for v in videos} == {"image/png"}
    engine.start()
    done = engine.wait([v.id for v in videos], timeout=90)
    assert [v.status for v in done] == [VideoStatus.COMPLETED] * 3, [v.error for v in done]
    assert harness.stats()["requests"]["create-variations"] == 1
    assert (sniffed, fits) == ([], ["1280x720"])


def test_a_reference_recorded_before_types_were_is_sniffed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sniffed: list[int] = []
    real_detect = engine_module.detect_type
    monkeypatch.setattr(
        engine_module, "detect_type", lambda data: sniffed.append(len(data)) or real_detect(data)
    )
    engine = harness.engine()
    image = png_bytes(1280, 720)
    key = own_key(BOB, image)
    engine.files.put_bytes(key, image, "image/png")
    video_id = record(harness, engine, key)  # no reference_type, as an older row
    engine.start()
    (done,) = engine.wait([video_id], timeout=60)
    assert done.status is VideoStatus.COMPLETED, done.error
    assert sniffed == [len(image)]
