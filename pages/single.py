"""Single video: one prompt, one video."""

import streamlit as st

from mimio_core.ui.form import apply_query, cost_estimate, read_request, reference_uploader, video_fields
from mimio_core.ui.projects import project_picker
from mimio_core.ui.runtime import current_user_id, get_runtime
from mimio_core.ui.submit import row_errors, submit_and_follow

PAGE = "single"
runtime = get_runtime()
user_id = current_user_id()

st.title("Single video")
st.caption("One prompt, one video: type it, pick the model, size and length, and watch it being made.")

defaults = apply_query([PAGE], runtime.models, [p.id for p in runtime.store.list_projects(user_id)])
errors = row_errors(PAGE, PAGE)
video_fields(PAGE, runtime.models, errors)
reference_uploader(PAGE, runtime.models, errors, runtime.settings.max_reference_bytes)
project_id = project_picker(runtime, user_id, f"{PAGE}-project", defaults.project_id)
cost_estimate(runtime.models, [PAGE])
submit_and_follow(runtime, PAGE, "Create video", lambda: [(PAGE, read_request(PAGE, project_id))])
