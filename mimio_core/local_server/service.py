"""The embedded provider's jobs: render queue, true progress, simulated latency, and durability.

Jobs are kept on disk under the server's work folder, so a restarted process still answers for the
jobs it accepted before and finishes the ones it had not rendered yet.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av

from mimio_core.catalogue import MODELS, ModelSpec, parse_size, stand_in_models
from mimio_core.leftovers import remove_stale
from mimio_core.local_server.faults import Faults
from mimio_core.local_server.renderer import RenderCancelled, RenderError, RenderSpec, render_video

log = logging.getLogger(__name__)

RENDER_NICENESS = 10
FPS = 24
JOB_ID = re.compile(r"video_[0-9a-f]{32}")
WEIRD_STATUS = "processing_upstream"  # what a job with the `weird` outcome reports until it completes
RENDERING_OUTCOMES = (None, "weird")  # outcomes whose jobs are really rendered


@dataclass
class Job:
    """One generation job; the persisted fields are the dataclass fields."""

    id: str
    prompt: str
    model: str
    size: str
    seconds: int
    created_at: float
    seed: int = 0  # the renderer's: jobs of one prompt differ by it
    outcome: str | None = None
    outcome_message: str | None = None
    outcome_code: str | None = None
    status: str = "queued"
    completed_at: float | None = None
    error: str | None = None
    error_code: str | None = None  # machine-readable reason of a failed job, when there is one
    rendered_at: float | None = None  # the MP4 is written; completed once the latency has passed
    frames_done: int = field(default=0, metadata={"runtime": True})
    frames_total: int = field(default=1, metadata={"runtime": True})
    # another process sharing the work folder renders it: read its state from disk
    foreign: bool = field(default=False, metadata={"runtime": True})


@dataclass(frozen=True)
class NewJob:
    prompt: str
    model: str
    size: str
    seconds: int
    reference: bytes | None = None


def _return_freed_memory() -> None:
    """Give the memory a render freed back to the system. A render briefly needs ~150 MiB (x264's
    buffers); glibc keeps what each render thread freed, so a worker's RSS stayed at 250-450 MiB
    after the renders ended (malloc_trim took it from 274 to 81 MiB). Elsewhere than glibc: nothing."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc only)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load_libc()


def _lower_thread_priority() -> None:
    """Render threads run at a lower priority so a busy renderer never starves the dashboard."""
    with contextlib.suppress(OSError):  # not permitted: rendering still works, just not deprioritised
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICENESS)


