"""AppTest fixtures: the real app over a fresh data directory, engine and embedded server included, with
a Mimio API server beside it (the Sora models), so every page runs with two providers' models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mimio_core.local_server.runner import RunningServer, start_in_thread
from mimio_core.runtime import Runtime
from mimio_core.ui.runtime import close_runtime, get_runtime
from tests.fake_api import api  # noqa: F401 (the scripted gateway, for the sidebar's health)
from tests.shown import shown

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A Mimio API server (the embedded server's own app, in this process): its faults are the
    provider's bad minutes."""
    running = start_in_thread(tmp_path / "api-server", render_slots=2)
    yield running
    running.stop()


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_server: RunningServer) -> Iterator[Path]:
    monkeypatch.chdir(ROOT)
    for key in ("MIMIO_PROVIDER", "FAL_KEY", "REPLICATE_API_TOKEN", "MIMIO_OPENAI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MIMIO_API_URL", api_server.url)
    monkeypatch.setenv("MIMIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MIMIO_POLL_INTERVAL", "0.2")
    monkeypatch.setenv("MIMIO_LOCAL_RENDER_SLOTS", "2")
    yield tmp_path / "data"
    close_runtime()


@pytest.fixture
def app(app_env: Path) -> AppTest:
    """The dashboard, run once (the Single video page)."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def runtime(app: AppTest) -> Runtime:
    """The same runtime the app uses (process-wide)."""
    return get_runtime()


def texts(at: AppTest) -> str:
    """Everything the page says in markdown, captions, errors and infos, as a person reads it (markdown
    escapes removed), for assertions."""
    parts = [e.value for e in (*at.markdown, *at.caption, *at.error, *at.info, *at.warning)]
    return shown("\n".join(str(p) for p in parts))
