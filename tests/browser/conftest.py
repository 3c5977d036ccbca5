"""Browser-test fixtures: the real dashboard in its own process, and Debian's Chromium driven by Playwright.

Playwright cannot download its own browsers here, so the test launches `/usr/bin/chromium`. Without
it (or without the `playwright` package) the tests skip, or fail under MIMIO_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import require_service

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
STARTUP_SECONDS = 45


@dataclass(frozen=True)
class RunningApp:
    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"streamlit did not answer ok within {STARTUP_SECONDS}s:\n{log.read_text(errors='replace')}")


@pytest.fixture
def browser_service() -> None:
    """Chromium and Playwright are this test's services: missing ones skip (or fail in CI)."""
    require_service(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    require_service(
        importlib.util.find_spec("playwright") is not None,
        "the playwright package is missing (pip install -r requirements-dev.txt)",
    )


def app_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any MIMIO_ setting (a developer's provider or data folder),
    plus `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MIMIO_")}
    env.update(settings)
    return env


@contextmanager
def run_dashboard(env: dict[str, str], log: Path, data_dir: Path) -> Iterator[RunningApp]:
    """`streamlit run streamlit_app.py` on a free port with exactly `env`; stopped on the way out."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, process, log)
        yield RunningApp(url, data_dir, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def streamlit_app(browser_service: None, tmp_path: Path) -> Iterator[RunningApp]:
    """`streamlit run streamlit_app.py` on a free port over a fresh data folder, with slow jobs."""
    data_dir = tmp_path / "data"
    env = app_environment(
        MIMIO_DATA_DIR=str(data_dir),
        MIMIO_LOCAL_LATENCY="3",
        MIMIO_POLL_INTERVAL="0.5",
        MIMIO_LOCAL_RENDER_SLOTS="2",
    )
    with run_dashboard(env, tmp_path / "streamlit.log", data_dir) as app:
        yield app


@pytest.fixture
def browser(browser_service: None) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so fixtures can tell a failure at teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def full_page_screenshot(page: Page, path: Path) -> None:
    """Streamlit scrolls inside `<main class="stMain">`, not the document: grow the viewport to fit."""
    viewport = page.viewport_size or {"width": 1280, "height": 900}
    height = page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight, ...[
            ...document.querySelectorAll('.stMain, [data-testid=stSidebarContent]')
        ].map(element => element.scrollHeight))"""
    )
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], int(height))})
    try:
        page.wait_for_timeout(300)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(viewport)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop-sized page that accepts downloads; on failure, a full-page screenshot in test-artifacts/."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    current = context.new_page()
    try:
        yield current
    finally:
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            try:
                full_page_screenshot(current, ARTIFACTS / f"{request.node.name}.png")
            except Exception as exc:  # the page may be gone; the test's own error matters more
                print(f"could not save the failure screenshot: {exc}")
        context.close()
