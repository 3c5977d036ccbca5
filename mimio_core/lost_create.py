"""Finding the provider's job of a create whose answer was lost: the app stopped after the create call
went out and before the job id was saved, or the connection broke before the answer came. Creating
the video again could bill it twice, so where the provider can list its jobs, the job it started is
found and adopted instead."""

from __future__ import annotations

from collections.abc import Collection

from mimio_core.domain import TrackedVideo
from mimio_core.errors import MimioError
from mimio_core.providers.base import VideoProvider
from mimio_core.store.base import JobQueue

# the provider's clock and ours may differ by this much (seconds)
CLOCK_SLACK = 60.0
# a create call that went out may have been answered this long after (seconds): it hung, then the app
# stopped; a job made later than that is another create's
CALL_WINDOW = 300.0
LOST = "The answer to this video's create call was lost (the app stopped, or the connection broke)"
RETRY = "Retry creates it again."


class NoLostJob(MimioError):
    """The video's job can never be found at the provider; the message says why, for its card."""


def lost_job(
    provider: VideoProvider, queue: JobQueue, video: TrackedVideo, taken: Collection[str], cause: str
) -> str | None:
    """The job the provider started for `video` (left `creating`: its create answer was lost, for
    `cause`), not held by another video nor in `taken` (adopted this pass): the oldest job of the same
    request made around the create; None while the provider lists none (it may list a job only once
    it ends). Raises `NoLostJob` when no job can ever be found, `ProviderError` when the provider
    cannot be asked now."""
    if video.reference_path:  # a listed job never shows which image it was given
        raise NoLostJob(
            f"{cause}, so it is unknown whether it started (a video with a reference cannot be matched "
            f"with the provider's list of jobs). {RETRY}"
        )
    sent = (video.create_started_at or video.started_at or video.created_at).timestamp()
    found = provider.started_jobs(video, sent - CLOCK_SLACK, sent + CALL_WINDOW)
    if found is None:
        raise NoLostJob(
            f"{cause}, so it is unknown whether it started (this provider cannot list its jobs to find "
            f"it). {RETRY}"
        )
    candidates = [job for job in found if job not in taken]
    held = queue.jobs_held(candidates) if candidates else set()
    return next((job for job in candidates if job not in held), None)
