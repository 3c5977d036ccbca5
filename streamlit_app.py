"""Mimio dashboard: the frame around the pages (navigation and the sidebar)."""

import streamlit as st

from mimio_core.ui.projects import active_project_selector
from mimio_core.ui.runtime import current_user_id, provider_answers, runtime_or_explain

st.set_page_config(page_title="Mimio", page_icon=":material/movie:", layout="wide")

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
    }
)

runtime = runtime_or_explain()
with st.sidebar:
    st.markdown("### :material/movie: Mimio")
    st.caption(f":material/person: Local user `{current_user_id()[:8]}` (no sign-in configured)")
    active_project_selector(runtime, current_user_id())
    answers = provider_answers(runtime, runtime.provider_description)
    st.caption(
        f":material/{'cloud_done' if answers else 'cloud_off'}: {runtime.provider_description}"
        f" · {'answering' if answers else 'not answering'}"
    )
    st.caption(f":material/database: {runtime.storage_description}")

navigation.run()
