"""Signing a person in to Supabase Auth, and what their signed-in session may read and write.

One `UserSession` per browser session, each over its own supabase-py client (a new `ClientOptions`
each time: two clients sharing one would share a sign-in). Its store and files carry the user's
token, so Row Level Security scopes everything their pages read. The engine never acts through it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from supabase import Client
from supabase_auth.errors import (
    AuthApiError,
    AuthError,
    AuthRetryableError,
    AuthSessionMissingError,
    AuthWeakPasswordError,
)
from supabase_auth.types import (
    Session,
    SignInWithEmailAndPasswordCredentials,
    SignInWithEmailAndPasswordlessCredentials,
    SignUpWithEmailAndPasswordCredentials,
    VerifyEmailOtpParams,
)

from mimio_core.errors import SignInFailure
from mimio_core.store.supabase import SupabaseStore
from mimio_core.store.supabase_files import SupabaseFileStorage

log = logging.getLogger(__name__)

MIN_PASSWORD = 6
REFRESH_MARGIN_SECONDS = 120  # refresh a token this close to expiry, so a page's calls never outlive it
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CODE = re.compile(r"^\d{6,10}$")  # 6 digits by default; a project may set up to 10
SESSION_OVER = {
    "refresh_token_not_found",
    "refresh_token_already_used",
    "session_not_found",
    "session_expired",
}

# Supabase Auth error codes a person can act on, in words they can act on
FRIENDLY = {
    "invalid_credentials": "Wrong email or password.",
    "email_not_confirmed": "Confirm your email address first: follow the link or code we sent you.",
    "user_already_exists": "An account with this email already exists: sign in instead.",
    "email_exists": "An account with this email already exists: sign in instead.",
    "otp_expired": "That code is wrong or has expired. Ask for a new one.",
    "over_email_send_rate_limit": "Too many emails sent to this address. Wait a minute, then try again.",
    "over_request_rate_limit": "Too many attempts. Wait a minute, then try again.",
    "signup_disabled": "New accounts are turned off for this project. Ask an administrator.",
    "otp_disabled": "No account uses this email address: create one under New account first.",
    "email_address_invalid": "That email address is not accepted.",
    "user_banned": "This account is blocked. Ask an administrator.",
    "same_password": "That is your current password: choose a different one.",
    "reauthentication_needed": "Sign in again (password or emailed code), then change the password.",
}


class SignInError(SignInFailure):
    """Signing in, up or out did not work; the message says why in words a person can act on."""


@dataclass(frozen=True)
class Account:
    """Who is signed in."""

    user_id: str
    email: str


def _explain(error: AuthError) -> SignInError:
    if isinstance(error, AuthWeakPasswordError):
        return SignInError(f"Choose a stronger password: {error.message}")
    if isinstance(error, AuthRetryableError):
        return SignInError("Could not reach the sign-in service. Check the connection and try again.")
    if error.code in FRIENDLY:
        return SignInError(FRIENDLY[error.code])
    status = f" [{error.status}]" if isinstance(error, AuthApiError) else ""
    return SignInError(f"Sign-in failed: {error.message}{status}")


@contextmanager
def _explained() -> Iterator[None]:
    """Auth's errors, raised as a SignInError a person can act on."""
    try:
        yield
    except AuthError as error:
        raise _explain(error) from error


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:  # Supabase's default minimum; a project may demand more
        raise SignInError(f"Choose a password of at least {MIN_PASSWORD} characters.")


def _email(email: str) -> str:
    email = email.strip()
    if not EMAIL.match(email):
        raise SignInError("Enter an email address, like name@example.com.")
    return email


