"""Shared Streamlit widgets: the only part of `mimio_core` that imports Streamlit."""
