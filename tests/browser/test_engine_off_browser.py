"""MIMIO_ENGINE=off in a real browser: the dashboard records a video and calls no provider; a separate
`python -m mimio_core worker` process makes it, and the sidebar counts that worker online, then off."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mimio_core.domain import LOCAL_USER_ID, VideoStatus
from mimio_core.local_server.runner import RunningServer, start_in_thread
from mimio_core.store.sqlite import SQLiteStore
from tests.browser.conftest import ROOT, RunningApp, app_environment, full_page_screenshot, run_dashboard
from tests.browser.test_end_to_end import cards, fill_form, open_page
from tests.integration.test_restart import kill, wait_for

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:  # the `browser_service` fixture skips, or fails in CI, with the reason
    Locator = Page = expect = None  # type: ignore[assignment,misc]

pytestmark = pytest.mark.service

PROMPT = "a lighthouse at dusk"
LEASE = 2  # MIMIO_LEASE_SECONDS: a worker without a heartbeat for this long is offline
CACHE = 5  # seconds the sidebar's worker count is cached (worker_status)
SHOTS = Path("/tmp/mimio-shots")
NO_WORKER = (
    "1 video waits and no worker is online to make it. Whoever runs this app starts one with "
    "python -m mimio_core worker on this machine, with the same MIMIO_DATA_DIR."
)


@dataclass(frozen=True)
class EngineOff:
    app: RunningApp
    server: RunningServer
    env: dict[str, str]  # the dashboard's environment, which a worker shares
    requests_before: dict[str, int]  # the server's request counts before the dashboard started


def requests_seen(server: RunningServer) -> dict[str, int]:
    return httpx.get(f"{server.url}/_admin/stats", timeout=5).json()["requests"]


@pytest.fixture
def engine_off_app(browser_service: None, tmp_path: Path) -> Iterator[EngineOff]:
    """A Mimio API server as the only provider, and `streamlit run` with no engine in its process."""
    server = start_in_thread(tmp_path / "api", render_slots=2)
    try:
        data_dir = tmp_path / "data"
        env = app_environment(
            MIMIO_ENGINE="off",
            MIMIO_LOCAL="off",
            MIMIO_API_URL=server.url,
            MIMIO_LEASE_SECONDS=str(LEASE),
            MIMIO_POLL_INTERVAL="0.2",
            MIMIO_DATA_DIR=str(data_dir),
        )
        for key in ("FAL_KEY", "REPLICATE_API_TOKEN"):  # no other provider than the server
            env.pop(key, None)
        before = requests_seen(server)  # the server's own start-up probe of /health
        with run_dashboard(env, tmp_path / "streamlit.log", data_dir) as app:
            yield EngineOff(app, server, env, before)
    finally:
        server.stop()


def start_worker(setup: EngineOff, log: Path) -> subprocess.Popen[bytes]:
    """`python -m mimio_core worker` with exactly the dashboard's environment."""
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "mimio_core", "worker"],
            cwd=ROOT,
            env=setup.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def sidebar(page: Page) -> Locator:
    return page.get_by_test_id("stSidebarContent")


def workers_caption(page: Page, online: int) -> Locator:
    noun = "worker" if online == 1 else "workers"
    return (
        sidebar(page)
        .get_by_test_id("stCaptionContainer")
        .filter(has_text=f"{online} {noun} online (MIMIO_ENGINE=off)")
    )


def badge(card: Locator) -> Locator:
    """The card's status badge (its text is the icon's ligature name, then the status)."""
    return card.locator(".stMarkdownBadge").first


def status_is(status: str) -> re.Pattern[str]:
    return re.compile(rf"^\S*\s*{status}$")


def rerun_until(page: Page, shown: Locator, within: float) -> None:
    """Rerun the whole page in the same session (its cards stay) until `shown` is visible: the sidebar
    is outside the progress panel's fragment, and its worker count is cached."""
    deadline = time.monotonic() + within
    while not shown.is_visible():
        assert time.monotonic() < deadline, f"not shown within {within}s: {sidebar(page).inner_text()}"
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Single video").click()
        page.wait_for_timeout(500)  # the poll interval
    expect(shown).to_be_visible()


def sidebar_settled(page: Page, *, open_: bool) -> None:
    """Wait for the sidebar's slide to end: fully on screen, or fully off it."""
    expect(page.get_by_test_id("stSidebar")).to_have_attribute("data-collapsed", "false" if open_ else "true")
    edge, op = ("left", ">=") if open_ else ("right", "<=")
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=stSidebar]').getBoundingClientRect().{edge} {op} 0"
    )


