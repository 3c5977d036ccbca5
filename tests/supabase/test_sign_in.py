"""Signing in through `UserSession` against the harness's fake Supabase Auth, and what a signed-in
session then reads and writes (through the harness's PostgREST and Storage, under Row Level Security)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from mimio_core.auth import Account, SignInError, UserSession
from mimio_core.domain import UserRequest, VideoRequest, VideoStatus
from mimio_core.engine import Engine
from mimio_core.providers.mimio import MimioProvider
from mimio_core.store.base import RequestRefused
from mimio_core.store.supabase import SupabaseError, supabase_client
from mimio_core.submission import record_submission
from mimio_core.validation import validate_request
from tests.conftest import FAST_RETRIES
from tests.integration.test_restart import wait_for
from tests.supabase.conftest import ANON_KEY, URL
from tests.supabase.harness_auth import auth_error
from tests.supabase.tokens import jwt_claims

PASSWORD = "correct horse battery"


@pytest.fixture
def new_session(http: httpx.Client) -> Callable[[], UserSession]:
    """A fresh browser session's sign-in (its own client, on the one shared httpx.Client)."""
    return lambda: UserSession(supabase_client(URL, ANON_KEY, http, retry=False), signed_url_seconds=900)


def bearer_sub(harness, prefix: str) -> list[str | None]:
    """The user each request under `prefix` acted as (the `sub` of its bearer token)."""
    subs = []
    for seen in harness.seen:
        if seen.path.startswith(prefix):
            claims = jwt_claims(seen.headers.get("authorization", "").removeprefix("Bearer ")) or {}
            subs.append(claims.get("sub"))
    return subs


def test_password_sign_in_then_everything_acts_as_that_user(harness, new_session):
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    session = new_session()
    assert session.account() is None
    with pytest.raises(SignInError, match=r"^Wrong email or password\.$"):
        session.sign_in_with_password("alice@example.com", "guess")
    assert session.account() is None

    account = session.sign_in_with_password(" alice@example.com ", PASSWORD)
    assert account == Account(alice.id, "alice@example.com") == session.account()
    harness.seen.clear()
    session.store.create_project(alice.id, "Spring ads")  # no owner sent: RLS fills in auth.uid()
    session.files.put_bytes(f"{alice.id}/notes.txt", b"hi", "text/plain")
    assert [p.name for p in session.store.list_projects(alice.id)] == ["Spring ads"]
    assert set(bearer_sub(harness, "/rest/v1/")) == {alice.id}
    assert set(bearer_sub(harness, "/storage/v1/")) == {alice.id}


def test_bad_input_is_refused_before_any_request(harness, new_session):
    session = new_session()
    harness.seen.clear()
    with pytest.raises(SignInError, match=r"^Enter an email address, like name@example\.com\.$"):
        session.sign_in_with_password("alice", PASSWORD)
    with pytest.raises(SignInError, match=r"^Enter your password\.$"):
        session.sign_in_with_password("alice@example.com", "")
    with pytest.raises(SignInError, match=r"^Enter the 6-digit code from the email\.$"):
        session.verify_code("alice@example.com", "12a456")
    with pytest.raises(SignInError, match=r"^Choose a password of at least 6 characters\.$"):
        session.sign_up("new@example.com", "12345")
    assert harness.seen == []


def test_sign_up_signs_in_at_once_when_the_project_needs_no_confirmation(harness, new_session):
    session = new_session()
    account = session.sign_up("new@example.com", PASSWORD)
    assert account is not None and account.email == "new@example.com"
    assert harness.auth.users["new@example.com"].id == account.user_id
    with pytest.raises(SignInError, match=r"^An account with this email already exists: sign in instead\.$"):
        new_session().sign_up("new@example.com", PASSWORD)


def test_sign_up_with_confirmation_then_the_emailed_code_signs_in(harness, new_session):
    harness.auth.autoconfirm = False
    session = new_session()
    assert session.sign_up("new@example.com", PASSWORD) is None
    assert session.account() is None
    with pytest.raises(SignInError, match=r"^Confirm your email address first"):
        session.sign_in_with_password("new@example.com", PASSWORD)
    account = session.verify_code("new@example.com", harness.auth.code_for("new@example.com"))
    assert account.email == "new@example.com" and session.account() == account


