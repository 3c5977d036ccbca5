"""Batch: up to three different videos, each with its own settings, in one run."""

import streamlit as st

from mimio_core.ui.form import apply_query, cost_estimate, read_request, row_errors, video_fields
from mimio_core.ui.projects import project_picker
from mimio_core.ui.runtime import current_workspace, get_runtime
from mimio_core.ui.submit import submit_and_follow

PAGE = "batch"
MAX_ROWS = 3
ROWS = f"{PAGE}-rows"
runtime = get_runtime()
workspace = current_workspace()

st.title("Batch")
st.caption("Up to three different videos, each with its own prompt and settings, in one project.")

if ROWS not in st.session_state:
    st.session_state[ROWS] = [0]
    st.session_state[f"{ROWS}-next"] = 1


def add_row() -> None:
    st.session_state[ROWS].append(st.session_state[f"{ROWS}-next"])
    st.session_state[f"{ROWS}-next"] += 1


def remove_row(row: int) -> None:
    st.session_state[ROWS].remove(row)


prefixes = [f"{PAGE}-{row}" for row in st.session_state[ROWS]]
defaults = apply_query(
    PAGE, prefixes, runtime.models, [p.id for p in workspace.store.list_projects(workspace.user_id)]
)
for number, (row, prefix) in enumerate(zip(st.session_state[ROWS], prefixes, strict=True), start=1):
    with st.container(border=True, key=f"{prefix}-box"):
        head, remove = st.columns([4, 1], vertical_alignment="center")
        head.subheader(f"Video {number}")
        if len(st.session_state[ROWS]) > 1:
            remove.button(
                "Remove", key=f"{prefix}-remove", icon=":material/delete:", on_click=remove_row, args=(row,)
            )
        video_fields(prefix, runtime.models, row_errors(PAGE, prefix))
if len(st.session_state[ROWS]) < MAX_ROWS:
    st.button("Add a video", icon=":material/add:", on_click=add_row, key=f"{PAGE}-add")
project_id = project_picker(workspace, f"{PAGE}-project", defaults.project_id)
cost_estimate(runtime.models, prefixes)
submit_and_follow(
    runtime,
    workspace,
    PAGE,
    f"Create {len(prefixes)} video{'s' if len(prefixes) > 1 else ''}",
    lambda: [(prefix, read_request(prefix, project_id, with_reference=False)) for prefix in prefixes],
)
