"""Benchmark the dashboard's server-side cost: My Videos over 10,000 videos, and one progress tick.

Usage: ``python bench/bench_dashboard.py [--videos 10000] [--reps 7] [--tick-reps 30]``.

1. My Videos (target: under 1 s per render). A fresh data directory's SQLite store is seeded with
   N videos (mostly completed, some failed, 30 generating and 20 queued; every completed record points
   at a hard link of one small real MP4). The real app (``streamlit_app.py``: engine and embedded
   server included) runs under ``AppTest``; each scenario (Gallery page 1, Table page 1, a search, the
   last pages) is rerun several times. ``AppTest.run`` adds its own cost (a script thread, an event
   loop and a mock runtime per run, and parsing every message into an element tree), so the figures
   are given raw, minus a trivial page (Projects, no projects) run the same way, and split into the
   time the script itself ran in Streamlit's ScriptRunner and the time AppTest spent parsing.
   The store calls under the page (count_videos, list_videos with filters) are timed directly too.
2. One progress-fragment tick with 30 videos in flight (target: under 50 ms): a tiny script calls
   ``progress_panel`` over the 30 generating videos; its AppTest run minus the same script without
   the panel, the time ``progress_panel`` took inside the script, and the pure work of a tick outside
   Streamlit (``store.get_videos`` + the summary math + the card text).

The seeded in-flight videos carry a lease of a made-up engine that lasts for days, and more are
active than MIMIO_CONCURRENCY allows, so the app's engine neither claims nor takes over any of
them: the benchmark measures page renders, not renders of videos. Figures only, no assertions; the
load average and each scenario's CPU/wall ratio show how busy the machine was.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import chdir
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _common import REPO_ROOT, table
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import local_script_runner as _lsr

from mimio_core.catalogue import MODELS as CATALOGUE
from mimio_core.config import load_settings
from mimio_core.domain import LOCAL_USER_ID, FailureKind, TrackedVideo, VideoStatus
from mimio_core.local_server.renderer import RenderSpec, render_video
from mimio_core.runtime import Runtime
from mimio_core.status import STATE_GROUPS, TRANSITIONS
from mimio_core.store.base import NewVideo, VideoFilter, video_key
from mimio_core.store.local_files import LocalFileStorage
from mimio_core.store.sqlite import SQLiteStore
from mimio_core.ui.cards import BADGES, badge_markup, elapsed, file_name, progress_text
from mimio_core.ui.runtime import close_runtime
from mimio_core.workspace import Workspace

PAGE_TARGET = 1.0  # seconds, one My Videos render
TICK_TARGET = 0.050  # seconds, one progress tick
IN_FLIGHT, QUEUED, FAILED_SHARE = 30, 20, 0.07  # IN_FLIGHT: generating, each with a provider job
UNFINISHED_AMONG_NEWEST = 500  # in-flight and queued videos are recent: spread over the newest 500
FROZEN_OWNER = "bench-frozen-engine"  # no "place:pid": never released as a dead engine
SEARCH = "fox"  # one subject in ten
SUBJECTS = [
    "a red fox",
    "ocean waves",
    "a busy city street",
    "a mountain lake",
    "a hot air balloon",
    "a sleeping cat",
    "a neon sign",
    "a forest path",
    "a desert road",
    "a lighthouse",
]
SCENES = ["at dusk", "in the snow", "in the rain", "at sunrise", "under the stars", "from above"]
MODELS = [("sora-2", 45), ("sora-2-pro", 20), ("mimio-local", 35)]
# why a seeded video failed and the message the engine writes ({job}: its provider job); a refused
# request never got a job
FAILURES = [
    (FailureKind.REFUSED, "The provider refused the video: content policy"),
    (
        FailureKind.TIMED_OUT,
        "Timed out after 10 minutes waiting for the provider. Its job {job} is kept: Retry checks it again.",
    ),
    (FailureKind.PROVIDER_FAILED, "GPU fell over"),
]

# --- timing helpers -------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


@dataclass
class Sample:
    """One AppTest run: wall time, the script's time in the ScriptRunner, AppTest's parse, CPU time."""

    wall: float
    script: float
    parse: float
    cpu: float


_script_seconds: list[float] = []
_parse_seconds: list[float] = []


def instrument_apptest() -> None:
    """Time, inside every AppTest run, the script itself (`ScriptRunner._run_script`, which is what a
    real server runs on a rerun, cleanup of orphaned media included) and AppTest's own parse of the
    messages into an element tree. Wraps the class attribute and a module global of this process only.
    """
    original_run: Callable[..., None] = _lsr.LocalScriptRunner._run_script
    original_parse: Callable[..., Any] = _lsr.parse_tree_from_messages

    def timed_run(self: Any, rerun_data: Any) -> None:
        start = time.perf_counter()
        try:
            original_run(self, rerun_data)
        finally:
            _script_seconds.append(time.perf_counter() - start)

    def timed_parse(messages: Any) -> Any:
        start = time.perf_counter()
        try:
            return original_parse(messages)
        finally:
            _parse_seconds.append(time.perf_counter() - start)

    _lsr.LocalScriptRunner._run_script = timed_run  # type: ignore[method-assign]
    _lsr.parse_tree_from_messages = timed_parse  # type: ignore[assignment]


def timed_run(at: AppTest) -> Sample:
    _script_seconds.clear()
    _parse_seconds.clear()
    cpu, start = time.process_time(), time.perf_counter()
    at.run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if at.exception:
        raise RuntimeError(f"the page raised: {[e.value for e in at.exception]}")
    return Sample(wall, sum(_script_seconds), sum(_parse_seconds), cpu)


def repeat(at: AppTest, reps: int) -> list[Sample]:
    return [timed_run(at) for _ in range(reps)]


# --- seeding --------------------------------------------------------------------------------------


def lifecycle_path(target: VideoStatus) -> list[VideoStatus]:
    """The states a queued video passes through to `target` (its last), by the fewest allowed changes
    (`mimio_core.status.TRANSITIONS`, which the store's trigger holds every UPDATE of a status to)."""
    paths: dict[VideoStatus, list[VideoStatus]] = {VideoStatus.QUEUED: []}
    frontier = [VideoStatus.QUEUED]
    while frontier:
        reached = []
        for state in frontier:
            for new in sorted(TRANSITIONS[state]):
                if new not in paths:
                    paths[new] = [*paths[state], new]
                    reached.append(new)
        frontier = reached
    return paths[target]


def make_sample_mp4(path: Path, width: int, height: int, seconds: int) -> int:
    render_video(RenderSpec("bench dashboard sample", width, height, seconds), path)
    return path.stat().st_size


def seed(data_dir: Path, count: int, sample: Path) -> dict[str, Any]:
    """`count` videos for the local user, newest last; returns the ids by status and the seeding time."""
    rng = random.Random(20240607)
    start = time.perf_counter()
    store = SQLiteStore(data_dir / "mimio.sqlite3")
    models = [name for name, weight in MODELS for _ in range(weight)]
    new: list[NewVideo] = []
    for index in range(count):
        subject, scene = rng.choice(SUBJECTS), rng.choice(SCENES)
        model = rng.choice(models)
        new.append(
            NewVideo(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                user_id=LOCAL_USER_ID,
                title=f"{subject.capitalize()} {scene} #{index + 1}",
                prompt=f"{subject} {scene}, cinematic, 35mm film look, gentle camera drift",
                model=model,
                size=rng.choice(["1280x720", "720x1280"]),
                seconds=rng.choice([4, 8, 12]),
            )
        )
    for chunk in range(0, count, 1000):
        store.insert_videos(new[chunk : chunk + 1000])
    store.close()
    inserted = time.perf_counter() - start

    # Statuses, times and files by direct SQL on this bench database (the engine's typed operations
    # would need a provider job per video); each status walks the lifecycle there, one allowed change
    # at a time, as the store's trigger insists.
    newest = list(range(max(0, count - UNFINISHED_AMONG_NEWEST), count))
    unfinished = rng.sample(newest, min(len(newest), IN_FLIGHT + QUEUED))
    generating, queued = set(unfinished[:IN_FLIGHT]), set(unfinished[IN_FLIGHT:])
    now = time.time()
    by_status: dict[VideoStatus, list[str]] = {status: [] for status in VideoStatus}
    rows: list[tuple[Any, ...]] = []
    paths: list[tuple[str, list[VideoStatus]]] = []
    files = data_dir / "files"
    (files / LOCAL_USER_ID).mkdir(parents=True, exist_ok=True)
    for index, video in enumerate(new):
        rank = count - 1 - index  # 0 = newest
        created = now - (rank * 5.0 if rank < UNFINISHED_AMONG_NEWEST else 2500 + rank * 240.0)
        started = completed = storage = lease = lease_until = external = error = kind = None
        progress, updated = 0, created
        if index in generating:
            status, started, progress, updated = VideoStatus.GENERATING, created + 1, rng.randint(0, 95), now
            lease, lease_until, external = FROZEN_OWNER, now + 30 * 86400, f"job-{index}"
        elif index in queued:
            status = VideoStatus.QUEUED
        elif rng.random() < FAILED_SHARE:
            status, started = VideoStatus.FAILED, created + 1
            (kind, message), progress = rng.choice(FAILURES), rng.randint(0, 90)
            updated = created + rng.uniform(5, 100)
            external = None if kind is FailureKind.REFUSED else f"job-{index}"
            error = message.format(job=external)
        else:
            status, started, external, progress = VideoStatus.COMPLETED, created + 1, f"job-{index}", 100
            completed = updated = created + rng.uniform(40, 200)
            storage = video_key(LOCAL_USER_ID, video.id)
            target = files / storage
            try:
                os.link(sample, target)
            except OSError:
                shutil.copyfile(sample, target)
        by_status[status].append(video.id)
        paths.append((video.id, lifecycle_path(status)))
        rows.append(
            (
                str(status),
                None if kind is None else str(kind),
                progress,
                external,
                error,
                storage,
                lease,
                lease_until,
                created,
                updated,
                started,
                completed,
                video.id,
            )
        )
    db = sqlite3.connect(data_dir / "mimio.sqlite3")
    with db:
        for step in range(max(len(path) for _, path in paths) - 1):  # the states on the way
            db.executemany(
                "UPDATE videos SET status = ? WHERE id = ?",
                [(str(path[step]), video_id) for video_id, path in paths if len(path) > step + 1],
            )
        db.executemany(  # the last change of state, with everything else the record holds
            "UPDATE videos SET status = ?, failure_kind = ?, progress = ?, external_video_id = ?, error = ?,"
            " storage_path = ?, lease_owner = ?, lease_expires_at = ?, created_at = ?, updated_at = ?,"
            " started_at = ?, completed_at = ? WHERE id = ?",
            rows,
        )
    db.close()
    # newest first, as the pages show them
    ordered = {status: list(reversed(ids)) for status, ids in by_status.items() if ids}
    return {"ids": ordered, "insert_seconds": inserted, "total_seconds": time.perf_counter() - start}


# --- 1a. the store calls under My Videos --------------------------------------------------------------


def bench_store_queries(db_path: Path, count: int, reps: int) -> list[list[object]]:
    store = SQLiteStore(db_path)
    everything, completed = VideoFilter(), VideoFilter(states=STATE_GROUPS["completed"])
    search = VideoFilter(search=SEARCH)
    model = VideoFilter(model="sora-2-pro", states=STATE_GROUPS["failed"])
    calls: list[tuple[str, Callable[[], object]]] = [
        ("count_videos (all)", lambda: store.count_videos(LOCAL_USER_ID, everything)),
        ("count_videos (status=completed)", lambda: store.count_videos(LOCAL_USER_ID, completed)),
        (f"count_videos (search {SEARCH!r})", lambda: store.count_videos(LOCAL_USER_ID, search)),
        ("count_videos (model+status)", lambda: store.count_videos(LOCAL_USER_ID, model)),
        ("list_videos 12, page 1", lambda: store.list_videos(LOCAL_USER_ID, everything, 12, 0)),
        ("list_videos 50, page 1", lambda: store.list_videos(LOCAL_USER_ID, everything, 50, 0)),
        (
            "list_videos 12, last page",
            lambda: store.list_videos(LOCAL_USER_ID, everything, 12, (count - 1) // 12 * 12),
        ),
        (
            "list_videos 50, last page",
            lambda: store.list_videos(LOCAL_USER_ID, everything, 50, (count - 1) // 50 * 50),
        ),
        (f"list_videos 12, search {SEARCH!r}", lambda: store.list_videos(LOCAL_USER_ID, search, 12, 0)),
        ("list_videos 12, status=completed", lambda: store.list_videos(LOCAL_USER_ID, completed, 12, 0)),
        ("list_projects", lambda: store.list_projects(LOCAL_USER_ID)),
    ]
    page_ids = [v.id for v in store.list_videos(LOCAL_USER_ID, everything, 12, 0)]
    calls.append(("get_videos (12 ids, the fragment)", lambda: store.get_videos(page_ids)))
    rows: list[list[object]] = []
    for name, call in calls:
        call()  # warm the page cache
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        rows.append([name, ms(statistics.median(times)), ms(pct(times, 0.95)), ms(max(times))])
    store.close()
    return rows


# --- 1b. My Videos under AppTest ------------------------------------------------------------------


def summarize(
    name: str, samples: list[Sample], baseline: tuple[float, float], first: Sample | None
) -> list[object]:
    baseline, baseline_cpu = baseline
    walls = [s.wall for s in samples]
    median = statistics.median(walls)
    cpu_ratio = sum(s.cpu for s in samples) / sum(walls)
    return [
        name,
        len(samples),
        ms(first.wall) if first else "-",
        ms(median),
        ms(max(walls)),
        ms(median - baseline),
        ms(statistics.median(s.script for s in samples)),
        ms(max(s.script for s in samples)),
        ms(statistics.median(s.parse for s in samples)),
        ms(statistics.median(s.cpu for s in samples)),
        ms(statistics.median(s.cpu for s in samples) - baseline_cpu),
        f"{cpu_ratio:.2f}",
    ]


PAGE_HEADERS = [
    "scenario",
    "n",
    "1st ms",
    "median ms",
    "max ms",
    "median-base ms",
    "script med ms",
    "script max ms",
    "parse med ms",
    "cpu med ms",
    "cpu-base ms",
    "cpu/wall",
]


def caption_of(at: AppTest) -> str:
    return next((str(c.value) for c in at.caption if " · page " in str(c.value)), "?")


def bench_pages(data_dir: Path, sample: Path, count: int, reps: int, big_video: bool) -> None:
    instrument_apptest()
    at = AppTest.from_file(str(REPO_ROOT / "streamlit_app.py"), default_timeout=120)
    cold = timed_run(at)
    print(
        f"cold first run (Single video page; starts the engine and the embedded server): {ms(cold.wall)} ms"
    )
    at.switch_page("app_pages/projects.py")
    repeat(at, 3)  # warm-up
    base_before = repeat(at, reps)
    baseline = statistics.median(s.wall for s in base_before), statistics.median(s.cpu for s in base_before)

    rows: list[list[object]] = []
    notes: list[str] = []
    scenario_samples: list[list[Sample]] = []

    def scenario(name: str, change: Callable[[], object]) -> None:
        change()
        first = timed_run(at)
        samples = repeat(at, reps)
        rows.append(summarize(name, samples, baseline, first))
        scenario_samples.append(samples)
        cards = len(at.get("video"))
        notes.append(
            f"{name}: {caption_of(at)}; {cards} players, {len(at.get('dataframe'))} table(s),"
            f" {len(at.get('button'))} buttons"
        )

    at.switch_page("app_pages/my_videos.py")
    scenario("Gallery, page 1", lambda: None)
    scenario("Table, page 1", lambda: at.radio(key="videos-view").set_value("Table"))
    scenario(
        "Table, last page",
        lambda: at.number_input(key="videos-page").set_value(math.ceil(count / 50)),
    )
    at.number_input(key="videos-page").set_value(1)
    at.radio(key="videos-view").set_value("Gallery")
    scenario(f"Gallery, search {SEARCH!r}", lambda: at.text_input(key="videos-search").input(SEARCH))
    at.text_input(key="videos-search").input("")
    timed_run(at)  # the page count changes with the filter: Streamlit resets the page widget then
    scenario(
        "Gallery, last page",
        lambda: at.number_input(key="videos-page").set_value(math.ceil(count / 12)),
    )
    scenario(
        "Gallery, status=failed",
        lambda: (
            at.number_input(key="videos-page").set_value(1),
            at.selectbox(key="videos-status").set_value("failed"),
        ),
    )
    at.selectbox(key="videos-status").set_value("")
    if big_video and os.stat(sample).st_nlink < 2:
        print("the completed videos' files are copies, not hard links: skipping the 1280x720 scenario")
    elif big_video:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="mimio-bench-big-") as tmp:
            big = Path(tmp) / "big.mp4"
            size = make_sample_mp4(big, 1280, 720, 4)
            shutil.copyfile(big, sample)  # writes into the shared inode: every hard link sees it
        print(f"rendered a 1280x720 4 s MP4 ({size / 1e6:.2f} MB) in {time.perf_counter() - start:.1f} s")
        scenario("Gallery, page 1, 1280x720 4 s files", lambda: None)

    at.switch_page("app_pages/projects.py")
    repeat(at, 3)
    base_after = repeat(at, reps)
    worst = max(statistics.median(s.wall for s in samples) for samples in scenario_samples)
    rows.insert(0, summarize("baseline: Projects (none), before", base_before, baseline, None))
    rows.insert(1, summarize("baseline: Projects (none), after", base_after, baseline, None))
    print()
    print(table(PAGE_HEADERS, rows))
    print()
    for note in notes:
        print(f"  {note}")
    print(
        "  1st = the first run after the change; the very first My Videos run also imports pandas (once"
        " per process)."
    )
    verdict = "met" if worst < PAGE_TARGET else "NOT met"
    print(f"  target < {PAGE_TARGET:g} s: {verdict} (slowest scenario median, raw: {ms(worst)} ms)")
    close_runtime()


# --- 2. one progress tick -------------------------------------------------------------------------


def _tick_script() -> None:
    """Run as an AppTest script (AppTest.from_function takes its source): the panel, or nothing."""
    import time

    import streamlit as st

    from mimio_core.ui.progress import progress_panel

    runtime, ids = st.session_state["bench-runtime"], st.session_state["bench-ids"]
    workspace = st.session_state["bench-workspace"]
    if st.session_state["bench-panel"]:
        start, cpu = time.perf_counter(), time.thread_time()
        progress_panel(runtime, workspace, ids, "bench")
        st.session_state["bench-inner"].append((time.perf_counter() - start, time.thread_time() - cpu))


def pure_tick(store: SQLiteStore, ids: list[str]) -> tuple[list[TrackedVideo], str]:
    """The work of one tick without Streamlit: read the videos, the summary figures, each card's text."""
    videos = store.get_videos(ids)
    counts = {status: sum(v.status is status for v in videos) for status in VideoStatus}
    overall = sum(100 if v.is_final else v.progress for v in videos) / max(1, len(videos))
    done = sum(v.is_final for v in videos)
    now = time.time()
    texts = [f"{done} of {len(videos)} finished", f"{overall:.0f}"]
    texts.append(" ".join(badge_markup(status, count) for status, count in counts.items() if count))
    for video in videos:
        texts += [
            f"**{video.title}**",
            BADGES[video.status][0],
            f"{video.model} · {video.size} · {video.seconds} s · {elapsed(video, now)}",
            progress_text(video),
            file_name(video),
        ]
    return videos, "".join(texts)


def tick_stats(name: str, values: list[float], subtract: float = 0.0) -> list[object]:
    values = [v - subtract for v in values]
    return [name, len(values), ms(statistics.median(values)), ms(pct(values, 0.95)), ms(max(values))]


def bench_tick(data_dir: Path, ids: list[str], reps: int) -> None:
    store, files = SQLiteStore(data_dir / "mimio.sqlite3"), LocalFileStorage(data_dir / "files")
    settings = load_settings(environ={"MIMIO_DATA_DIR": str(data_dir)})  # the panel's worker check reads it
    runtime = SimpleNamespace(
        store=store,
        files=files,
        engine=None,
        catalogue=CATALOGUE,
        models=CATALOGUE,
        settings=settings,
        supabase=None,
    )
    runtime.model_label = partial(Runtime.model_label, runtime)  # what a card calls a model
    workspace = Workspace(LOCAL_USER_ID, None, store, files)
    assert all(v.status is VideoStatus.GENERATING for v in store.get_videos(ids)) and len(ids) == IN_FLIGHT

    def app(panel: bool) -> tuple[AppTest, list[tuple[float, float]]]:
        at = AppTest.from_function(_tick_script, default_timeout=60)
        inner: list[tuple[float, float]] = []
        at.session_state["bench-runtime"] = runtime
        at.session_state["bench-workspace"] = workspace
        at.session_state["bench-ids"] = ids
        at.session_state["bench-panel"] = panel
        at.session_state["bench-inner"] = inner
        timed_run(at)  # warm: imports, first fragment registration
        return at, inner

    panel_at, inner = app(True)
    base_at, _ = app(False)
    inner.clear()
    panel, base = [], []
    for _ in range(reps):  # interleaved, so a busy neighbour weighs on both alike
        panel.append(timed_run(panel_at))
        base.append(timed_run(base_at))
    elements = len(panel_at.get("progress")) + len(panel_at.get("metric")) + len(panel_at.markdown)
    base_median = statistics.median(s.wall for s in base)
    base_cpu = statistics.median(s.cpu for s in base)

    pure, get_only = [], []
    for _ in range(max(200, reps)):
        start = time.perf_counter()
        pure_tick(store, ids)
        pure.append(time.perf_counter() - start)
        start = time.perf_counter()
        store.get_videos(ids)
        get_only.append(time.perf_counter() - start)
    store.close()

    rows = [
        tick_stats("AppTest run, empty script (baseline)", [s.wall for s in base]),
        tick_stats("AppTest run, progress_panel", [s.wall for s in panel]),
        tick_stats("  minus the baseline median", [s.wall for s in panel], base_median),
        tick_stats("  script time in ScriptRunner", [s.script for s in panel]),
        tick_stats("  AppTest parse of the output", [s.parse for s in panel]),
        tick_stats("AppTest run CPU, empty script", [s.cpu for s in base]),
        tick_stats("AppTest run CPU, progress_panel", [s.cpu for s in panel]),
        tick_stats("  minus the baseline CPU median", [s.cpu for s in panel], base_cpu),
        tick_stats("progress_panel inside the script, wall", [wall for wall, _ in inner]),
        tick_stats("progress_panel inside the script, thread CPU", [cpu for _, cpu in inner]),
        tick_stats("pure tick: get_videos(30) + summary + card text", pure),
        tick_stats("  of which get_videos(30)", get_only),
    ]
    print(table([f"measure ({IN_FLIGHT} generating videos)", "n", "median ms", "p95 ms", "max ms"], rows))
    cpu = sum(s.cpu for s in panel + base) / sum(s.wall for s in panel + base)
    print(
        f"  {elements} progress/metric/markdown elements per tick; cpu/wall over these runs {cpu:.2f}."
        " progress_panel inside the script is one page-run call of it: its own get_videos (in_flight)"
        " plus one run of the fragment body, i.e. one tick plus about one get_videos(30)."
    )
    tick = [s.wall - base_median for s in panel]
    verdict = (
        "met"
        if pct(tick, 0.95) < TICK_TARGET
        else "met at the median only"
        if statistics.median(tick) < TICK_TARGET
        else "NOT met"
    )
    print(
        f"  target < {TICK_TARGET * 1000:g} ms: {verdict} (AppTest run minus baseline: median"
        f" {ms(statistics.median(tick))} ms, p95 {ms(pct(tick, 0.95))} ms)"
    )
    close_runtime()


# --- main -----------------------------------------------------------------------------------------


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=7, help="reruns per My Videos scenario")
    parser.add_argument("--tick-reps", type=int, default=30, help="runs of the progress tick")
    parser.add_argument("--no-big-video", action="store_true", help="skip the 1280x720 file scenario")
    args = parser.parse_args()

    print(f"start: {load()}")
    # AppTest warns about a missing ScriptRunContext when session state is set before a run
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage()
    )
    saved_env = {k: os.environ.get(k) for k in ("MIMIO_DATA_DIR", "MIMIO_API_URL", "MIMIO_LOG_LEVEL")}
    tmp = Path(tempfile.mkdtemp(prefix="mimio-bench-dashboard-"))
    try:
        data_dir = tmp / "data"
        sample = tmp / "sample.mp4"
        size = make_sample_mp4(sample, 64, 64, 1)
        seeded = seed(data_dir, args.videos, sample)
        ids = seeded["ids"]
        print(
            f"seeded {args.videos} videos in {seeded['total_seconds']:.1f} s"
            f" (insert_videos {seeded['insert_seconds']:.1f} s): "
            + ", ".join(f"{len(v)} {s}" for s, v in ids.items())
            + f"; completed ones are hard links of one {size / 1000:.1f} kB 64x64 1 s MP4"
        )

        print(f"\n== 1a. store calls under My Videos, {args.videos} rows (direct, ms) ==")
        print(
            table(
                ["call", "median", "p95", "max"],
                bench_store_queries(data_dir / "mimio.sqlite3", args.videos, 50),
            )
        )

        print(f"\n== 1b. My Videos under AppTest, {args.videos} videos (target < {PAGE_TARGET:g} s) ==")
        os.environ["MIMIO_DATA_DIR"] = str(data_dir)
        os.environ.pop("MIMIO_API_URL", None)
        os.environ["MIMIO_LOG_LEVEL"] = "WARNING"  # the engine's INFO lines would bury the figures
        with chdir(REPO_ROOT):
            bench_pages(data_dir, sample, args.videos, args.reps, not args.no_big_video)
        print(
            "  median-base = median minus the 'before' baseline median; script = ScriptRunner._run_script"
            " (the rerun a real server does: frame + page + media cleanup); parse = AppTest building its"
            " element tree. cpu = process CPU time of the run (engine and server threads included, mostly"
            " idle): steadier than wall time on a busy machine. cpu/wall < 1: the process waited for a CPU."
        )

        target = f"target < {TICK_TARGET * 1000:g} ms"
        print(f"\n== 2. one progress tick, {IN_FLIGHT} videos in flight ({target}) ==")
        with chdir(REPO_ROOT):
            bench_tick(data_dir, ids[VideoStatus.GENERATING], args.tick_reps)
        print(f"\nend: {load()}")
    finally:
        close_runtime()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
