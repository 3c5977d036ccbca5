"""The storage interfaces every backend implements: video records, projects, and files.

The engine and the pages depend on these, never on SQLite or Supabase directly.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mimio_core.domain import Project, QueueShare, TrackedVideo, VideoStatus
from mimio_core.errors import BadInput, StorageFailure
from mimio_core.status import require_transition


class StorageError(StorageFailure):
    """A record or file backend did not do what was asked (unreachable, a server error); the message
    says which step and why. Trying again later may work. An OSError, like a local disk's failures."""


class StorageRefused(StorageError):
    """The backend refused for good (a file over its size limit): trying again cannot help."""


class ProjectError(BadInput):
    """A project operation a person asked for cannot be done; the message says why."""


MAX_PROJECT_NAME = 80
# Record fields the engine may set alongside a status change; anything else is a bug.
WHOLE_QUEUE = QueueShare()  # one provider: every queued video shares its slots
WRITABLE_FIELDS = frozenset(
    {"progress", "external_video_id", "error", "storage_path", "thumbnail_path", "started_at", "completed_at"}
)


def project_name(name: str) -> str:
    """A project name tidied, or `ProjectError` saying what is wrong with it."""
    name = " ".join(name.split())
    if not name:
        raise ProjectError("A project needs a name.")
    if len(name) > MAX_PROJECT_NAME:
        raise ProjectError(f"A project name can have at most {MAX_PROJECT_NAME} characters.")
    return name


@dataclass(frozen=True)
class NewVideo:
    """The fields a video record starts with; it always starts `queued`."""

    id: str
    user_id: str
    title: str
    prompt: str
    model: str
    size: str
    seconds: int
    project_id: str | None = None
    batch_id: str | None = None
    reference_path: str | None = None


@dataclass(frozen=True)
class Usage:
    """Completed videos of one project (None: none), model and size, for spend summaries."""

    project_id: str | None
    model: str
    size: str
    videos: int
    seconds: int


@dataclass(frozen=True)
class VideoFilter:
    """What My Videos and `list` narrow by; None means no restriction."""

    status: VideoStatus | None = None
    project_id: str | None = None
    model: str | None = None
    search: str | None = None


class VideoStore(ABC):
    """Video records and projects. Status changes go through `transition` and `claim_queued` only."""

    # projects
    @abstractmethod
    def create_project(self, user_id: str, name: str, description: str = "") -> Project: ...

    @abstractmethod
    def list_projects(self, user_id: str) -> list[Project]: ...

    @abstractmethod
    def get_project(self, user_id: str, project_id: str) -> Project | None: ...

    @abstractmethod
    def rename_project(
        self, user_id: str, project_id: str, name: str, description: str | None = None
    ) -> Project:
        """`ProjectError` for a blank or taken name, or a project that is not the user's."""

    @abstractmethod
    def delete_project(self, user_id: str, project_id: str) -> None:
        """Delete the project; its videos stay, without a project."""

    @abstractmethod
    def project_video_counts(self, user_id: str) -> dict[str, int]:
        """Number of videos per project id (projects without videos are absent)."""

    # videos
    @abstractmethod
    def insert_videos(self, videos: list[NewVideo]) -> list[TrackedVideo]:
        """Record all of them in one transaction, as `queued`; `ProjectError` (and nothing recorded)
        when a project is not the user's. Ids already recorded for the same user are left as they are
        (a repeated submission), and their records returned."""

    @abstractmethod
    def get_video(self, video_id: str) -> TrackedVideo | None: ...

    @abstractmethod
    def get_videos(self, video_ids: list[str]) -> list[TrackedVideo]:
        """The records that exist among these ids, in the order asked."""

    @abstractmethod
    def list_videos(
        self, user_id: str, where: VideoFilter = VideoFilter(), limit: int = 50, offset: int = 0
    ) -> list[TrackedVideo]:
        """Newest first."""

    @abstractmethod
    def count_videos(self, user_id: str, where: VideoFilter = VideoFilter()) -> int: ...

    @abstractmethod
    def delete_video(self, video_id: str) -> None: ...

    @abstractmethod
    def usage(self, user_id: str) -> list[Usage]:
        """Completed videos grouped by project, model and size."""

    @abstractmethod
    def update_progress(
        self, video_id: str, owner: str, progress: int, external_video_id: str | None, note: str | None = None
    ) -> bool:
        """Save provider progress (never lower), the job id once known, and where the job is (`note`,
        replacing the last one), for a video this engine holds; False when it no longer does
        (cancelled, deleted, or taken over)."""

    @abstractmethod
    def mark_creating(self, video_ids: list[str], owner: str, *, sent: bool = True) -> None:
        """Note that a create call for these videos is about to go out (see `create_started_at`), or
        (`sent=False`) that it provably started nothing, so sending it again cannot bill twice."""

    # status changes: the only two doors, both checked against the state machine
    def transition(
        self,
        video_id: str,
        current: VideoStatus,
        new: VideoStatus,
        owner: str | None = None,
        **fields: Any,
    ) -> TrackedVideo | None:
        """Move a video from `current` to `new`, setting `fields` too.

        Returns None, changing nothing, when the record is no longer `current` (or, with `owner`,
        no longer held by that engine): someone else got there first.
        """
        require_transition(current, new)
        if unknown := set(fields) - WRITABLE_FIELDS:
            raise ValueError(f"not a writable video field: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {**fields, "status": str(new), "status_note": None}
        if new.is_final:  # a finished video is nobody's work any more
            values["lease_owner"] = values["lease_expires_at"] = None
        if new is VideoStatus.COMPLETED:
            values.setdefault("completed_at", datetime.now(UTC))
            values["progress"] = 100
        return self._write_transition(video_id, current, owner, values)

    def claim_queued(
        self, owner: str, capacity: int, lease_seconds: float, share: QueueShare = WHOLE_QUEUE
    ) -> list[TrackedVideo]:
        """Promote the oldest queued videos of `share` to `processing` while fewer than `capacity` of
        that share are active (each provider's share has its own capacity)."""
        require_transition(VideoStatus.QUEUED, VideoStatus.PROCESSING)
        return self._claim_queued(owner, capacity, lease_seconds, share)

    @abstractmethod
    def _write_transition(
        self, video_id: str, current: VideoStatus, owner: str | None, values: dict[str, Any]
    ) -> TrackedVideo | None:
        """Set `values` (datetimes to be stored in the backend's format) where the video is still
        `current` (and held by `owner`, when given); the updated record, or None."""

    @abstractmethod
    def _claim_queued(
        self, owner: str, capacity: int, lease_seconds: float, share: QueueShare
    ) -> list[TrackedVideo]: ...

    @abstractmethod
    def hold_leases(self, owner: str, lease_seconds: float) -> list[TrackedVideo]:
        """Renew this engine's leases, take over `processing` videos whose lease ran out, and return
        every `processing` video this engine now holds. This is how unfinished work resumes."""

    @abstractmethod
    def lease_owners(self) -> set[str]:
        """Engines that hold a lease on some video now."""

    @abstractmethod
    def release_leases(self, owner: str) -> int:
        """Drop every lease of an engine known to be dead, so its work resumes without waiting."""

    @abstractmethod
    def close(self) -> None: ...


class FileStorage(ABC):
    """Where finished videos and reference files live, addressed by a key such as `user/id.mp4`."""

    @abstractmethod
    def put_file(self, key: str, source: Path, content_type: str) -> None:
        """Store a local file, streamed: a 300 MB video must not be read into memory."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def open_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The stored bytes, a chunk at a time."""

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.open_chunks(key))

    @abstractmethod
    def media_source(self, key: str) -> str:
        """What a player can load: a local file path, or a short-lived signed URL."""

    @abstractmethod
    def prefetch_media_sources(self, keys: Sequence[str]) -> None:
        """Ready the sources of a page of files at once (one request where a backend signs URLs),
        so the `media_source` calls that follow cost none."""

    @abstractmethod
    def delete(self, key: str) -> None: ...


