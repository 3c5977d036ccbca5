"""Happy paths over real HTTP on loopback: each video ends completed with a playable MP4."""

from __future__ import annotations

import time

from mimio_core.domain import ReferenceUpload, VideoRequest, VideoStatus
from mimio_core.submission import as_variations
from mimio_core.validation import validate_request
from tests.conftest import Harness
from tests.media import assert_playable_mp4, mp4_bytes, png_bytes

LIMIT = 25 * 1024 * 1024


def valid(**fields: object):
    return validate_request(VideoRequest(**fields), max_reference_bytes=LIMIT)  # type: ignore[arg-type]


def assert_completed(harness: Harness, videos, size: str, seconds: int) -> None:
    for video in videos:
        assert video.status is VideoStatus.COMPLETED, video.error
        assert video.progress == 100
        assert video.storage_path == f"{video.user_id}/{video.id}.mp4"
        assert video.completed_at is not None and video.external_video_id
        assert_playable_mp4(harness.settings.data_dir / "files" / video.storage_path, size, seconds)
    assert set(harness.stats()["downloads"].values()) == {1}


def test_single_video_completes_with_a_playable_mp4(harness: Harness) -> None:
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="a red fox running through snow", seconds=4, size="1280x720")])
    assert video.status is VideoStatus.QUEUED and video.batch_id is None
    (done,) = engine.wait([video.id], timeout=60)
    assert_completed(harness, [done], "1280x720", 4)
    assert harness.stats()["requests"]["create"] == 1


def test_a_stored_video_leaves_no_copy_at_the_provider(harness: Harness) -> None:
    engine = harness.engine().start()
    (video,) = engine.submit([valid(prompt="a reference kept nowhere else", seconds=4, size="1280x720")])
    (done,) = engine.wait([video.id], timeout=60)
    assert done.status is VideoStatus.COMPLETED, done.error
    job = done.external_video_id
    deadline = time.monotonic() + 10
    while harness.stats()["requests"].get("delete") != 1:
        assert time.monotonic() < deadline, harness.stats()
        time.sleep(0.05)
    work = harness.server.service.work_dir
    assert [path.name for path in work.rglob(f"{job}*")] == []  # no MP4, job file (prompt) or lock
    assert (harness.settings.data_dir / "files" / done.storage_path).is_file()  # ours stays


def test_three_variations_use_one_create_variations_call(harness: Harness) -> None:
    engine = harness.engine().start()
    requests = as_variations(valid(prompt="ocean waves at dusk", title="Waves", seconds=4), 3)
    videos = engine.submit(requests)
    assert [v.title for v in videos] == ["Waves - Variation 1", "Waves - Variation 2", "Waves - Variation 3"]
    assert len({v.batch_id for v in videos}) == 1
    done = engine.wait([v.id for v in videos], timeout=90)
    assert_completed(harness, done, "720x1280", 4)
    assert harness.stats()["requests"]["create-variations"] == 1
    assert len({v.external_video_id for v in done}) == 3


def test_batch_of_three_without_references_uses_create_batch(harness: Harness) -> None:
    engine = harness.engine().start()
    videos = engine.submit(
        [valid(prompt=f"scene number {n}", seconds=4, model="sora-2", size="1280x720") for n in range(3)]
    )
    done = engine.wait([v.id for v in videos], timeout=90)
    assert_completed(harness, done, "1280x720", 4)
    requests = harness.stats()["requests"]
    assert requests["create-batch"] == 1 and "create" not in requests


def test_batch_with_reference_images_falls_back_to_single_creates(harness: Harness) -> None:
    engine = harness.engine().start()
    image = ReferenceUpload("poster.png", png_bytes())
    videos = engine.submit(
        [
            valid(prompt="the poster comes alive", seconds=4, reference=image),
            valid(prompt="the poster zooms", seconds=4, reference=image),
            valid(prompt="plain scene", seconds=4),
        ]
    )
    done = engine.wait([v.id for v in videos], timeout=90)
    assert_completed(harness, done, "720x1280", 4)
    requests = harness.stats()["requests"]
    assert requests["create"] == 3 and "create-batch" not in requests
    # the shared reference is stored once, by content
    assert done[0].reference_path == done[1].reference_path and done[2].reference_path is None


def test_video_reference_for_the_local_model(harness: Harness) -> None:
    engine = harness.engine().start()
    request = valid(
        prompt="continue this clip",
        model="mimio-local",
        seconds=4,
        reference=ReferenceUpload("clip.mp4", mp4_bytes()),
    )
    (video,) = engine.submit([request])
    (done,) = engine.wait([video.id], timeout=60)
    assert_completed(harness, [done], "720x1280", 4)


def test_concurrency_limit_keeps_the_rest_queued(harness: Harness) -> None:
    engine = harness.engine(concurrency=1)
    videos = engine.submit([valid(prompt=f"queued {n}", seconds=4) for n in range(3)])
    engine.tick()
    statuses = [v.status for v in engine.store.get_videos([v.id for v in videos])]
    assert statuses[0].is_active and statuses[1:] == [VideoStatus.QUEUED, VideoStatus.QUEUED]
    engine.start()
    done = engine.wait([v.id for v in videos], timeout=120)
    assert all(v.status is VideoStatus.COMPLETED for v in done)
