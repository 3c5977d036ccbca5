"""Soak the engine: many videos through worker processes SIGKILLed and restarted, against a provider
having a bad day; count what was lost, duplicated or stuck (each must be 0).

Usage: ``python bench/bench_soak.py [--videos 200] [--workers 2] [--kill-every 10 20] [--seed 1]``
(``--help`` lists the rest; ``--videos 40`` is a run of a minute or two).

Setup, all in a temporary folder: ``python -m mimio_core serve-local`` in its own process (latency
``--latency`` s per job, ``--render-slots``) and ``--workers`` processes ``python -m mimio_core
worker`` sharing one SQLite file, configured only through environment variables (MIMIO_API_URL to the
server, MIMIO_LOCAL=off, MIMIO_CONCURRENCY, MIMIO_POLL_INTERVAL, MIMIO_LEASE_SECONDS, MIMIO_TIMEOUT,
MIMIO_CATALOGUE_FILE). The videos are of a model from a catalogue file written for the run (default
256x144, 1 s), so renders are cheap and the run measures the engine, not x264; ``--model``, ``--size``
and ``--seconds`` pick another. This process records them as the dashboard and the CLI do
(`record_submission`): singles, batches of 2-10 different prompts and variations of one prompt, every
prompt its own. Then, until every video is final or ``--deadline`` passes:

* every ``--fault-every`` s a fault is added through ``/_admin/faults``: 5xx or 429 on the create,
  create-batch, create-variations, batch-status and download endpoints, or a download cut off halfway;
  a share of the prompts ends as a failed job (``--fail-share``) or is refused at create
  (``--refuse-share``). A 500 on a create may come after the provider started a job, so the engine
  fails that video (unknown start) instead of sending it again: a failure by design, not a loss.
* every 10-20 s (``--kill-every``) one worker, chosen at random, gets SIGKILL and is started again.
* the provider never deletes a job (every delete answers 404, which the engine takes for "already
  gone"), so each job it ever made stays in its work folder to be counted.

Counted at the end:

* lost: a video whose record is gone, or that completed without its file (missing, or not the bytes
  the provider rendered for its job);
* stuck: a video not final at the deadline (never reached completed, failed or cancelled);
* duplicated: a video generated more than once at the provider (more jobs for its prompt than
  videos), recorded twice (more records of its prompt than submitted), or stored twice (a file in
  storage that no record points to); completed with another video's job counts too.

Ideal: the time the provider itself needs. A job cannot finish before its latency L has passed nor
before it is rendered (r s, measured before the run), at most MIMIO_CONCURRENCY (C) jobs are active at
once, and the server renders on R slots. So N jobs need at least ceil(N/C) * max(L, r) (waves of C
jobs), and the M that render at least ceil(M/R) * r; ideal is the larger. Two figures: "planned" before
the run (N: every video not tagged to be refused, M: those not tagged to fail), and "made" after it,
from the jobs the provider really made (N) and rendered (M): a video failed at create by an injected
5xx or a kill takes no provider time, so "made" is the fair floor. Polls, transfers, retries, faults and
kills are what wall time adds over it.

Exit status 1 when lost, duplicated or stuck is not 0. ``--keep`` keeps the folder (logs, database,
the provider's work folder) for a post-mortem.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import REPO_ROOT, free_port, table

from mimio_core.catalogue import load_catalogue, parse_size
from mimio_core.domain import (
    LOCAL_USER_ID,
    TrackedVideo,
    ValidRequest,
    VideoRequest,
    VideoStatus,
)
from mimio_core.local_server.renderer import RenderSpec, render_video
from mimio_core.local_server.service import FPS
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore
from mimio_core.submission import record_submission
from mimio_core.validation import validate_request

S = VideoStatus
SOAK_MODEL = "soak-preview"
FAIL_TAG, REFUSE_TAG = "[soak:fail]", "[soak:refuse]"
START_LIMIT = 60.0  # seconds for serve-local to answer /health
STOP_LIMIT = 30.0  # seconds a worker may take to stop on SIGTERM
FAULT_ENDPOINTS = ("create", "create-batch", "create-variations", "batch-status", "download")
FAULT_STATUSES = (500, 502, 503, 504, 429)
ENV_PREFIXES = ("MIMIO_", "SUPABASE_")  # the parent's own settings must not reach the children
ENV_SECRETS = ("FAL_KEY", "REPLICATE_API_TOKEN")


@dataclass
class Options:
    videos: int
    workers: int
    kill_every: tuple[float, float]
    seed: int
    latency: float
    render_slots: int
    concurrency: int
    poll: float
    lease: float
    timeout: float
    fault_every: float
    fail_share: float
    refuse_share: float
    model: str
    size: str
    seconds: int
    deadline: float | None
    keep: bool


@dataclass
class Submitted:
    video_id: str
    prompt: str
    tag: str | None  # FAIL_TAG, REFUSE_TAG or None


@dataclass
class Kill:
    at: float  # seconds since the submission
    slot: int
    pid: int
    held: Counter[str]  # the states of the videos the killed worker held


@dataclass
class Run:
    submitted: list[Submitted] = field(default_factory=list)
    groups: Counter[str] = field(default_factory=Counter)
    kills: list[Kill] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    started: float = 0.0  # epoch seconds of the submission
    finished: float | None = None  # epoch seconds of the last change to a final state
    render_seconds: float = 0.0


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (one is killed at a time)")
    parser.add_argument(
        "--kill-every", type=float, nargs=2, default=(10.0, 20.0), metavar=("MIN", "MAX"), help="seconds"
    )
    parser.add_argument("--seed", type=int, default=1, help="groups, faults, kill times and victims")
    parser.add_argument("--latency", type=float, default=4.0, help="MIMIO_LOCAL_LATENCY of the server")
    parser.add_argument("--render-slots", type=int, default=2, help="MIMIO_LOCAL_RENDER_SLOTS")
    parser.add_argument("--concurrency", type=int, default=8, help="MIMIO_CONCURRENCY (jobs active at once)")
    parser.add_argument("--poll", type=float, default=1.0, help="MIMIO_POLL_INTERVAL")
    parser.add_argument("--lease", type=float, default=10.0, help="MIMIO_LEASE_SECONDS")
    parser.add_argument("--timeout", type=float, default=300.0, help="MIMIO_TIMEOUT")
    parser.add_argument("--fault-every", type=float, default=2.0, help="seconds between injected faults")
    parser.add_argument("--fail-share", type=float, default=0.05, help="share of jobs that fail")
    parser.add_argument("--refuse-share", type=float, default=0.05, help="share of videos refused at create")
    parser.add_argument("--model", default=SOAK_MODEL, help=f"default: {SOAK_MODEL}, made for the run")
    parser.add_argument("--size", default="256x144")
    parser.add_argument("--seconds", type=int, default=1)
    parser.add_argument(
        "--deadline", type=float, help="seconds to wait for every video (default: from ideal)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = parser.parse_args(argv)
    low, high = args.kill_every
    if not 0 < low <= high:
        parser.error("--kill-every needs 0 < MIN <= MAX")
    if args.videos < 1 or args.workers < 1:
        parser.error("--videos and --workers must be at least 1")
    return Options(**{name.replace("-", "_"): value for name, value in vars(args).items()})


# --- processes ------------------------------------------------------------------------------------


def child_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES) and k not in ENV_SECRETS}
    # rich wraps log lines at 80 columns when not on a terminal: keep each record on one line
    return {**env, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "400", "MIMIO_LOG_LEVEL": "INFO", **settings}


class Processes:
    """serve-local and the workers; only processes started here are ever signalled, each by its pid."""

    def __init__(self, root: Path, options: Options, catalogue: Path) -> None:
        self.root, self.options = root, options
        self.logs = root / "logs"
        self.logs.mkdir()
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.url = ""
        self.catalogue = catalogue

    def start_server(self) -> None:
        port = free_port()
        env = child_env(
            MIMIO_DATA_DIR=str(self.root / "server"),
            MIMIO_LOCAL_LATENCY=str(self.options.latency),
            MIMIO_LOCAL_RENDER_SLOTS=str(self.options.render_slots),
            MIMIO_CATALOGUE_FILE=str(self.catalogue),
        )
        with (self.logs / "server.log").open("ab") as log:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "mimio_core", "serve-local", "--port", str(port)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_LIMIT
        while time.monotonic() < deadline and self.server.poll() is None:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve-local did not answer at {self.url}; see {self.logs / 'server.log'}")

    def worker_env(self) -> dict[str, str]:
        o = self.options
        return child_env(
            MIMIO_DATA_DIR=str(self.root / "data"),
            MIMIO_API_URL=self.url,
            MIMIO_LOCAL="off",
            MIMIO_CATALOGUE_FILE=str(self.catalogue),
            MIMIO_CONCURRENCY=str(o.concurrency),
            MIMIO_POLL_INTERVAL=str(o.poll),
            MIMIO_LEASE_SECONDS=str(o.lease),
            MIMIO_TIMEOUT=str(o.timeout),
            MIMIO_HTTP_TIMEOUT="15",
        )

    def start_worker(self, slot: int) -> int:
        log_path = self.logs / f"worker-{slot}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "mimio_core", "worker"],
                cwd=REPO_ROOT,
                env=self.worker_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        with log_path.open("a") as log:
            log.write(f"=== soak: worker slot {slot} started as pid {process.pid} at {time.time():.3f}\n")
        self.workers[slot] = process
        return process.pid

    def kill_worker(self, slot: int) -> int:
        """SIGKILL, then reap it: a zombie's pid still looks alive, and the restarted worker frees a
        dead engine's leases only when its pid is gone."""
        process = self.workers.pop(slot)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with (self.logs / f"worker-{slot}.log").open("a") as log:
            log.write(f"=== soak: pid {process.pid} SIGKILLed at {time.time():.3f}\n")
        return process.pid

    def stop(self) -> None:
        """SIGTERM to each (a worker hands its videos back), SIGKILL to what does not end in time."""
        processes = [*self.workers.values(), *([self.server] if self.server else [])]
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=STOP_LIMIT)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        self.workers.clear()
        self.server = None

    def faults(self, client: httpx.Client, spec: dict[str, Any]) -> None:
        client.post(f"{self.url}/_admin/faults", json=spec).raise_for_status()

    def stats(self) -> dict[str, dict[str, int]]:
        answer: dict[str, dict[str, int]] = httpx.get(f"{self.url}/_admin/stats", timeout=10).json()
        return answer


