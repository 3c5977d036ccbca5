"""Deleting a video leaves no copy of what it was made from: its reference goes with the last video
that records it, and a submission of the same image racing the delete keeps its file."""

from __future__ import annotations

from mimio_core.domain import ReferenceUpload, TrackedVideo, UserRequest, VideoStatus
from mimio_core.engine import Engine
from mimio_core.store.local_files import LocalFileStorage
from tests.conftest import Harness, carry_out
from tests.integration.test_pipeline import valid
from tests.media import png_bytes

IMAGE = ReferenceUpload("poster.png", png_bytes(720, 1280))


def made_from_the_image(engine: Engine, count: int) -> list[TrackedVideo]:
    videos = engine.submit([valid(prompt=f"poster {n}", seconds=4, reference=IMAGE) for n in range(count)])
    done = engine.wait([video.id for video in videos], timeout=90)
    assert [video.status for video in done] == [VideoStatus.COMPLETED] * count, [v.error for v in done]
    assert len({video.reference_path for video in done}) == 1  # one stored copy, shared
    return done


def test_a_reference_goes_with_the_last_video_made_from_it(harness: Harness) -> None:
    engine = harness.engine().start()
    first, second = made_from_the_image(engine, 2)
    key = first.reference_path or ""
    assert carry_out(engine, first.id, first.user_id, UserRequest.DELETE) is None
    assert engine.files.exists(key)  # the second video still records it
    assert carry_out(engine, second.id, second.user_id, UserRequest.DELETE) is None
    assert not engine.files.exists(key)
    files = harness.settings.data_dir / "files" / first.user_id
    assert sorted(path.name for path in files.rglob("*") if path.is_file()) == []


class DeleteRacedBySubmission(LocalFileStorage):
    """File storage where, as the engine deletes an unused reference, a new submission of the same
    image records its video first (it found the file there, so it did not store it again)."""

    engine: Engine

    def delete(self, key: str) -> None:
        if "/references/" in key:
            self.raced = self.engine.submit([valid(prompt="poster again", seconds=4, reference=IMAGE)])
        super().delete(key)


def test_a_submission_of_the_same_image_during_the_delete_keeps_its_reference(harness: Harness) -> None:
    engine = harness.engine()
    racing = DeleteRacedBySubmission(harness.settings.data_dir / "files")
    racing.engine, engine.files = engine, racing
    engine.start()
    (first,) = made_from_the_image(engine, 1)
    assert carry_out(engine, first.id, first.user_id, UserRequest.DELETE) is None
    (again,) = racing.raced
    assert again.reference_path == first.reference_path
    (done,) = engine.wait([again.id], timeout=90)
    assert (done.status, done.error) == (VideoStatus.COMPLETED, None)
    assert engine.files.read_bytes(again.reference_path or "") == IMAGE.data


class GoneAfterTheCheck(LocalFileStorage):
    """File storage where an engine deletes the reference right after a submission found it there."""

    def exists(self, key: str) -> bool:
        found = super().exists(key)
        if found and "/references/" in key and not getattr(self, "struck", False):
            self.struck = True
            super().delete(key)
        return found


def test_a_submission_stores_its_reference_again_when_it_went_while_recording(harness: Harness) -> None:
    engine = harness.engine()
    engine.files = GoneAfterTheCheck(harness.settings.data_dir / "files")
    (first,) = engine.submit([valid(prompt="poster", seconds=4, reference=IMAGE)])
    (again,) = engine.submit([valid(prompt="poster again", seconds=4, reference=IMAGE)])
    assert again.reference_path == first.reference_path
    assert engine.files.read_bytes(again.reference_path or "") == IMAGE.data
