"""The queue commands of `python -m mimio_core`: pause, resume, move and edit waiting videos, and one
cancel, retry or delete for a whole run, everything waiting, or every failed video. They act on the
embedded store's local user, as the dashboard does for a person; an engine carries out requests."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping

from rich.console import Console

from mimio_core.catalogue import load_catalogue
from mimio_core.config import Settings
from mimio_core.domain import LOCAL_USER_ID, TrackedVideo, UserRequest, VideoRequest
from mimio_core.errors import BadInput
from mimio_core.storage import open_storage
from mimio_core.store.base import Library, VideoFilter, VideoStore
from mimio_core.store.queue_control import ALL_PROJECTS, Asked, Move

EXIT_OK, EXIT_BAD_INPUT = 0, 2
QUEUE_COMMANDS = ("pause", "resume", "move", "edit")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the queue commands to the CLI's subcommands."""
    for name, what in (("pause", "keep waiting videos from being sent"), ("resume", "send them again")):
        command = commands.add_parser(name, help=f"{what}: videos by id, a project's queue, or all")
        command.add_argument("ids", nargs="*", help="video ids (`list` shows them)")
        scope = command.add_mutually_exclusive_group()
        scope.add_argument("--project", help="the queue of this project (name or id), new videos too")
        scope.add_argument("--all", action="store_true", help="the whole queue, new videos too")
        command.add_argument("--json", action="store_true", help="print the count as JSON")
    move = commands.add_parser("move", help="change a waiting video's place in the queue")
    move.add_argument("id")
    move.add_argument("where", choices=[m.value for m in Move], help="next: before every other one")
    move.add_argument("--json", action="store_true", help="print the video's place as JSON")
    edit = commands.add_parser("edit", help="change a waiting video's title or request")
    edit.add_argument("id")
    for field in ("title", "prompt", "model", "size", "seconds"):
        edit.add_argument(f"--{field}", help=f"the new {field} (unchanged if not given)")
    edit.add_argument("--json", action="store_true", help="print the edited video as JSON")


def add_bulk_flags(command: argparse.ArgumentParser, request: UserRequest) -> None:
    """`cancel --run`/`--waiting`, `retry --run`/`--failed`, `delete --run`: one request for many."""
    command.add_argument("--run", help="every video of this run (a batch id, as `list --json` shows)")
    if request is UserRequest.CANCEL:
        command.add_argument("--waiting", action="store_true", help="every queued or paused video")
    if request is UserRequest.RETRY:
        command.add_argument(
            "--failed", action="store_true", help="every failed or cancelled video (not refused ones)"
        )
    command.add_argument("--project", help="with --waiting or --failed: only this project's videos")


def _project(store: Library, name_or_id: str | None) -> str | None:
    if name_or_id is None:
        return None
    if found := store.find_project(LOCAL_USER_ID, name_or_id):
        return found.id
    raise BadInput(f"No project {name_or_id!r}: `python -m mimio_core list` shows what there is.")


def _with_store(settings: Settings, act: Callable[[VideoStore], int], err: Console) -> int:
    store, _ = open_storage(settings, None)
    try:
        return act(store)
    except BadInput as exc:
        err.print(f"[red]Not done:[/red] {exc}", highlight=False)
        return EXIT_BAD_INPUT
    finally:
        store.close()


def run(settings: Settings, args: argparse.Namespace, out: Console, err: Console) -> int:
    """One queue command (`args.command` is one of QUEUE_COMMANDS)."""

    def act(store: VideoStore) -> int:
        if args.command in ("pause", "resume"):
            return _pause_or_resume(store, args, out)
        if args.command == "move":
            moved = store.move(LOCAL_USER_ID, args.id, Move(args.where))
            _say(out, args, video_record(moved), f"Moved {moved.title!r} {args.where}.")
            return EXIT_OK
        return _edit(settings, store, args, out)

    return _with_store(settings, act, err)