# --- the run --------------------------------------------------------------------------------------


def write_catalogue(path: Path, options: Options) -> None:
    """The soak's own model (served by the Mimio API of serve-local), so renders stay cheap."""
    entry = {
        "name": SOAK_MODEL,
        "label": "Soak preview",
        "providers": ["mimio"],
        "sizes": [options.size],
        "seconds": [options.seconds],
        "references": ["image"],
        "price_per_second": {options.size: 0.0},
    }
    path.write_text(json.dumps(entry) + "\n" if options.model == SOAK_MODEL else "")


def render_time(options: Options) -> float:
    """Seconds one render of the run's size and length takes here (the second of two: the first warms
    fonts and x264)."""
    width, height = parse_size(options.size)
    with tempfile.TemporaryDirectory(prefix="mimio-soak-render-") as tmp:
        times = []
        for n in range(2):
            start = time.perf_counter()
            render_video(
                RenderSpec(f"calibration {n}", width, height, options.seconds, FPS), Path(tmp) / "a.mp4"
            )
            times.append(time.perf_counter() - start)
    return times[-1]


def ideal_seconds(options: Options, run: Run, made: tuple[int, int] | None = None) -> float:
    """The provider's own time for N jobs of which M render (see the module docstring); `made`: (N, M)
    as the provider made them, else as planned."""
    jobs, renders = made or (
        sum(1 for s in run.submitted if s.tag != REFUSE_TAG),
        sum(1 for s in run.submitted if s.tag is None),
    )
    waves = math.ceil(jobs / options.concurrency) * max(options.latency, run.render_seconds)
    slots = math.ceil(renders / options.render_slots) * run.render_seconds
    return max(waves, slots)


