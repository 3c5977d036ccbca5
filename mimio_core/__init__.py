"""Mimio for Python: the engine, providers and storage behind the dashboard (no Streamlit here,
except in `mimio_core.ui`)."""

__version__ = "0.1.0"  # pyproject.toml's (a test keeps them equal); recorded with each heartbeat