def test_email_code_sign_in_works_once_and_only_with_the_right_code(harness, new_session):
    bob = harness.auth.add_user("bob@example.com")  # no password: code only
    session = new_session()
    with pytest.raises(SignInError, match=r"^No account uses this email address"):
        session.send_code("nobody@example.com")
    assert "nobody@example.com" not in harness.auth.users  # no account was created on the side
    session.send_code("bob@example.com")
    code = harness.auth.code_for("bob@example.com")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(SignInError, match=r"^That code is wrong or has expired\. Ask for a new one\.$"):
        session.verify_code("bob@example.com", wrong)
    assert session.verify_code("bob@example.com", f" {code[:3]} {code[3:]} ").user_id == bob.id
    with pytest.raises(SignInError, match=r"^That code is wrong or has expired"):
        new_session().verify_code("bob@example.com", code)  # used up


def test_a_new_password_replaces_the_old_one(harness, new_session):
    harness.auth.add_user("alice@example.com", PASSWORD)
    session = new_session()
    session.sign_in_with_password("alice@example.com", PASSWORD)
    with pytest.raises(SignInError, match=r"^Choose a password of at least 6 characters\.$"):
        session.change_password("abc")
    with pytest.raises(SignInError, match=r"^That is your current password: choose a different one\.$"):
        session.change_password(PASSWORD)
    session.change_password("a brand new one")
    session.sign_out()
    with pytest.raises(SignInError, match=r"^Wrong email or password\.$"):
        new_session().sign_in_with_password("alice@example.com", PASSWORD)
    assert (
        new_session().sign_in_with_password("alice@example.com", "a brand new one").email
        == "alice@example.com"
    )


def test_sign_out_is_local_and_the_session_is_anonymous_again(harness, new_session):
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    session = new_session()
    session.sign_in_with_password("alice@example.com", PASSWORD)
    session.store.create_project(alice.id, "Mine")
    session.sign_out()
    assert harness.auth.sign_outs == ["local"]  # this device only, never every device
    assert session.account() is None
    harness.seen.clear()
    with pytest.raises(SupabaseError, match=r"permission denied for table projects \[42501\]$"):
        session.store.list_projects(alice.id)  # back on the anon key, which gets nothing
    assert bearer_sub(harness, "/rest/v1/") == [None]


def test_two_browser_sessions_never_share_a_sign_in(harness, new_session):
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    bob = harness.auth.add_user("bob@example.com", PASSWORD)
    first, second = new_session(), new_session()
    first.sign_in_with_password("alice@example.com", PASSWORD)
    assert second.account() is None
    second.sign_in_with_password("bob@example.com", PASSWORD)
    first.store.create_project(alice.id, "Alice's")
    second.store.create_project(bob.id, "Bob's")
    assert [p.name for p in first.store.list_projects(alice.id)] == ["Alice's"]
    assert second.store.list_projects(alice.id) == []
    first.sign_out()
    assert second.account() == Account(bob.id, "bob@example.com")