def groups(rng: random.Random, count: int) -> Iterator[tuple[str, int]]:
    """(kind, size) of each submission until `count` videos: what people submit, mixed."""
    left = count
    while left > 0:
        kind = rng.choices(["single", "batch", "variations", "big batch"], [40, 30, 15, 15])[0]
        size = {"single": 1, "batch": rng.randint(2, 3), "variations": rng.randint(2, 3)}.get(
            kind, rng.randint(4, 10)
        )
        size = min(size, left)
        yield ("single" if size == 1 else kind), size
        left -= size


def submit(run: Run, options: Options, rng: random.Random, data: Path, catalogue: Path) -> None:
    """Record every video, as the dashboard and the CLI do; each prompt is its own (variations share
    one), some tagged to fail or be refused by the provider."""
    models = load_catalogue(catalogue)
    store = SQLiteStore(data / "mimio.sqlite3")
    files = LocalFileStorage(data / "files")
    try:
        number = 0
        planned: list[tuple[str, list[ValidRequest], list[str | None]]] = []
        for kind, size in groups(rng, options.videos):
            prompts = []
            tags: list[str | None] = []
            for _ in range(1 if kind == "variations" else size):
                number += 1
                tag = rng.choices(
                    [None, FAIL_TAG, REFUSE_TAG],
                    [1 - options.fail_share - options.refuse_share, options.fail_share, options.refuse_share],
                )[0]
                prompts.append(f"soak video {number}: a lighthouse at dusk {tag or ''}".strip())
                tags.append(tag)
            if kind == "variations":
                prompts, tags = prompts * size, tags * size
            requests = [
                validate_request(
                    VideoRequest(prompt=p, model=options.model, size=options.size, seconds=options.seconds),
                    max_reference_bytes=1,
                    models=models,
                )
                for p in prompts
            ]
            planned.append((kind, requests, tags))
        run.started = time.time()
        for kind, requests, tags in planned:
            run.groups[kind] += 1
            recorded = record_submission(
                store, files, requests, LOCAL_USER_ID, str(uuid.UUID(int=rng.getrandbits(128)))
            )
            run.submitted += [Submitted(v.id, v.prompt, tag) for v, tag in zip(recorded, tags, strict=True)]
    finally:
        store.close()


