"""Single video: one prompt, one video."""

import streamlit as st

from mimio_core.ui.form import cost_estimate, one_prompt_form, read_request
from mimio_core.ui.runtime import current_workspace, get_runtime
from mimio_core.ui.submit import submit_and_follow

PAGE = "single"
runtime = get_runtime()
workspace = current_workspace()

st.title("Single video")
st.caption("One prompt, one video: type it, pick the model, size and length, and watch it being made.")

project_id = one_prompt_form(runtime, workspace, PAGE)
cost_estimate(runtime.models, [PAGE])
submit_and_follow(runtime, workspace, PAGE, "Create video", lambda: [(PAGE, read_request(PAGE, project_id))])
