"""The video lifecycle: its allowed changes of state, written once as data.

Every change goes through the store's typed queue operations (`store.base.JobQueue`), which ask
`require_transition` first; on Supabase the migration `explicit_states` holds the same table
(`public.video_transitions`) and a trigger refuses any other change, whoever writes.
"""

from __future__ import annotations

from types import MappingProxyType

from mimio_core.domain import ACTIVE_STATES, VideoStatus
from mimio_core.errors import InternalError

S = VideoStatus

TRANSITIONS: MappingProxyType[VideoStatus, frozenset[VideoStatus]] = MappingProxyType(
    {
        # an engine claims it for a provider slot; a person cancels it
        S.QUEUED: frozenset({S.CLAIMED, S.CANCELLED}),
        # the create call goes out; the request cannot be made (its reference); cancelled
        S.CLAIMED: frozenset({S.CREATING, S.FAILED, S.CANCELLED}),
        # the provider started a job; it provably started nothing (try again later); refused; cancelled
        S.CREATING: frozenset({S.GENERATING, S.CLAIMED, S.FAILED, S.CANCELLED}),
        # the job finished and its file is being fetched; the job failed or timed out; cancelled
        S.GENERATING: frozenset({S.TRANSFERRING, S.FAILED, S.CANCELLED}),
        # stored; the transfer kept failing; cancelled
        S.TRANSFERRING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED}),
        # a completed video is final
        S.COMPLETED: frozenset(),
        # retry as a new generation, or watch the job it kept again
        S.FAILED: frozenset({S.QUEUED, S.GENERATING}),
        # retry as a new generation
        S.CANCELLED: frozenset({S.QUEUED}),
    }
)


class InvalidTransition(InternalError):
    """A change of state that the lifecycle forbids: a bug, never user input."""


def require_transition(current: VideoStatus, new: VideoStatus) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"a video cannot go from {current} to {new}")


# What a person filters by: each state a video rests in, and the four of a video at work as one.
STATE_GROUPS: MappingProxyType[str, frozenset[VideoStatus]] = MappingProxyType(
    {
        "queued": frozenset({S.QUEUED}),
        "in progress": ACTIVE_STATES,
        "completed": frozenset({S.COMPLETED}),
        "failed": frozenset({S.FAILED}),
        "cancelled": frozenset({S.CANCELLED}),
    }
)