def random_fault(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """One fault of the kinds a provider has on a bad day, and its name for the tally."""
    if rng.random() < 0.2:
        return "download cut off", {"drop_downloads": 1}
    endpoint, status = rng.choice(FAULT_ENDPOINTS), rng.choice(FAULT_STATUSES)
    fault: dict[str, Any] = {"endpoint": endpoint, "status": status, "times": rng.randint(1, 3)}
    if status == 429:
        fault["retry_after"] = round(rng.uniform(0.2, 2.0), 1)
    return f"{status} on {endpoint}", {"http": [fault]}


def held_by(db: Path, pid: int) -> Counter[str]:
    """States of the active videos a worker process holds (engine owners read host.ns:pid:id)."""
    with sqlite3.connect(db) as raw:
        rows = raw.execute(
            "SELECT lease_owner, status FROM videos WHERE lease_owner IS NOT NULL AND status IN"
            " ('claimed', 'creating', 'generating', 'transferring')"
        ).fetchall()
    return Counter(status for owner, status in rows if owner.split(":")[1:2] == [str(pid)])


def final_count(db: Path, ids: set[str]) -> tuple[int, float | None]:
    """How many of the videos are final, and when the last of them became so (when all are)."""
    with sqlite3.connect(db) as raw:
        rows = raw.execute("SELECT id, status, updated_at FROM videos").fetchall()
    final = [(status, at) for video_id, status, at in rows if video_id in ids and S(status).is_final]
    return len(final), (max(at for _, at in final) if len(final) == len(ids) else None)


def drive(run: Run, options: Options, processes: Processes, rng: random.Random, data: Path) -> float:
    """Faults and kills until every video is final or the deadline passes; returns the deadline used."""
    db = data / "mimio.sqlite3"
    ideal = ideal_seconds(options, run)
    deadline = options.deadline or max(240.0, 6 * ideal + 60)
    ids = {s.video_id for s in run.submitted}
    next_kill = time.monotonic() + rng.uniform(*options.kill_every)
    next_fault = time.monotonic()
    begin = time.monotonic()
    last_report = begin
    with httpx.Client(timeout=10) as client:
        while time.monotonic() - begin < deadline:
            now = time.monotonic()
            done, finished = final_count(db, ids)
            if finished is not None:
                run.finished = finished
                return deadline
            if now >= next_fault:
                name, spec = random_fault(rng)
                processes.faults(client, spec)
                run.faults[name] += 1
                next_fault = now + options.fault_every
            if now >= next_kill:
                slot = rng.randrange(options.workers)
                pid = processes.workers[slot].pid
                held = held_by(db, pid)
                processes.kill_worker(slot)
                run.kills.append(Kill(time.time() - run.started, slot, pid, held))
                processes.start_worker(slot)
                next_kill = time.monotonic() + rng.uniform(*options.kill_every)
            if now - last_report >= 15:
                print(f"  {now - begin:5.0f} s: {done}/{len(ids)} final, {len(run.kills)} kills", flush=True)
                last_report = now
            time.sleep(0.25)
    return deadline


# --- what became of every video -------------------------------------------------------------------


@dataclass
class Findings:
    videos: dict[str, TrackedVideo]
    lost: list[tuple[str, str]] = field(default_factory=list)  # (video id, why)
    stuck: list[str] = field(default_factory=list)
    duplicated: list[tuple[str, str]] = field(default_factory=list)  # (video id or file, why)
    jobs: int = 0
    rendered_jobs: int = 0
    wasted_jobs: int = 0  # jobs made for videos that did not complete: billed, nothing stored
    redownloads: int = 0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def examine(run: Run, root: Path, stats: dict[str, dict[str, int]]) -> Findings:
    data, work = root / "data", root / "server" / "local-server"
    store = SQLiteStore(data / "mimio.sqlite3")
    files = LocalFileStorage(data / "files")
    try:
        videos = {v.id: v for v in store.get_videos([s.video_id for s in run.submitted])}
        rows = store.list_videos(LOCAL_USER_ID, limit=1_000_000)
    finally:
        store.close()
    found = Findings(videos)
    jobs: dict[str, dict[str, Any]] = {}
    for path in sorted((work / "jobs").glob("*.json")):
        job = json.loads(path.read_text())
        jobs[job["id"]] = job
    found.jobs = len(jobs)
    found.rendered_jobs = sum(1 for job in jobs.values() if job.get("rendered_at") is not None)
    jobs_per_prompt = Counter(job["prompt"] for job in jobs.values())
    videos_per_prompt = Counter(s.prompt for s in run.submitted)
    records_per_prompt = Counter(v.prompt for v in rows)
    for prompt, count in sorted(videos_per_prompt.items()):
        if jobs_per_prompt[prompt] > count:
            found.duplicated.append((prompt, f"{jobs_per_prompt[prompt]} provider jobs for {count} video(s)"))
        if records_per_prompt[prompt] > count:
            found.duplicated.append((prompt, f"{records_per_prompt[prompt]} records for {count} video(s)"))
    for job in jobs.values():
        if job["prompt"] not in videos_per_prompt:
            found.duplicated.append(
                (job["id"], f"a provider job for a prompt nobody asked for: {job['prompt']!r}")
            )
    stored_keys = {v.storage_path for v in videos.values() if v.status is S.COMPLETED}
    for path in sorted((data / "files").rglob("*.mp4")):
        key = path.relative_to(data / "files").as_posix()
        if key not in stored_keys:
            found.duplicated.append((key, "a stored video file no record points to"))
    completed_jobs = set()
    for submitted in run.submitted:
        video = videos.get(submitted.video_id)
        if video is None:
            found.lost.append((submitted.video_id, "its record is gone"))
            continue
        if not video.is_final:
            found.stuck.append(video.id)
            continue
        if video.status is not S.COMPLETED:
            continue
        job = jobs.get((video.external_video_id or "").rpartition(":")[2])  # "mimio:video_..."
        if job is None or job["prompt"] != video.prompt:
            found.duplicated.append(
                (video.id, f"completed with job {video.external_video_id}, not one of its own")
            )
            continue
        completed_jobs.add(job["id"])
        path = files.path(video.storage_path or "")
        rendered = work / "videos" / f"{job['id']}.mp4"
        if not video.storage_path or not path.is_file():
            found.lost.append((video.id, f"completed but its file {video.storage_path} is missing"))
        elif rendered.is_file() and sha256(path) != sha256(rendered):
            found.lost.append(
                (video.id, f"its stored file {video.storage_path} is not the video of job {job['id']}")
            )
    found.wasted_jobs = len(set(jobs) - completed_jobs)
    found.redownloads = sum(max(0, n - 1) for n in stats.get("downloads", {}).values())
    return found


def log_lines(root: Path, needles: list[str], limit: int = 12) -> list[str]:
    lines = []
    for path in sorted((root / "logs").glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if any(needle in line for needle in needles):
                lines.append(f"{path.name}: {line.strip()}")
    return lines[-limit:]


def listed(counts: Counter[str], form: str = "{n} {k}") -> str:
    return ", ".join(form.format(n=n, k=k) for k, n in sorted(counts.items())) or "none"


def report(
    run: Run, options: Options, found: Findings, stats: dict[str, dict[str, int]], root: Path, deadline: float
) -> int:
    """Print the figures, and for each problem the video's record and its log lines; the exit status."""
    videos = found.videos.values()
    states = Counter(str(v.status) for v in videos)
    kinds = Counter(str(v.failure_kind) for v in videos if v.failure_kind is not None)
    tags = Counter(s.tag or "plain" for s in run.submitted)
    held = sum((k.held for k in run.kills), Counter[str]())
    planned = ideal_seconds(options, run)
    ideal = ideal_seconds(options, run, (found.jobs, found.rendered_jobs))
    o = options
    print(f"\nsoak: {len(run.submitted)} videos ({listed(run.groups)}), {o.workers} workers, seed {o.seed}")
    print(
        f"  server: latency {o.latency:g} s, {o.render_slots} render slots, {o.model} {o.size} {o.seconds} s"
        f" (one render {run.render_seconds:.2f} s)"
    )
    print(
        f"  engine: concurrency {o.concurrency}, poll {o.poll:g} s, lease {o.lease:g} s,"
        f" timeout {o.timeout:g} s"
    )
    print(f"  prompts: {tags['plain']} plain, {tags[FAIL_TAG]} whose job fails, {tags[REFUSE_TAG]} refused")
    print(f"  faults injected: {sum(run.faults.values())}: {listed(run.faults, '{n} x {k}')}")
    print(
        f"  kills: {len(run.kills)} (every {o.kill_every[0]:g}-{o.kill_every[1]:g} s);"
        f" videos held at a kill: {listed(held)}"
    )
    for kill in run.kills:
        print(f"    {kill.at:6.1f} s: worker {kill.slot} (pid {kill.pid}) held {listed(kill.held)}")
    print(f"  final states: {listed(states)}; failures by kind: {listed(kinds)}")
    print(
        f"  provider: {found.jobs} jobs made, {found.wasted_jobs} of them for videos that did not complete;"
        f" {found.redownloads} downloads repeated"
    )
    print(f"  provider requests: {listed(Counter(stats.get('requests', {})), '{k} {n}')}")
    if run.finished is not None:
        wall = run.finished - run.started
        print(
            f"  wall {wall:.1f} s; ideal for the {found.jobs} jobs made {ideal:.1f} s: wall/ideal"
            f" {wall / ideal:.2f} (planned ideal {planned:.1f} s: wall/planned {wall / planned:.2f})"
        )
    else:
        print(f"  wall: not every video was final after the {deadline:.0f} s deadline (ideal {ideal:.1f} s)")
    problems = {
        "lost": found.lost,
        "duplicated": found.duplicated,
        "stuck": [(video_id, "not final") for video_id in found.stuck],
    }
    print(table(["count", "videos"], [[label, len(items)] for label, items in problems.items()]))
    for label, items in problems.items():
        for subject, why in items[:10]:
            video = found.videos.get(subject)
            print(f"\n{label}: {subject}: {why}")
            if video is not None:
                print(
                    f"  record: {video.status} {video.failure_kind or ''} job={video.external_video_id}"
                    f" note={video.status_note!r} error={video.error!r} requested={video.requested}"
                )
            needles = [subject] + ([video.external_video_id] if video and video.external_video_id else [])
            for line in log_lines(root, needles):
                print(f"  {line}")
    return 1 if any(problems.values()) else 0


@contextmanager
def folder(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="mimio-bench-soak-"))
    try:
        yield root
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    rng = random.Random(options.seed)
    run = Run()
    with folder(options.keep) as root:
        catalogue = root / "catalogue.jsonl"
        write_catalogue(catalogue, options)
        run.render_seconds = render_time(options)
        processes = Processes(root, options, catalogue)
        try:
            processes.start_server()
            with httpx.Client(timeout=10) as client:
                processes.faults(
                    client,
                    {
                        "outcomes": [
                            {
                                "prompt_contains": FAIL_TAG,
                                "outcome": "error",
                                "message": "the soak's failing job",
                            },
                            {
                                "prompt_contains": REFUSE_TAG,
                                "outcome": "refuse",
                                "message": "the soak's refusal",
                            },
                        ],
                        # the provider keeps every job to be counted (a 404: the engine takes it as gone)
                        "http": [{"endpoint": "delete", "status": 404, "times": 10**9}],
                    },
                )
            for slot in range(options.workers):
                processes.start_worker(slot)
            submit(run, options, rng, root / "data", catalogue)
            print(
                f"{len(run.submitted)} videos submitted; planned ideal {ideal_seconds(options, run):.1f} s",
                flush=True,
            )
            deadline = drive(run, options, processes, rng, root / "data")
            stats = processes.stats()
        finally:
            processes.stop()
        found = examine(run, root, stats)
        return report(run, options, found, stats, root, deadline)


if __name__ == "__main__":
    sys.exit(main())
