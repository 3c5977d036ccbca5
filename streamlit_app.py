"""Mimio dashboard entry point (the full dashboard is the next issue; this page shows the engine's state)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Mimio", page_icon="🎬", layout="wide")
st.title("Mimio")
st.write(
    "Batch AI video generation. The dashboard is on its way; meanwhile create videos from the terminal: "
    '`python -m mimio_core create "a red fox running through snow"`.'
)
