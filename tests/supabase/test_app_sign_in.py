"""The whole dashboard on the Supabase backend, under AppTest: SUPABASE_URL points at the test harness
(fake Auth, PostgREST and Storage on the real PostgreSQL) served over loopback HTTP, so the app's
own configuration, runtime, sign-in page and pages run unchanged."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from mimio_core.domain import VideoStatus
from mimio_core.ui.runtime import close_runtime, get_runtime
from tests.shown import shown
from tests.supabase.conftest import ANON_KEY, SERVICE_KEY
from tests.supabase.served import ServedHarness

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
SIGN_IN_CAPTION = "Sign in to make, follow and find your videos."


def said(at: AppTest) -> str:
    parts = [shown(e.value) for e in (*at.markdown, *at.caption, *at.error, *at.info, *at.success, *at.title)]
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts))


def press(at: AppTest, label: str) -> AppTest:
    [button] = [b for b in at.button if b.label == label]
    return button.click().run()


@pytest.fixture
def supabase_env(served: ServedHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)
    for key in ("MIMIO_API_URL", "MIMIO_OPENAI_BASE_URL", "MIMIO_PROVIDER"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MIMIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MIMIO_POLL_INTERVAL", "0.2")
    monkeypatch.setenv("MIMIO_LOCAL_RENDER_SLOTS", "2")
    monkeypatch.setenv("SUPABASE_URL", served.url)
    monkeypatch.setenv("SUPABASE_ANON_KEY", ANON_KEY)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    close_runtime()  # a runtime of an earlier test would still point at its own harness
    yield
    close_runtime()


def new_browser_session() -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def sign_in(at: AppTest, email: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="sign-in-email").input(email)
    at.text_input(key="sign-in-password-value").input(password)
    return press(at, "Sign in")


def test_every_page_asks_to_sign_in_first_and_a_deep_link_opens_after(supabase_env, harness):
    harness.auth.add_user("alice@example.com", PASSWORD)
    at = new_browser_session()
    assert SIGN_IN_CAPTION in said(at) and "Single video" not in said(at)
    for page in ("app_pages/my_videos.py", "app_pages/projects.py", "app_pages/batch.py"):
        at.switch_page(page).run()
        assert SIGN_IN_CAPTION in said(at)
        assert not any(title.value in ("My Videos", "Projects", "Batch") for title in at.title)
    sign_in(at, "alice@example.com", "wrong")
    assert [shown(e.value) for e in at.error] == ["Wrong email or password."]
    sign_in(at, "alice@example.com")
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Batch"]  # the page asked for, not the default
    assert ":material/person: alice@example.com" in said(at)
    assert "Supabase (127.0.0.1)" in said(at)


def test_a_signed_in_user_makes_a_video_only_they_can_see(supabase_env, harness, caplog):
    caplog.set_level(logging.DEBUG)
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    harness.auth.add_user("bob@example.com", PASSWORD)
    at = sign_in(new_browser_session(), "alice@example.com")
    at.text_area(key="single-prompt").input("a paper boat on a pond").run()
    at.selectbox(key="single-model").set_value("mimio-local").run()
    at.selectbox(key="single-seconds").set_value(4).run()
    at.button(key="single-submit").click().run()
    assert not at.exception, at.exception
    [video_id] = at.session_state["single-run"]
    runtime = get_runtime()
    [done] = runtime.engine.wait([video_id], timeout=60)
    assert done.status is VideoStatus.COMPLETED, done.error
    assert done.user_id == alice.id and done.storage_path == f"{alice.id}/{video_id}.mp4"
    at.switch_page("app_pages/my_videos.py").run()
    assert "1 video · page 1 of 1" in said(at)
    [player] = at.get("video")
    assert "/storage/v1/object/sign/videos/" in player.proto.url  # a signed URL, never a public one

    other = sign_in(new_browser_session(), "bob@example.com")  # another browser session
    other.switch_page("app_pages/my_videos.py").run()
    assert "No videos yet." in said(other)
    # the keys, and request lines (a signed URL's token plays a video for an hour), stay out of logs
    assert f"completed: {done.storage_path}" in caplog.text  # the logs were captured
    for secret in (SERVICE_KEY, "HTTP Request:", "token=", "Bearer "):
        assert secret not in caplog.text


def test_sign_in_with_an_emailed_code_then_sign_out(supabase_env, harness):
    harness.auth.add_user("carol@example.com")
    at = new_browser_session()
    at.text_input(key="sign-in-code-address").input("carol@example.com")
    press(at, "Email me a code")
    assert "We sent a 6-digit code to **carol@example.com**. It works in this tab only." in said(at)
    code = harness.auth.code_for("carol@example.com")
    at.text_input(key="sign-in-code").input(f"{(int(code) + 1) % 10**6:06d}")  # a wrong code first
    [verify] = [b for b in at.button if b.label == "Sign in" and "verify" in str(b.form_id)]
    verify.click().run()
    assert "That code is wrong or has expired. Ask for a new one." in [shown(e.value) for e in at.error]
    at.text_input(key="sign-in-code").input(code)
    [verify] = [b for b in at.button if b.label == "Sign in" and "verify" in str(b.form_id)]
    verify.click().run()
    assert ":material/person: carol@example.com" in said(at)
    at.button(key="sign-out").click().run()
    assert SIGN_IN_CAPTION in said(at)
    assert harness.auth.sign_outs == ["local"]
    assert "sign-in-code-email" not in at.session_state


def test_without_the_service_role_key_the_app_says_why_it_cannot_start(
    supabase_env, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY")
    close_runtime()
    at = new_browser_session()
    [error] = at.error
    assert shown(error.value).startswith(
        "Mimio cannot start: SUPABASE_URL is set but SUPABASE_SERVICE_ROLE_KEY is not. The engine needs it"
    )
    assert ANON_KEY not in said(at) and SIGN_IN_CAPTION not in said(at)


def test_a_new_account_awaiting_confirmation_is_asked_for_its_code(supabase_env, harness):
    harness.auth.autoconfirm = False
    at = new_browser_session()
    at.text_input(key="sign-up-email").input("dana@example.com")
    at.text_input(key="sign-up-password").input(PASSWORD)
    at.text_input(key="sign-up-password-again").input(PASSWORD)
    press(at, "Create account")
    assert [s.value for s in at.success] == [
        "Account created. We emailed you to confirm the address: enter the code from that email here, "
        "or follow its link and then sign in with your password."
    ]
    at.text_input(key="sign-in-code").input(harness.auth.code_for("dana@example.com"))
    [verify] = [b for b in at.button if b.label == "Sign in" and "verify" in str(b.form_id)]
    verify.click().run()
    assert ":material/person: dana@example.com" in said(at)


def test_a_button_pressed_after_the_token_expired_still_works(supabase_env, harness, monkeypatch):
    """A callback runs before the page's own sign-in check: the store refreshes the token itself."""
    harness.auth.add_user("alice@example.com", PASSWORD)
    harness.auth.token_seconds = 125  # just outside the refresh margin
    at = sign_in(new_browser_session(), "alice@example.com")
    at.switch_page("app_pages/projects.py").run()
    at.text_input(key="new-project-name").input("Spring")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 130)  # the tab sat idle: the token expired
    press(at, "Create project")
    assert not at.exception, at.exception
    assert "**Spring** · 0 videos" in said(at)


