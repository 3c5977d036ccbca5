"""My Videos' building blocks: the filtered page of videos, its table, and per-video actions."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from mimio_core.models import TrackedVideo, VideoStatus
from mimio_core.prefill import template_query
from mimio_core.runtime import Runtime
from mimio_core.ui.cards import BADGES

SINGLE_PAGE = "pages/single.py"


def videos_table(videos: list[TrackedVideo], project_names: dict[str, str]) -> pd.DataFrame:
    """The visible page of videos as a table (what the CSV export writes too)."""
    return pd.DataFrame(
        {
            "Title": [v.title for v in videos],
            "Status": [BADGES[v.status][0] for v in videos],
            "Progress": [100 if v.status is VideoStatus.COMPLETED else v.progress for v in videos],
            "Model": [v.model for v in videos],
            "Size": [v.size for v in videos],
            "Seconds": [v.seconds for v in videos],
            "Project": [project_names.get(v.project_id or "", "") for v in videos],
            "Created": pd.to_datetime([v.created_at for v in videos], utc=True),
            "Completed": pd.to_datetime([v.completed_at for v in videos], utc=True),
            "Prompt": [v.prompt for v in videos],
            "Error": [v.error or "" for v in videos],
            "ID": [v.id for v in videos],
        }
    )


TABLE_COLUMNS = {
    "Progress": st.column_config.ProgressColumn("Progress", min_value=0, max_value=100, format="%d%%"),
    "Created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
    "Completed": st.column_config.DatetimeColumn("Completed", format="YYYY-MM-DD HH:mm"),
    "Seconds": st.column_config.NumberColumn("Seconds", format="%d s"),
}


def _delete(runtime: Runtime, video_id: str, confirm_key: str) -> None:
    runtime.engine.delete(video_id)
    st.session_state.pop(confirm_key, None)
    st.toast("Video deleted.", icon=":material/delete:")


def video_actions(runtime: Runtime) -> Callable[[TrackedVideo, str], None]:
    """Buttons under a My Videos card: use as template, and delete after a confirmation."""

    def actions(video: TrackedVideo, key: str) -> None:
        confirm_key = f"confirm-delete-{video.id}"
        template, delete = st.columns(2)
        if template.button(
            "Use as template", key=f"template-{key}-{video.id}", icon=":material/content_copy:"
        ):
            st.switch_page(SINGLE_PAGE, query_params=template_query(video))
        if not st.session_state.get(confirm_key):
            delete.button(
                "Delete",
                key=f"delete-{key}-{video.id}",
                icon=":material/delete:",
                on_click=lambda: st.session_state.__setitem__(confirm_key, True),
            )
            return
        st.warning("Delete this video and its file? This cannot be undone.")
        yes, no = st.columns(2)
        yes.button(
            "Delete for good",
            key=f"confirm-{key}-{video.id}",
            type="primary",
            on_click=_delete,
            args=(runtime, video.id, confirm_key),
        )
        no.button(
            "Keep it", key=f"keep-{key}-{video.id}", on_click=lambda: st.session_state.pop(confirm_key, None)
        )

    return actions