def _pause_or_resume(store: VideoStore, args: argparse.Namespace, out: Console) -> int:
    pausing = args.command == "pause"
    if args.all or args.project:
        scope = ALL_PROJECTS if args.all else _project(store, args.project)
        change = store.pause_queue if pausing else store.resume_queue
        count = change(LOCAL_USER_ID, scope)
        where = "the whole queue" if args.all else f"project {args.project!r}"
        extra = " (videos submitted into it wait too, until `resume`)" if pausing else ""
    elif args.ids:
        count = (store.pause if pausing else store.resume)(LOCAL_USER_ID, list(args.ids))
        where, extra = f"{len(args.ids)} named video(s)", ""
    else:
        raise BadInput(f"Say what to {args.command}: video ids, --project NAME, or --all.")
    word = "paused" if pausing else "resumed"
    _say(out, args, {word: count}, f"{count} video(s) {word} in {where}{extra}.")
    return EXIT_OK


def _edit(settings: Settings, store: VideoStore, args: argparse.Namespace, out: Console) -> int:
    from mimio_core.queue_actions import edit_waiting  # validation loads PIL and PyAV: only here

    video = store.get_video(args.id)
    if video is not None and video.user_id == LOCAL_USER_ID:
        changes = VideoRequest(
            prompt=args.prompt if args.prompt is not None else video.prompt,
            title=args.title if args.title is not None else video.title,
            model=args.model or video.model,
            size=args.size or video.size,
            seconds=args.seconds if args.seconds is not None else video.seconds,
        )
    else:
        changes = VideoRequest(prompt=args.prompt or "")
    models = load_catalogue(settings.catalogue_file)
    edited = edit_waiting(
        store,
        LOCAL_USER_ID,
        args.id,
        changes,
        max_reference_bytes=settings.max_reference_bytes,
        models=models,
    )
    _say(
        out,
        args,
        video_record(edited),
        f"Edited {edited.title!r}: {edited.model}, {edited.size}, {edited.seconds} s.",
    )
    return EXIT_OK


def ask_many(
    settings: Settings, request: UserRequest, args: argparse.Namespace, out: Console, err: Console
) -> int:
    """`cancel`/`retry`/`delete` without an id: one request for a run, everything waiting, or every
    failed video."""

    from mimio_core.queue_actions import ask_run, cancel_waiting, retry_failed

    def act(store: VideoStore) -> int:
        where = VideoFilter(project_id=_project(store, args.project))
        asked: Asked
        if args.run:
            asked = ask_run(store, LOCAL_USER_ID, args.run, request)
        elif getattr(args, "waiting", False):
            asked = cancel_waiting(store, LOCAL_USER_ID, where)
        elif getattr(args, "failed", False):
            asked = retry_failed(store, LOCAL_USER_ID, where)
        else:
            bulk = {UserRequest.CANCEL: "--run or --waiting", UserRequest.RETRY: "--run or --failed"}
            raise BadInput(f"Name a video id, or {bulk.get(request, '--run')}.")
        text = f"Asked to {request} {asked.asked} video(s)"
        if asked.skipped:
            why = " (refused or invalid ones need an edit first)" if request is UserRequest.RETRY else ""
            text += f"; skipped {asked.skipped}{why}"
        _say(out, args, {"asked": asked.asked, "skipped": asked.skipped}, text + ".")
        return EXIT_OK

    return _with_store(settings, act, err)


def video_record(v: TrackedVideo) -> dict[str, object]:
    """A video as `list --json` and the request commands print it."""
    return {
        "id": v.id,
        "title": v.title,
        "status": v.status.value,
        "failure_kind": v.failure_kind.value if v.failure_kind else None,
        "status_note": v.status_note,
        "requested": v.requested.value if v.requested else None,
        "paused": v.is_paused,
        "priority": v.priority,
        "not_before": v.not_before.isoformat() if v.not_before else None,
        "progress": v.progress,
        "model": v.model,
        "size": v.size,
        "seconds": v.seconds,
        "prompt": v.prompt,
        "error": v.error,
        "storage_path": v.storage_path,
        "batch_id": v.batch_id,
        "project_id": v.project_id,
        "external_video_id": v.external_video_id,
        "created_at": v.created_at.isoformat(),
        "completed_at": v.completed_at.isoformat() if v.completed_at else None,
    }


def _say(out: Console, args: argparse.Namespace, record: Mapping[str, object], text: str) -> None:
    if args.json:
        out.print_json(json.dumps(record))
    else:
        out.print(text, markup=False, highlight=False)
