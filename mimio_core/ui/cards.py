"""Status badges and the video card, shared by the progress panel and My Videos."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.media_file_storage import MediaFileStorageError

from mimio_core.catalogue import parse_size
from mimio_core.domain import FailureKind, TrackedVideo, UserRequest, VideoStatus
from mimio_core.prefill import template_query
from mimio_core.runtime import Runtime
from mimio_core.store.base import RequestRefused, StorageError
from mimio_core.ui.queue_control import more_menu, refusal_note, waiting_buttons
from mimio_core.ui.runtime import worker_status
from mimio_core.ui.text import plain
from mimio_core.workspace import Workspace

S = VideoStatus
Badge = tuple[str, str, str]  # label, colour, icon
BADGES: dict[VideoStatus, Badge] = {
    S.QUEUED: ("Queued", "gray", ":material/schedule:"),
    S.CLAIMED: ("Starting", "blue", ":material/hourglass_top:"),
    S.CREATING: ("Submitting", "blue", ":material/send:"),
    S.GENERATING: ("Generating", "blue", ":material/autorenew:"),
    S.TRANSFERRING: ("Saving", "violet", ":material/download:"),
    S.COMPLETED: ("Completed", "green", ":material/check_circle:"),
    S.FAILED: ("Failed", "red", ":material/error:"),
    S.CANCELLED: ("Cancelled", "gray", ":material/block:"),
}


PAUSED: Badge = ("Paused", "orange", ":material/pause_circle:")  # queued, but no engine claims it
# the badges in the order a run's summary counts them
BADGE_ORDER = (BADGES[S.QUEUED], PAUSED, *(BADGES[status] for status in S if status is not S.QUEUED))


def video_badge(video: TrackedVideo) -> Badge:
    """What a video's badge says: its status, or Paused for a queued video its owner paused."""
    return PAUSED if video.is_paused else BADGES[video.status]


def badge_markup(badge: VideoStatus | Badge, count: int | None = None) -> str:
    """Streamlit's inline badge markup ("Completed", or "2 completed" with a count), so a title and
    its badge are one element, not three."""
    label, color, icon = BADGES[badge] if isinstance(badge, VideoStatus) else badge
    text = label if count is None else f"{count} {label.lower()}"
    return f":{color}-badge[{icon} {text}]"


def may_change(videos: Sequence[TrackedVideo]) -> bool:
    """Whether an engine may change any of these videos by itself (not final, and not paused unless a
    request is pending): only then does a page poll the store."""
    return any(not v.is_final and (not v.is_paused or v.requested is not None) for v in videos)


PORTRAIT_PLAYER = 240  # pixels
SINGLE_PAGE = "app_pages/single.py"


def elapsed(video: TrackedVideo, now: float | None = None) -> str:
    """How long the video has taken so far (or took), as "1m 05s"."""
    end = video.completed_at.timestamp() if video.completed_at else (now or time.time())
    if video.is_final and video.completed_at is None:
        end = video.updated_at.timestamp()
    seconds = max(0, int(end - video.created_at.timestamp()))
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def file_name(video: TrackedVideo) -> str:
    """A meaningful download name: the title made file-safe, plus a short id."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", video.title).strip("-").lower()[:60] or "video"
    return f"{slug}-{video.id[:8]}.mp4"


ASKED = {
    UserRequest.RETRY: ("Retrying the video.", ":material/refresh:"),
    UserRequest.CANCEL: ("Cancelling the video.", ":material/block:"),
    UserRequest.DELETE: ("Video deleted.", ":material/delete:"),
}
PENDING = {
    UserRequest.RETRY: "Retry asked: it starts again in a moment.",
    UserRequest.CANCEL: "Cancel asked: it stops in a moment.",
    UserRequest.DELETE: "Being deleted.",
}


def asked(runtime: Runtime, workspace: Workspace, video_id: str, request: UserRequest) -> bool:
    """Record a person's request on the video (the engine carries it out) and say so; False, with the
    reason in a toast, when it could not be recorded."""
    try:
        workspace.store.ask(workspace.user_id, video_id, request)
    except (RequestRefused, StorageError) as exc:  # nothing was changed: say why
        st.toast(plain(str(exc)), icon=":material/error:")
        return False
    runtime.wake()
    worker_status.clear()
    text, icon = ASKED[request]
    st.toast(text, icon=icon)
    return True


def ask(runtime: Runtime, workspace: Workspace, video_id: str, request: UserRequest) -> None:
    """A button's callback: `asked`, for buttons that need nothing more."""
    asked(runtime, workspace, video_id, request)


def progress_text(video: TrackedVideo) -> str:
    """What a video waiting or in the making is doing: the provider's note where it gives one (fal gives
    no percentage, so none is made up), with the percentage once there is one."""
    if video.is_paused:
        return "Paused: it waits until you resume it."
    if video.status is S.QUEUED:
        return "Queued: it starts when its provider has a free slot."
    doing = video.status_note or DOING.get(video.status, "Generating")
    return f"{doing}: {video.progress}%" if video.progress else doing


DOING = {
    S.CLAIMED: "Starting",
    S.CREATING: "Sending it to the provider",
    S.TRANSFERRING: "Saving the finished video",
}