def test_an_unreachable_supabase_at_start_is_explained_and_tried_again_on_reload(
    supabase_env, served: ServedHarness, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    close_runtime()
    at = new_browser_session()
    [error] = at.error
    assert shown(error.value).startswith(
        "Mimio cannot reach its storage: Could not list lease owners: Supabase did not answer"
    )
    assert shown(error.value).endswith("Reload the page to try again.")
    monkeypatch.setenv("SUPABASE_URL", served.url)
    at.run()  # a reload: the runtime was not cached, so it starts now
    assert SIGN_IN_CAPTION in said(at) and not at.error


def test_an_unexpected_answer_from_auth_is_explained_not_shown_as_a_traceback(supabase_env, harness):
    harness.auth.add_user("alice@example.com", PASSWORD)
    harness.auth._password = lambda body: httpx.Response(200, text="<html>proxy login</html>")
    at = sign_in(new_browser_session(), "alice@example.com")
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "Could not sign in: the sign-in service gave an unexpected answer."
    ]
    assert SIGN_IN_CAPTION in said(at)


def test_a_forgotten_password_is_replaced_after_signing_in_with_a_code(supabase_env, harness):
    harness.auth.add_user("erin@example.com", "forgotten-one")
    at = new_browser_session()
    at.text_input(key="sign-in-code-address").input("erin@example.com")
    press(at, "Email me a code")
    at.text_input(key="sign-in-code").input(harness.auth.code_for("erin@example.com"))
    [verify] = [b for b in at.button if b.label == "Sign in" and "verify" in str(b.form_id)]
    verify.click().run()
    at.text_input(key="new-password").input("fresh-password")
    at.text_input(key="new-password-again").input("fresh-passw0rd")
    press(at, "Change password")
    assert [shown(e.value) for e in at.error] == ["The two passwords differ."]
    at.text_input(key="new-password-again").input("fresh-password")
    press(at, "Change password")
    assert [s.value for s in at.success] == ["Password changed."]
    at.button(key="sign-out").click().run()
    assert ":material/person: erin@example.com" in said(sign_in(at, "erin@example.com", "fresh-password"))
