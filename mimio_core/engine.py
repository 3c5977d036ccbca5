"""The engine: takes validated requests, drives each video to a stored file or a clear failure.

It runs in its own threads, independent of any caller, and keeps no state that matters outside the
store: leases in the store say which engine works on which video, so a restarted or second engine
picks up exactly the work nobody holds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

from mimio_core import __version__
from mimio_core.catalogue import ReferenceKind
from mimio_core.config import Settings
from mimio_core.domain import (
    LOCAL_USER_ID,
    CheckedReference,
    EngineBeat,
    FailureKind,
    TrackedVideo,
    UserRequest,
    ValidRequest,
    VideoStatus,
    spec_fields,
)
from mimio_core.errors import BadInput, StorageFailure
from mimio_core.leftovers import remove_stale, remove_written_by, writer_tag
from mimio_core.lost_create import LOST, RETRY, NoLostJob, lost_job
from mimio_core.providers.base import (
    JobRequest,
    JobState,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    StartedJob,
    VideoProvider,
)
from mimio_core.providers.retry import RetryPolicy
from mimio_core.reference_fit import fit_reference
from mimio_core.store.base import FileStorage, StorageRefused, VideoStore, is_own_reference
from mimio_core.submission import record_submission
from mimio_core.transfer import NotAVideo, StoredVideo, transfer_video
from mimio_core.validation import IMAGE_MIMES, VIDEO_MIMES, detect_type

log = logging.getLogger(__name__)

S, K = VideoStatus, FailureKind
MAX_GROUP = 3  # the Mimio API starts at most 3 videos per call
TRANSFER_ATTEMPTS = 3
# How long a create waits after the provider proved it started nothing (down, 429, 503): growing
# delays, until the video's MIMIO_TIMEOUT runs out.
CREATE_BACKOFF = RetryPolicy(base_delay=2.0, max_delay=60.0)
CANCELLED = "Cancelled."


class InvalidReference(BadInput):
    """A recorded reference the engine will not read or send (not the owner's, too big, not media)."""


def _process_place() -> str:
    """This machine and PID namespace: a pid names the same process only within both."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").rstrip("]")
    except OSError:
        namespace = "unknown"
    return f"{socket.gethostname()}.{namespace}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _minutes(seconds: float) -> str:
    """How long MIMIO_TIMEOUT is, in a message: 1 minute, 10 minutes, 1.5 seconds."""
    amount, unit = (seconds / 60, "minute") if seconds >= 60 else (seconds, "second")
    return f"{amount:g} {unit}{'' if amount == 1 else 's'}"


class Engine:
    """Background video pipeline over a store, a file storage and a provider."""

    def __init__(
        self,
        store: VideoStore,
        files: FileStorage,
        provider: VideoProvider,
        settings: Settings,
        *,
        owner: str | None = None,
        transfer_policy: RetryPolicy = RetryPolicy(attempts=TRANSFER_ATTEMPTS, base_delay=1.0),
        create_backoff: RetryPolicy = CREATE_BACKOFF,
    ) -> None:
        self.store, self.files, self.provider, self.settings = store, files, provider, settings
        self.owner = owner or f"{_process_place()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.transfer_policy = transfer_policy
        self.create_backoff = create_backoff
        # videos whose create provably started nothing: (failed attempts, monotonic time of the next)
        self._create_retries: dict[str, tuple[int, float]] = {}
        self.scratch = settings.data_dir / "tmp"
        # who this engine is, as its heartbeat rows say (only the count of videos held changes)
        self._identity = EngineBeat(
            self.owner, socket.gethostname(), os.getpid(), __version__, datetime.now(UTC), 0
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._busy: set[str] = set()  # videos with a create call or a transfer running here
        self._busy_lock = threading.Lock()
        self._calls = ThreadPoolExecutor(max(2, settings.concurrency), thread_name_prefix="mimio-call")
        self._loop: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None

    # lifecycle of the engine itself
    def start(self) -> Engine:
        if self._loop is None:
            self._release_dead_engines()
            self._beat(0)
            remove_stale(self.scratch, "*.mp4")  # partial downloads of a killed process
            self._loop = threading.Thread(target=self._run, name="mimio-engine", daemon=True)
            self._heartbeat = threading.Thread(target=self._renew_leases, name="mimio-leases", daemon=True)
            self._loop.start()
            self._heartbeat.start()
            log.info("engine %s started", self.owner)
        return self

    def _renew_leases(self) -> None:
        """Renew leases on a thread of their own: a tick stuck on a slow provider must not let them
        lapse, or another engine would take the videos over and create them again."""
        while not self._stopping.wait(self.settings.lease_seconds / 3):
            try:
                held = self.store.heartbeat(self.owner, self.settings.lease_seconds)
                self._beat(len(held))
            except Exception:
                log.exception("renewing leases failed")

    def _beat(self, videos_held: int) -> None:
        """Say this engine is alive (the sidebar counts workers online by these rows)."""
        self.store.beat(replace(self._identity, videos_held=videos_held))

    def _release_dead_engines(self) -> None:
        """Free the leases of engines on this machine whose process has gone (a crash or a kill), so a
        restart resumes their videos at once instead of after the lease runs out."""
        place = _process_place()
        for owner in self.store.lease_owners():
            owner_place, pid, *_ = [*owner.split(":"), "", ""]
            if (
                owner_place == place
                and pid.isdigit()
                and int(pid) != os.getpid()
                and not _process_alive(int(pid))
            ):
                released = self.store.release(owner)
                partial = remove_written_by(self.scratch, f"{writer_tag(int(pid))}*.mp4")
                partial += self.files.remove_partial_writes(int(pid))
                log.info(
                    "engine %s is gone; resuming its %d video(s), %d partial file(s) removed",
                    owner,
                    released,
                    partial,
                )

    def stop(self) -> None:
        """Stop working; unfinished videos stay in the store for the next engine to resume."""
        self._stopping.set()
        self._wake.set()
        for thread in (self._loop, self._heartbeat):
            if thread is not None:
                thread.join(timeout=30)
        self._calls.shutdown(wait=True, cancel_futures=True)
        if self._loop is not None:
            try:
                self.store.forget_engine(self.owner)
            except Exception:  # a store that is down: the row ages out of "online" by itself
                log.exception("forgetting engine %s failed", self.owner)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # a bad tick must not end the engine; the next one tries again
                log.exception("engine tick failed")
            self._wake.wait(self.settings.poll_interval)
            self._wake.clear()

    # what callers ask for
    def submit(
        self,
        requests: list[ValidRequest],
        user_id: str = LOCAL_USER_ID,
        submission_id: str | None = None,
        priority: int = 0,
        not_before: datetime | None = None,
    ) -> list[TrackedVideo]:
        """Record the videos (queued) through the engine's own store, and wake the engine."""
        recorded = record_submission(
            self.store, self.files, requests, user_id, submission_id, priority, not_before
        )
        self.wake()
        return recorded

    def wake(self) -> None:
        """Look for queued work now instead of at the next poll (after someone else recorded some)."""
        self._wake.set()

    def ask(self, video_id: str, user_id: str, request: UserRequest) -> TrackedVideo:
        """Record a person's request on their video and wake the engine to carry it out (the same as a
        page or the CLI does through its own store); `RequestRefused` says why it cannot apply."""
        asked = self.store.ask(user_id, video_id, request)
        self.wake()
        return asked

    def wait(
        self,
        video_ids: list[str],
        timeout: float | None = None,
        on_change: Callable[[list[TrackedVideo]], None] | None = None,
        interval: float = 0.25,
    ) -> list[TrackedVideo]:
        """Block until every video is final (or the timeout passes); returns their latest records."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: list[TrackedVideo] = []
        while True:
            videos = self.store.get_videos(video_ids)
            if on_change is not None and videos != last:
                on_change(videos)
            last = videos
            if all(video.is_final for video in videos) or (
                deadline is not None and time.monotonic() > deadline
            ):
                return videos
            time.sleep(interval)

    # one pass of the pipeline
    def tick(self) -> None:
        """Claim queued work, resume and renew held work, poll, time out, and start transfers."""
        lease = self.settings.lease_seconds
        with self._busy_lock:  # taken before reading: a call that ends meanwhile is seen next tick
            busy = set(self._busy)
            retry_at = {video_id: at for video_id, (_, at) in self._create_retries.items()}
        for share in self.provider.queue_shares():  # each provider has its own MIMIO_CONCURRENCY slots
            self.store.claim(self.owner, self.settings.concurrency, lease, share)
        self._carry_out_requests(busy)
        held = self.store.heartbeat(self.owner, lease)
        self._forget_retries(set(retry_at) - {video.id for video in held})
        idle = [video for video in held if video.id not in busy]
        by_state = {state: [video for video in idle if video.status is state] for state in S}
        if lost := by_state[S.CREATING]:  # a create call went out but its answer was never saved
            self._mark_busy(video.id for video in lost)
            self._calls.submit(self._settle_lost_creates, lost)
        now = time.monotonic()
        self._start_creates([video for video in by_state[S.CLAIMED] if retry_at.get(video.id, now) <= now])
        self._watch(by_state[S.GENERATING])
        for video in by_state[S.TRANSFERRING]:  # a transfer that a stopped engine left unfinished
            self._start_transfer(video)

    # what people asked for
    def _carry_out_requests(self, busy: set[str]) -> None:
        """Carry out the requests people recorded on videos this engine may act on now (a video with a
        create call or a transfer running here waits for it to end)."""
        for video in self.store.requested(self.owner):
            if video.id in busy:
                continue
            try:
                self._carry_out(video)
            except ProviderError as exc:  # the provider could not be asked: it waits for the next tick
                log.warning("video %s: %s not carried out yet: %s", video.id, video.requested, exc)

    def _carry_out(self, video: TrackedVideo) -> None:
        request = video.requested
        assert request is not None
        if request is UserRequest.DELETE:
            if not video.is_final:
                self._cancel(video)
            for key in (video.storage_path, video.thumbnail_path):
                if key:
                    self.files.delete(key)
            self.store.remove(video.id)
            if video.reference_path:
                self._drop_unused_reference(video.reference_path, video.reference_type)
            log.info("video %s deleted", video.id)
            return
        if request is UserRequest.CANCEL and not video.is_final:
            self._cancel(video)
        elif request is UserRequest.RETRY and video.status in (S.FAILED, S.CANCELLED):
            self._retry(video)
        # carried out, or no longer applying (it finished, or was retried, meanwhile); a request asked
        # since (a delete) stays for the next tick
        self.store.clear_request(video.id, request)

    def _drop_unused_reference(self, key: str, mime: str | None) -> None:
        """A reference goes with the last video that records it. A submission of the same image may
        record it meanwhile: it stores the file again when it finds it gone after recording, and
        the file is put back here when such a record appeared while it was being deleted."""
        if self.store.reference_used(key):
            return
        try:
            data = self.files.read_bytes(key)
        except (FileNotFoundError, StorageFailure):
            return  # already gone
        self.files.delete(key)
        if self.store.reference_used(key):
            self.files.put_bytes(key, data, mime or detect_type(data)[0])
        else:
            log.info("reference %s deleted with the last video made from it", key)

    def _cancel(self, video: TrackedVideo) -> None:
        """Stop a queued or active video: it ends `cancelled`, its message saying whether its provider
        job may still run (when the provider would not delete it). The job is deleted first, so the
        message can say so; a job that starts meanwhile is deleted by the create call's own check."""
        still_running = self._delete_job(video.external_video_id) if video.external_video_id else None
        self._forget_retries([video.id])
        self.store.cancelled(video.id, f"{CANCELLED} {still_running}" if still_running else CANCELLED)

    def _retry(self, video: TrackedVideo) -> None:
        """When it failed in a way that keeps its provider job (a timeout, a failed transfer) and the
        job finished or still runs, only watch and fetch it again; otherwise start a new generation of
        the same request."""
        status = None
        if video.failure_kind is not None and video.failure_kind.keeps_job and video.external_video_id:
            status = self.provider.statuses([video.external_video_id], fresh=True).get(
                video.external_video_id
            )
            if status is None:  # unknown is not "gone": a new generation now could be billed twice
                raise ProviderUnavailable(f"could not check job {video.external_video_id} with the provider")
        if status is not None and status.state is not JobState.FAILED:
            self.store.recover(video.id)
        else:
            self.store.requeue(video.id)

    def _mark_busy(self, video_ids: Iterable[str]) -> None:
        with self._busy_lock:
            self._busy.update(video_ids)

    def _done(self, video_ids: Iterable[str]) -> None:
        with self._busy_lock:
            self._busy.difference_update(video_ids)

    # creating provider jobs
    def _start_creates(self, videos: list[TrackedVideo]) -> None:
        def batch(video: TrackedVideo) -> str:
            return video.batch_id or video.id

        for _, members in groupby(sorted(videos, key=lambda v: (batch(v), v.created_at)), key=batch):
            group = list(members)
            for start in range(0, len(group), MAX_GROUP):
                chunk = group[start : start + MAX_GROUP]
                self._mark_busy(v.id for v in chunk)
                self._calls.submit(self._create_group, chunk)

    def _create_group(self, group: list[TrackedVideo]) -> None:
        try:
            videos, requests = [], []
            fitted: dict[tuple[str, ...], CheckedReference] = {}
            for video in group:
                try:
                    request = self._job_request(video, fitted)
                except InvalidReference as exc:
                    self._fail(video, K.INVALID, f"This video cannot be made: {exc}.")
                    continue
                except Exception as exc:  # a reference that cannot be read must not leave it claimed
                    log.exception("reading the reference of video %s failed", video.id)
                    self._fail(
                        video, K.INTERNAL, f"Reading its reference failed ({type(exc).__name__}: {exc})."
                    )
                    continue
                if self.store.creating(video.id, self.owner) is not None:  # else cancelled meanwhile
                    videos.append(video)
                    requests.append(request)
            if not videos:
                return
            try:
                started = self._call_create(requests)
            except ProviderError as exc:
                started = [StartedJob.from_error(exc)] * len(videos)
            except Exception as exc:  # whatever it is, the video must not stay creating
                log.exception("starting %d video(s) failed", len(videos))
                started = [StartedJob(error=f"{type(exc).__name__}: {exc}", refused=False)] * len(videos)
            taken: set[str] = set()  # jobs adopted for lost answers of this group
            for video, result in zip(videos, started, strict=True):
                self._record_start(video, result, taken)
        finally:
            self._done(v.id for v in group)

    def _record_start(self, video: TrackedVideo, result: StartedJob, taken: set[str]) -> None:
        """What one create call's item did to its video: started, try later, adopted the job its lost
        answer started, or failed (and why)."""
        if result.not_started and not self._past_deadline(video):
            self._create_later(video, result.error)
            return
        self._forget_retries([video.id])
        reason = (result.error or "no reason given").rstrip(".")
        if result.job_id is None and result.refused:
            self._fail(video, K.REFUSED, f"The provider refused the video: {reason}")
        elif result.job_id is None and result.not_started:
            self._fail(
                video,
                K.NOT_STARTED,
                f"Could not start the video within {_minutes(self.settings.timeout)}: {reason}",
            )
        elif result.job_id is None:  # the provider may have started it: look for its job
            self._adopt_lost(video, f"Could not start the video: {reason}", taken)
        elif self.store.started(video.id, self.owner, result.job_id):
            log.info("video %s started as provider job %s", video.id, result.job_id)
        else:  # cancelled or deleted while the call was out: do not leave a billed job running
            self._delete_job(result.job_id)

    def _settle_lost_creates(self, videos: list[TrackedVideo]) -> None:
        """Videos left `creating` with no job id: a stopped engine's, or ones whose create answer was
        lost here; oldest create first, so identical requests each get their own job."""
        try:
            taken: set[str] = set()
            for video in sorted(videos, key=lambda v: v.create_started_at or v.created_at):
                self._adopt_lost(video, LOST, taken)
        finally:
            self._done(video.id for video in videos)

    def _adopt_lost(self, video: TrackedVideo, cause: str, taken: set[str]) -> None:
        """Adopt the job the provider started for a create whose answer was lost, once its list of
        jobs shows it; until MIMIO_TIMEOUT the video stays `creating` and is looked up each tick.
        Where none is found, creating it again could bill twice: it fails and a person decides."""
        try:
            job_id = lost_job(self.provider, self.store, video, taken, cause)
            why, verdict = "the provider listed no job of it", ", so it probably did not start"
        except NoLostJob as exc:
            self._fail(video, K.UNKNOWN_START, str(exc))
            return
        except ProviderError as exc:
            job_id, why, verdict = None, "the provider could not be asked for its jobs", f" ({exc})"
        if job_id is not None:
            taken.add(job_id)
            if self.store.started(video.id, self.owner, job_id):
                log.info("video %s adopted job %s (its create answer was lost)", video.id, job_id)
        elif self._past_deadline(video):
            self._fail(video, K.UNKNOWN_START, f"{LOST}, and {why} until the timeout{verdict}. {RETRY}")
        else:
            note = f"Looking for its job at the provider ({cause[0].lower()}{cause[1:]}): {why} yet."
            self.store.progress(video.id, self.owner, video.progress, note)

    def _past_deadline(self, video: TrackedVideo) -> bool:
        """Whether the video has been at work longer than MIMIO_TIMEOUT (since its claim)."""
        now = self.store.clock()
        started = video.started_at.timestamp() if video.started_at else now
        return now - started > self.settings.timeout

    def _create_later(self, video: TrackedVideo, error: str | None) -> None:
        """The provider proved this create started nothing: keep the video claimed and send it again
        after a growing delay (it keeps its provider slot, so the rest of the queue waits instead of
        failing)."""
        with self._busy_lock:
            attempts, _ = self._create_retries.get(video.id, (0, 0.0))
            delay = self.create_backoff.delay(attempts)
            self._create_retries[video.id] = (attempts + 1, time.monotonic() + delay)
        note = f"Not started yet ({error or 'the provider is busy'}); trying again in {delay:.0f} s."
        self.store.not_started(video.id, self.owner, note)
        log.warning("video %s not started (%s); trying again in %.1f s", video.id, error, delay)

    def _forget_retries(self, video_ids: Iterable[str]) -> None:
        """Drop the create backoff of videos that started, failed, or are no longer held here."""
        with self._busy_lock:
            for video_id in video_ids:
                self._create_retries.pop(video_id, None)

    def _delete_job(self, job_id: str) -> str | None:
        """Delete the provider's job; when it may still run (and be billed), a sentence saying so."""
        try:
            self.provider.delete(job_id)
        except ProviderError as exc:
            log.info("provider job %s not deleted: %s", job_id, exc)
            status = exc.status_code if isinstance(exc, ProviderRefused) else None
            if status == 404:  # already gone
                return None
            cannot = (
                f"does not let this app stop its job {job_id} (HTTP 405)"  # e.g. LiteLLM: no DELETE route
                if status == 405
                else f"did not stop its job {job_id} ({exc})"
            )
            return f"The provider {cannot}, so it may still finish and be billed."
        return None

    def _call_create(self, requests: list[JobRequest]) -> list[StartedJob]:
        if len(requests) == 1:
            return [StartedJob(job_id=self.provider.create(requests[0]))]
        if len(set(requests)) == 1:
            return self.provider.create_variations(requests[0], len(requests))
        return self.provider.create_batch(requests)

    def _read_reference(self, video: TrackedVideo, key: str) -> CheckedReference:
        """The video's stored reference, read with the engine's rights over every user's files, so
        checked again first: it must be the owner's own upload, within the size limit (read no
        further than that), and an image or video: by the type recorded when its bytes were checked
        at upload, or (a row from before types were recorded) by its bytes; else `InvalidReference`."""
        if not is_own_reference(video.user_id, key):
            raise InvalidReference(f"its reference {key!r} is not one of this video's owner's uploads")
        limit, buffer = self.settings.max_reference_bytes, bytearray()
        for chunk in self.files.open_chunks(key):
            buffer += chunk
            if len(buffer) > limit:
                raise InvalidReference(f"its reference is larger than {limit / 1_048_576:g} MB")
        data = bytes(buffer)  # one copy, shared by the type check and the request
        mime, description = (
            (video.reference_type, video.reference_type) if video.reference_type else detect_type(data)
        )
        if mime not in IMAGE_MIMES and mime not in VIDEO_MIMES:
            raise InvalidReference(f"its reference is {description}, not an image or a video")
        kind: ReferenceKind = "video" if mime in VIDEO_MIMES else "image"
        return CheckedReference(name=Path(key).name, data=data, mime=mime, kind=kind)

    def _job_request(
        self, video: TrackedVideo, fitted: dict[tuple[str, ...], CheckedReference]
    ) -> JobRequest:
        """The provider's request; `fitted` keeps the references read (and checked, for their owner)
        and fitted for this create call, so variations of one image read and fit it once."""
        reference = None
        if key := video.reference_path:
            seen = (video.user_id, key, video.size)
            if seen not in fitted:
                original = self._read_reference(video, key)  # the original stays stored
                fitted[seen] = fit_reference(original, video.size).reference
            reference = fitted[seen]
        return JobRequest(**spec_fields(video), reference=reference)

    # watching provider jobs
    def _watch(self, videos: list[TrackedVideo]) -> None:
        in_time = []
        for video in videos:
            if self._past_deadline(video):
                self._fail(
                    video,
                    K.TIMED_OUT,
                    f"Timed out after {_minutes(self.settings.timeout)} waiting for the provider. "
                    f"Its job {video.external_video_id} is kept: Retry checks it again.",
                )
            else:
                in_time.append(video)
        if not in_time:
            return
        statuses = self.provider.statuses([v.external_video_id for v in in_time if v.external_video_id])
        for video in in_time:
            status = statuses.get(video.external_video_id or "")
            if status is None:
                continue  # unknown this tick: never a reason to fail
            if status.state is JobState.COMPLETED:
                transferring = self.store.transferring(video.id, self.owner)
                if transferring is not None:  # else cancelled or taken over meanwhile
                    self._start_transfer(transferring)
            elif status.state is JobState.FAILED:
                error = status.error or f"The provider reported the video as {status.word}."
                self._fail(video, K.REFUSED if status.refused_by_policy else K.PROVIDER_FAILED, error)
            elif (status.progress, status.note) != (video.progress, video.status_note):
                self.store.progress(video.id, self.owner, status.progress, status.note)

    def _fail(self, video: TrackedVideo, kind: FailureKind, message: str) -> None:
        if self.store.failed(video.id, self.owner, kind, message):
            log.warning("video %s failed (%s): %s", video.id, kind, message)

    def _drop_orphan(self, video_id: str, stored: StoredVideo) -> None:
        """Remove stored files no record points to (the video was cancelled or deleted meanwhile)."""
        current = self.store.get_video(video_id)
        if current is None or current.storage_path != stored.key:
            for key in (stored.key, stored.thumbnail_key):
                if key:
                    self.files.delete(key)

    # fetching finished videos
    def _start_transfer(self, video: TrackedVideo) -> None:
        self._mark_busy([video.id])
        self._calls.submit(self._transfer, video)

    def _transfer(self, video: TrackedVideo) -> None:
        """Download and store, retrying the transfer only: a new generation would be billed again."""
        assert video.external_video_id is not None
        try:
            for attempt in range(self.transfer_policy.attempts):
                try:
                    stored = transfer_video(
                        self.provider,
                        self.files,
                        video.user_id,
                        video.id,
                        video.external_video_id,
                        self.scratch,
                    )
                except (NotAVideo, ProviderRefused) as exc:
                    self._fail(video, K.TRANSFER_FAILED, f"The provider's video could not be fetched: {exc}")
                    return
                except StorageRefused as exc:
                    self._fail(video, K.STORAGE_REFUSED, f"{exc} {self._kept(video)}")
                    return
                except (ProviderError, OSError) as exc:
                    if self._stopping.is_set():
                        return  # still transferring: the next engine fetches it
                    if not self.transfer_policy.should_retry(attempt):
                        self._fail(
                            video,
                            K.TRANSFER_FAILED,
                            f"Download or storage failed {attempt + 1} times ({exc}). {self._kept(video)}",
                        )
                        return
                    log.warning("transfer of %s failed (%s); trying the transfer again", video.id, exc)
                    self._stopping.wait(self.transfer_policy.delay(attempt))
                    continue
                if self.store.completed(video.id, self.owner, stored.key, stored.thumbnail_key):
                    log.info("video %s completed: %s", video.id, stored.key)
                    # stored here now: the provider's copy (and the prompt it keeps) is not needed
                    self._delete_job(video.external_video_id)
                else:
                    self._drop_orphan(video.id, stored)
                return
        except Exception as exc:  # whatever it is, the video must not stay transferring, fetched each tick
            log.exception("storing video %s failed", video.id)
            self._fail(
                video,
                K.INTERNAL,
                f"Storing the video failed ({type(exc).__name__}: {exc}). {self._kept(video)}",
            )
        finally:
            self._done([video.id])

    @staticmethod
    def _kept(video: TrackedVideo) -> str:
        job = video.external_video_id
        return f"The generated video {job} is kept: Retry fetches it without generating again."
