"""The dashboard in a real browser: a double-clicked submit records one video, progress advances on
its own (the `run_every` timers AppTest cannot fire), the MP4 downloads and plays, variations finish,
and a fresh page finds everything in My Videos."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mimio_core.domain import LOCAL_USER_ID, VideoStatus
from mimio_core.store.sqlite import SQLiteStore
from tests.browser.conftest import RunningApp
from tests.media import assert_playable_mp4

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:  # the `browser_service` fixture skips, or fails in CI, with the reason
    Locator = Page = expect = None  # type: ignore[assignment,misc]

pytestmark = pytest.mark.service

PROMPT = "a red fox running through snow"
VARIATIONS_PROMPT = "ocean waves at dusk"
FINISH_SECONDS = 40  # jobs take the 3 s simulated latency plus rendering; two render slots


def recorded(app: RunningApp) -> SQLiteStore:
    return SQLiteStore(app.data_dir / "mimio.sqlite3")


def count_videos(app: RunningApp) -> int:
    store = recorded(app)
    try:
        return store.count_videos(LOCAL_USER_ID)
    finally:
        store.close()


def open_page(page: Page, url: str, title: str) -> None:
    """Go to a page and wait for its title; an app exception fails at once, with its message."""
    page.goto(url)
    heading = page.get_by_role("heading", name=title, exact=True)
    crashed = page.get_by_test_id("stException")
    expect(heading.or_(crashed).first).to_be_visible()
    if crashed.count():
        pytest.fail(f"the app raised on {url}:\n{crashed.first.inner_text()}")


def choose(page: Page, key: str, option: str) -> None:
    """Streamlit's selectbox is a combobox: open it, then pick the option from its listbox."""
    page.locator(f".st-key-{key} input[role=combobox]").click()
    page.get_by_role("listbox").get_by_role("option", name=option, exact=True).click()
    expect(page.locator(f".st-key-{key} input[role=combobox]")).to_have_value(option)


def fill_form(page: Page, page_key: str, prompt: str) -> None:
    page.locator(f".st-key-{page_key}-prompt textarea").fill(prompt)
    choose(page, f"{page_key}-seconds", "4 s")  # opening the select also blurs, committing the prompt


def cards(page: Page, page_key: str) -> Locator:
    return page.locator(f'[class*="st-key-card-{page_key}-"]')


CARD_STATE = """card => {
    const badge = card.querySelector('.stMarkdownBadge');
    const progress = card.querySelector('[data-testid=stProgress]');
    const status = badge ? badge.innerText.trim().split(/\\s+/).pop() : '?';
    return progress ? `${status} ${progress.innerText.trim().split(/\\s+/).pop()}` : status;
}"""


def follow_until_completed(page: Page, card: Locator, within: float = FINISH_SECONDS) -> list[str]:
    """Watch one card while its fragment refreshes it; return the states seen, such as
    ["Starting", "Generating 0%", "Generating 64%", "Saving", "Completed"]. Read in one step: a tick
    may replace the card."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = card.evaluate(CARD_STATE, timeout=5_000)
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "Completed":
            return seen
        if state == "Failed":
            pytest.fail(f"the video failed: {card.inner_text()}")
        page.wait_for_timeout(200)
    pytest.fail(f"the video did not complete within {within}s; states seen: {seen}")


def percentages(states: list[str]) -> list[int]:
    return [int(s.rsplit(" ", 1)[-1].rstrip("%")) for s in states if s.endswith("%")]


def test_create_download_variations_and_library(
    streamlit_app: RunningApp, page: Page, tmp_path: Path
) -> None:
    # (a) Single video: a real double click on "Create video" records exactly one video
    open_page(page, streamlit_app.url, "Single video")
    fill_form(page, "single", PROMPT)
    submit = page.locator(".st-key-single-submit button")
    submit.dblclick()
    expect(submit).to_be_disabled()
    card = cards(page, "single")
    expect(card).to_have_count(1)

    states = follow_until_completed(page, card)
    print(f"single video states: {states}")
    in_flight = [
        s for s in states if s.startswith(("Queued", "Starting", "Submitting", "Generating", "Saving"))
    ]
    assert in_flight, f"never saw the video queued or at work before it completed: {states}"
    assert percentages(states) == sorted(percentages(states)), f"progress went backwards: {states}"
    assert count_videos(streamlit_app) == 1, (
        "the double click recorded more than one video (two callbacks of one session ran at once)"
    )

    download_button = card.get_by_role("button", name="Download")
    expect(download_button).to_be_visible()
    with page.expect_download() as download_info:
        download_button.click()
    download = download_info.value
    assert download.suggested_filename.startswith("a-red-fox-running-through-snow-")
    assert download.suggested_filename.endswith(".mp4")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert_playable_mp4(saved, "720x1280", 4)

    # (b) Variations: three takes of one prompt, each ending with its Download button
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Variations").click()
    expect(page.get_by_role("heading", name="Variations", exact=True)).to_be_visible()
    fill_form(page, "variations", VARIATIONS_PROMPT)
    page.locator(".st-key-variations-submit button").click()
    expect(cards(page, "variations")).to_have_count(3)
    expect(page.locator('[class*="st-key-download-variations-"] button')).to_have_count(
        3, timeout=FINISH_SECONDS * 1000
    )
    assert count_videos(streamlit_app) == 4

    # (c) A fresh page (new session) at the My Videos URL lists all four by title
    open_page(page, f"{streamlit_app.url}/my_videos", "My Videos")
    navigation = page.get_by_test_id("stSidebarNav")
    expect(navigation.get_by_role("link", name="Single video")).to_be_visible()  # st.navigation's menu
    expect(page.get_by_text("4 videos · page 1 of 1")).to_be_visible()
    store = recorded(streamlit_app)
    try:
        videos = store.list_videos(LOCAL_USER_ID)
    finally:
        store.close()
    assert len(videos) == 4 and all(v.status is VideoStatus.COMPLETED for v in videos)
    library = cards(page, "library")
    expect(library).to_have_count(4)
    for video in videos:
        expect(library.get_by_text(video.title, exact=True)).to_be_visible()


def test_a_deep_link_to_a_fresh_server_opens_inside_the_app_frame(
    streamlit_app: RunningApp, page: Page
) -> None:
    """The first request of a new server is a shared link to Projects (after a restart or a sleep)."""
    open_page(page, f"{streamlit_app.url}/projects", "Projects")
    expect(page.locator(".st-key-active-project")).to_be_visible()  # the sidebar of streamlit_app.py
    expect(page.get_by_role("link", name="My Videos")).to_be_visible()
