"""Variations: 1-3 takes of one prompt, made in parallel."""

import streamlit as st

from mimio_core.ui.form import apply_query, cost_estimate, read_request, reference_uploader, video_fields
from mimio_core.ui.projects import project_picker
from mimio_core.ui.runtime import current_user_id, get_runtime
from mimio_core.ui.submit import row_errors, submit_and_follow

PAGE = "variations"
runtime = get_runtime()
user_id = current_user_id()

st.title("Variations")
st.caption("Up to three takes of one prompt with the same settings, made at the same time.")

defaults = apply_query([PAGE], runtime.models, [p.id for p in runtime.store.list_projects(user_id)])
errors = row_errors(PAGE, PAGE)
count = st.radio("Variations", [1, 2, 3], index=2, horizontal=True, key=f"{PAGE}-count")
video_fields(PAGE, runtime.models, errors, title_label="Base title")
reference_uploader(PAGE, runtime.models, errors, runtime.settings.max_reference_bytes)
project_id = project_picker(runtime, user_id, f"{PAGE}-project", defaults.project_id)
cost_estimate(runtime.models, [PAGE], copies=count)
submit_and_follow(
    runtime,
    PAGE,
    f"Create {count} variation{'s' if count > 1 else ''}",
    lambda: [(PAGE, read_request(PAGE, project_id))],
    variations=count,
)
