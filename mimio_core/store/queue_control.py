"""Steering one's own queue before anything is sent or billed: pause and resume (a video, a project,
the whole queue), the order videos are sent in, editing a video that waits, and one request for many
videos (cancel a run, retry every failed one). The queue lives in the database, so every step holds
across restarts and workers.

A paused video is a queued video no engine claims (`paused_at` is set); resuming it keeps its place.
A paused project or queue also pauses what is submitted into it until it is resumed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

from mimio_core.domain import FailureKind, TrackedVideo, UserRequest, VideoSpec, VideoStatus
from mimio_core.errors import BadInput

S = VideoStatus
MAX_PRIORITY = 1000  # a submission's priority lies within ±this (the Supabase migration checks it too)
ALL_PROJECTS = None  # the scope of a pause of the whole queue, not one project's
# failures a Retry without an edit would meet again: the provider refused it, or it cannot be made
NEEDS_EDIT = frozenset({FailureKind.REFUSED, FailureKind.INVALID})


class Move(StrEnum):
    """Where a waiting video goes in its owner's queue."""

    NEXT = "next"  # before every other waiting video of its owner
    UP = "up"  # one place earlier
    DOWN = "down"  # one place later


class QueueRefused(BadInput):
    """A queue action that cannot apply to the video as it is now; the message says why."""


@dataclass(frozen=True)
class Asked:
    """What one request for many videos did: how many it was recorded on, how many it skipped (it
    did not apply to them, e.g. a retry of a refused video, which needs an edited prompt)."""

    asked: int
    skipped: int


@dataclass(frozen=True, kw_only=True)
class VideoEdit(VideoSpec):
    """The new title and request of a waiting video, validated as the form validates a new one."""

    title: str


def not_waiting(video: TrackedVideo) -> str:
    """Why a video cannot be paused, moved or edited now."""
    if video.status is S.QUEUED:  # a cancel or a delete is asked
        return f"This video is being {'deleted' if video.requested is UserRequest.DELETE else 'cancelled'}."
    return f"This video is {video.status} already, so it can no longer be changed in the queue."


Place = tuple[str, int, float]  # a waiting video's id, priority and place in its owner's queue


def moved_places(video: Place, neighbour: Place | None, move: Move) -> list[Place]:
    """The new (id, priority, place) of each video a move changes. `neighbour`: for NEXT the first
    waiting video of the owner, else the one just before (UP) or after (DOWN) it; None at that end."""
    if neighbour is None or neighbour[0] == video[0]:
        return []
    other_id, priority, place = neighbour
    if move is Move.NEXT:
        return [(video[0], priority, place - 1.0)]
    return [(video[0], priority, place), (other_id, video[1], video[2])]


class QueueControl(ABC):
    """A person's side of the queue, on their own videos only (`user_id`)."""

    @abstractmethod
    def pause(self, user_id: str, video_ids: list[str]) -> int:
        """Pause these waiting videos; how many were paused (others had started or were paused)."""

    @abstractmethod
    def resume(self, user_id: str, video_ids: list[str]) -> int:
        """Resume these paused videos in their old places; how many were resumed."""

    @abstractmethod
    def pause_queue(self, user_id: str, project_id: str | None = ALL_PROJECTS) -> int:
        """Pause the project's (or the whole queue's) waiting videos, and those submitted into it
        until it is resumed; how many were paused now."""

    @abstractmethod
    def resume_queue(self, user_id: str, project_id: str | None = ALL_PROJECTS) -> int:
        """End that pause and resume every paused video in it; how many were resumed."""

    @abstractmethod
    def paused_queues(self, user_id: str) -> set[str | None]:
        """The paused scopes: project ids, and `ALL_PROJECTS` when the whole queue is paused."""

    @abstractmethod
    def move(self, user_id: str, video_id: str, move: Move) -> TrackedVideo:
        """Change a waiting video's place in its owner's queue; `QueueRefused` once it has started."""

    @abstractmethod
    def edit(self, user_id: str, video_id: str, edit: VideoEdit) -> TrackedVideo:
        """Replace a waiting video's title and request; `QueueRefused` once it has started."""

    @abstractmethod
    def ask_many(self, user_id: str, video_ids: list[str], request: UserRequest) -> Asked:
        """Record `request` on each of these videos it applies to now: a cancel on those not final, a
        retry on failed or cancelled ones except those that need an edit first (`NEEDS_EDIT`). A
        video being deleted is skipped; one asked already keeps its first request time."""
