"""Typed domain objects shared by the store, the providers, the engine and the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mimio_core.catalogue import ReferenceKind

LOCAL_USER_ID = "00000000-0000-4000-8000-000000000001"
"""The single owner of every record when no sign-in is configured."""


class VideoStatus(StrEnum):
    QUEUED = "queued"  # recorded, waiting for a provider slot
    PROCESSING = "processing"  # a provider job exists (or is being created) and is tracked
    COMPLETED = "completed"  # the file is in storage
    FAILED = "failed"  # final unless retried; `error` says why

    @property
    def is_final(self) -> bool:
        return self in (VideoStatus.COMPLETED, VideoStatus.FAILED)


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


@dataclass(frozen=True)
class ValidRequest:
    """A request that passed validation: every field is set and allowed for its model."""

    prompt: str
    title: str
    model: str
    size: str
    seconds: int
    reference: CheckedReference | None
    project_id: str | None


@dataclass(frozen=True)
class TrackedVideo:
    """One video as the store records it; the store is the source of truth."""

    id: str
    user_id: str
    title: str
    prompt: str
    model: str
    size: str
    seconds: int
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
    started_at: datetime | None = None
    # set just before the provider's create call: a record with this and no job id was maybe created
    create_started_at: datetime | None = None
    completed_at: datetime | None = None
    status_note: str | None = None  # where a processing video is at its provider; cleared on each change

    @property
    def is_final(self) -> bool:
        return self.status.is_final


@dataclass(frozen=True)
class Project:
    id: str
    user_id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
