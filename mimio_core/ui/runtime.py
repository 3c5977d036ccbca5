"""The process-wide runtime (engine, store, provider), and who the page acts for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from mimio_core.auth import SignInError, UserSession
from mimio_core.catalogue import CatalogueError
from mimio_core.config import ConfigError, load_settings
from mimio_core.domain import LOCAL_USER_ID
from mimio_core.logs import configure_logging
from mimio_core.providers.base import Health
from mimio_core.runtime import Runtime, open_runtime
from mimio_core.store.base import StorageError
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
        return Workspace(LOCAL_USER_ID, None, runtime.store, runtime.files)
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


@st.cache_data(ttl=30, show_spinner=False)
def provider_health(_runtime: Runtime, name: str, description: str) -> Health:
    """Health check of one active provider (`description` keys the cache to where it is reached),
    cached briefly so a rerun does not cost a request each time."""
    return _runtime.provider.members[name].health()
