"""My Videos' building blocks: the filtered page of videos, its table, and per-video actions."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pandas as pd
import streamlit as st

from mimio_core.domain import TrackedVideo, UserRequest, VideoStatus
from mimio_core.runtime import Runtime
from mimio_core.spend import spend_by_project
from mimio_core.store.base import FileStorage
from mimio_core.ui.cards import REUSE, asked, template_button, video_badge
from mimio_core.workspace import Workspace


def thumbnail_url(files: FileStorage, key: str | None) -> str | None:
    """An image URL for the table: the storage's own URL, or the small JPEG inlined as a data URL."""
    if not key:
        return None
    source = files.media_source(key)
    if source.startswith(("http://", "https://")):
        return source
    try:
        return "data:image/jpeg;base64," + base64.b64encode(files.read_bytes(key)).decode()
    except OSError:
        return None


def videos_table(
    videos: list[TrackedVideo], project_names: dict[str, str], files: FileStorage
) -> pd.DataFrame:
    """The visible page of videos as a table (what the CSV export writes too, without thumbnails)."""
    files.prefetch_media_sources([v.thumbnail_path for v in videos if v.thumbnail_path])
    return pd.DataFrame(
        {
            "Preview": [thumbnail_url(files, v.thumbnail_path) for v in videos],
            "Status": [video_badge(v)[0] for v in videos],  # before the title: a phone shows two columns
            "Title": [v.title for v in videos],
            # a failed or cancelled video's last percentage would read as half done
            "Progress": [
                100 if v.status is VideoStatus.COMPLETED else 0 if v.is_final else v.progress for v in videos
            ],
            "Model": [v.model for v in videos],
            "Size": [v.size for v in videos],
            "Seconds": [v.seconds for v in videos],
            "Project": [project_names.get(v.project_id or "", "") for v in videos],
            "Created": pd.to_datetime([v.created_at for v in videos], utc=True),
            # a Series of objects: None (not completed) becomes NaT
            "Completed": pd.to_datetime(pd.Series([v.completed_at for v in videos], dtype=object), utc=True),
            "Prompt": [v.prompt for v in videos],
            "Error": [v.error or "" for v in videos],
            "ID": [v.id for v in videos],
        }
    )


TABLE_COLUMNS = {
    "Preview": st.column_config.ImageColumn("Preview", width="small"),
    "Progress": st.column_config.ProgressColumn("Progress", min_value=0, max_value=100, format="%d%%"),
    "Created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
    "Completed": st.column_config.DatetimeColumn("Completed", format="YYYY-MM-DD HH:mm"),
    "Seconds": st.column_config.NumberColumn("Seconds", format="%d s"),
}


def spend_table(runtime: Runtime, workspace: Workspace, project_names: dict[str, str]) -> None:
    """Completed videos and their list price per project (empty where a price is not in the catalogue)."""
    spends = spend_by_project(runtime.catalogue, workspace.store.usage(workspace.user_id))
    if not spends:
        st.caption("Nothing completed yet.")
        return
    st.dataframe(
        pd.DataFrame(
            {
                "Project": [project_names.get(s.project_id or "", "No project") for s in spends],
                "Videos": [s.videos for s in spends],
                "Seconds": [s.seconds for s in spends],
                "Estimated cost": [s.cost for s in spends],
            }
        ),
        hide_index=True,
        column_config={"Estimated cost": st.column_config.NumberColumn(format="$%.2f")},
    )


def _delete(runtime: Runtime, workspace: Workspace, video_id: str, confirm_key: str) -> None:
    if asked(runtime, workspace, video_id, UserRequest.DELETE):
        st.session_state.pop(confirm_key, None)


def video_actions(runtime: Runtime, workspace: Workspace) -> Callable[[TrackedVideo, str], None]:
    """Buttons under a My Videos card (placed in the card's button row): use as template, and delete
    after a confirmation."""

    def actions(video: TrackedVideo, key: str) -> None:
        confirm_key = f"confirm-delete-{video.id}"
        template_button(video, key, REUSE)
        if not st.session_state.get(confirm_key):
            st.button(
                "Delete",
                key=f"delete-{key}-{video.id}",
                icon=":material/delete:",
                on_click=lambda: st.session_state.__setitem__(confirm_key, True),
            )
            return
        st.warning("Delete this video and its file? This cannot be undone.")
        if st.button("Delete for good", key=f"confirm-{key}-{video.id}", type="primary"):
            _delete(runtime, workspace, video.id, confirm_key)
            st.rerun()  # the whole page: counts and pages change, not only this card
        st.button(
            "Keep it", key=f"keep-{key}-{video.id}", on_click=lambda: st.session_state.pop(confirm_key, None)
        )

    return actions
