"""Every active provider behind the one provider interface: each model goes to the provider serving it.

A job id names its provider (`fal:0a1b...`), so the record in the store says where its job lives even
after the configuration changes; an id without a known prefix (recorded before there were several
providers) belongs to the default provider.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import BinaryIO, cast

from mimio_core.catalogue import ProviderKind
from mimio_core.config import PROVIDER_KEYS
from mimio_core.domain import QueueShare, VideoSpec
from mimio_core.providers.base import (
    Health,
    JobRequest,
    JobStatus,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    StartedJob,
    VideoProvider,
)

log = logging.getLogger(__name__)


class ProviderRouter(VideoProvider):
    """Routes creates by model (`routes`: model name -> provider name) and everything else by job id."""

    name = "router"

    def __init__(
        self,
        members: Mapping[str, VideoProvider],
        routes: Mapping[str, str],
        default: str,
        legacy: str | None = None,
    ) -> None:
        """`legacy`: the provider that holds job ids recorded without a prefix (before there were
        several providers, the one provider was Mimio's, the gateway, or the embedded server)."""
        if default not in members or not set(routes.values()) <= set(members):
            raise ValueError("every route and the default must name a member provider")
        self.members, self.routes, self.default = dict(members), dict(routes), default
        self.legacy = legacy if legacy in self.members else default
        self._shares = self._make_shares()
        self.label = " + ".join(member.label for member in self.members.values())
        self.base_url = self.members[default].base_url

    # which member
    def _for_model(self, model: str) -> str:
        if model not in self.routes:
            raise ProviderRefused(
                f"No configured provider offers the model {model!r}: configure the provider that serves "
                "it (see `python -m mimio_core models`), or make it again with another model."
            )
        return self.routes[model]

    def _split(self, job_id: str) -> tuple[str, str]:
        """(provider name, that provider's own job id)."""
        prefix, sep, own = job_id.partition(":")
        if sep and prefix in self.members:
            return prefix, own
        if sep and prefix in PROVIDER_KEYS:  # a provider, but not one configured now
            raise ProviderUnavailable(
                f"Job {job_id} is at the {prefix} provider, which is not configured now: set "
                f"{PROVIDER_KEYS[cast(ProviderKind, prefix)]} again to finish it."
            )
        return self.legacy, job_id

    def queue_shares(self) -> list[QueueShare]:
        return list(self._shares)

    def _make_shares(self) -> list[QueueShare]:
        """One share per provider, so a long fal batch does not hold up a local preview: each other
        provider's models, and for the default one every model but those (a model no provider serves
        any more is claimed there, and refused with a message that says so). Routes never change, so
        this is worked out once, not on every tick."""
        if len(self.members) == 1:
            return [QueueShare()]
        served = {name: frozenset(m for m, p in self.routes.items() if p == name) for name in self.members}
        others = frozenset().union(*(models for name, models in served.items() if name != self.default))
        shares = [QueueShare(models) for name, models in served.items() if name != self.default]
        return [*shares, QueueShare(others, exclude=True)]

    # creating
    def create(self, request: JobRequest) -> str:
        name = self._for_model(request.model)
        return f"{name}:{self.members[name].create(request)}"

    def create_variations(self, request: JobRequest, count: int) -> list[StartedJob]:
        name = self._for_model(request.model)
        return [self._named(name, job) for job in self.members[name].create_variations(request, count)]

    def create_batch(self, requests: list[JobRequest]) -> list[StartedJob]:
        """One call per provider for its share of the batch, answers in the order asked."""
        by_member: dict[str, list[int]] = defaultdict(list)
        answers: list[StartedJob | None] = [None] * len(requests)
        for index, request in enumerate(requests):
            try:
                by_member[self._for_model(request.model)].append(index)
            except ProviderRefused as exc:
                answers[index] = StartedJob.from_error(exc)
        for name, indexes in by_member.items():
            try:
                started = self.members[name].create_batch([requests[i] for i in indexes])
            except Exception as exc:  # the other providers' jobs are started: keep their answers
                failure = (
                    exc if isinstance(exc, ProviderError) else ProviderError(f"{type(exc).__name__}: {exc}")
                )
                started = [StartedJob.from_error(failure)] * len(indexes)
            for index, job in zip(indexes, started, strict=False):
                answers[index] = self._named(name, job)
        lost = StartedJob(error="The provider did not answer for this video.", refused=False)
        return [answer or lost for answer in answers]

    @staticmethod
    def _named(name: str, job: StartedJob) -> StartedJob:
        return job if job.job_id is None else StartedJob(job_id=f"{name}:{job.job_id}")

    def started_jobs(self, spec: VideoSpec, since: float, until: float) -> list[str] | None:
        name = self.routes.get(spec.model)
        if name is None:
            return []  # no provider serves the model now: nothing of it can be running anywhere known
        found = self.members[name].started_jobs(spec, since, until)
        return None if found is None else [f"{name}:{job_id}" for job_id in found]

    # watching
    def statuses(self, job_ids: Collection[str], *, fresh: bool = False) -> dict[str, JobStatus]:
        by_member: dict[str, dict[str, str]] = defaultdict(dict)  # provider -> own id -> our id
        for job_id in job_ids:
            try:
                name, own = self._split(job_id)
            except ProviderUnavailable:
                continue  # unknown while its provider is not configured; its timeout tells the user
            by_member[name][own] = job_id
        found = {}
        for name, ids in by_member.items():
            try:
                answers = self.members[name].statuses(list(ids), fresh=fresh)
            except Exception:  # one adapter's bug must not hide the other providers' jobs this tick
                log.exception("status of %d job(s) at %s unknown this time", len(ids), name)
                continue
            for own, status in answers.items():
                if own in ids:
                    found[ids[own]] = replace(status, job_id=ids[own])
        return found

    # fetching and cleaning up
    def download(self, job_id: str, out: BinaryIO) -> int:
        name, own = self._split(job_id)
        return self.members[name].download(own, out)

    def thumbnail(self, job_id: str) -> bytes | None:
        name, own = self._split(job_id)
        return self.members[name].thumbnail(own)

    def delete(self, job_id: str) -> None:
        name, own = self._split(job_id)
        self.members[name].delete(own)

    def health(self) -> Health:
        """The first member's problem, or answering when every member answers."""
        checks = (member.health() for member in self.members.values())
        return next((health for health in checks if health is not Health.ANSWERING), Health.ANSWERING)

    def close(self) -> None:
        for member in self.members.values():
            member.close()
