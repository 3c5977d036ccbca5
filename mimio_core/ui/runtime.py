"""The process-wide runtime (engine, store, provider) and who is using the page."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import streamlit as st

from mimio_core.catalogue import CatalogueError
from mimio_core.config import ConfigError, load_settings
from mimio_core.models import LOCAL_USER_ID
from mimio_core.runtime import Runtime, open_runtime

log = logging.getLogger(__name__)


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
    logging.basicConfig(level=settings.log_level)
    return open_runtime(settings)


def runtime_or_explain() -> Runtime:
    """The runtime, or a page that says which setting is wrong (and nothing else) when it cannot start."""
    try:
        return get_runtime()
    except (ConfigError, CatalogueError) as exc:
        st.error(f"Mimio cannot start: {exc}", icon=":material/settings_alert:")
        st.stop()


def close_runtime() -> None:
    """Stop the shared runtime (tests, and a clean shutdown; `on_release` closes it); the next
    `get_runtime` starts anew."""
    get_runtime.clear()  # type: ignore[attr-defined]


def current_user_id() -> str:
    """The signed-in user; with no sign-in configured, the one local user."""
    return LOCAL_USER_ID


@st.cache_data(ttl=30, show_spinner=False)
def provider_answers(_runtime: Runtime, provider_description: str) -> bool:
    """Health check, cached briefly so a rerun does not cost a request each time."""
    return _runtime.provider.health()
