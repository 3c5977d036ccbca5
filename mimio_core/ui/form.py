"""The creation form's fields, written once for every creation page.

Widgets keep their values in `st.session_state` under `<prefix>-<field>`, so the submit callback
reads them there, and a link's query can pre-fill them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from mimio_core.catalogue import ModelSpec
from mimio_core.domain import CheckedReference, ReferenceUpload, VideoRequest
from mimio_core.prefill import QUERY_KEYS, FormDefaults, defaults_from_query
from mimio_core.reference_fit import fit_reference
from mimio_core.runtime import Runtime
from mimio_core.ui.projects import project_picker
from mimio_core.ui.text import error_note, plain
from mimio_core.validation import MAX_PROMPT_CHARS, MAX_TITLE_CHARS, ValidationError, check_reference
from mimio_core.workspace import Workspace

FIELDS = ("title", "prompt", "model", "size", "seconds")
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "mp4", "mov", "webm"]


def state_key(prefix: str, field: str) -> str:
    return f"{prefix}-{field}"


def row_errors(page: str, row: str) -> Mapping[str, str]:
    """Validation messages of the page's last submit for one form row, by field."""
    return st.session_state.get(f"{page}-errors", {}).get(row, {})


def apply_query(
    page: str, prefixes: Sequence[str], models: Mapping[str, ModelSpec], project_ids: Sequence[str]
) -> FormDefaults:
    """Pre-fill the forms from the URL query the first time it is seen (also after "Use as template"
    when the fields already hold other values); notices say what was ignored. Otherwise a field keeps
    what the person typed, also after a visit to another page (Streamlit drops a widget's state
    when its page is left, so `keep_values` holds a copy)."""
    query = {key: st.query_params[key] for key in QUERY_KEYS if key in st.query_params}
    defaults = defaults_from_query(query, models, project_ids)
    seen_key = f"{page}-query-seen"
    fresh = st.session_state.get(seen_key) != query
    for prefix in prefixes:
        values = {
            "title": defaults.title,
            "prompt": defaults.prompt,
            "model": defaults.model,
            "size": defaults.size,
            "seconds": defaults.seconds,
        }
        for field, value in values.items():
            key = state_key(prefix, field)
            if fresh:
                st.session_state[key] = value
            elif key not in st.session_state:
                st.session_state[key] = st.session_state.get(f"kept-{key}", value)
    if fresh:
        st.session_state[seen_key] = query
        for notice in defaults.notices:
            st.toast(plain(notice), icon=":material/info:")
    return defaults


def field_error(errors: Mapping[str, str], field: str) -> None:
    if message := errors.get(field):
        error_note(message)


def video_fields(
    prefix: str, models: Mapping[str, ModelSpec], errors: Mapping[str, str], *, title_label: str = "Title"
) -> None:
    """Title, prompt (with its character count), model, size (the sizes that model allows), duration."""
    st.text_input(
        title_label,
        key=state_key(prefix, "title"),
        max_chars=MAX_TITLE_CHARS,
        placeholder="Optional: taken from the prompt when empty",
    )
    field_error(errors, "title")
    st.text_area(
        "Prompt",
        key=state_key(prefix, "prompt"),
        max_chars=MAX_PROMPT_CHARS,
        height=110,
        placeholder="Describe the scene, the camera and the mood.",
    )
    field_error(errors, "prompt")
    model_key, size_key, seconds_key = (state_key(prefix, f) for f in ("model", "size", "seconds"))
    if st.session_state.get(model_key) not in models:
        st.session_state[model_key] = next(iter(models))
    spec = models[st.session_state[model_key]]
    # a model change may leave a size or duration the new model does not make
    if st.session_state.get(size_key) not in spec.sizes:
        st.session_state[size_key] = spec.default_size
    if st.session_state.get(seconds_key) not in spec.seconds:
        st.session_state[seconds_key] = spec.default_seconds
    model_col, size_col, seconds_col = st.columns([2, 1, 1])
    with model_col:
        st.selectbox("Model", list(models), key=model_key, format_func=lambda name: models[name].label)
        field_error(errors, "model")
    with size_col:
        st.selectbox("Size", spec.sizes, key=size_key)
        field_error(errors, "size")
    with seconds_col:
        st.selectbox("Duration", spec.seconds, key=seconds_key, format_func=lambda s: f"{s} s")
        field_error(errors, "seconds")
    for field in FIELDS:  # plain keys outlive the page; see apply_query
        st.session_state[f"kept-{state_key(prefix, field)}"] = st.session_state[state_key(prefix, field)]


