"""Mimio for Python: the engine, providers and storage behind the dashboard (no Streamlit here,
except in `mimio_core.ui`)."""
