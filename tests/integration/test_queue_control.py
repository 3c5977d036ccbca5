"""Queue control end to end: what the provider sees (over real HTTP, the embedded server) when a person
pauses, orders, edits or cancels waiting videos, through an engine, restarts included; and the CLI's
queue commands as a person runs them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mimio_core.domain import LOCAL_USER_ID, UserRequest, VideoRequest, VideoStatus
from mimio_core.local_server.service import Job, LocalVideoService, NewJob
from mimio_core.queue_actions import ask_run, cancel_waiting, edit_waiting, retry_failed
from mimio_core.store.queue_control import Asked, Move, QueueRefused
from mimio_core.validation import ValidationError
from tests.conftest import Harness
from tests.integration.test_cli import cli, listed
from tests.integration.test_pipeline import valid

S = VideoStatus
LIMIT = 25 << 20


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The prompts of the jobs the embedded server was asked to make, in the order it was asked."""
    seen: list[str] = []
    original = LocalVideoService.create

    def recording(self: LocalVideoService, new: NewJob, count: int = 1) -> list[Job]:
        seen.extend([new.prompt] * count)
        return original(self, new, count)

    monkeypatch.setattr(LocalVideoService, "create", recording)
    return seen


def test_a_paused_video_is_never_sent_until_resumed(harness: Harness, created: list[str]) -> None:
    engine = harness.engine()
    held, other = engine.submit([valid(prompt="wait for me", seconds=4), valid(prompt="go", seconds=4)])
    assert engine.store.pause(LOCAL_USER_ID, [held.id]) == 1
    (done,) = engine.start().wait([other.id], timeout=90)
    assert done.status is S.COMPLETED
    waiting = engine.store.get_video(held.id)
    assert waiting is not None and (waiting.status, waiting.is_paused) == (S.QUEUED, True)
    assert created == ["go"]
    assert engine.store.resume(LOCAL_USER_ID, [held.id]) == 1
    (resumed,) = engine.wait([held.id], timeout=90)
    assert resumed.status is S.COMPLETED
    assert created == ["go", "wait for me"]


def test_a_paused_queue_sends_nothing_and_resume_sends_in_order(harness: Harness, created: list[str]) -> None:
    first = harness.engine()
    assert first.store.pause_queue(LOCAL_USER_ID) == 0  # nothing waits yet; new videos will
    videos = first.submit([valid(prompt=f"scene {n}", seconds=4) for n in range(3)])
    assert all(video.is_paused for video in videos)
    first.start()
    time.sleep(1.0)  # several ticks of the engine (poll interval 0.2 s)
    assert "create" not in harness.stats()["requests"]
    assert [v.status for v in first.store.get_videos([v.id for v in videos])] == [S.QUEUED] * 3
    first.stop()
    # a restart keeps the pause: it lives in the database
    second = harness.engine(concurrency=1).start()
    time.sleep(0.6)
    assert "create" not in harness.stats()["requests"]
    second.store.move(LOCAL_USER_ID, videos[2].id, Move.NEXT)
    assert second.store.resume_queue(LOCAL_USER_ID) == 3
    done = second.wait([v.id for v in videos], timeout=120)
    assert [v.status for v in done] == [S.COMPLETED] * 3, [v.error for v in done]
    assert created == ["scene 2", "scene 0", "scene 1"]


def test_an_edited_video_is_made_as_edited(harness: Harness, created: list[str]) -> None:
    engine = harness.engine()
    engine.store.pause_queue(LOCAL_USER_ID)
    (video,) = engine.submit([valid(prompt="a fox with a typo", seconds=4)])
    with pytest.raises(ValidationError, match="Prompt is empty"):
        edit_waiting(
            engine.store, LOCAL_USER_ID, video.id, VideoRequest(prompt=" "), max_reference_bytes=LIMIT
        )
    edited = edit_waiting(
        engine.store,
        LOCAL_USER_ID,
        video.id,
        VideoRequest(prompt="a fox without a typo", title="Fixed", seconds=8),
        max_reference_bytes=LIMIT,
    )
    assert (edited.title, edited.prompt, edited.seconds, edited.is_paused) == (
        "Fixed",
        "a fox without a typo",
        8,
        True,
    )
    engine.store.resume_queue(LOCAL_USER_ID)
    (done,) = engine.start().wait([video.id], timeout=90)
    assert (done.status, done.prompt) == (S.COMPLETED, "a fox without a typo")
    assert created == ["a fox without a typo"]
    with pytest.raises(QueueRefused, match="This video is completed already"):
        edit_waiting(
            engine.store, LOCAL_USER_ID, video.id, VideoRequest(prompt="late"), max_reference_bytes=LIMIT
        )


