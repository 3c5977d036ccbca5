"""The storage interfaces every backend implements: video records, projects, and files.

The engine and the pages depend on these, never on SQLite or Supabase directly.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mimio_core.domain import (
    ACTIVE_STATES,
    EngineBeat,
    FailureKind,
    Project,
    QueueShare,
    TrackedVideo,
    UserRequest,
    VideoSpec,
    VideoStatus,
)
from mimio_core.errors import BadInput, StorageFailure
from mimio_core.status import require_transition
from mimio_core.store.queue_control import QueueControl


class StorageError(StorageFailure):
    """A record or file backend did not do what was asked (unreachable, a server error); the message
    says which step and why. Trying again later may work. An OSError, like a local disk's failures."""


class StorageRefused(StorageError):
    """The backend refused for good (a file over its size limit): trying again cannot help."""


class RequestRefused(BadInput):
    """A request a person made of a video that cannot apply to it now; the message says why."""


class ProjectError(BadInput):
    """A project operation a person asked for cannot be done; the message says why."""


S = VideoStatus
MAX_PROJECT_NAME = 80
WHOLE_QUEUE = QueueShare()  # one provider: every queued video shares its slots
# The columns a change of state writes, and their values (datetimes in the backend's own format).
Column = Literal[
    "status",
    "status_note",
    "failure_kind",
    "error",
    "progress",
    "external_video_id",
    "storage_path",
    "thumbnail_path",
    "started_at",
    "create_started_at",
    "completed_at",
    "lease_owner",
    "lease_expires_at",
    "requested_action",
    "requested_at",
    "paused_at",
]
Values = dict[Column, str | int | datetime | None]


GONE = "That video does not exist (it may have been deleted)."
DELETING = "This video is being deleted."


def request_refusal(video: TrackedVideo, request: UserRequest) -> str | None:
    """Why `request` cannot apply to the video as it is now, or None when it can."""
    if video.requested is UserRequest.DELETE:
        return DELETING
    if request is UserRequest.RETRY and video.status not in (S.FAILED, S.CANCELLED):
        return f"Only a failed or cancelled video can be retried; this one is {video.status}."
    if request is UserRequest.CANCEL and video.is_final:
        return f"This video is {video.status} already: there is nothing to cancel."
    return None


def project_name(name: str) -> str:
    """A project name tidied, or `ProjectError` saying what is wrong with it."""
    name = " ".join(name.split())
    if not name:
        raise ProjectError("A project needs a name.")
    if len(name) > MAX_PROJECT_NAME:
        raise ProjectError(f"A project name can have at most {MAX_PROJECT_NAME} characters.")
    return name


@dataclass(frozen=True, kw_only=True)
class NewVideo(VideoSpec):
    """The fields a video record starts with; it always starts `queued`."""

    id: str
    user_id: str
    title: str
    project_id: str | None = None
    batch_id: str | None = None
    reference_path: str | None = None
    reference_type: str | None = None  # its MIME type, as the upload's bytes showed it
    priority: int = 0  # of its submission: higher is sent first
    not_before: datetime | None = None  # a scheduled run: no engine sends it before this time


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

    states: frozenset[VideoStatus] | None = None
    project_id: str | None = None
    model: str | None = None
    search: str | None = None
    batch_id: str | None = None  # the videos of one submission (a run)


class Library(QueueControl, ABC):
    """A person's videos and projects: what the pages and the CLI read and record."""

    # projects
    @abstractmethod
    def create_project(self, user_id: str, name: str, description: str = "") -> Project: ...

    @abstractmethod
    def list_projects(self, user_id: str) -> list[Project]: ...

    @abstractmethod
    def get_project(self, user_id: str, project_id: str) -> Project | None: ...

    def find_project(self, user_id: str, name_or_id: str) -> Project | None:
        """The user's project of that id or name (what a person types at the command line)."""
        return next((p for p in self.list_projects(user_id) if name_or_id in (p.id, p.name)), None)

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
        """Newest first; like `count_videos`, without videos being deleted (asked to, not yet done)."""

    @abstractmethod
    def count_videos(self, user_id: str, where: VideoFilter = VideoFilter()) -> int: ...

    @abstractmethod
    def usage(self, user_id: str) -> list[Usage]:
        """Completed videos grouped by project, model and size (videos being deleted left out)."""

    def ask(self, user_id: str, video_id: str, request: UserRequest) -> TrackedVideo:
        """Record a person's `request` on their own video (replacing an earlier one) for the engine to
        carry out; `RequestRefused` when it is not theirs or the request cannot apply to it now."""
        video = self.get_video(video_id)
        if video is None or video.user_id != user_id:
            raise RequestRefused(GONE)
        if reason := request_refusal(video, request):
            raise RequestRefused(reason)
        asked = self._record_request(user_id, video_id, request)
        if asked is None:  # deleted, or asked to be, meanwhile
            now = self.get_video(video_id)
            raise RequestRefused(DELETING if now is not None else GONE)
        return asked

    @abstractmethod
    def _record_request(self, user_id: str, video_id: str, request: UserRequest) -> TrackedVideo | None:
        """Set the request (and its time, the backend's clock) on the user's video unless a delete is
        asked already (nothing may take its place); the record, or None when not set."""

    @abstractmethod
    def workers_online(self, within_seconds: float) -> int:
        """How many engines (the app's own, workers) have beaten within the last `within_seconds`."""

    @abstractmethod
    def close(self) -> None: ...


