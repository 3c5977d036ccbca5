"""List-price estimates from the catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

from mimio_core.catalogue import MODELS
from mimio_core.domain import TrackedVideo, VideoStatus
from mimio_core.spend import ProjectSpend, run_cost, spend_by_project
from mimio_core.store.base import Usage

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def video(model: str, size: str, seconds: int) -> TrackedVideo:
    return TrackedVideo(
        id="v",
        user_id="u",
        title="t",
        prompt="p",
        model=model,
        size=size,
        seconds=seconds,
        status=VideoStatus.COMPLETED,
        progress=100,
        created_at=NOW,
        updated_at=NOW,
    )


def test_a_runs_cost_adds_each_video_at_its_models_price():
    videos = [
        video("sora-2", "720x1280", 8),
        video("sora-2-pro", "1792x1024", 12),
        video("sora-2-pro", "1280x720", 4),
    ]
    assert run_cost(MODELS, videos) == 0.8 + 6.0 + 1.2


def test_a_run_with_an_unpriced_model_has_no_total():
    assert run_cost(MODELS, [video("sora-2", "720x1280", 4), video("gateway-x", "720x1280", 4)]) is None


def test_spend_per_project_groups_sums_and_sorts():
    usage = [
        Usage("ads", "sora-2", "720x1280", 3, 24),  # 24 s at $0.10
        Usage("ads", "sora-2-pro", "1024x1792", 1, 12),  # 12 s at $0.50
        Usage(None, "sora-2", "1280x720", 2, 8),
        Usage("lab", "unknown-model", "720x1280", 1, 4),
    ]
    assert spend_by_project(MODELS, usage) == [
        ProjectSpend("ads", 4, 36, 8.4),
        ProjectSpend(None, 2, 8, 0.8),
        ProjectSpend("lab", 1, 4, None),
    ]