BUTTONS = {
    UserRequest.RETRY: ("Retry", ":material/refresh:"),
    UserRequest.CANCEL: ("Cancel", ":material/block:"),
}


@dataclass(frozen=True)
class TemplateButton:
    """A button that opens Single video pre-filled with a video's request."""

    name: str  # its widget key's prefix
    label: str
    icon: str
    help: str


EDIT_AND_RETRY = TemplateButton(
    "edit",
    "Edit and retry",
    ":material/edit:",
    "The provider refused this request as it is: change it, then create it again",
)
REUSE = TemplateButton(
    "template",
    "Reuse",
    ":material/content_copy:",
    "Use as template: opens Single video with this video's prompt and settings",
)


def template_button(video: TrackedVideo, key: str, button: TemplateButton) -> None:
    """`button`, where the caller's layout puts it; a click opens Single video pre-filled."""
    if st.button(button.label, key=f"{button.name}-{key}-{video.id}", icon=button.icon, help=button.help):
        st.switch_page(SINGLE_PAGE, query_params=template_query(video))


def request_button(
    row: DeltaGenerator,
    runtime: Runtime,
    workspace: Workspace,
    video: TrackedVideo,
    key: str,
    request: UserRequest,
) -> None:
    """A card's Retry or Cancel: it records the request (the engine carries it out), and waits
    disabled while one is pending."""
    label, icon = BUTTONS[request]
    row.button(
        label,
        key=f"{request}-{key}-{video.id}",
        icon=icon,
        on_click=ask,
        args=(runtime, workspace, video.id, request),
        disabled=video.requested is not None,
    )


def video_card(
    runtime: Runtime,
    workspace: Workspace,
    video: TrackedVideo,
    key: str,
    actions: Callable[[TrackedVideo, str], None] | None = None,
) -> None:
    """One video: badge, progress and elapsed time; the error and Retry when failed; player and
    Download when completed; while it waits, the queue's buttons. `actions` adds page-specific buttons
    (delete, use as template)."""
    with st.container(border=True, key=f"card-{key}-{video.id}"):
        st.markdown(f"{badge_markup(video_badge(video))} **{plain(video.title)}**")
        label = runtime.model_label(video.model)
        priority = f" · priority {video.priority}" if video.status is S.QUEUED and video.priority else ""
        st.caption(plain(f"{label} · {video.size} · {video.seconds} s · {elapsed(video)}{priority}"))
        if video.requested is UserRequest.DELETE:  # its file may be gone already
            st.caption(PENDING[video.requested])
            return
        if video.status is S.COMPLETED and video.storage_path:
            path = video.storage_path
            width, height = parse_size(video.size)
            try:  # a portrait player at full column width would fill a phone screen
                st.video(
                    workspace.files.media_source(path), width=PORTRAIT_PLAYER if height > width else "stretch"
                )
            except MediaFileStorageError:
                st.error(
                    "The stored file is missing: delete this video, or make it again.",
                    icon=":material/error:",
                )
            buttons = st.container(horizontal=True)  # one row of buttons, wrapping only on a phone
            buttons.download_button(
                "Download",
                data=lambda: workspace.files.read_bytes(path),
                file_name=file_name(video),
                mime="video/mp4",
                on_click="ignore",
                icon=":material/download:",
                key=f"download-{key}-{video.id}",
            )
        elif video.status in (S.FAILED, S.CANCELLED):
            if video.status is S.FAILED:
                st.error(plain(video.error or "Failed for an unknown reason."), icon=":material/error:")
            else:
                st.info(plain(video.error or "Cancelled."), icon=":material/block:")
            buttons = st.container(horizontal=True)
            if video.failure_kind is FailureKind.REFUSED:  # the same request would be refused again
                with buttons:
                    template_button(video, key, EDIT_AND_RETRY)
            else:
                request_button(buttons, runtime, workspace, video, key, UserRequest.RETRY)
        else:
            st.progress(video.progress / 100, text=plain(progress_text(video)))
            buttons = st.container(horizontal=True)
            if video.status is S.QUEUED:
                with buttons:
                    waiting_buttons(runtime, workspace, video, key)
            request_button(buttons, runtime, workspace, video, key, UserRequest.CANCEL)
            if video.status is S.QUEUED:
                with buttons:
                    buttons = more_menu(runtime, workspace, video, key)  # the page's actions go in it
        if video.requested is not None:
            st.caption(PENDING[video.requested])
        if actions is not None:
            with buttons:
                actions(video, key)
        refusal_note(f"{key}-{video.id}")


def video_grid(
    runtime: Runtime,
    workspace: Workspace,
    videos: Sequence[TrackedVideo],
    key: str,
    actions: Callable[[TrackedVideo, str], None] | None = None,
    per_row: int = 3,
) -> None:
    """Cards in rows (not in columns filled one after another): a phone stacks the columns, and the
    order must stay newest first."""
    workspace.files.prefetch_media_sources(
        [v.storage_path for v in videos if v.status is S.COMPLETED and v.storage_path]
    )
    for start in range(0, len(videos), per_row):
        for column, video in zip(st.columns(per_row), videos[start : start + per_row], strict=False):
            with column:
                video_card(runtime, workspace, video, key, actions)