class UserSession:
    """One browser session's sign-in, with the store and files that act as the signed-in user."""

    def __init__(self, client: Client, signed_url_seconds: int) -> None:
        self._client = client
        self._refreshing = threading.Lock()  # a page run and a panel's timer may both look at once
        self.store = SupabaseStore(client, before_request=self._keep_fresh)
        self.files = SupabaseFileStorage(
            client, signed_url_seconds=signed_url_seconds, before_request=self._keep_fresh
        )

    def account(self) -> Account | None:
        """The signed-in account, its token refreshed first when it is near expiry; None when nobody
        is signed in or Auth says the session is over (then the person signs in again). A refresh
        that fails for a while (Auth unreachable, rate-limited) keeps the session."""
        try:
            session = self._fresh_session()
        except AuthError as error:
            if not _session_is_over(error):
                raise _explain(error) from error
            log.info("the session ended: %s", error.message)
            self.sign_out()  # drop what is left of it here
            return None
        if session is None or session.user is None:
            return None
        return Account(session.user.id, session.user.email or "")

    def _fresh_session(self) -> Session | None:
        """The session, refreshed when within REFRESH_MARGIN_SECONDS of expiry. A refresh that fails
        for a while is ignored as long as the current token is still valid."""
        with self._refreshing:
            session = self._client.auth.get_session()  # itself refreshes only 10 s before expiry
            if session is None or not _expires_soon(session):
                return session
            try:
                return self._client.auth.refresh_session(session.refresh_token).session
            except AuthError as error:
                if _session_is_over(error) or (session.expires_at or 0) <= time.time():
                    raise
                log.warning("could not refresh the sign-in yet: %s", error.message)
                return session

    def _keep_fresh(self) -> None:
        """Before each request of the store and files: a refreshed token, or a clear error."""
        try:
            self._fresh_session()
        except AuthError as error:
            if _session_is_over(error):
                self.sign_out()
                raise SignInError("Your sign-in has ended: sign in again.") from error
            raise _explain(error) from error

    def sign_in_with_password(self, email: str, password: str) -> Account:
        if not password:
            raise SignInError("Enter your password.")
        credentials: SignInWithEmailAndPasswordCredentials = {"email": _email(email), "password": password}
        return self._signed_in(lambda: self._client.auth.sign_in_with_password(credentials))

    def sign_up(self, email: str, password: str) -> Account | None:
        """A new account; None when the project wants the email confirmed first (a code is sent)."""
        _check_new_password(password)
        credentials: SignUpWithEmailAndPasswordCredentials = {"email": _email(email), "password": password}
        with _explained():
            response = self._client.auth.sign_up(credentials)
        return self.account() if response.session else None

    def send_code(self, email: str) -> None:
        """Email a 6-digit sign-in code (to an existing account; it never creates one)."""
        request: SignInWithEmailAndPasswordlessCredentials = {
            "email": _email(email),
            "options": {"should_create_user": False},
        }
        with _explained():
            self._client.auth.sign_in_with_otp(request)

    def verify_code(self, email: str, code: str) -> Account:
        """Sign in with the emailed code, in this same session (a magic link opened elsewhere would
        fail: the PKCE verifier lives here)."""
        code = re.sub(r"\s", "", code)
        if not CODE.match(code):
            raise SignInError("Enter the 6-digit code from the email.")
        params: VerifyEmailOtpParams = {"email": _email(email), "token": code, "type": "email"}
        return self._signed_in(lambda: self._client.auth.verify_otp(params))

    def change_password(self, password: str) -> None:
        """Set a new password (after signing in with an emailed code, this is how a forgotten one is
        replaced)."""
        _check_new_password(password)
        self._keep_fresh()
        with _explained():
            self._client.auth.update_user({"password": password})

    def sign_out(self) -> None:
        """Sign out on this device only (`global`, the default, would sign out every device)."""
        try:
            self._client.auth.sign_out({"scope": "local"})
        except AuthError as error:  # the session here is gone all the same
            log.info("sign-out request failed: %s", error.message)

    def _signed_in(self, call: Callable[[], object]) -> Account:
        with _explained():
            call()
        account = self.account()
        if account is None:
            raise SignInError("Sign-in did not start a session. Try again.")
        return account


def _session_is_over(error: AuthError) -> bool:
    """Auth's definite "no" to a refresh (revoked, already used, signed out elsewhere), as opposed to a
    failure that may pass (unreachable, rate-limited, a server error): only then is a person signed out."""
    if isinstance(error, AuthSessionMissingError) or error.code in SESSION_OVER:
        return True
    return isinstance(error, AuthApiError) and error.status in (400, 401, 403)


def _expires_soon(session: Session) -> bool:
    return session.expires_at is not None and session.expires_at <= time.time() + REFRESH_MARGIN_SECONDS
