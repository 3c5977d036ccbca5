"""Projects: group videos; create, rename, delete (videos stay), and open a project's videos."""

import streamlit as st

from mimio_core.store.base import ProjectError
from mimio_core.ui.runtime import current_workspace
from mimio_core.ui.text import error_note, plain

workspace = current_workspace()
store, user_id = workspace.store, workspace.user_id

st.title("Projects")
st.caption("Group videos by campaign or client. Deleting a project keeps its videos, without a project.")


def create() -> None:
    try:
        project = store.create_project(
            user_id, st.session_state["new-project-name"], st.session_state["new-project-description"]
        )
    except ProjectError as exc:
        st.session_state["new-project-error"] = str(exc)
        return
    st.session_state["new-project-error"] = ""
    st.session_state["new-project-name"] = st.session_state["new-project-description"] = ""
    st.toast(plain(f"Project {project.name!r} created."), icon=":material/folder:")


def rename(project_id: str) -> None:
    try:
        store.rename_project(user_id, project_id, st.session_state[f"rename-{project_id}"])
    except ProjectError as exc:
        st.session_state[f"rename-{project_id}-error"] = str(exc)
        return
    st.session_state[f"rename-{project_id}-error"] = ""


def delete(project_id: str) -> None:
    store.delete_project(user_id, project_id)
    st.session_state.pop(f"confirm-project-{project_id}", None)
    st.toast("Project deleted; its videos are kept.", icon=":material/delete:")


with st.container(border=True):
    st.subheader("New project")
    name_col, description_col = st.columns(2)
    name_col.text_input("Name", key="new-project-name", max_chars=80)
    description_col.text_input("Description (optional)", key="new-project-description")
    st.button(
        "Create project",
        type="primary",
        icon=":material/create_new_folder:",
        on_click=create,
        key="create-project",
    )
    if error := st.session_state.get("new-project-error"):
        error_note(error)

projects = store.list_projects(user_id)
counts = store.project_video_counts(user_id)
if not projects:
    st.info("No projects yet. Create one above, then pick it when you make videos.", icon=":material/folder:")
for project in projects:
    with st.container(border=True, key=f"project-{project.id}"):
        info, open_col = st.columns([3, 1], vertical_alignment="center")
        videos = counts.get(project.id, 0)
        info.markdown(f"**{plain(project.name)}** · {videos} video{'s' if videos != 1 else ''}")
        if project.description:
            info.caption(plain(project.description))
        open_col.page_link(
            "app_pages/my_videos.py",
            label="Open videos",
            icon=":material/video_library:",
            query_params={"project": project.id},
        )
        with st.expander("Rename or delete"):
            st.text_input("New name", value=project.name, key=f"rename-{project.id}")
            st.button("Rename", key=f"rename-button-{project.id}", on_click=rename, args=(project.id,))
            if error := st.session_state.get(f"rename-{project.id}-error"):
                error_note(error)
            confirm = f"confirm-project-{project.id}"
            if not st.session_state.get(confirm):
                st.button(
                    "Delete project",
                    key=f"delete-{project.id}",
                    icon=":material/delete:",
                    on_click=lambda key=confirm: st.session_state.__setitem__(key, True),
                )
            else:
                st.warning(plain(f"Delete {project.name!r}? Its {videos} video(s) stay, without a project."))
                st.button(
                    "Delete for good",
                    key=f"confirm-{project.id}",
                    type="primary",
                    on_click=delete,
                    args=(project.id,),
                )