def test_cancel_a_run_and_retry_all_failed(harness: Harness, created: list[str]) -> None:
    engine = harness.engine()
    engine.store.pause_queue(LOCAL_USER_ID)
    run = engine.submit([valid(prompt=f"run {n}", seconds=4) for n in range(3)])
    (other,) = engine.submit([valid(prompt="another run", seconds=4)])
    assert ask_run(engine.store, LOCAL_USER_ID, run[0].batch_id or "", UserRequest.CANCEL) == Asked(3, 0)
    engine.store.resume_queue(LOCAL_USER_ID)
    engine.start()
    done = engine.wait([v.id for v in [*run, other]], timeout=90)
    assert [v.status for v in done] == [S.CANCELLED] * 3 + [S.COMPLETED]
    assert created == ["another run"]  # nothing cancelled reached the provider
    assert retry_failed(engine.store, LOCAL_USER_ID) == Asked(3, 0)
    deadline = time.monotonic() + 120  # final already: wait for the engine to take the retries
    run_ids = [video.id for video in run]
    while True:
        again = engine.store.get_videos(run_ids)
        if {video.status for video in again} == {S.COMPLETED}:
            break
        assert time.monotonic() < deadline, [(video.status, video.error) for video in again]
        time.sleep(0.1)
    assert sorted(created) == ["another run", "run 0", "run 1", "run 2"]
    assert cancel_waiting(engine.store, LOCAL_USER_ID) == Asked(0, 0)


def test_the_queue_commands_as_a_person_runs_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, "pause", "--all").returncode == 0
    for prompt, priority in (("low", "0"), ("high", "5")):
        result = cli(data, "create", prompt, "--seconds", "4", "--no-wait", "--priority", priority)
        assert result.returncode == 0, result.stderr
    videos = {video["prompt"]: video for video in listed(data)}
    assert [videos[p]["paused"] for p in ("low", "high")] == [True, True]
    assert videos["high"]["priority"] == 5
    moved = cli(data, "move", str(videos["low"]["id"]), "next", "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["priority"] == 5
    edited = cli(data, "edit", str(videos["low"]["id"]), "--prompt", "low, edited", "--json")
    assert edited.returncode == 0 and json.loads(edited.stdout)["prompt"] == "low, edited"
    bad = cli(data, "edit", str(videos["low"]["id"]), "--seconds", "999")
    assert bad.returncode == 2 and "not 999" in bad.stderr
    unnamed = cli(data, "retry")
    assert unnamed.returncode == 2 and "Name a video id, or --run or --failed." in unnamed.stderr
    cancelled = cli(data, "cancel", "--waiting", "--json")
    assert json.loads(cancelled.stdout) == {"asked": 2, "skipped": 0}
    resumed = cli(data, "resume", "--all")
    assert resumed.returncode == 0 and "2 video(s) resumed in the whole queue." in resumed.stdout
    out_of_range = cli(data, "create", "x", "--priority", "5000", "--no-wait")
    assert out_of_range.returncode == 2 and "5000 is out of range" in out_of_range.stderr
    tonight = cli(data, "create", "tonight", "--seconds", "4", "--no-wait", "--at", "2999-12-24T02:00+01:00")
    assert tonight.returncode == 0, tonight.stderr
    (scheduled,) = [video for video in listed(data) if video["prompt"] == "tonight"]
    assert scheduled["not_before"] == "2999-12-24T01:00:00+00:00"
    assert "scheduled" in cli(data, "list").stdout
    not_a_time = cli(data, "create", "x", "--at", "tonight at two", "--no-wait")
    assert not_a_time.returncode == 2 and "'tonight at two' is not a time" in not_a_time.stderr
    # nothing was made: the two cancelled wait for an engine to carry it out; the scheduled one waits
    assert sorted((video["prompt"], video["status"], video["requested"]) for video in listed(data)) == [
        ("high", "queued", "cancel"),
        ("low, edited", "queued", "cancel"),
        ("tonight", "queued", None),
    ]
