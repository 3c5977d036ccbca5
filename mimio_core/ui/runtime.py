"""The process-wide runtime (engine, store, provider), and who the page acts for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from mimio_core.auth import SignInError, UserSession
from mimio_core.catalogue import CatalogueError
from mimio_core.config import ConfigError, load_settings
from mimio_core.domain import ACTIVE_STATES, LOCAL_USER_ID, VideoStatus
from mimio_core.logs import configure_logging
from mimio_core.providers.base import Health
from mimio_core.runtime import Runtime, open_runtime
from mimio_core.storage import worker_window
from mimio_core.store.base import Library, StorageError, VideoFilter
from mimio_core.ui.text import plain
from mimio_core.workspace import Workspace

USER_SESSION = "mimio-user-session"


def _secrets() -> Mapping[str, Any]:
    """`st.secrets` raises when no secrets file exists, even on `.get`: treat that as no secrets."""
    try:
        return dict(st.secrets)
    except Exception:  # FileNotFoundError, or a parse error already shown by Streamlit
        return {}


@st.cache_resource(show_spinner="Starting the video engine...", on_release=lambda runtime: runtime.close())
def get_runtime() -> Runtime:
    """One engine per process, shared by every session; it resumes unfinished work as it starts."""
    settings = load_settings(secrets=_secrets())
    configure_logging(settings.log_level)
    return open_runtime(settings)


def runtime_or_explain() -> Runtime:
    """The runtime, or a page that says which setting is wrong (and nothing else) when it cannot start."""
    try:
        return get_runtime()
    except (ConfigError, CatalogueError) as exc:
        st.error(plain(f"Mimio cannot start: {exc}"), icon=":material/settings_alert:")
        st.stop()
    except StorageError as exc:  # not cached: the next run tries again
        st.error(
            f"Mimio cannot reach its storage: {exc} Reload the page to try again.",
            icon=":material/cloud_off:",
        )
        st.stop()


def close_runtime() -> None:
    """Stop the shared runtime (tests, and a clean shutdown; `on_release` closes it); the next
    `get_runtime` starts anew."""
    get_runtime.clear()


def user_session(runtime: Runtime) -> UserSession:
    """This browser session's own Supabase session, made on its first run. It lives in session state,
    never in a cache shared between sessions (that would share one person's sign-in with everyone)."""
    assert runtime.supabase is not None
    held = st.session_state.get(USER_SESSION)
    if held is None or held[0] is not runtime.supabase:  # none yet, or from a runtime since restarted
        held = st.session_state[USER_SESSION] = (runtime.supabase, runtime.supabase.new_user_session())
    return held[1]


def signed_in_workspace(runtime: Runtime) -> Workspace | None:
    """Who this session acts for: the signed-in user (None when nobody is), or the local user when no
    sign-in is configured. Asked afresh each time, so a sign-out takes effect at once."""
    if runtime.supabase is None:
        assert runtime.files is not None  # SQLite and local files, always opened
        return Workspace(LOCAL_USER_ID, None, runtime.local_store, runtime.files)
    session = user_session(runtime)
    account = session.account()
    if account is None:
        return None
    return Workspace(account.user_id, account.email, session.store, session.files)


def workspace_or_explain(runtime: Runtime) -> Workspace | None:
    """`signed_in_workspace`, or a page that says the sign-in service cannot be reached (and stops)."""
    try:
        return signed_in_workspace(runtime)
    except SignInError as exc:
        st.error(plain(str(exc)), icon=":material/cloud_off:")
        st.stop()


def current_workspace() -> Workspace:
    """The workspace of a page run. The frame, which runs first, shows the sign-in page instead of any
    page while nobody is signed in; this stops the page only if the session ended in between."""
    workspace = workspace_or_explain(get_runtime())
    if workspace is None:
        st.stop()
    return workspace


@st.cache_data(ttl=5, show_spinner=False)
def worker_status(_store: Library, user_id: str, window: float) -> tuple[int, int]:
    """How many engines are online, and how many of this user's videos wait or are at work (cached
    for a few seconds, so each rerun of every page does not cost two queries)."""
    waiting = _store.count_videos(
        user_id, VideoFilter(states=frozenset({VideoStatus.QUEUED, *ACTIVE_STATES}))
    )
    return _store.workers_online(window), waiting


def workers_notice(runtime: Runtime, workspace: Workspace, *, only_warning: bool = False) -> None:
    """The sidebar's line about the engines that make the videos, and a warning when this user's videos
    wait and none is online (MIMIO_ENGINE=off without a running worker); `only_warning`: the
    warning alone, for a run's panel."""
    online, waiting = worker_status(workspace.store, workspace.user_id, worker_window(runtime.settings))
    if online == 0 and waiting:
        where = (
            "where SUPABASE_SERVICE_ROLE_KEY is set"
            if runtime.supabase is not None
            else "on this machine, with the same MIMIO_DATA_DIR"
        )
        st.warning(
            f"{waiting} video{'s wait' if waiting > 1 else ' waits'} and no worker is online to make "
            f"{'them' if waiting > 1 else 'it'}. Whoever runs this app starts one with "
            f"`python -m mimio_core worker` {where}.",
            icon=":material/engineering:",
        )
        return
    if only_warning:
        return
    where = "this app runs one" if runtime.engine is not None else "MIMIO_ENGINE=off"
    st.caption(f":material/engineering: {online} worker{'s' if online != 1 else ''} online ({where})")


@st.cache_data(ttl=30, show_spinner=False)
def provider_health(_runtime: Runtime, name: str, description: str) -> Health:
    """Health check of one active provider (`description` keys the cache to where it is reached),
    cached briefly so a rerun does not cost a request each time."""
    assert _runtime.provider is not None  # the sidebar asks only where this process runs the engine
    return _runtime.provider.members[name].health()
