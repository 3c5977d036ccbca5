"""Mimio dashboard: the frame around the pages (sign-in when Supabase is configured, navigation and
the sidebar)."""

import streamlit as st

from mimio_core.providers.base import Health
from mimio_core.ui.auth import account_menu, sign_in_page
from mimio_core.ui.frame import run_page
from mimio_core.ui.projects import active_project_selector
from mimio_core.ui.queue_control import paused_notice, queue_frame
from mimio_core.ui.runtime import (
    provider_health,
    runtime_or_explain,
    user_session,
    workers_notice,
    workspace_or_explain,
)
from mimio_core.ui.text import plain

st.set_page_config(page_title="Mimio", page_icon=":material/movie:", layout="wide")

runtime = runtime_or_explain()
workspace = workspace_or_explain(runtime)
navigation = st.navigation(
    {
        "Create": [
            st.Page("app_pages/single.py", title="Single video", icon=":material/movie:", default=True),
            st.Page("app_pages/variations.py", title="Variations", icon=":material/filter_3:"),
            st.Page("app_pages/batch.py", title="Batch", icon=":material/view_list:"),
        ],
        "Library": [
            st.Page("app_pages/my_videos.py", title="My Videos", icon=":material/video_library:"),
            st.Page("app_pages/projects.py", title="Projects", icon=":material/folder:"),
        ],
    },
    position="sidebar" if workspace is not None else "hidden",
)
if workspace is None:  # every page needs a signed-in user; the URL asked for stays, and opens after
    sign_in_page(user_session(runtime))
    st.stop()

queue_frame(runtime, workspace)
with st.sidebar:
    st.markdown("### :material/movie: Mimio")
    if workspace.email is None:
        st.caption(f":material/person: Local user `{workspace.user_id[:8]}` (no sign-in configured)")
    else:
        account_menu(user_session(runtime), workspace.email)
    active_project_selector(workspace)
    paused_notice(runtime, workspace)
    workers_notice(runtime, workspace)
    for name in runtime.provider.members if runtime.provider is not None else ():  # not with MIMIO_ENGINE=off
        description = runtime.describe(name)
        health = provider_health(runtime, name, description)
        st.caption(
            f":material/{'cloud_done' if health is Health.ANSWERING else 'cloud_off'}: "
            f"{plain(description)} · {health}"
        )
    st.caption(f":material/database: {runtime.storage_description}")

run_page(navigation)
