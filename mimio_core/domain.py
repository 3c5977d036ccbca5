"""Typed domain objects shared by the store, the providers, the engine and the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from mimio_core.catalogue import ReferenceKind

LOCAL_USER_ID = "00000000-0000-4000-8000-000000000001"
"""The single owner of every record when no sign-in is configured."""


class VideoStatus(StrEnum):
    """Where a video is in its life; `mimio_core.status` says which changes are allowed."""

    QUEUED = "queued"  # recorded, waiting for a provider slot
    CLAIMED = "claimed"  # an engine holds it and will send its create call (or waits out a busy provider)
    CREATING = "creating"  # the create call is out: whether the provider started a job is not known yet
    GENERATING = "generating"  # the provider has the job (`external_video_id`)
    TRANSFERRING = "transferring"  # the provider finished; the engine downloads and stores the file
    COMPLETED = "completed"  # the file is in storage
    FAILED = "failed"  # `failure_kind` and `error` say why; Retry can try again
    CANCELLED = "cancelled"  # a person stopped it; `error` says whether its provider job may still run

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_active(self) -> bool:
        """Held by an engine (under a lease) and counted against its provider's concurrency."""
        return self in ACTIVE_STATES


ACTIVE_STATES = frozenset(
    {VideoStatus.CLAIMED, VideoStatus.CREATING, VideoStatus.GENERATING, VideoStatus.TRANSFERRING}
)
FINAL_STATES = frozenset({VideoStatus.COMPLETED, VideoStatus.FAILED, VideoStatus.CANCELLED})


class FailureKind(StrEnum):
    """Why a video failed, recorded with every failure: what Retry does depends on it, never on the
    message text."""

    INVALID = "invalid"  # the request cannot be made as recorded (its reference, its model)
    REFUSED = "refused"  # the provider refused the request (a policy, a parameter): edit before retrying
    NOT_STARTED = "not_started"  # the provider stayed unable to start it until MIMIO_TIMEOUT
    UNKNOWN_START = "unknown_start"  # the create call went out and its answer was lost
    PROVIDER_FAILED = "provider_failed"  # the provider's job failed
    TIMED_OUT = "timed_out"  # the job ran past MIMIO_TIMEOUT; it is kept
    TRANSFER_FAILED = "transfer_failed"  # the finished video could not be downloaded; the job is kept
    STORAGE_REFUSED = "storage_refused"  # storage refused the file for good; the job is kept
    INTERNAL = "internal"  # an unexpected error in the engine; the log has the traceback

    @property
    def keeps_job(self) -> bool:
        """Whether the provider's job may still hold the video, so Retry fetches it instead of
        generating (and billing) again."""
        return self in JOB_KEPT


JOB_KEPT = frozenset(
    {FailureKind.TIMED_OUT, FailureKind.TRANSFER_FAILED, FailureKind.STORAGE_REFUSED, FailureKind.INTERNAL}
)


class UserRequest(StrEnum):
    """What a person asked for a video: recorded on it, carried out by the engine that holds it (or
    the next one to look), so the web tier needs no engine and makes no provider call."""

    RETRY = "retry"
    CANCEL = "cancel"
    DELETE = "delete"


@dataclass(frozen=True)
class EngineBeat:
    """One engine's heartbeat: who it is, where it runs, and how many videos it holds now."""

    owner: str
    host: str
    pid: int
    version: str
    started_at: datetime
    videos_held: int


@dataclass(frozen=True)
class QueueShare:
    """One provider's share of the queue, so each provider has its own concurrency: the videos of
    `models`, or (`exclude`) of every other model; `models=None` is the whole queue."""

    models: frozenset[str] | None = None
    exclude: bool = False

    def holds(self, model: str) -> bool:
        return self.models is None or (model in self.models) != self.exclude


@dataclass(frozen=True)
class ReferenceUpload:
    """A reference file as the user gave it: the name is for messages only, never for its type."""

    name: str
    data: bytes


@dataclass(frozen=True)
class CheckedReference:
    """A reference whose bytes were inspected and accepted."""

    name: str
    data: bytes
    mime: str
    kind: ReferenceKind


@dataclass(frozen=True)
class VideoRequest:
    """What a person asks for; `validation.validate_request` fills defaults and checks it."""

    prompt: str
    title: str = ""
    model: str | None = None
    size: str | None = None
    seconds: int | str | None = None
    reference: ReferenceUpload | None = None
    project_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class VideoSpec:
    """What a video is made of, declared once: a valid request, a new record, a tracked video and a
    provider's job request all are one (and `spec_fields` copies it from one to the next)."""

    prompt: str
    model: str
    size: str
    seconds: int


class SpecFields(TypedDict):
    prompt: str
    model: str
    size: str
    seconds: int


def spec_fields(source: VideoSpec) -> SpecFields:
    """The `VideoSpec` part of any of them, as keyword arguments for another."""
    return {"prompt": source.prompt, "model": source.model, "size": source.size, "seconds": source.seconds}


@dataclass(frozen=True, kw_only=True)
class ValidRequest(VideoSpec):
    """A request that passed validation: every field is set and allowed for its model."""

    title: str
    reference: CheckedReference | None
    project_id: str | None


@dataclass(frozen=True, kw_only=True)
class TrackedVideo(VideoSpec):
    """One video as the store records it; the store is the source of truth."""

    id: str
    user_id: str
    title: str
    status: VideoStatus
    progress: int
    created_at: datetime
    updated_at: datetime
    project_id: str | None = None
    batch_id: str | None = None
    external_video_id: str | None = None
    error: str | None = None
    storage_path: str | None = None
    thumbnail_path: str | None = None
    reference_path: str | None = None
    reference_type: str | None = None  # recorded at upload, when its bytes were checked; None: older rows
    started_at: datetime | None = None
    # set just before the provider's create call: a record with this and no job id was maybe created
    create_started_at: datetime | None = None
    completed_at: datetime | None = None
    status_note: str | None = None  # where an active video is at its provider; cleared on each change
    failure_kind: FailureKind | None = None  # set exactly when `status` is FAILED
    requested: UserRequest | None = None  # a person's request the engine has not carried out yet
    requested_at: datetime | None = None
    paused_at: datetime | None = None  # a queued video its owner paused: no engine claims it
    priority: int = 0  # of its submission: higher is sent first
    queue_order: float | None = None  # its place among its owner's waiting videos (None: by age)
    not_before: datetime | None = None  # a scheduled run: no engine sends it before this time

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def is_paused(self) -> bool:
        return self.status is VideoStatus.QUEUED and self.paused_at is not None

    def is_scheduled(self, now: datetime) -> bool:
        """Queued for a time still to come."""
        return self.status is VideoStatus.QUEUED and self.not_before is not None and self.not_before > now


@dataclass(frozen=True)
class Project:
    id: str
    user_id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