def video_key(user_id: str, video_id: str) -> str:
    return f"{user_id}/{video_id}.mp4"


def thumbnail_key(user_id: str, video_id: str) -> str:
    return f"{user_id}/{video_id}.jpg"


def reference_key(user_id: str, digest: str, mime: str) -> str:
    extension = mime.split("/")[-1].replace("quicktime", "mov").replace("jpeg", "jpg")
    return f"{user_id}/references/{digest}.{extension}"


def is_own_reference(user_id: str, key: str) -> bool:
    """Whether `key` is one of `user_id`'s uploaded references (the shape `reference_key` makes; the
    Supabase migration `reference_in_own_folder` checks the same): never another user's file, a video
    or a path that climbs out."""
    return re.fullmatch(rf"{re.escape(user_id)}/references/[0-9a-f]{{64}}\.[a-z0-9]{{2,5}}", key) is not None


def video_from_row(row: Any, to_time: Callable[[Any], datetime | None]) -> TrackedVideo:
    """A `videos` row (any backend; `to_time` reads its timestamp format) as a TrackedVideo."""

    def required_time(name: str) -> datetime:
        value = to_time(row[name])
        assert value is not None, name
        return value

    return TrackedVideo(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        project_id=None if row["project_id"] is None else str(row["project_id"]),
        title=row["title"],
        prompt=row["prompt"],
        model=row["model"],
        size=row["size"],
        seconds=row["duration_seconds"],
        status=VideoStatus(row["status"]),
        progress=row["progress"],
        external_video_id=row["external_video_id"],
        error=row["error"],
        storage_path=row["storage_path"],
        thumbnail_path=row["thumbnail_path"],
        reference_path=row["reference_path"],
        batch_id=None if row["batch_id"] is None else str(row["batch_id"]),
        created_at=required_time("created_at"),
        updated_at=required_time("updated_at"),
        started_at=to_time(row["started_at"]),
        create_started_at=to_time(row["create_started_at"]),
        completed_at=to_time(row["completed_at"]),
        # a Supabase project not yet migrated has no such column: its videos show no note
        # (`in row` would search a sqlite3.Row's values, not its names)
        status_note=row["status_note"] if "status_note" in row.keys() else None,  # noqa: SIM118
    )


def project_from_row(row: Any, to_time: Callable[[Any], datetime | None]) -> Project:
    created, updated = to_time(row["created_at"]), to_time(row["updated_at"])
    assert created is not None and updated is not None
    return Project(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        name=row["name"],
        description=row["description"],
        created_at=created,
        updated_at=updated,
    )
