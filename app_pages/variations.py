"""Variations: 1-3 takes of one prompt, made in parallel."""

import streamlit as st

from mimio_core.ui.form import cost_estimate, one_prompt_form, read_request
from mimio_core.ui.runtime import current_workspace, get_runtime
from mimio_core.ui.submit import submit_and_follow

PAGE = "variations"
runtime = get_runtime()
workspace = current_workspace()

st.title("Variations")
st.caption("Up to three takes of one prompt with the same settings, made at the same time.")

count = st.radio("Variations", [1, 2, 3], index=2, horizontal=True, key=f"{PAGE}-count")
project_id = one_prompt_form(runtime, workspace, PAGE, title_label="Base title")
cost_estimate(runtime.models, [PAGE], copies=count)
submit_and_follow(
    runtime,
    workspace,
    PAGE,
    f"Create {count} variation{'s' if count > 1 else ''}",
    lambda: [(PAGE, read_request(PAGE, project_id))],
    variations=count,
)
