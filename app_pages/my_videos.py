"""My Videos: every video, newest first, with filters, a table, a gallery and actions."""

import math
from datetime import timedelta

import streamlit as st

from mimio_core.csv_export import safe_csv
from mimio_core.status import STATE_GROUPS
from mimio_core.store.base import VideoFilter
from mimio_core.ui.cards import may_change, video_grid
from mimio_core.ui.library import TABLE_COLUMNS, spend_table, video_actions, videos_table
from mimio_core.ui.queue_control import queue_header, refresh_after_action
from mimio_core.ui.runtime import current_workspace, get_runtime

PAGE_SIZES = {"Gallery": 12, "Table": 50}


def first_page() -> None:
    """A new filter shows its first page, not page 3 of the old results."""
    st.session_state.pop("videos-page", None)


runtime = get_runtime()
workspace = current_workspace()
store, user_id = workspace.store, workspace.user_id

st.title("My Videos")
st.caption(
    "Everything you have made, newest first. Filter, play, download, retry, reuse or delete; pause, "
    "reorder or edit what waits."
)

if store.count_videos(user_id) == 0:
    st.info(
        "No videos yet. Create one on **Single video**, or several on **Variations** or **Batch**.",
        icon=":material/movie:",
    )
    st.stop()

projects = {p.id: p.name for p in store.list_projects(user_id)}
if "project" in st.query_params and "videos-project" not in st.session_state:
    st.session_state["videos-project"] = (
        st.query_params["project"] if st.query_params["project"] in projects else ""
    )

filters = st.expander("Filters", icon=":material/filter_list:", expanded=True)
status_col, project_col, model_col, search_col = filters.columns([1, 1, 1, 2])
status = status_col.selectbox(
    "Status",
    ["", *STATE_GROUPS],
    key="videos-status",
    on_change=first_page,
    format_func=lambda s: s.capitalize() if s else "All",
)
project = project_col.selectbox(
    "Project",
    ["", *projects],
    key="videos-project",
    on_change=first_page,
    format_func=lambda p: projects.get(p, "All"),
)
model = model_col.selectbox(
    "Model",
    ["", *runtime.catalogue],
    key="videos-model",
    on_change=first_page,
    format_func=lambda m: runtime.model_label(m) if m else "All",
)
search = search_col.text_input(
    "Search title and prompt", key="videos-search", placeholder="fox, ocean, ...", on_change=first_page
)
where = VideoFilter(
    states=STATE_GROUPS[status] if status else None,
    project_id=project or None,
    model=model or None,
    search=search.strip() or None,
)

with st.expander("Spend by project (completed videos, list price)", icon=":material/payments:"):
    spend_table(runtime, workspace, projects)
queue_header(runtime, workspace, where, projects)

total = store.count_videos(user_id, where)
view_col, page_col, count_col = st.columns([2, 1, 2], vertical_alignment="bottom")
view = view_col.radio("View", list(PAGE_SIZES), horizontal=True, key="videos-view")
pages = max(1, math.ceil(total / PAGE_SIZES[view]))
page = (
    page_col.number_input("Page", min_value=1, max_value=pages, step=1, key="videos-page") if pages > 1 else 1
)
count_col.caption(f"{total} video{'s' if total != 1 else ''} · page {page} of {pages}")

if total == 0:
    st.info(
        "No video matches these filters. Clear the search or pick another status.", icon=":material/search:"
    )
    st.stop()

offset = (int(page) - 1) * PAGE_SIZES[view]
visible = store.list_videos(user_id, where, limit=PAGE_SIZES[view], offset=offset)
in_flight = may_change(visible)


@st.fragment(run_every=timedelta(seconds=3) if in_flight else None)
def library() -> None:
    refresh_after_action()
    videos = store.get_videos([v.id for v in visible])
    if view == "Table":
        table = videos_table(videos, projects, workspace.files)
        st.dataframe(
            table, hide_index=True, column_config=TABLE_COLUMNS, column_order=list(table.columns)[:-1]
        )
        st.download_button(
            "Export CSV",
            data=safe_csv(table.drop(columns="Preview")),
            file_name="mimio-videos.csv",
            mime="text/csv",
            icon=":material/table:",
            on_click="ignore",
        )
    else:
        video_grid(runtime, workspace, videos, "library", video_actions(runtime, workspace))
    if in_flight != may_change(videos):
        st.rerun()  # the whole page: only a full run turns the timer on (a Retry) or off (all done)


library()