def test_a_token_near_expiry_is_refreshed_and_a_dead_session_signs_out(harness, new_session):
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    harness.auth.token_seconds = 60  # inside the refresh margin: every look at the session refreshes
    session = new_session()
    session.sign_in_with_password("alice@example.com", PASSWORD)
    first_refresh = set(harness.auth.refresh_tokens)
    assert session.account() == Account(alice.id, "alice@example.com")
    assert set(harness.auth.refresh_tokens).isdisjoint(first_refresh)  # rotated: a refresh happened
    harness.seen.clear()
    session.store.list_projects(alice.id)
    sent = jwt_claims(harness.seen[-1].headers["authorization"].removeprefix("Bearer "))
    assert sent is not None and sent["sub"] == alice.id

    harness.auth.refresh_tokens.clear()  # revoked elsewhere (a password change, say)
    assert session.account() is None


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Moves `time.time` for everyone (the harness, supabase-auth, UserSession): add seconds to [0]."""
    real, skew = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + skew[0])
    return skew


def test_a_store_call_refreshes_a_token_near_expiry_before_it_is_sent(harness, new_session, clock):
    """A button's callback or a panel's timer uses the store without the page's own sign-in check:
    the store refreshes first, or the request would go out with an expired token."""
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    harness.auth.token_seconds = 125  # just outside the refresh margin
    session = new_session()
    session.sign_in_with_password("alice@example.com", PASSWORD)
    clock[0] += 130  # the tab sat idle: the token has expired
    project = session.store.create_project(alice.id, "After lunch")
    assert project.name == "After lunch"
    session.files.put_bytes(f"{alice.id}/notes.txt", b"hi", "text/plain")
    assert set(bearer_sub(harness, "/rest/v1/")) == set(bearer_sub(harness, "/storage/v1/")) == {alice.id}


def test_a_revoked_session_ends_at_the_next_store_call_with_a_clear_message(harness, new_session):
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    harness.auth.token_seconds = 60  # inside the margin: every use refreshes
    session = new_session()
    session.sign_in_with_password("alice@example.com", PASSWORD)
    harness.auth.refresh_tokens.clear()  # revoked elsewhere
    with pytest.raises(SignInError, match=r"^Your sign-in has ended: sign in again\.$"):
        session.store.list_projects(alice.id)
    assert session.account() is None


@pytest.mark.parametrize(
    ("trouble", "message"),
    [
        ("rate limited", r"^Too many attempts\. Wait a minute, then try again\.$"),
        ("unreachable", r"^Could not reach the sign-in service\. Check the connection and try again\.$"),
    ],
)
def test_a_refresh_that_fails_for_a_while_keeps_the_session(harness, clock, trouble, message):
    """Every user of a server refreshes from one IP, so a rate limit or an outage must not sign
    anyone out: the still-valid token is used; once it has expired, the failure is named; when Auth
    answers again, the same session goes on."""
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    harness.auth.token_seconds = 60  # inside the margin: every look refreshes
    down = [False]

    def route(request: httpx.Request) -> httpx.Response:
        if down[0] and request.url.path == "/auth/v1/token":
            if trouble == "unreachable":
                raise httpx.ConnectError("connection refused", request=request)
            return auth_error(429, "over_request_rate_limit", "Request rate limit reached")
        return harness.handle(request)

    with httpx.Client(transport=httpx.MockTransport(route)) as flaky:
        session = UserSession(supabase_client(URL, ANON_KEY, flaky, retry=False), signed_url_seconds=900)
        session.sign_in_with_password("alice@example.com", PASSWORD)
        down[0] = True
        assert session.account() == Account(alice.id, "alice@example.com")
        assert session.store.list_projects(alice.id) == []  # the current token still works
        clock[0] += 61
        with pytest.raises(SignInError, match=message):
            session.account()
        with pytest.raises(SignInError, match=message):
            session.store.list_projects(alice.id)
        down[0] = False
        assert session.account() == Account(alice.id, "alice@example.com")
        assert session.store.list_projects(alice.id) == []


def test_a_signed_in_users_submission_is_finished_by_the_engine_and_only_they_can_act_on_it(
    harness, new_session, service_store, service_files, settings, server
):
    """The page's path: record through the user's own store (RLS checks it), the engine (service
    role) makes the video; another user can neither see nor retry, cancel or delete it."""
    alice = harness.auth.add_user("alice@example.com", PASSWORD)
    bob = harness.auth.add_user("bob@example.com", PASSWORD)
    mine, theirs = new_session(), new_session()
    mine.sign_in_with_password("alice@example.com", PASSWORD)
    theirs.sign_in_with_password("bob@example.com", PASSWORD)
    request = validate_request(
        VideoRequest(prompt="a lighthouse at night", seconds=4), max_reference_bytes=1 << 20
    )
    [video] = record_submission(mine.store, mine.files, [request], alice.id)
    provider = MimioProvider(server.url, policy=FAST_RETRIES)
    engine = Engine(service_store, service_files, provider, settings, transfer_policy=FAST_RETRIES).start()
    try:
        [done] = engine.wait([video.id], timeout=60)
        assert done.status is VideoStatus.COMPLETED, done.error
        assert theirs.store.get_videos([video.id]) == []
        for request in UserRequest:  # through his own store (RLS hides it) or the engine's (not his)
            for store in (theirs.store, service_store):
                with pytest.raises(RequestRefused, match=r"^That video does not exist"):
                    store.ask(bob.id, video.id, request)
        engine.tick()
        [kept] = mine.store.get_videos([video.id])
        assert kept.status is VideoStatus.COMPLETED and mine.files.exists(kept.storage_path)
        source = mine.files.media_source(kept.storage_path)
        assert harness.storage.signed[-1].expires_in == 900 and "token=" in source
        mine.store.ask(alice.id, video.id, UserRequest.DELETE)  # as herself, under RLS
        wait_for(lambda: not service_store.get_videos([video.id]), 30, "the engine to delete it")
        assert mine.store.get_videos([video.id]) == [] and not mine.files.exists(kept.storage_path)
    finally:
        engine.stop()
        provider.close()