class JobQueue(ABC):
    """The engine's side: named, typed operations, the only way a video changes state. Each checks
    the lifecycle (`mimio_core.status`) and returns the changed record, or None, changing nothing,
    when the video is no longer where the operation expects it (or, with an `owner`, no longer held
    by that engine): someone else, a cancel or a delete got there first."""

    clock: Callable[[], float] = time.time  # seconds since the epoch; a test may turn it by hand

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def claim(
        self, owner: str, capacity: int, lease_seconds: float, share: QueueShare = WHOLE_QUEUE
    ) -> list[TrackedVideo]:
        """Take the oldest queued videos of `share` (queued -> claimed, under a lease) while fewer
        than `capacity` of that share are active (each provider's share has its own capacity)."""
        require_transition(VideoStatus.QUEUED, VideoStatus.CLAIMED)
        return self._claim(owner, capacity, lease_seconds, share)

    @abstractmethod
    def heartbeat(self, owner: str, lease_seconds: float) -> list[TrackedVideo]:
        """Renew this engine's leases, take over active videos whose lease ran out (or that nobody
        holds), and return every active video this engine now holds: how unfinished work resumes."""

    def creating(self, video_id: str, owner: str) -> TrackedVideo | None:
        """claimed -> creating: the create call is about to go out. From here on, a lost answer means
        the provider may have started (and billed) a job."""
        return self._move(video_id, {S.CLAIMED}, S.CREATING, owner, {"create_started_at": self._now()})

    def not_started(self, video_id: str, owner: str, note: str) -> TrackedVideo | None:
        """creating -> claimed: the provider proved it started nothing (down, busy), so sending the
        call again cannot bill twice; `note` says when it will be tried again."""
        return self._move(
            video_id, {S.CREATING}, S.CLAIMED, owner, {"create_started_at": None, "status_note": note}
        )

    def started(self, video_id: str, owner: str, job_id: str) -> TrackedVideo | None:
        """creating -> generating: the provider has job `job_id`."""
        return self._move(
            video_id, {S.CREATING}, S.GENERATING, owner, {"external_video_id": job_id, "progress": 0}
        )

    @abstractmethod
    def progress(self, video_id: str, owner: str, progress: int, note: str | None = None) -> bool:
        """Save provider progress (never lower; clamped to 0-100) and where the job is (`note`,
        replacing the last one) for an active video this engine holds; False when it no longer does."""

    def transferring(self, video_id: str, owner: str) -> TrackedVideo | None:
        """generating -> transferring: the job finished; its file is being fetched."""
        return self._move(video_id, {S.GENERATING}, S.TRANSFERRING, owner, {})

    def completed(
        self, video_id: str, owner: str, storage_path: str, thumbnail_path: str | None
    ) -> TrackedVideo | None:
        """transferring -> completed: the file (and its thumbnail, when one was made) is stored."""
        return self._move(
            video_id,
            {S.TRANSFERRING},
            S.COMPLETED,
            owner,
            {
                "storage_path": storage_path,
                "thumbnail_path": thumbnail_path,
                "completed_at": self._now(),
                "progress": 100,
            },
        )

    def failed(self, video_id: str, owner: str, kind: FailureKind, message: str) -> TrackedVideo | None:
        """An active video this engine holds -> failed, with why (`kind`) and what to do (`message`)."""
        return self._move(
            video_id, ACTIVE_STATES, S.FAILED, owner, {"failure_kind": str(kind), "error": message}
        )

    def cancelled(self, video_id: str, message: str) -> TrackedVideo | None:
        """A queued or active video -> cancelled, whoever holds it; `message` says whether its
        provider job may still run."""
        return self._move(video_id, {S.QUEUED, *ACTIVE_STATES}, S.CANCELLED, None, {"error": message})

    def requeue(self, video_id: str) -> TrackedVideo | None:
        """A failed or cancelled video -> queued, for a new generation of the same request."""
        return self._move(
            video_id,
            {S.FAILED, S.CANCELLED},
            S.QUEUED,
            None,
            {"error": None, "failure_kind": None, "progress": 0},
        )

    def recover(self, video_id: str) -> TrackedVideo | None:
        """failed -> generating: watch the job it kept again (a timeout, a failed transfer); the next
        heartbeat of any engine takes it, with a new MIMIO_TIMEOUT from now."""
        return self._move(
            video_id,
            {S.FAILED},
            S.GENERATING,
            None,
            {"error": None, "failure_kind": None, "started_at": self._now()},
        )

    @abstractmethod
    def requested(self, owner: str, limit: int = 100) -> list[TrackedVideo]:
        """Videos with a person's request that this engine may carry out now: not active, held by it,
        or held by nobody (a lease ran out); oldest request first."""

    @abstractmethod
    def clear_request(self, video_id: str, request: UserRequest) -> bool:
        """Drop `request` where it is still the video's: carried out, or no longer applying (a retry of
        a video that is not failed any more). Another request asked meanwhile stays. False when it
        is not the video's request."""

    @abstractmethod
    def remove(self, video_id: str) -> bool:
        """Delete the record of a video a person asked to delete (its files are gone)."""

    @abstractmethod
    def beat(self, beat: EngineBeat) -> None:
        """Record this engine's heartbeat (the backend's clock says when)."""

    @abstractmethod
    def forget_engine(self, owner: str) -> None:
        """Drop an engine's heartbeat row: it stopped."""

    @abstractmethod
    def reference_used(self, key: str) -> bool:
        """Whether any video records this stored reference (one image is stored once per owner and
        shared by every video made from it)."""

    @abstractmethod
    def jobs_held(self, job_ids: Collection[str]) -> set[str]:
        """Which of these provider job ids a video of this store already holds (a job found at the
        provider for a lost create may be another video's)."""

    @abstractmethod
    def lease_owners(self) -> set[str]:
        """Engines that hold a lease on some video now."""

    @abstractmethod
    def release(self, owner: str) -> int:
        """Drop every lease of an engine known to be dead, so its work resumes without waiting."""

    def _move(
        self,
        video_id: str,
        sources: Collection[VideoStatus],
        new: VideoStatus,
        owner: str | None,
        values: Values,
    ) -> TrackedVideo | None:
        """The one door of every change of state: from one of `sources` (each checked against the
        lifecycle) to `new`, setting `values`; every change clears the provider's note."""
        for source in sources:
            require_transition(source, new)
        # any change of state ends a pause (only a queued video can be paused)
        row: Values = {"status_note": None, "failure_kind": None, "paused_at": None, **values}
        row["status"] = str(new)
        if new.is_final or new is VideoStatus.QUEUED:  # nobody's work any more
            row["lease_owner"] = row["lease_expires_at"] = None
        return self._write_move(video_id, frozenset(sources), owner, row)

    @abstractmethod
    def _write_move(
        self, video_id: str, sources: frozenset[VideoStatus], owner: str | None, values: Values
    ) -> TrackedVideo | None:
        """Set `values` (datetimes to be stored in the backend's format) where the video is in one of
        `sources` (and held by `owner`, when given); the changed record, or None."""

    @abstractmethod
    def _claim(
        self, owner: str, capacity: int, lease_seconds: float, share: QueueShare
    ) -> list[TrackedVideo]: ...


class VideoStore(Library, JobQueue, ABC):
    """A backend that is both (SQLite, and Supabase under the service role)."""


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

    def remove_partial_writes(self, pid: int) -> int:
        """Delete what a dead process (`pid`, on this machine) left half written; how many went. A
        storage whose writes are never partial on disk has none."""
        return 0

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
        reference_type=row["reference_type"],
        batch_id=None if row["batch_id"] is None else str(row["batch_id"]),
        created_at=required_time("created_at"),
        updated_at=required_time("updated_at"),
        started_at=to_time(row["started_at"]),
        create_started_at=to_time(row["create_started_at"]),
        completed_at=to_time(row["completed_at"]),
        status_note=row["status_note"],
        failure_kind=None if row["failure_kind"] is None else FailureKind(row["failure_kind"]),
        requested=None if row["requested_action"] is None else UserRequest(row["requested_action"]),
        requested_at=to_time(row["requested_at"]),
        paused_at=to_time(row["paused_at"]),
        priority=row["priority"],
        queue_order=None if row["queue_order"] is None else float(row["queue_order"]),
        not_before=to_time(row["not_before"]),
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
