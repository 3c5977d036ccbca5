"""The dashboard on the Supabase backend in a real browser: a deep link while signed out shows the
sign-in page; an emailed 6-digit code signs in and opens the page the link asked for; a video made
there plays in the browser from a signed Storage URL; signing out shows the sign-in page again.

Supabase is the test harness of tests/supabase (fake Auth, PostgREST and Storage on the throwaway
PostgreSQL of tests/postgres), served over loopback HTTP to the dashboard's own process and to
Chromium, which loads the video from the harness like it would from Supabase Storage.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import RunningApp, app_environment, run_dashboard
from tests.browser.test_end_to_end import Locator, Page, cards, choose, expect, follow_until_completed
from tests.media import assert_playable_mp4
from tests.postgres.conftest import db, pg_cluster, pg_database  # noqa: F401
from tests.supabase.conftest import ANON_KEY, SERVICE_KEY, harness, served  # noqa: F401
from tests.supabase.served import ServedHarness

pytestmark = pytest.mark.service

EMAIL = "carol@example.com"
PROMPT = "a paper boat on a pond"
SIGN_IN_CAPTION = "Sign in to make, follow and find your videos."
LOCAL_MODEL = "Local preview · Embedded renderer"  # what the Model select shows for mimio-local
FINISH_SECONDS = 60  # the embedded server renders a 4 s video in a few seconds; PostgreSQL adds little


@pytest.fixture
def supabase_app(
    browser_service: None,
    served: ServedHarness,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[RunningApp]:
    """The dashboard in its own process with SUPABASE_URL at the served harness (and no Supabase or
    provider settings of the developer's environment); its log is printed when the test fails."""
    data_dir = tmp_path / "data"
    env = {
        key: value
        for key, value in app_environment(
            MIMIO_DATA_DIR=str(data_dir), MIMIO_POLL_INTERVAL="0.2", MIMIO_LOCAL_RENDER_SLOTS="2"
        ).items()
        if not key.startswith("SUPABASE_")
    }
    env.update(SUPABASE_URL=served.url, SUPABASE_ANON_KEY=ANON_KEY, SUPABASE_SERVICE_ROLE_KEY=SERVICE_KEY)
    log = tmp_path / "streamlit.log"
    with run_dashboard(env, log, data_dir) as app:
        yield app
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        print(f"--- the dashboard's log ---\n{log.read_text(errors='replace')[-20_000:]}")


def no_exception(page: Page) -> None:
    crashed = page.get_by_test_id("stException")
    if crashed.count():
        pytest.fail(f"the app raised:\n{crashed.first.inner_text()}")


def expect_sign_in_page(page: Page) -> None:
    """The sign-in page, and nothing of the app behind it: no page title, no navigation."""
    caption = page.get_by_text(SIGN_IN_CAPTION, exact=True)
    expect(caption.or_(page.get_by_test_id("stException")).first).to_be_visible()
    no_exception(page)
    expect(page.get_by_role("tab", name="Email code")).to_be_visible()
    for title in ("My Videos", "Single video"):
        expect(page.get_by_role("heading", name=title, exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)


def form_with(page: Page, key: str) -> Locator:
    """The st.form holding the widget of that key (two forms of the page both have "Sign in")."""
    return page.get_by_test_id("stForm").filter(has=page.locator(f".st-key-{key}"))


def sign_in_with_emailed_code(page: Page, harness, email: str) -> None:  # noqa: F811
    page.get_by_role("tab", name="Email code").click()
    page.locator(".st-key-sign-in-code-address input").fill(email)
    form_with(page, "sign-in-code-address").get_by_role("button", name="Email me a code").click()
    expect(page.get_by_text(f"We sent a 6-digit code to {email}. It works in this tab only.")).to_be_visible()
    code = harness.auth.code_for(email)
    assert re.fullmatch(r"\d{6}", code), code
    code_input = page.locator(".st-key-sign-in-code input")
    if not code_input.is_visible():  # the rerun went back to the first tab
        page.get_by_role("tab", name="Email code").click()
    code_input.fill(code)
    form_with(page, "sign-in-code").get_by_role("button", name="Sign in").click()


PLAYER_STATE = """video => new Promise(resolve => {
    const report = () => resolve({
        readyState: video.readyState, duration: video.duration, error: video.error && video.error.code,
        width: video.videoWidth, height: video.videoHeight,
    });
    if (video.readyState >= 1 || video.error) return report();
    video.addEventListener('loadedmetadata', report, {once: true});
    video.addEventListener('error', report, {once: true});
    video.preload = 'metadata';
    video.load();
    setTimeout(report, 10000);
})"""


def test_sign_in_by_code_from_a_deep_link_make_a_video_that_plays_and_sign_out(
    supabase_app: RunningApp,
    served: ServedHarness,  # noqa: F811
    harness,  # noqa: F811
    db,  # noqa: F811
    page: Page,
    tmp_path: Path,
) -> None:
    carol = harness.auth.add_user(EMAIL)
    started = time.monotonic()

    # (a) a deep link to My Videos while signed out: the sign-in page, with the link's URL kept
    page.goto(f"{supabase_app.url}/my_videos")
    expect_sign_in_page(page)
    assert page.url.endswith("/my_videos")

    # (b) sign in with the emailed code: the page the link asked for opens, the sidebar names carol
    sign_in_with_emailed_code(page, harness, EMAIL)
    heading = page.get_by_role("heading", name="My Videos", exact=True)
    expect(heading.or_(page.get_by_test_id("stException")).first).to_be_visible()
    no_exception(page)
    assert page.url.endswith("/my_videos")
    expect(page.get_by_text("No videos yet.")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(EMAIL)).to_be_visible()
    expect(sidebar.get_by_role("button", name="Sign out")).to_be_visible()
    print(f"signed in after {time.monotonic() - started:.1f}s")

    # (c) Single video: mimio-local, 4 s; the progress card follows it to Completed
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Single video").click()
    expect(page.get_by_role("heading", name="Single video", exact=True)).to_be_visible()
    page.locator(".st-key-single-prompt textarea").fill(PROMPT)
    choose(page, "single-model", LOCAL_MODEL)  # opening the select also blurs, committing the prompt
    choose(page, "single-seconds", "4 s")
    submit = page.locator(".st-key-single-submit button")
    submit.click()
    card = cards(page, "single")
    expect(card).to_have_count(1)
    states = follow_until_completed(page, card, within=FINISH_SECONDS)
    no_exception(page)
    print(f"states: {states}; completed after {time.monotonic() - started:.1f}s")

    [(video_id, user_id, status, storage_path, size, seconds)] = db.execute(
        "select id::text, user_id::text, status, storage_path, size, duration_seconds from public.videos"
    ).fetchall()
    assert (user_id, status, seconds) == (carol.id, "completed", 4)
    assert storage_path == f"{carol.id}/{video_id}.mp4"

    # (d) the player's source is a signed URL of the harness's Storage, and the browser plays it
    player = card.locator("video")
    expect(player).to_have_count(1)
    source = player.get_attribute("src") or ""
    signed = re.escape(f"{served.url}/storage/v1/object/sign/videos/{carol.id}/{video_id}.mp4") + r"\?token=."
    assert re.match(signed, source), f"the player's source is not a signed Storage URL: {source!r}"
    loaded = player.evaluate(PLAYER_STATE)
    width, height = (int(n) for n in size.split("x"))
    assert loaded["error"] is None and loaded["readyState"] >= 1, f"the browser did not load it: {loaded}"
    assert (loaded["width"], loaded["height"]) == (width, height), loaded
    assert abs(loaded["duration"] - 4) <= 0.1, loaded

    fetched = httpx.get(source, timeout=10)
    assert fetched.status_code == 200, fetched.text[:500]
    assert fetched.content[4:8] == b"ftyp", fetched.content[:16]
    saved = tmp_path / "fetched.mp4"
    saved.write_bytes(fetched.content)
    assert_playable_mp4(saved, size, 4)

    # (e) sign out: the sign-in page again, and one sign-out of this device only
    sidebar.get_by_role("button", name="Sign out").click()
    expect_sign_in_page(page)
    assert harness.auth.sign_outs == ["local"]
    print(f"signed out after {time.monotonic() - started:.1f}s")

    # the dashboard's own log kept the keys and the signed URLs' tokens out
    log = supabase_app.log.read_text(errors="replace")
    assert f"video {video_id} completed" in log  # the engine's log lines are there
    for secret in (SERVICE_KEY, ANON_KEY, "token=", "Bearer "):
        assert secret not in log