def screenshots(page: Page, card: Locator, state: str, notice: Locator) -> list[Path]:
    """The Single video page with its card and the sidebar, on a desktop and on a phone: the viewport
    scrolled to the card, the whole page, and (phone) the sidebar opened on `notice`."""
    names = [f"{state}-{size}" for size in ("1280x900", "1280x900-full", "390x844", "390x844-full")]
    shots = [SHOTS / f"engine-off-{name}.png" for name in (*names, f"{state}-390x844-sidebar")]
    for width, height, (viewport, full) in ((1280, 900, shots[0:2]), (390, 844, shots[2:4])):
        page.set_viewport_size({"width": width, "height": height})
        sidebar_settled(page, open_=width > 640)  # a phone-wide page starts with the sidebar closed
        card.scroll_into_view_if_needed()
        # for the picture only: the progress bar's transition and the player's loading spinner fade out
        # (no state to wait for: the spinner is inside Chromium's own controls)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(viewport))
        full_page_screenshot(page, full)
    page.get_by_test_id("stExpandSidebarButton").click()
    sidebar_settled(page, open_=True)
    expect(notice).to_be_in_viewport()
    page.screenshot(path=str(shots[4]))
    page.set_viewport_size({"width": 1280, "height": 900})
    sidebar_settled(page, open_=True)  # left open: the desktop page as it was
    return shots


def test_a_separate_worker_makes_the_video_the_engine_off_dashboard_recorded(
    engine_off_app: EngineOff, page: Page, tmp_path: Path
) -> None:
    setup, server = engine_off_app, engine_off_app.server
    open_page(page, setup.app.url, "Single video")
    expect(workers_caption(page, 0)).to_be_visible()
    assert requests_seen(server) == setup.requests_before  # starting the page asked nothing, not /health

    # the dashboard records the video and leaves it queued: no engine, no provider call
    fill_form(page, "single", PROMPT)
    page.locator(".st-key-single-submit button").click()
    card = cards(page, "single")
    expect(card).to_have_count(1)
    expect(badge(card)).to_have_text(status_is("Queued"))
    warning = sidebar(page).get_by_test_id("stAlertContentWarning")
    expect(warning).to_have_text(re.compile(rf"^\S*\s*{re.escape(NO_WORKER)}$"), timeout=10_000)
    expect(sidebar(page).get_by_text(re.compile(r"workers? online"))).to_have_count(0)
    store = SQLiteStore(setup.app.data_dir / "mimio.sqlite3")
    try:
        (video,) = store.list_videos(LOCAL_USER_ID)
        # over several fragment ticks and engine polls, nothing picks it up and nothing reaches the server
        watch_until = time.monotonic() + 2.5
        while time.monotonic() < watch_until:
            assert store.get_video(video.id).status is VideoStatus.QUEUED
            assert requests_seen(server) == setup.requests_before
            page.wait_for_timeout(250)
        expect(badge(card)).to_have_text(status_is("Queued"))
        shots = screenshots(page, card, "queued", warning)
        assert requests_seen(server) == setup.requests_before

        # a worker with the same settings makes it; the card follows on its own
        process = start_worker(setup, tmp_path / "worker.log")
        try:
            wait_for(lambda: store.workers_online(LEASE) == 1, 30, "the worker's heartbeat")
            expect(badge(card)).to_have_text(status_is("Completed"), timeout=60_000)
            player = card.locator("video")
            expect(player).to_be_visible()
            # the browser loads and decodes it: its first frame is there, and it lasts 4 s
            page.wait_for_function("v => v.readyState >= 2", arg=player.element_handle())
            assert player.evaluate("v => Math.round(v.duration)") == 4
            expect(card.get_by_role("button", name="Download")).to_be_visible()
            done = store.get_video(video.id)
            assert done.status is VideoStatus.COMPLETED and done.storage_path
            assert player.evaluate("v => v.currentSrc") != ""
            requests = requests_seen(server)
            assert requests.get("create") == 1 and "create-batch" not in requests, requests

            # the completion reran the whole page; its worker count may be cached from the submit:
            # rerun the page (same session, so the card stays) once the cache has run out
            caption = workers_caption(page, 1)
            rerun_until(page, caption, within=CACHE + 5)
            expect(warning).to_have_count(0)
            expect(badge(card)).to_have_text(status_is("Completed"))
            shots += screenshots(page, card, "completed", caption)
        finally:
            kill(process)
        assert process.returncode == -9

        # no heartbeat for a whole lease, and the cache run out: a reload counts no worker
        killed = time.monotonic()
        wait_for(lambda: store.workers_online(LEASE) == 0, LEASE + 2, "the killed worker to go offline")
        deadline = killed + LEASE + CACHE + 10
        while True:
            open_page(page, setup.app.url, "Single video")
            if workers_caption(page, 0).count():
                break
            assert time.monotonic() < deadline, "the sidebar still counts the killed worker"
            expect(workers_caption(page, 1)).to_be_visible()  # only ever the cached count
            page.wait_for_timeout(1000)
        print(f"0 workers shown {time.monotonic() - killed:.1f}s after the kill")
        expect(sidebar(page).get_by_test_id("stAlertContentWarning")).to_have_count(0)  # nothing waits
        assert store.get_video(video.id).status is VideoStatus.COMPLETED
        assert requests_seen(server).get("create") == 1
    finally:
        store.close()
    print(f"screenshots: {', '.join(str(shot) for shot in shots)}")
