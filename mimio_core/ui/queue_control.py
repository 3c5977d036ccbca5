"""Steering the queue from the dashboard: pause, resume, reorder and edit a waiting video; pause a
run, a project or the whole queue; one retry or cancel for many videos.

Every button acts on the signed-in person's own videos through their workspace's store. What it did
is said in a toast by the full page run after it (a button inside a fragment reruns the whole page,
so counts and notices outside the fragment change too); a refusal is shown where it was asked, as it
is, until the next queue action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from mimio_core.domain import TrackedVideo, UserRequest, VideoStatus
from mimio_core.errors import BadInput, StorageFailure
from mimio_core.queue_actions import cancel_waiting, edit_waiting, retry_failed, retryable, waiting
from mimio_core.runtime import Runtime
from mimio_core.store.base import GONE, VideoFilter
from mimio_core.store.queue_control import ALL_PROJECTS, Move, QueueRefused, not_waiting
from mimio_core.ui.form import FIELDS, read_request, state_key, video_fields
from mimio_core.ui.runtime import worker_status
from mimio_core.ui.text import plain
from mimio_core.validation import ValidationError
from mimio_core.workspace import Workspace

SAID = "queue-said"  # what the last queue action did, for the next full run's toast
REFRESH = "queue-refresh"  # set by a queue button: the next full run has not happened yet
REFUSED = "queue-refused"  # the last queue action's Refusal
EDITING = "queue-editing"  # the id of the waiting video whose edit dialog is open
QUEUE_PAUSED = "Queue paused: new videos wait until you resume."
PAUSE_ICON, RESUME_ICON, PAUSED_ICON = ":material/pause:", ":material/play_arrow:", ":material/pause_circle:"


@dataclass(frozen=True)
class Refusal:
    """Why the last queue action did nothing, and where it was asked (`area`)."""

    area: str
    message: str
    fields: Mapping[str, str] = field(default_factory=dict)  # a form's messages, by field


def videos(count: int) -> str:
    return f"{count} video{'s' if count != 1 else ''}"


def _act(runtime: Runtime, workspace: Workspace, area: str, action: Callable[[], str]) -> None:
    """A button's callback: `action` does the change and says what it did; the engine is woken, and
    the page refreshes (see `refresh_after_action`)."""
    st.session_state.pop(REFUSED, None)
    try:
        said = action()
    except ValidationError as refused:
        st.session_state[REFUSED] = Refusal(area, "", refused.errors)
        return
    except (BadInput, StorageFailure) as exc:
        st.session_state[REFUSED] = Refusal(area, str(exc))
        return
    runtime.wake()
    worker_status.clear()  # the sidebar's count of waiting videos
    st.session_state[SAID] = said
    st.session_state[REFRESH] = True


def refresh_after_action() -> None:
    """First thing in a fragment (or the edit dialog) holding queue buttons: after an action there
    (or Edit), the whole page runs again, which also opens or closes the edit dialog."""
    if REFRESH in st.session_state:
        st.rerun()


def refusal(area: str) -> Refusal | None:
    """The last refusal, if it was asked in `area`."""
    held = st.session_state.get(REFUSED)
    return held if isinstance(held, Refusal) and held.area == area else None


def refusal_note(area: str) -> None:
    if (held := refusal(area)) is not None and held.message:
        st.error(plain(held.message), icon=":material/error:")


def queue_frame(runtime: Runtime, workspace: Workspace) -> None:
    """For every full page run, before the page: the toast of the last queue action, and the edit
    dialog while one is open (opened here, not in a card's fragment, so a full rerun keeps it open)."""
    st.session_state.pop(REFRESH, None)
    if (said := st.session_state.pop(SAID, None)) is not None:
        st.toast(plain(said), icon=":material/check_circle:")
    if (video_id := st.session_state.get(EDITING)) is not None:
        _edit_dialog(runtime, workspace, video_id)


def _refused(workspace: Workspace, video_id: str) -> QueueRefused:
    """Why a queue change applied to none of one video: it has started, or is gone."""
    video = workspace.store.get_video(video_id)
    if video is None or video.user_id != workspace.user_id:
        return QueueRefused(GONE)
    return QueueRefused(not_waiting(video))


# --- a waiting video's card -----------------------------------------------------------------------


def _pause(workspace: Workspace, video: TrackedVideo) -> str:
    if not workspace.store.pause(workspace.user_id, [video.id]):
        raise _refused(workspace, video.id)
    return f"Paused {video.title!r}: it waits until you resume it."


def _resume(workspace: Workspace, video: TrackedVideo) -> str:
    if not workspace.store.resume(workspace.user_id, [video.id]):
        raise _refused(workspace, video.id)
    return f"Resumed {video.title!r}: it keeps its place in the queue."


MOVED = {Move.NEXT: "goes next in your queue", Move.UP: "moved up", Move.DOWN: "moved down"}
AT_THE_END = {Move.NEXT: "first", Move.UP: "first", Move.DOWN: "last"}


def _move(workspace: Workspace, video_id: str, move: Move) -> str:
    before = workspace.store.get_video(video_id)
    moved = workspace.store.move(workspace.user_id, video_id, move)
    if before is not None and (before.priority, before.queue_order) == (moved.priority, moved.queue_order):
        return f"{moved.title!r} is {AT_THE_END[move]} in your queue already."
    paused = " It is paused: resume it to send it." if moved.is_paused else ""
    return f"{moved.title!r} {MOVED[move]}.{paused}"


def _start_edit(video: TrackedVideo) -> None:
    """The Edit button: the dialog's fields hold the video's request."""
    st.session_state.pop(REFUSED, None)
    for name in FIELDS:
        st.session_state[state_key(_edit_prefix(video.id), name)] = getattr(video, name)
    st.session_state[EDITING] = video.id
    st.session_state[REFRESH] = True


def _edit_prefix(video_id: str) -> str:
    return f"edit-{video_id}"


def _save(runtime: Runtime, workspace: Workspace, video_id: str) -> str:
    edited = edit_waiting(
        workspace.store,
        workspace.user_id,
        video_id,
        read_request(_edit_prefix(video_id), None, with_reference=False),
        max_reference_bytes=runtime.settings.max_reference_bytes,
        models=runtime.models,
    )
    st.session_state.pop(EDITING, None)
    return f"Saved {edited.title!r}: {runtime.model_label(edited.model)}, {edited.size}, {edited.seconds} s."


@st.dialog("Edit the waiting video", width="large", on_dismiss=lambda: st.session_state.pop(EDITING, None))
def _edit_dialog(runtime: Runtime, workspace: Workspace, video_id: str) -> None:
    """The creation form's fields over a waiting video's request; Save checks them as Create does."""
    refresh_after_action()
    prefix = _edit_prefix(video_id)
    st.caption("It has not been sent yet: the changes apply before it is. Its reference image stays.")
    held = refusal(prefix)
    video_fields(prefix, runtime.models, held.fields if held is not None else {})
    refusal_note(prefix)
    st.button(
        "Save",
        key=f"{prefix}-save",
        type="primary",
        icon=":material/save:",
        on_click=_act,
        args=(runtime, workspace, prefix, partial(_save, runtime, workspace, video_id)),
    )


QUEUE_BUTTONS = {
    "pause": ("Pause", PAUSE_ICON),
    "resume": ("Resume", RESUME_ICON),
    "next": ("Run next", ":material/vertical_align_top:"),
    "up": ("Move up", ":material/arrow_upward:"),
    "down": ("Move down", ":material/arrow_downward:"),
}


def _queue_button(
    runtime: Runtime,
    workspace: Workspace,
    video: TrackedVideo,
    key: str,
    name: str,
    action: Callable[[], str],
) -> None:
    """One of a waiting card's buttons (`name`: what its key starts with); disabled while a request
    (a cancel) is pending."""
    label, icon = QUEUE_BUTTONS[name]
    st.button(
        label,
        key=f"{name}-{key}-{video.id}",
        icon=icon,
        disabled=video.requested is not None,
        on_click=_act,
        args=(runtime, workspace, f"{key}-{video.id}", action),
    )


def waiting_buttons(runtime: Runtime, workspace: Workspace, video: TrackedVideo, key: str) -> None:
    """A waiting card's Pause or Resume, Run next and Edit."""
    if video.is_paused:
        _queue_button(runtime, workspace, video, key, "resume", partial(_resume, workspace, video))
    else:
        _queue_button(runtime, workspace, video, key, "pause", partial(_pause, workspace, video))
    _queue_button(runtime, workspace, video, key, "next", partial(_move, workspace, video.id, Move.NEXT))
    st.button(
        "Edit",
        key=f"edit-waiting-{key}-{video.id}",
        icon=":material/edit:",
        disabled=video.requested is not None,
        on_click=_start_edit,
        args=(video,),
    )


def more_menu(runtime: Runtime, workspace: Workspace, video: TrackedVideo, key: str) -> DeltaGenerator:
    """A waiting card's "⋯": Move up and Move down, and room for the page's own actions, so a card on
    a phone keeps to two rows of buttons."""
    more = st.popover(
        "", icon=":material/more_horiz:", help="Move it in your queue, and more", key=f"more-{key}-{video.id}"
    )
    with more:
        for move in (Move.UP, Move.DOWN):
            _queue_button(runtime, workspace, video, key, move, partial(_move, workspace, video.id, move))
    return more


# --- a run, a project, the whole queue ------------------------------------------------------------


def _scope_name(scope: str | None, names: Mapping[str, str]) -> str:
    return "the queue" if scope is ALL_PROJECTS else f"project {names.get(scope, '')!r}"


def paused_text(scope: str | None, names: Mapping[str, str]) -> str:
    """The notice shown while a scope is paused."""
    if scope is ALL_PROJECTS:
        return QUEUE_PAUSED
    return f"Project {names.get(scope, '')!r} paused: its new videos wait until you resume it."


def _pause_scope(workspace: Workspace, scope: str | None, names: Mapping[str, str]) -> str:
    count = workspace.store.pause_queue(workspace.user_id, scope)
    scope_name = _scope_name(scope, names)
    return f"Paused {scope_name} and {videos(count)} waiting in it. {paused_text(scope, names)}"


def _resume_scope(workspace: Workspace, scope: str | None, names: Mapping[str, str]) -> str:
    count = workspace.store.resume_queue(workspace.user_id, scope)
    return f"Resumed {_scope_name(scope, names)}: {videos(count)} back in line, in their places."


def scope_button(
    runtime: Runtime,
    workspace: Workspace,
    scope: str | None,
    paused: set[str | None],
    area: str,
    names: Mapping[str, str],
) -> None:
    """ "Pause queue"/"Resume queue", or the same for one project (`scope`)."""
    what = "queue" if scope is ALL_PROJECTS else "project"
    pausing = scope not in paused
    verb, icon, action = (
        ("Pause", PAUSE_ICON, _pause_scope) if pausing else ("Resume", RESUME_ICON, _resume_scope)
    )
    st.button(
        f"{verb} {what}",
        key=f"{area}-{verb.lower()}-{scope or 'queue'}",
        icon=icon,
        on_click=_act,
        args=(runtime, workspace, area, partial(action, workspace, scope, names)),
    )


def paused_notice(runtime: Runtime, workspace: Workspace) -> None:
    """The sidebar, on every page: what is paused (new videos wait), each with its Resume button."""
    paused = workspace.store.paused_queues(workspace.user_id)
    if not paused:
        return
    names = {p.id: p.name for p in workspace.store.list_projects(workspace.user_id)}
    shown = [scope for scope in paused if scope is ALL_PROJECTS or scope in names]  # not a deleted project's
    for scope in sorted(shown, key=lambda scope: (scope is not ALL_PROJECTS, names.get(scope or "", ""))):
        st.warning(plain(paused_text(scope, names)), icon=PAUSED_ICON)
        scope_button(runtime, workspace, scope, paused, "sidebar", names)
    refusal_note("sidebar")


def _retry(workspace: Workspace, where: VideoFilter) -> str:
    done = retry_failed(workspace.store, workspace.user_id, where)
    said = f"Retrying {videos(done.asked)}."
    if done.skipped:
        said += f" Skipped {done.skipped}: refused or invalid, they need an edited prompt first."
    return said


def _cancel_waiting(workspace: Workspace, where: VideoFilter) -> str:
    done = cancel_waiting(workspace.store, workspace.user_id, where)
    return f"Cancelling {videos(done.asked)} that waited."


def queue_header(
    runtime: Runtime, workspace: Workspace, where: VideoFilter, names: Mapping[str, str]
) -> None:
    """My Videos' queue controls: pause or resume the whole queue (and the filtered project), and
    Retry failed / Cancel waiting for the filtered list, with how many each would ask."""
    store, user_id = workspace.store, workspace.user_id
    paused = store.paused_queues(user_id)
    scopes = [ALL_PROJECTS, *([where.project_id] if where.project_id in names else [])]
    for scope in scopes:
        if scope in paused:
            st.warning(plain(paused_text(scope, names)), icon=PAUSED_ICON)
    failed = store.count_videos(user_id, retryable(where))
    waiting_count = store.count_videos(user_id, waiting(where))
    with st.container(horizontal=True, key="queue-header"):
        for scope in scopes:
            scope_button(runtime, workspace, scope, paused, "queue", names)
        if failed:
            st.button(
                f"Retry failed ({failed})",
                key="queue-retry-failed",
                icon=":material/refresh:",
                help="Every failed or cancelled video of this list; refused ones need an edited prompt first",
                on_click=_act,
                args=(runtime, workspace, "queue", partial(_retry, workspace, where)),
            )
        if waiting_count:
            with st.popover(f"Cancel waiting ({waiting_count})", icon=":material/block:"):
                st.button(
                    f"Cancel {videos(waiting_count)} for good",
                    key="queue-cancel-waiting",
                    type="primary",
                    on_click=_act,
                    args=(runtime, workspace, "queue", partial(_cancel_waiting, workspace, where)),
                )
    refusal_note("queue")


@dataclass(frozen=True)
class RunChange:
    """One of a run's buttons: what it changes (how many videos it applied to), and what it says."""

    icon: str
    name: str
    change: Callable[[Workspace, list[str]], int]
    done: str  # "Paused": "Paused 2 videos of this run."
    none: str  # why it applied to none


CANCEL = UserRequest.CANCEL
PAUSE_RUN, RESUME_RUN, CANCEL_RUN = (
    RunChange(icon, name, change, done, none)
    for icon, name, change, done, none in (
        (PAUSE_ICON, "pause", lambda w, ids: w.store.pause(w.user_id, ids), "Paused",
         "Every video of this run has started: none was paused."),
        (RESUME_ICON, "resume", lambda w, ids: w.store.resume(w.user_id, ids), "Resumed",
         "No video of this run is paused."),
        (":material/block:", "cancel", lambda w, ids: w.store.ask_many(w.user_id, ids, CANCEL).asked,
         "Cancelling", "Every video of this run has finished already."),
    )
)  # fmt: skip


def _change_run(workspace: Workspace, video_ids: list[str], run_change: RunChange) -> str:
    if not (count := run_change.change(workspace, video_ids)):
        raise QueueRefused(run_change.none)
    return f"{run_change.done} {videos(count)} of this run."


def run_controls(runtime: Runtime, workspace: Workspace, run: Sequence[TrackedVideo], key: str) -> None:
    """Pause run / Resume run (its waiting videos) and Cancel run, while a run of several videos has
    unfinished ones (a run of one has its card's buttons)."""
    unfinished = [v for v in run if not v.is_final]
    if len(run) < 2 or not unfinished:
        return
    ids, area = [v.id for v in run], f"{key}-run"

    def button(run_change: RunChange, label: str, primary: bool = False) -> None:
        st.button(
            label,
            key=f"{area}-{run_change.name}",
            icon=run_change.icon,
            type="primary" if primary else "secondary",
            on_click=_act,
            args=(runtime, workspace, area, partial(_change_run, workspace, ids, run_change)),
        )

    with st.container(horizontal=True, key=f"{area}-controls"):
        if any(v.status is VideoStatus.QUEUED and not v.is_paused for v in run):
            button(PAUSE_RUN, "Pause run")
        if any(v.is_paused for v in run):
            button(RESUME_RUN, "Resume run")
        with st.popover("Cancel run", icon=CANCEL_RUN.icon):
            button(CANCEL_RUN, f"Cancel {videos(len(unfinished))} for good", primary=True)
    refusal_note(area)
