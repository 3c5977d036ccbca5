"""A create whose answer was lost (the process stopped after the call went out, or the answer never
came): the job the provider started is found in its list of jobs and adopted, never billed twice;
where it cannot be found the video fails and says why. Over real HTTP against the embedded server's
OpenAI-compatible /v1 routes (which list jobs) and its Mimio routes (which cannot)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mimio_core.domain import FailureKind, ReferenceUpload, TrackedVideo, VideoStatus
from mimio_core.engine import Engine
from mimio_core.lost_create import LOST
from mimio_core.providers.base import JobRequest
from mimio_core.providers.openai import OpenAIProvider
from tests.conftest import Harness, TurnedClock
from tests.integration.test_pipeline import valid
from tests.media import png_bytes


def stop_mid_create(engine: Engine, videos: list[TrackedVideo], *, sent: bool = True) -> list[str]:
    """What a process killed during its create call leaves behind: each video `creating` under its
    lease and (`sent`) the jobs the call started at the provider, whose ids were never saved."""
    assert len(engine.store.claim(engine.owner, 10, lease_seconds=30)) == len(videos)
    jobs = []
    for video in videos:
        assert engine.store.creating(video.id, engine.owner) is not None
        if sent:
            request = JobRequest(
                prompt=video.prompt, model=video.model, size=video.size, seconds=video.seconds
            )
            jobs.append(engine.provider.create(request))
    return jobs


def settle(engine: Engine, video_ids: list[str], within: float = 30) -> list[TrackedVideo]:
    """Tick a restarted engine until none of the videos is `creating` any more."""
    deadline = time.monotonic() + within
    while True:
        engine.tick()
        videos = engine.store.get_videos(video_ids)
        if all(video.status is not VideoStatus.CREATING for video in videos):
            return videos
        assert time.monotonic() < deadline, videos
        time.sleep(0.05)


def restarted(harness: Harness, clock: TurnedClock, api: str = "openai") -> Engine:
    clock.turn(31)  # the dead engine's leases ran out
    return harness.engine(api=api, clock=clock)


def test_a_job_started_before_a_kill_is_adopted_and_fetched_without_a_second_create(harness: Harness) -> None:
    clock = TurnedClock()
    first = harness.engine(api="openai", clock=clock)
    videos = first.submit([valid(prompt="lost in transit", seconds=4)])
    (job,) = stop_mid_create(first, videos)
    second = restarted(harness, clock)
    (adopted,) = settle(second, [videos[0].id])
    assert (adopted.status, adopted.external_video_id) == (VideoStatus.GENERATING, job)
    (done,) = second.start().wait([adopted.id], timeout=60)
    assert (done.status, done.error) == (VideoStatus.COMPLETED, None)
    assert harness.stats()["requests"]["create"] == 1  # the one call the dead process sent
    assert harness.stats()["downloads"] == {job: 1}


def test_identical_lost_videos_each_adopt_their_own_job_and_never_another_videos(harness: Harness) -> None:
    clock = TurnedClock()
    first = harness.engine(api="openai", clock=clock)
    (earlier,) = first.submit([valid(prompt="three foxes", seconds=4)])
    (held,) = stop_mid_create(first, [earlier])
    first.store.started(earlier.id, first.owner, held)  # this one's answer came: its job is its own
    twins = first.submit([valid(prompt="three foxes", seconds=4) for _ in range(2)])
    jobs = stop_mid_create(first, twins)
    second = restarted(harness, clock)
    adopted = settle(second, [twin.id for twin in twins])
    assert [video.status for video in adopted] == [VideoStatus.GENERATING] * 2
    assert sorted(video.external_video_id or "" for video in adopted) == sorted(jobs)
    assert harness.stats()["requests"]["create"] == 3


def test_a_create_that_never_reached_the_provider_is_looked_for_until_its_timeout(harness: Harness) -> None:
    clock = TurnedClock()
    first = harness.engine(api="openai", clock=clock)
    other = first.submit([valid(prompt="a different request", seconds=4)])
    stop_mid_create(first, other)  # a job of another prompt is at the provider, not this video's
    first.store.failed(other[0].id, first.owner, FailureKind.INTERNAL, "set aside")
    videos = first.submit([valid(prompt="never sent", seconds=4)])
    stop_mid_create(first, videos, sent=False)
    second = restarted(harness, clock)
    looking = idle_after_tick(second, videos[0].id)
    assert (looking.status, looking.status_note) == (
        VideoStatus.CREATING,
        f"Looking for its job at the provider ({LOST[0].lower()}{LOST[1:]}): the provider listed no job "
        "of it yet.",
    )
    clock.turn(harness.settings.timeout + 1)
    (done,) = settle(second, [videos[0].id])
    assert (done.status, done.failure_kind, done.external_video_id) == (
        VideoStatus.FAILED,
        FailureKind.UNKNOWN_START,
        None,
    )
    assert done.error == (
        f"{LOST}, and the provider listed no job of it until the timeout, so it probably did not start. "
        "Retry creates it again."
    )
    assert harness.stats()["requests"]["create"] == 1  # the other video's, and no second one


def idle_after_tick(engine: Engine, video_id: str, within: float = 30) -> TrackedVideo:
    """One tick, then the video once the engine's lookup for it has ended."""
    engine.tick()
    deadline = time.monotonic() + within
    while engine._busy:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    video = engine.store.get_video(video_id)
    assert video is not None
    return video


