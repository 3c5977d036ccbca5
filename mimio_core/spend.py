"""What videos cost at list price, from the catalogue: per run, and per project."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mimio_core.catalogue import ModelSpec
from mimio_core.domain import TrackedVideo
from mimio_core.store.base import Usage


@dataclass(frozen=True)
class ProjectSpend:
    project_id: str | None
    videos: int
    seconds: int
    cost: float | None  # None when some model or size has no known price


def video_cost(catalogue: Mapping[str, ModelSpec], model: str, size: str, seconds: int) -> float | None:
    spec = catalogue.get(model)
    return None if spec is None else spec.cost(size, seconds)


def run_cost(catalogue: Mapping[str, ModelSpec], videos: Iterable[TrackedVideo]) -> float | None:
    """The list price of a run's videos, or None when any of them has no known price."""
    total = 0.0
    for video in videos:
        cost = video_cost(catalogue, video.model, video.size, video.seconds)
        if cost is None:
            return None
        total += cost
    return round(total, 2)


def spend_by_project(catalogue: Mapping[str, ModelSpec], usage: Iterable[Usage]) -> list[ProjectSpend]:
    """Completed videos per project with their estimated cost, most expensive first."""
    totals: dict[str | None, tuple[int, int, float | None]] = {}
    for row in usage:
        videos, seconds, cost = totals.get(row.project_id, (0, 0, 0.0))
        # the group's seconds are summed, and prices are per second: one call prices the whole group
        price = video_cost(catalogue, row.model, row.size, row.seconds)
        totals[row.project_id] = (
            videos + row.videos,
            seconds + row.seconds,
            None if cost is None or price is None else round(cost + price, 2),
        )
    spends = [ProjectSpend(project_id, *values) for project_id, values in totals.items()]
    return sorted(spends, key=lambda s: (s.cost is None, -(s.cost or 0), -s.seconds))
