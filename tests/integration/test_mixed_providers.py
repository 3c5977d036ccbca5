"""Every configured provider at once, assembled by `open_runtime` from settings as the app and the CLI
do: one batch with a fal video, a Replicate video and a local preview, each sent to its provider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mimio_core.config import load_settings
from mimio_core.domain import VideoRequest, VideoStatus
from mimio_core.providers.base import Health
from mimio_core.runtime import Runtime, open_runtime
from mimio_core.validation import validate_request
from tests.standins.fal import FalStandin, start_fal
from tests.standins.replicate import ReplicateStandin, running_replicate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def platforms() -> Iterator[tuple[FalStandin, ReplicateStandin]]:
    with start_fal() as fal, running_replicate() as replicate:
        yield fal, replicate


def environment(tmp_path: Path, fal: FalStandin, replicate: ReplicateStandin) -> dict[str, str]:
    return {
        "MIMIO_DATA_DIR": str(tmp_path / "data"),
        "MIMIO_POLL_INTERVAL": "0.2",
        "MIMIO_PRIVATE_REDIRECTS": "on",  # the stand-ins' CDNs are on loopback
        "FAL_KEY": "test-key",
        "MIMIO_FAL_QUEUE_URL": fal.url,
        "MIMIO_FAL_STORAGE_URL": fal.url,
        "REPLICATE_API_TOKEN": "r8_test",
        "MIMIO_REPLICATE_BASE_URL": replicate.url,
    }


@pytest.fixture
def runtime(tmp_path: Path, platforms: tuple[FalStandin, ReplicateStandin]) -> Iterator[Runtime]:
    running = open_runtime(load_settings(environ=environment(tmp_path, *platforms)))
    yield running
    running.close()


def test_one_batch_goes_to_three_providers(
    runtime: Runtime, platforms: tuple[FalStandin, ReplicateStandin]
) -> None:
    fal, replicate = platforms
    assert list(runtime.provider.members) == ["fal", "replicate", "local"]  # fal first: FAL_KEY is set
    assert next(iter(runtime.models)) == "fal-kling-3-turbo-pro"  # the default provider's first model
    assert runtime.models["replicate-veo-3.1"].label == "Veo 3.1 · Replicate"
    assert runtime.models["fal-veo-3.1"].label == "Veo 3.1 · fal.ai"
    assert "sora-2" not in runtime.models  # no Mimio API or gateway configured
    asks = [
        VideoRequest(prompt="a fal fox", model="fal-veo-3.1", size="1280x720", seconds=4),
        VideoRequest(prompt="a replicate fox", model="replicate-kling-3", size="1920x1080", seconds=5),
        VideoRequest(prompt="a local fox", model="mimio-local", size="1280x720", seconds=4),
    ]
    requests = [validate_request(ask, max_reference_bytes=1 << 20, models=runtime.models) for ask in asks]
    videos = runtime.engine.submit(requests)
    assert len({video.batch_id for video in videos}) == 1
    done = runtime.engine.wait([v.id for v in videos], timeout=90)
    assert [v.status for v in done] == [VideoStatus.COMPLETED] * 3, [v.error for v in done]
    jobs = [v.external_video_id or "" for v in done]
    assert jobs[0].startswith("fal:fal-ai/veo3.1/requests/")
    assert jobs[1] == f"replicate:{replicate.created[0].prediction_id}"
    assert jobs[2].startswith("local:")
    (sent,) = fal.submissions
    assert sent.body == {
        "prompt": "a fal fox",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration": "4s",
        "generate_audio": True,
    }
    assert runtime.embedded_server is not None
    created = runtime.embedded_server.service.requests
    assert created["create-batch"] + created["create"] == 1  # only the local preview went there
    assert runtime.embedded_server.service.downloads == {jobs[2].removeprefix("local:"): 1}
    assert {member.health() for member in runtime.provider.members.values()} == {Health.ANSWERING}


def test_the_cli_lists_the_models_of_the_active_providers(
    tmp_path: Path, platforms: tuple[FalStandin, ReplicateStandin]
) -> None:
    env = {**os.environ, **environment(tmp_path, *platforms), "COLUMNS": "200"}
    listed = subprocess.run(
        [sys.executable, "-m", "mimio_core", "models", "--provider", "replicate", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    models = json.loads(listed.stdout)
    assert [m["name"] for m in models] == [
        "replicate-veo-3.1",
        "replicate-kling-3",
        "replicate-seedance-2.0",
        "replicate-hailuo-2.3",
        "replicate-luma-ray-flash-2",
    ]
    assert models[1] == {
        "name": "replicate-kling-3",
        "label": "Kling 3.0",
        "provider": "replicate",
        "sizes": ["1920x1080", "1080x1920", "1080x1080"],
        "seconds": [3, 5, 10, 15],
        "references": ["image"],
        "price": {size: {"3": None, "5": None, "10": None, "15": None} for size in models[1]["sizes"]},
    }
    table = subprocess.run(
        [sys.executable, "-m", "mimio_core", "models"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert table.returncode == 0, table.stderr
    assert "fal-hailuo-2.3" in table.stdout and "$0.56 (1366x768, 10 s)" in table.stdout
    assert "mimio-local" in table.stdout and "$0.00" in table.stdout


def test_a_long_fal_batch_does_not_hold_up_a_local_preview(
    tmp_path: Path, platforms: tuple[FalStandin, ReplicateStandin]
) -> None:
    fal, replicate = platforms
    fal.polls_in_progress = 100_000  # fal's videos stay generating
    settings = load_settings(environ={**environment(tmp_path, fal, replicate), "MIMIO_CONCURRENCY": "2"})
    running = open_runtime(settings)
    try:
        slow = [
            VideoRequest(prompt=f"fal {n}", model="fal-veo-3.1", size="1280x720", seconds=4) for n in range(4)
        ]
        quick = VideoRequest(prompt="a local fox", model="mimio-local", size="1280x720", seconds=4)
        asks = [validate_request(a, max_reference_bytes=1, models=running.models) for a in [*slow, quick]]
        videos = running.engine.submit(asks[:4]) + running.engine.submit(asks[4:])
        (done,) = running.engine.wait([videos[-1].id], timeout=60)
        assert done.status is VideoStatus.COMPLETED, done.error
        fal_videos = running.store.get_videos([v.id for v in videos[:4]])
        assert sorted(v.status.value for v in fal_videos) == ["generating", "generating", "queued", "queued"]
        assert len(fal.submissions) == 2  # fal's own two slots
    finally:
        running.close()