def reference_uploader(
    prefix: str, models: Mapping[str, ModelSpec], errors: Mapping[str, str], max_bytes: int
) -> None:
    """Drag-and-drop reference with a preview and the type detected from its bytes."""
    upload = st.file_uploader(
        "Reference image (optional)",
        type=UPLOAD_TYPES,
        key=state_key(prefix, "reference"),
        help="Becomes the first frame. PNG, JPEG or WebP; a video where the model takes one.",
    )
    if upload is not None:
        spec = models[st.session_state[state_key(prefix, "model")]]
        try:
            checked = check_reference(ReferenceUpload(upload.name, upload.getvalue()), spec, max_bytes)
        except ValidationError as refused:
            errors = {"reference": refused.errors["reference"], **errors}
        else:
            reference_preview(checked, st.session_state[state_key(prefix, "size")])
    field_error(errors, "reference")


def reference_preview(checked: CheckedReference, size: str) -> None:
    """What will be sent: the detected type, and for an image of another size the fitted copy."""
    preview, about = st.columns([1, 2])
    about.caption(f"Detected: {checked.mime}, {len(checked.data) / 1024:.0f} KB")
    if checked.kind == "video":
        preview.video(checked.data, format=checked.mime)
        return
    fitted = fit_reference(checked, size)
    preview.image(fitted.reference.data, width=160)
    if fitted.changed:
        (width, height), (target_w, target_h) = fitted.original_size, fitted.target_size
        about.caption(
            f":material/crop: Fitted to {target_w}x{target_h}, scaled and centre-cropped from "
            f"{width}x{height}: the preview shows what the provider receives; your original is kept."
        )


def cost_estimate(models: Mapping[str, ModelSpec], prefixes: Sequence[str], copies: int = 1) -> None:
    """The list-price estimate for what the form would create, when prices are known."""
    total = 0.0
    for prefix in prefixes:
        values = read_values(prefix)
        cost = models[values["model"]].cost(values["size"], values["seconds"])
        if cost is None:
            st.caption(":material/payments: Cost unknown: the catalogue has no list price for this choice")
            return
        total += cost * copies
    videos = copies * len(prefixes)
    of = f" for {videos} videos" if videos > 1 else ""
    if total == 0:
        st.caption(f":material/payments: No cost{of} at list price")
    else:
        st.caption(f":material/payments: Estimated cost{of}: ${total:.2f} at list price")


def read_values(prefix: str) -> dict[str, Any]:
    return {field: st.session_state.get(state_key(prefix, field)) for field in FIELDS}


def read_request(prefix: str, project_id: str | None, with_reference: bool = True) -> VideoRequest:
    """The request the fields under `prefix` describe (not yet validated)."""
    values = read_values(prefix)
    upload = st.session_state.get(state_key(prefix, "reference")) if with_reference else None
    reference = ReferenceUpload(upload.name, upload.getvalue()) if upload is not None else None
    return VideoRequest(
        prompt=values["prompt"] or "",
        title=values["title"] or "",
        model=values["model"],
        size=values["size"],
        seconds=values["seconds"],
        reference=reference,
        project_id=project_id,
    )


def one_prompt_form(
    runtime: Runtime, workspace: Workspace, page: str, *, title_label: str = "Title"
) -> str | None:
    """The form of a one-prompt page (Single video, Variations): pre-filled from the link, the
    fields, the reference and the project; returns the chosen project id."""
    projects = workspace.store.list_projects(workspace.user_id)
    defaults = apply_query(page, [page], runtime.models, [p.id for p in projects])
    errors = row_errors(page, page)
    video_fields(page, runtime.models, errors, title_label=title_label)
    reference_uploader(page, runtime.models, errors, runtime.settings.max_reference_bytes)
    return project_picker(workspace, f"{page}-project", defaults.project_id)