class LocalVideoService:
    """Accepts jobs, renders them on a bounded pool, and reports progress as the Mimio API does."""

    def __init__(
        self,
        work_dir: Path,
        *,
        latency: float = 0.0,
        render_slots: int = 1,
        faults: Faults | None = None,
        models: Mapping[str, ModelSpec] | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.latency = latency
        self.faults = faults or Faults()
        # what it renders: the models of the APIs it stands in for (its own, Mimio's, OpenAI's /v1)
        self.models = models if models is not None else stand_in_models(MODELS)
        self.requests: Counter[str] = Counter()
        self.downloads: Counter[str] = Counter()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        for folder in ("jobs", "videos", "references"):
            (work_dir / folder).mkdir(parents=True, exist_ok=True)
        remove_stale(work_dir / "videos", ".*.part")  # renders a killed process never finished
        remove_stale(work_dir / "jobs", ".*.tmp")
        self._pool = ThreadPoolExecutor(
            render_slots, thread_name_prefix="mimio-render", initializer=_lower_thread_priority
        )
        self._load()

    # persistence
    def _job_file(self, job_id: str) -> Path:
        if not JOB_ID.fullmatch(job_id):  # ids come from URLs: never let one name another path
            raise KeyError(job_id)
        return self.work_dir / "jobs" / f"{job_id}.json"

    def video_file(self, job_id: str) -> Path:
        return self.work_dir / "videos" / f"{job_id}.mp4"

    def thumbnail_file(self, job_id: str) -> Path | None:
        """A WebP of a completed video's first frame (made once, kept next to the MP4), or None."""
        video = self.finished_file(job_id)
        if video is None:
            return None
        path = video.with_suffix(".webp")
        if not path.is_file():
            with av.open(str(video)) as container:
                image = next(container.decode(video=0)).to_image()
            temporary = path.with_name(f".{job_id}.{uuid.uuid4().hex}.webp")
            image.save(temporary, "WEBP", quality=80)
            os.replace(temporary, path)
        return path

    def _reference_file(self, job_id: str) -> Path:
        return self.work_dir / "references" / f"{job_id}.bin"

    def _save(self, job: Job) -> None:
        record = {
            k: v for k, v in asdict(job).items() if not Job.__dataclass_fields__[k].metadata.get("runtime")
        }
        path = self._job_file(job.id)
        temporary = path.with_name(f".{job.id}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, path)

    def _read(self, path: Path) -> Job | None:
        try:
            record = json.loads(path.read_text())
            record.setdefault("seed", record.pop("variation", 0))  # a job file of an earlier version
            return Job(**record)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable job file %s: %s", path, exc)
            return None

    def _load(self) -> None:
        for path in sorted(self.work_dir.glob("jobs/*.json")):
            self._adopt(path)
        if self._jobs:
            log.info("embedded server resumed %d jobs from %s", len(self._jobs), self.work_dir)

    def _adopt(self, path: Path) -> Job | None:
        """Take on a job from disk (accepted before a restart, or by another process sharing the
        folder), rendering it when it is unfinished and nobody else is rendering it."""
        job = self._read(path)
        if job is None:
            return None
        with self._lock:
            if job.id in self._jobs:
                return self._jobs[job.id]
            self._jobs[job.id] = job
        if self._needs_render(job):
            self._pool.submit(self._render, job)
        return job

    def _needs_render(self, job: Job) -> bool:
        return (
            job.outcome in RENDERING_OUTCOMES
            and job.status in ("queued", "in_progress")
            and job.rendered_at is None
        )

    @contextlib.contextmanager
    def _render_lock(self, job_id: str) -> Iterator[bool]:
        """An exclusive lock on the job's render, across processes; yields whether it was obtained."""
        with (self.work_dir / "jobs" / f"{job_id}.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True

    def _sync_from_disk(self, job: Job) -> None:
        """Bring a job's persisted state up to date with what is on disk (another process may have
        rendered or finished it)."""
        latest = self._read(self._job_file(job.id))
        if latest is not None:
            job.status, job.rendered_at = latest.status, latest.rendered_at
            job.completed_at, job.error = latest.completed_at, latest.error
            job.error_code = latest.error_code

    def _refresh_foreign(self, job: Job) -> None:
        """Follow a job another process renders; take it over when that process has gone."""
        self._sync_from_disk(job)
        if self._needs_render(job):
            with self._render_lock(job.id) as free:
                if free:
                    job.foreign = False
                    self._pool.submit(self._render, job)

    # accepting
    def create(self, new: NewJob, count: int = 1) -> list[Job]:
        """Accept `count` jobs of one request. Each job gets a seed of its own, so two jobs of one prompt
        show different scenes; the jobs of one request get consecutive seeds, so with a reference
        image each zooms towards another point."""
        rule = self.faults.outcome_for(new.prompt)
        first_seed = random.getrandbits(31)
        jobs = []
        for variation in range(count):
            job = Job(
                id=f"video_{uuid.uuid4().hex}",
                prompt=new.prompt,
                model=new.model,
                size=new.size,
                seconds=new.seconds,
                created_at=time.time(),
                seed=first_seed + variation,
                outcome=rule.outcome if rule else None,
                outcome_message=rule.message if rule else None,
                outcome_code=rule.code if rule else None,
            )
            if new.reference is not None:
                self._reference_file(job.id).write_bytes(new.reference)
            self._save(job)
            with self._lock:
                self._jobs[job.id] = job
            if job.outcome in RENDERING_OUTCOMES:
                self._pool.submit(self._render, job)
            else:
                job.status = "in_progress"
            jobs.append(job)
        return jobs

    def _render(self, job: Job) -> None:
        with self._render_lock(job.id) as mine:
            if not mine:
                job.foreign = True
                return
            try:
                self._render_locked(job)
            finally:
                _return_freed_memory()

    def _render_locked(self, job: Job) -> None:
        self._sync_from_disk(job)
        if self._stopping.is_set() or not self._needs_render(job):
            return
        job.status = "in_progress"
        width, height = parse_size(job.size)
        reference_file = self._reference_file(job.id)
        spec = RenderSpec(
            prompt=job.prompt,
            width=width,
            height=height,
            seconds=job.seconds,
            fps=FPS,
            reference=reference_file.read_bytes() if reference_file.exists() else None,
            seed=job.seed,
        )
        job.frames_total = job.seconds * FPS

        def progress(done: int, total: int) -> None:
            job.frames_done, job.frames_total = done, total

        def stop() -> bool:  # shutting down, or the job was deleted meanwhile
            return self._stopping.is_set() or job.id not in self._jobs

        try:
            render_video(spec, self.video_file(job.id), on_progress=progress, should_stop=stop)
        except RenderCancelled:
            return
        except (RenderError, OSError) as exc:
            log.warning("render of %s failed: %s", job.id, exc)
            self._finish(job, "failed", error=f"render failed: {exc}")
            return
        with self._lock:
            if job.id not in self._jobs:  # deleted as the last frame was written: do not bring it back
                self.video_file(job.id).unlink(missing_ok=True)
                return
            job.rendered_at = time.time()
            self._save(job)

    def _finish(self, job: Job, word: str, error: str | None = None, code: str | None = None) -> None:
        with self._lock:
            if job.id not in self._jobs:
                return  # deleted meanwhile: its job file is gone and must stay gone
            job.status, job.error, job.completed_at = word, error, time.time()
            job.error_code = code
            self._save(job)

    # reporting
    def _progress(self, job: Job, now: float) -> int:
        """Both the frames and the simulated latency must be done: progress is the lesser share."""
        by_time = 1.0 if self.latency <= 0 else min(1.0, (now - job.created_at) / self.latency)
        rendered = job.outcome not in RENDERING_OUTCOMES or job.rendered_at is not None
        by_frames = 1.0 if rendered else job.frames_done / max(1, job.frames_total)
        return int(100 * min(by_time, by_frames))

    def current(self, job_id: str) -> tuple[Job, str, int] | None:
        """The job brought up to date, the status word it reports and its progress (0-100); None
        for an unknown id. The job is the live record: read it, never change it."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and JOB_ID.fullmatch(job_id) and self._job_file(job_id).is_file():
            job = self._adopt(self._job_file(job_id))
        if job is None:
            return None
        if job.foreign:
            self._refresh_foreign(job)
        now = time.time()
        if job.status in ("queued", "in_progress"):
            latency_done = now >= job.created_at + self.latency
            if job.outcome in ("failed", "error") and latency_done:
                self._finish(job, job.outcome, error=job.outcome_message, code=job.outcome_code)
            elif job.outcome in RENDERING_OUTCOMES and job.rendered_at is not None and latency_done:
                self._finish(job, "completed")
        unfinished = job.status in ("queued", "in_progress")
        word = WEIRD_STATUS if job.outcome == "weird" and unfinished else job.status
        progress = 100 if job.status == "completed" else min(99, self._progress(job, now))
        return job, word, progress

    def job_ids(self) -> list[str]:
        """Every job this server answers for: its own, and those on disk from another process."""
        with self._lock:
            ids = set(self._jobs)
        ids.update(path.stem for path in self.work_dir.glob("jobs/*.json") if JOB_ID.fullmatch(path.stem))
        return sorted(ids)

    def status(self, job_id: str) -> dict[str, Any] | None:
        current = self.current(job_id)
        if current is None:
            return None
        job, word, progress = current
        answer: dict[str, Any] = {
            "video_id": job.id,
            "status": word,
            "progress": progress,
            "model": job.model,
            "size": job.size,
            "seconds": str(job.seconds),
            "created_at": int(job.created_at),
        }
        if job.completed_at is not None:
            answer["completed_at"] = int(job.completed_at)
        if job.status == "completed":
            answer["download_url"] = f"/api/videos/{job.id}/download"
        if job.error:
            answer["error"] = job.error
        return answer

    def finished_file(self, job_id: str) -> Path | None:
        status = self.status(job_id)
        if status is None or status["status"] != "completed":
            return None
        path = self.video_file(job_id)
        return path if path.is_file() else None

    def delete(self, job_id: str) -> bool:
        if not JOB_ID.fullmatch(job_id):
            return False
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            return False
        video = self.video_file(job_id)
        lock = self.work_dir / "jobs" / f"{job_id}.lock"
        for path in (
            self._job_file(job_id),
            video,
            video.with_suffix(".webp"),
            self._reference_file(job_id),
            lock,
        ):
            path.unlink(missing_ok=True)
        return True

    def close(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
