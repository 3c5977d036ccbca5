"""`python -m mimio_core`: serve the embedded API, create videos, run batches, list, steer the queue,
run the engine.

With `cli_queue` (the queue commands), the only modules of `mimio_core` that write to the terminal.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # the runtime opens providers and servers: imported only by the commands that need it
    from mimio_core.runtime import Runtime

from mimio_core import cli_queue
from mimio_core.catalogue import CatalogueError, ProviderKind, load_catalogue, route_models, stand_in_models
from mimio_core.cli_queue import video_record
from mimio_core.config import ConfigError, Settings, load_settings
from mimio_core.domain import (
    ACTIVE_STATES,
    LOCAL_USER_ID,
    TrackedVideo,
    UserRequest,
    VideoRequest,
    VideoStatus,
)
from mimio_core.errors import BadInput
from mimio_core.logs import configure_logging
from mimio_core.storage import open_storage, worker_window
from mimio_core.store.base import ProjectError, RequestRefused, VideoFilter
from mimio_core.store.queue_control import MAX_PRIORITY

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
ASKS = {
    UserRequest.RETRY: "try a failed or cancelled video again",
    UserRequest.CANCEL: "stop a video that is queued or being made",
    UserRequest.DELETE: "delete a video and its files",
}
ACTIVE = "active"  # `list --status active`: claimed, creating, generating or transferring
MAX_PROBLEMS_SHOWN = 20  # a file of 100,000 bad rows must not print 100,000 lines

out = Console()
err = Console(stderr=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mimio_core", description="Batch AI video generation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the engine's log")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve-local", help="run the embedded video API server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8005)

    def settings_flags(command: argparse.ArgumentParser) -> None:
        command.add_argument("--project", help="project name or id (a new name creates the project)")
        command.add_argument("--no-wait", action="store_true", help="record the videos and return at once")
        command.add_argument(
            "--at",
            type=_moment,
            help="not before this time: 2026-12-24T02:00 (local time) or with a zone, +02:00 or Z",
        )
        command.add_argument(
            "--priority",
            type=int,
            default=0,
            help=f"higher is sent first (-{MAX_PRIORITY} to {MAX_PRIORITY}; default 0)",
        )

    create = commands.add_parser("create", help="create one video, or variations of one prompt")
    create.add_argument("prompt")
    create.add_argument("--title", default="")
    create.add_argument("--model", help="a model of the active provider (see README: Providers and models)")
    create.add_argument("--size", help="WIDTHxHEIGHT, e.g. 1280x720")
    create.add_argument("--seconds")
    create.add_argument(
        "--reference", type=Path, help="reference image (or video, where the model takes one)"
    )
    create.add_argument("--variations", type=int, default=1, choices=(1, 2, 3))
    settings_flags(create)

    batch = commands.add_parser("batch", help="create every row of a CSV or JSONL file")
    batch.add_argument("file", type=Path)
    settings_flags(batch)

    listing = commands.add_parser("list", help="list videos, newest first")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument(
        "--status",
        choices=[*(s.value for s in VideoStatus), ACTIVE],
        help=f"only videos in this state ({ACTIVE}: any of {', '.join(sorted(ACTIVE_STATES))})",
    )
    listing.add_argument("--limit", type=int, default=50)

    for request, what in ASKS.items():
        asking = commands.add_parser(request.value, help=f"{what} (the app's engine or a worker does it)")
        asking.add_argument("id", nargs="?", help="the video's id (`list` shows it)")
        asking.add_argument("--json", action="store_true", help="print the record (or the counts) as JSON")
        cli_queue.add_bulk_flags(asking, request)
    cli_queue.register(commands)

    commands.add_parser("worker", help="run the engine alone until interrupted")

    models = commands.add_parser("models", help="list the models the active providers offer")
    models.add_argument("--provider", choices=get_args(ProviderKind), help="only this provider's models")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _moment(text: str) -> datetime:
    """A time a person writes (ISO 8601; without a zone, this machine's local time), aware."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: write it as 2026-12-24T02:00, or with a zone as 2026-12-24T02:00+01:00"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def _configure_logging(level: str) -> None:
    configure_logging(level, handlers=[RichHandler(console=err, show_path=False)])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[red]Configuration error:[/red] {exc}")
        return EXIT_BAD_INPUT
    quiet_commands = ("create", "batch", "list", *ASKS, *cli_queue.QUEUE_COMMANDS)
    _configure_logging(
        "INFO" if args.verbose else ("WARNING" if args.command in quiet_commands else settings.log_level)
    )
    if settings.supabase is not None and args.command in quiet_commands:
        err.print(
            f"[red]{args.command} works with the embedded store only:[/red] with Supabase configured, "
            "videos belong to signed-in users, so create them in the dashboard. "
            "`python -m mimio_core worker` runs the engine for them."
        )
        return EXIT_BAD_INPUT
    if args.command == "list":
        return _list(settings, args)
    if args.command in ASKS:
        if args.id is None:
            return cli_queue.ask_many(settings, UserRequest(args.command), args, out, err)
        return _ask(settings, UserRequest(args.command), args)
    if args.command in cli_queue.QUEUE_COMMANDS:
        return cli_queue.run(settings, args, out, err)
    if args.command == "models":
        return _models(settings, args)
    from mimio_core.runtime import open_runtime

    try:
        if args.command == "serve-local":  # a stand-in for the APIs it speaks: it renders all their models
            catalogue = stand_in_models(load_catalogue(settings.catalogue_file))
        else:
            # the CLI is an engine of its own (`worker` is nothing else), whatever MIMIO_ENGINE says
            engine_settings = settings.replace(engine=True)
            runtime = open_runtime(engine_settings, start_engine=not getattr(args, "no_wait", False))
    except (CatalogueError, ConfigError) as exc:
        err.print(f"[red]Configuration error:[/red] {exc}")
        return EXIT_BAD_INPUT
    if args.command == "serve-local":
        from mimio_core.local_server.runner import serve_forever

        try:
            serve_forever(
                settings.data_dir / "local-server",
                host=args.host,
                port=args.port,
                latency=settings.local_latency,
                render_slots=settings.local_render_slots,
                models=catalogue,
                api_key=settings.local_api_key,
                cors_origins=settings.cors_origins,
            )
        except ConfigError as exc:
            err.print(f"[red]Configuration error:[/red] {exc}")
            return EXIT_BAD_INPUT
        return EXIT_OK
    try:
        if args.command == "worker":
            return _worker(runtime)
        return _create(runtime, args)
    finally:
        runtime.close()


def _project_id(runtime: Runtime, name_or_id: str | None) -> str | None:
    if not name_or_id:
        return None
    store = runtime.local_store
    found = store.find_project(LOCAL_USER_ID, name_or_id) or store.create_project(LOCAL_USER_ID, name_or_id)
    return found.id


def _create(runtime: Runtime, args: argparse.Namespace) -> int:
    # validation reads images and videos (PIL, PyAV): loaded by the commands that take requests only
    from mimio_core.batch_file import BatchFileError, read_batch_file
    from mimio_core.submission import as_variations
    from mimio_core.validation import ValidationError, read_reference_file, validate_request

    limit, models = runtime.settings.max_reference_bytes, runtime.models
    try:
        if args.command == "batch":
            requests = read_batch_file(args.file, max_reference_bytes=limit, models=models)
        else:
            reference = None
            if args.reference is not None:
                reference = read_reference_file(args.reference, runtime.settings.max_reference_bytes)
            request = VideoRequest(
                prompt=args.prompt,
                title=args.title,
                model=args.model,
                size=args.size,
                seconds=args.seconds,
                reference=reference,
            )
            requests = as_variations(
                validate_request(request, max_reference_bytes=limit, models=models), args.variations
            )
        # only once everything is valid: a refused submission must not leave a new project behind
        project_id = _project_id(runtime, args.project)
    except BatchFileError as exc:
        err.print(f"[red]Nothing was submitted:[/red] {args.file} has {len(exc.problems)} bad row(s):")
        for line, reason in exc.problems[:MAX_PROBLEMS_SHOWN]:
            err.print(f"  line {line}: {reason}", markup=False, highlight=False)
        if (more := len(exc.problems) - MAX_PROBLEMS_SHOWN) > 0:
            err.print(f"  ... and {more} more bad row(s).")
        return EXIT_BAD_INPUT
    except (ValidationError, ProjectError) as exc:
        err.print(f"[red]Nothing was submitted:[/red] {exc}")
        return EXIT_BAD_INPUT
    except OSError as exc:
        err.print(f"[red]Nothing was submitted:[/red] cannot read {exc.filename}: {exc.strerror}")
        return EXIT_BAD_INPUT
    try:
        videos = runtime.own_engine.submit(
            [replace(request, project_id=project_id) for request in requests],
            priority=args.priority,
            not_before=args.at,
        )
    except BadInput as exc:
        err.print(f"[red]Nothing was submitted:[/red] {exc}")
        return EXIT_BAD_INPUT
    if args.no_wait:
        for video in videos:
            out.print(f"recorded {video.id}  {video.title}")
        out.print("Run `python -m mimio_core worker` (or the dashboard) to make them.")
        return EXIT_OK
    return _follow(runtime, videos)


def _follow(runtime: Runtime, videos: list[TrackedVideo]) -> int:
    """Progress bars until every video is final; exit status says whether any failed."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=out,
    ) as bars:
        tasks: dict[str, TaskID] = {
            v.id: bars.add_task(v.title[:40], total=100, status=v.status.value) for v in videos
        }

        def show(latest: list[TrackedVideo]) -> None:
            for video in latest:
                status = video.status_note if video.status_note and not video.is_final else video.status.value
                bars.update(tasks[video.id], completed=video.progress, status=status)

        final = runtime.own_engine.wait([v.id for v in videos], on_change=show)
    failed = [video for video in final if video.status is not VideoStatus.COMPLETED]
    for video in final:
        if video.status is VideoStatus.COMPLETED:
            out.print(f"[green]completed[/green] {video.title}: {video.storage_path}")
    for video in failed:
        err.print(f"[red]{video.status}[/red] {video.title} ({video.id}): {video.error}")
    return EXIT_FAILED if failed else EXIT_OK


def _states(choice: str | None) -> frozenset[VideoStatus] | None:
    """The states `list --status` names: one, or every state of a video at work."""
    if choice is None:
        return None
    return ACTIVE_STATES if choice == ACTIVE else frozenset({VideoStatus(choice)})


def _ask(settings: Settings, request: UserRequest, args: argparse.Namespace) -> int:
    """Record a request on one of the local user's videos; an engine (the app's, a worker, or the next
    `create`) carries it out, as it does a request made in the dashboard."""
    store, _ = open_storage(settings, None)
    try:
        video = store.ask(LOCAL_USER_ID, args.id, request)
        online = store.workers_online(worker_window(settings))
    except RequestRefused as exc:
        err.print(f"[red]Not asked:[/red] {exc}", highlight=False)
        return EXIT_BAD_INPUT
    finally:
        store.close()
    if args.json:
        out.print_json(json.dumps(video_record(video)))
        return EXIT_OK
    when = (
        f"{online} engine{'s' if online > 1 else ''} online will do it in a moment"
        if online
        else "no engine is running now: it is done when the app or `python -m mimio_core worker` runs"
    )
    out.print(f"Asked to {request} {video.title!r} ({video.id}): {when}.", markup=False, highlight=False)
    return EXIT_OK


def _list(settings: Settings, args: argparse.Namespace) -> int:
    store, _ = open_storage(settings, None)  # the local user's videos, in SQLite
    try:
        videos = store.list_videos(LOCAL_USER_ID, VideoFilter(states=_states(args.status)), limit=args.limit)
    finally:
        store.close()
    if args.json:
        out.print_json(json.dumps([video_record(v) for v in videos]))
        return EXIT_OK
    table = Table("created", "id", "title", "status", "progress", "model", "size", "seconds", "error")
    now = datetime.now(UTC)
    for v in videos:
        table.add_row(
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            v.id,
            v.title,
            "paused" if v.is_paused else "scheduled" if v.is_scheduled(now) else v.status.value,
            f"{v.progress}%",
            v.model,
            v.size,
            str(v.seconds),
            v.error or "",
        )
    out.print(table if videos else 'No videos yet: try `python -m mimio_core create "a prompt"`.')
    return EXIT_OK


def _models(settings: Settings, args: argparse.Namespace) -> int:
    """The models a person can ask for with this configuration, each with the provider serving it."""
    try:
        catalogue = load_catalogue(settings.catalogue_file)
    except CatalogueError as exc:
        err.print(f"[red]Configuration error:[/red] {exc}")
        return EXIT_BAD_INPUT
    routes = route_models(catalogue, settings.active_providers)
    rows = [
        {
            "name": name,
            "label": catalogue[name].label,
            "provider": provider,
            "sizes": list(catalogue[name].sizes),
            "seconds": list(catalogue[name].seconds),
            "references": sorted(catalogue[name].reference_kinds),
            "price": {
                size: {str(s): catalogue[name].cost(size, s) for s in catalogue[name].seconds}
                for size in catalogue[name].sizes
            },
        }
        for name, provider in routes.items()
        if args.provider in (None, provider)
    ]
    if args.json:
        out.print_json(json.dumps(rows))
        return EXIT_OK
    if not rows:
        err.print(f"No active provider {args.provider!r}: see README, Providers and models.")
        return EXIT_BAD_INPUT
    table = Table("name", "label", "provider", "sizes", "seconds", "references", "price of the default")
    for row, spec in ((row, catalogue[str(row["name"])]) for row in rows):
        cost = spec.cost(spec.default_size, spec.default_seconds)
        table.add_row(
            spec.name,
            spec.label,
            str(row["provider"]),
            ", ".join(spec.sizes),
            ", ".join(str(s) for s in spec.seconds),
            ", ".join(sorted(spec.reference_kinds)),
            "unknown" if cost is None else f"${cost:.2f} ({spec.default_size}, {spec.default_seconds} s)",
        )
    out.print(table)
    return EXIT_OK


def _worker(runtime: Runtime) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    err.print(
        f"engine running ({runtime.provider_description}); Ctrl-C stops it, unfinished work resumes later"
    )
    stop.wait()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
