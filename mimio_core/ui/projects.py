"""Choosing a project (or creating one inline), and the active project shown in the sidebar."""

from __future__ import annotations

import streamlit as st

from mimio_core.store.base import ProjectError
from mimio_core.ui.text import error_note, plain
from mimio_core.workspace import Workspace

ACTIVE = "active-project"
NO_PROJECT = ""


def _create(workspace: Workspace, name_key: str, select_key: str) -> None:
    try:
        project = workspace.store.create_project(workspace.user_id, st.session_state.get(name_key, ""))
    except ProjectError as exc:
        st.session_state[f"{name_key}-error"] = str(exc)
        return
    st.session_state[f"{name_key}-error"] = ""
    st.session_state[name_key] = ""
    st.session_state[select_key] = project.id
    st.toast(plain(f"Project {project.name!r} created."), icon=":material/folder:")


def project_picker(workspace: Workspace, key: str, default: str | None = None) -> str | None:
    """A project select with a "New project" popover; returns the chosen project id or None."""
    projects = {p.id: p.name for p in workspace.store.list_projects(workspace.user_id)}
    options = [NO_PROJECT, *projects]
    if st.session_state.get(key) not in options:
        preferred = default or st.session_state.get(ACTIVE)
        st.session_state[key] = preferred if preferred in projects else NO_PROJECT
    pick, new = st.columns([3, 1], vertical_alignment="bottom")
    pick.selectbox("Project", options, key=key, format_func=lambda pid: projects.get(pid, "No project"))
    with new.popover("New project", icon=":material/create_new_folder:"):
        name_key = f"{key}-new-name"
        st.text_input("Name", key=name_key)
        st.button("Create", key=f"{key}-create", on_click=_create, args=(workspace, name_key, key))
        if error := st.session_state.get(f"{name_key}-error"):
            error_note(error)
    return st.session_state[key] or None


def active_project_selector(workspace: Workspace) -> None:
    """The sidebar's active project: the default for new videos on every creation page."""
    projects = {p.id: p.name for p in workspace.store.list_projects(workspace.user_id)}
    options = [NO_PROJECT, *projects]
    if st.session_state.get(ACTIVE) not in options:
        st.session_state[ACTIVE] = NO_PROJECT
    st.selectbox(
        "Active project", options, key=ACTIVE, format_func=lambda pid: projects.get(pid, "No project")
    )
