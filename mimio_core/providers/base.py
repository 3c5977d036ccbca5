"""The interface every video provider implements, and the provider-neutral job types."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from mimio_core.domain import CheckedReference, QueueShare, VideoSpec
from mimio_core.errors import ProviderFailure


class ProviderError(ProviderFailure):
    """A provider call failed; the message is fit to show a person."""


class ProviderRefused(ProviderError):
    """The provider answered and said no (4xx, or `success: false`): retrying unchanged will not help."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or kept failing after retries: a later attempt may work."""


class ProviderNotStarted(ProviderUnavailable):
    """The answer proves the request was not acted on (no connection was made, or 408, 425, 429 or
    503): a create that failed so started nothing, and may be sent again later without billing twice."""


class Health(StrEnum):
    """What a health check found, worded for the sidebar ("<provider> · <health>")."""

    ANSWERING = "answering"
    KEY_REFUSED = "refuses the API key"
    NOT_ANSWERING = "not answering"


class JobState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


FINAL_WORDS = {"completed": JobState.COMPLETED, "failed": JobState.FAILED, "error": JobState.FAILED}


def job_state(word: str) -> JobState:
    """Map a provider's status word; unknown words (queued, pending, ...) are never final."""
    return FINAL_WORDS.get(word.strip().lower(), JobState.RUNNING)


@dataclass(frozen=True, kw_only=True)
class JobRequest(VideoSpec):
    """What a provider needs to start one generation."""

    reference: CheckedReference | None = None

    def wire_fields(self) -> dict[str, str]:
        """The fields both APIs name alike; `seconds` travels as a string (an integer gets a 400)."""
        return {"prompt": self.prompt, "model": self.model, "size": self.size, "seconds": str(self.seconds)}


@dataclass(frozen=True)
class StartedJob:
    """One item of a create call: a job id, or why it was not started (`refused`: the provider said
    no to this item; otherwise it could not be asked; `not_started`: it provably started nothing, so
    the same create may be sent again later)."""

    job_id: str | None = None
    error: str | None = None
    refused: bool = True
    not_started: bool = False

    @classmethod
    def from_error(cls, error: ProviderError) -> StartedJob:
        return cls(
            error=str(error),
            refused=isinstance(error, ProviderRefused),
            not_started=isinstance(error, ProviderNotStarted),
        )


@dataclass(frozen=True)
class JobFailure:
    """Why a provider's job failed, as a person should read it; `by_policy`: its content was refused
    (a moderation or content policy), so the same request would be refused again."""

    message: str
    by_policy: bool = False


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    state: JobState
    progress: int
    word: str
    error: str | None = None
    refused_by_policy: bool = False  # a failed job whose content the provider refused
    # where the job is, in the provider's terms, for providers without a percentage: "Waiting at
    # fal.ai, position 3", "Generating at fal.ai"
    note: str | None = None


class VideoProvider(ABC):
    """Create, watch, fetch and delete generation jobs at one provider."""

    name: str
    label: str  # shown to people: "Mimio video API", "Embedded video server"
    base_url: str  # where it is reached

    @abstractmethod
    def create(self, request: JobRequest) -> str:
        """Start one job and return its id; raises `ProviderError`."""

    @abstractmethod
    def create_variations(self, request: JobRequest, count: int) -> list[StartedJob]:
        """Start `count` jobs of the same request."""

    @abstractmethod
    def create_batch(self, requests: list[JobRequest]) -> list[StartedJob]:
        """Start one job per request; one refused item does not stop the others."""

    @abstractmethod
    def statuses(self, job_ids: Collection[str], *, fresh: bool = False) -> dict[str, JobStatus]:
        """Status of each job that could be read this time; a job missing from the answer is unknown
        for now, never failed. `fresh`: ask now, even where the server asked to wait before polling."""

    @abstractmethod
    def download(self, job_id: str, out: BinaryIO) -> int:
        """Stream the finished video into `out`; returns the byte count."""

    def thumbnail(self, job_id: str) -> bytes | None:
        """A still image of the finished video when the provider offers one (else None)."""
        return None

    def started_jobs(self, spec: VideoSpec, since: float, until: float) -> list[str] | None:
        """Jobs this account started between `since` and `until` (epoch seconds), oldest first, whose
        recorded input is what a create of `spec` without a reference sends: how a create whose answer
        was lost (the app stopped while it was out) is found again instead of billed twice. None: this
        provider cannot list its jobs (or cannot show their inputs), so nothing can be found."""
        return None

    def queue_shares(self) -> list[QueueShare]:
        """The shares of the queue that each get MIMIO_CONCURRENCY slots: one provider, one share."""
        return [QueueShare()]

    @abstractmethod
    def delete(self, job_id: str) -> None: ...

    @abstractmethod
    def health(self) -> Health: ...

    @abstractmethod
    def close(self) -> None: ...
