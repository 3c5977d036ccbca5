"""The video status state machine: allowed transitions, written once as data.

Every status change goes through `VideoStore.transition`, which asks `require_transition` first.
"""

from __future__ import annotations

from types import MappingProxyType

from mimio_core.domain import VideoStatus
from mimio_core.errors import InternalError

Q, P, C, F = VideoStatus.QUEUED, VideoStatus.PROCESSING, VideoStatus.COMPLETED, VideoStatus.FAILED

TRANSITIONS: MappingProxyType[VideoStatus, frozenset[VideoStatus]] = MappingProxyType(
    {
        # claimed for a provider slot; cancelled before it started
        Q: frozenset({P, F}),
        # stored; provider failure, timeout, cancel or a transfer that kept failing
        P: frozenset({C, F}),
        # a completed video is final
        C: frozenset(),
        # retry as a new generation (back in the queue), or recover a finished provider job
        F: frozenset({Q, P}),
    }
)


class InvalidTransition(InternalError):
    """A status change that the state machine forbids: a bug, never user input."""


def require_transition(current: VideoStatus, new: VideoStatus) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"a video cannot go from {current} to {new}")