def test_a_video_with_a_reference_is_never_matched(harness: Harness) -> None:
    clock = TurnedClock()
    first = harness.engine(api="openai", clock=clock)
    image = ReferenceUpload("poster.png", png_bytes(720, 1280))
    videos = first.submit([valid(prompt="poster wakes", seconds=4, reference=image)])
    stop_mid_create(first, videos)
    (done,) = settle(restarted(harness, clock), [videos[0].id])
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.UNKNOWN_START)
    assert done.error == (
        f"{LOST}, so it is unknown whether it started (a video with a reference cannot be matched with "
        "the provider's list of jobs). Retry creates it again."
    )
    assert "list" not in harness.stats()["requests"]


def test_a_provider_that_cannot_list_its_jobs_fails_the_video_instead_of_billing_twice(
    harness: Harness,
) -> None:
    clock = TurnedClock()
    first = harness.engine(api="mimio", clock=clock)
    videos = first.submit([valid(prompt="lost at mimio", seconds=4)])
    stop_mid_create(first, videos, sent=False)
    (done,) = settle(restarted(harness, clock, api="mimio"), [videos[0].id])
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.UNKNOWN_START)
    assert done.error == (
        f"{LOST}, so it is unknown whether it started (this provider cannot list its jobs to find it). "
        "Retry creates it again."
    )
    assert "create" not in harness.stats()["requests"]


def test_while_the_list_cannot_be_read_the_video_waits_then_fails_at_its_timeout(harness: Harness) -> None:
    clock = TurnedClock()
    first = harness.engine(api="openai", clock=clock)
    videos = first.submit([valid(prompt="lost in an outage", seconds=4)])
    stop_mid_create(first, videos)
    harness.faults(http=[{"endpoint": "list", "status": 503, "times": 1000}])
    second = restarted(harness, clock)
    assert idle_after_tick(second, videos[0].id).status is VideoStatus.CREATING  # asked again next tick
    clock.turn(harness.settings.timeout + 1)
    (done,) = settle(second, [videos[0].id])
    assert (done.status, done.failure_kind) == (VideoStatus.FAILED, FailureKind.UNKNOWN_START)
    assert (done.error or "").startswith(
        f"{LOST}, and the provider could not be asked for its jobs until the timeout ("
    )
    assert (done.error or "").endswith("). Retry creates it again.")


class ListWithoutPrompts(BaseHTTPRequestHandler):
    """A gateway's `GET /v1/videos` that leaves out each video's prompt (as gateways in front of
    several providers may): one job of the right model, size and time."""

    def do_GET(self) -> None:
        body = {
            "object": "list",
            "data": [LISTED],
            "first_id": "video_1",
            "last_id": "video_1",
            "has_more": False,
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


LISTED = {"id": "video_1", "object": "video", "model": "sora-2", "size": "720x1280", "seconds": "4"}


def test_a_list_that_shows_no_prompts_matches_nothing_rather_than_a_guess() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ListWithoutPrompts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    provider = OpenAIProvider(f"http://127.0.0.1:{server.server_port}/v1")
    try:
        now = time.time()
        LISTED["created_at"] = int(now)
        assert provider.started_jobs(valid(prompt="x", seconds=4), now - 60, now + 60) is None
    finally:
        provider.close()
        server.shutdown()
