"""Showing user-supplied text safely inside Streamlit markdown."""

from __future__ import annotations

import re

import streamlit as st

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:])")


def plain(text: str) -> str:
    """User text shown literally inside Streamlit markdown (no stray bold, links or colour codes)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def error_note(message: str) -> None:
    """A red message right under the field or button it is about."""
    st.markdown(f":red[:material/error: {plain(message)}]")
