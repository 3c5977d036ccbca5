"""Around every page: an error the app can explain is shown as it is; anything else gets a short
explanation on the page and its traceback in the server log, never in the browser."""

from __future__ import annotations

import logging

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from mimio_core.errors import MimioError
from mimio_core.ui.text import plain

log = logging.getLogger(__name__)

UNEXPECTED = (
    "Something went wrong on this page, and it was written to the app's log. Your videos are safe: "
    "reload the page to try again."
)


def run_page(page: StreamlitPage) -> None:
    """Run the page the navigation chose. Streamlit's own stop and rerun signals are not `Exception`s,
    so they pass through untouched."""
    try:
        page.run()
    except MimioError as exc:
        log.warning("page %s: %s", page.title, exc)
        st.error(plain(str(exc)), icon=":material/error:")
    except Exception:
        log.exception("page %s failed", page.title)
        st.error(UNEXPECTED, icon=":material/error:")
