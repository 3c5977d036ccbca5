"""Submitting a creation form: validate everything, record nothing on error, never twice on a double click."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import streamlit as st

from mimio_core.domain import ValidRequest, VideoRequest
from mimio_core.runtime import Runtime
from mimio_core.store.base import ProjectError
from mimio_core.store.queue_control import MAX_PRIORITY
from mimio_core.submission import as_variations, record_submission
from mimio_core.ui.progress import progress_panel
from mimio_core.ui.runtime import worker_status
from mimio_core.ui.text import plain
from mimio_core.validation import ValidationError, validate_request
from mimio_core.workspace import Workspace

# what a page hands over: the form rows as (row prefix, request), read when the button is pressed
RowsReader = Callable[[], list[tuple[str, VideoRequest]]]


def run_key(page: str) -> str:
    return f"{page}-run"


def priority_key(page: str) -> str:
    return f"{page}-priority"


def _submit(
    runtime: Runtime, workspace: Workspace, page: str, read_rows: RowsReader, variations: int, token: str
) -> None:
    """Validate every row, then record. `token` is the form's submission id: Streamlit may stop this
    callback (a fast second click) after the videos are recorded but before the page learns of them;
    the second click then submits the same id and gets the same videos back, never a second set."""
    if st.session_state.get(run_key(page)):
        return  # a second click of the same submit: the first one already recorded the videos
    errors: dict[str, dict[str, str]] = {}
    valid: list[ValidRequest] = []
    for row, request in read_rows():
        try:
            valid.append(
                validate_request(
                    request,
                    max_reference_bytes=runtime.settings.max_reference_bytes,
                    models=runtime.models,
                )
            )
        except ValidationError as refused:
            errors[row] = refused.errors
    st.session_state[f"{page}-errors"] = errors
    if errors:
        return
    if variations > 1:
        valid = as_variations(valid[0], variations)
    try:
        # recorded as the person (with Supabase, under their Row Level Security), then the engine woken
        videos = record_submission(
            workspace.store,
            workspace.files,
            valid,
            workspace.user_id,
            token,
            priority=int(st.session_state.get(priority_key(page), 0)),
        )
    except ProjectError as exc:
        st.session_state[f"{page}-errors"] = {row: {"project": str(exc)} for row, _ in read_rows()}
        return
    runtime.wake()
    worker_status.clear()  # the sidebar counts this run's videos at once
    st.session_state[run_key(page)] = [video.id for video in videos]
    count = len(videos)
    them = "them" if count > 1 else "it"
    if all(video.is_paused for video in videos):  # submitted into a paused queue or project
        st.toast(f"{count} video{'s' if count > 1 else ''} recorded, paused: resume {them} below.")
    else:
        st.toast(f"{count} video{'s' if count > 1 else ''} started: follow {them} below.")


def _new_run(page: str) -> None:
    for key in (run_key(page), f"{page}-errors", f"{page}-token"):
        st.session_state.pop(key, None)


def submit_and_follow(
    runtime: Runtime, workspace: Workspace, page: str, label: str, read_rows: RowsReader, variations: int = 1
) -> None:
    """The queue priority, the submit button, then the live progress panel of what it created, with
    "New" to start over."""
    running = bool(st.session_state.get(run_key(page)))
    token = st.session_state.setdefault(f"{page}-token", str(uuid.uuid4()))
    with st.expander("Advanced", icon=":material/tune:"):
        st.number_input(
            "Priority",
            min_value=-MAX_PRIORITY,
            max_value=MAX_PRIORITY,
            value=0,
            step=1,
            key=priority_key(page),
            help="Higher is sent first among your waiting videos; 0 is normal, below 0 lets others go first.",
        )
    submit, new = st.columns([3, 1])
    submit.button(
        label,
        type="primary",
        icon=":material/movie:",
        disabled=running,
        key=f"{page}-submit",
        on_click=_submit,
        args=(runtime, workspace, page, read_rows, variations, token),
        width="stretch",
    )
    if any(errors.get("project") for errors in st.session_state.get(f"{page}-errors", {}).values()):
        st.error(
            plain(next(e["project"] for e in st.session_state[f"{page}-errors"].values() if "project" in e))
        )
    if running:
        new.button(
            "New", key=f"{page}-new", icon=":material/add:", on_click=_new_run, args=(page,), width="stretch"
        )
        st.divider()
        progress_panel(runtime, workspace, st.session_state[run_key(page)], page)
