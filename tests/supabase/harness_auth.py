"""PostgRESTHarness, part 3: a FAKE Supabase Auth (GoTrue) answering the `/auth/v1` requests
supabase-auth sends for password, email-code and refresh sign-ins, sign-up and sign-out.

It is a test double, not GoTrue: accounts live in memory (and in `auth.users` of the test database,
so the migrations' foreign keys hold); the "emails" it would send are kept in `outbox` for tests to
read the 6-digit codes from; access tokens are the unsigned test JWTs of tokens.py, which the
harness's PostgREST and Storage parts then honour. Errors have GoTrue's shape (`code`, `msg`) and the
API-version header that makes supabase-auth read the code.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from tests.supabase.tokens import jwt_claims, mint_jwt

API_VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


def auth_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": message}, headers=API_VERSION)


@dataclass
class FakeUser:
    id: str
    email: str
    password: str | None
    confirmed: bool
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": self.email,
            "email_confirmed_at": self.created_at if self.confirmed else None,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "identities": [],
            "created_at": self.created_at,
        }


class AuthEndpoints:
    """The fake Auth. `autoconfirm` is the project setting "Confirm email" turned off; `token_seconds`
    the access token lifetime (short, to make a refresh due)."""

    def __init__(self, connect: Callable[[], psycopg.Connection], token_seconds: int = 3600) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self.users: dict[str, FakeUser] = {}  # by lowercased email
        self.outbox: dict[str, str] = {}  # email -> the last 6-digit code "sent" to it
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user id (rotated on use, like GoTrue)
        self.sign_outs: list[str] = []  # the scope of each sign-out request
        self.autoconfirm = True
        self.token_seconds = token_seconds

    # accounts, as an administrator (or a test) would make them
    def add_user(self, email: str, password: str | None = None, user_id: object = None) -> FakeUser:
        user = FakeUser(str(user_id or uuid.uuid4()), email, password, confirmed=True)
        with self._connect() as conn:
            conn.execute(
                "insert into auth.users (id, email) values (%s, %s) on conflict (id) do nothing",
                [user.id, email],
            )
        self.users[email.lower()] = user
        return user

    def code_for(self, email: str) -> str:
        return self.outbox[email.lower()]

    # the API
    def handle(self, request: httpx.Request, route: str) -> httpx.Response:
        body = json.loads(request.read() or b"{}")
        with self._lock:
            if route == "token" and request.method == "POST":
                grant = request.url.params.get("grant_type")
                if grant == "password":
                    return self._password(body)
                if grant == "refresh_token":
                    return self._refresh(body)
            if route == "signup" and request.method == "POST":
                return self._sign_up(body)
            if route == "otp" and request.method == "POST":
                return self._send_code(body)
            if route == "verify" and request.method == "POST":
                return self._verify(body)
            if route == "logout" and request.method == "POST":
                return self._logout(request)
            if route == "user" and request.method == "GET":
                return self._user(request)
            if route == "user" and request.method == "PUT":
                return self._update_user(request, body)
        return auth_error(404, "not_found", f"the fake Auth has no route {request.method} /{route}")

    def _session(self, user: FakeUser) -> httpx.Response:
        now = int(time.time())
        refresh = secrets.token_urlsafe(16)
        self.refresh_tokens[refresh] = user.id
        token = mint_jwt(
            "authenticated", sub=user.id, aud="authenticated", email=user.email, exp=now + self.token_seconds
        )
        session = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_seconds,
            "expires_at": now + self.token_seconds,
            "refresh_token": refresh,
            "user": user.as_json(),
        }
        return httpx.Response(200, json=session, headers=API_VERSION)

    def _password(self, body: dict[str, Any]) -> httpx.Response:
        user = self.users.get(str(body.get("email", "")).lower())
        if user is None or user.password is None or user.password != body.get("password"):
            return auth_error(400, "invalid_credentials", "Invalid login credentials")
        if not user.confirmed:
            return auth_error(400, "email_not_confirmed", "Email not confirmed")
        return self._session(user)

    def _refresh(self, body: dict[str, Any]) -> httpx.Response:
        user_id = self.refresh_tokens.pop(str(body.get("refresh_token")), None)
        user = next((u for u in self.users.values() if u.id == user_id), None)
        if user is None:
            return auth_error(
                400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
            )
        return self._session(user)

    def _sign_up(self, body: dict[str, Any]) -> httpx.Response:
        email = str(body.get("email", ""))
        if email.lower() in self.users:
            return auth_error(422, "user_already_exists", "User already registered")
        password = str(body.get("password", ""))
        if len(password) < 6:
            response = {"code": "weak_password", "msg": "Password should be at least 6 characters."}
            return httpx.Response(
                422, json={**response, "weak_password": {"reasons": ["length"]}}, headers=API_VERSION
            )
        user = self.add_user(email, password)
        if self.autoconfirm:
            return self._session(user)
        user.confirmed = False
        self.outbox[email.lower()] = f"{secrets.randbelow(10**6):06d}"
        return httpx.Response(200, json=user.as_json(), headers=API_VERSION)

    def _send_code(self, body: dict[str, Any]) -> httpx.Response:
        email = str(body.get("email", ""))
        if email.lower() not in self.users and not body.get("create_user", True):
            return auth_error(422, "otp_disabled", "Signups not allowed for otp")
        if email.lower() not in self.users:
            self.add_user(email)
        self.outbox[email.lower()] = f"{secrets.randbelow(10**6):06d}"
        return httpx.Response(200, json={}, headers=API_VERSION)

    def _verify(self, body: dict[str, Any]) -> httpx.Response:
        email = str(body.get("email", "")).lower()
        if body.get("type") != "email" or email not in self.outbox or self.outbox[email] != body.get("token"):
            return auth_error(403, "otp_expired", "Token has expired or is invalid")
        del self.outbox[email]  # a code works once
        user = self.users[email]
        user.confirmed = True
        return self._session(user)

    def _bearer_user(self, request: httpx.Request) -> FakeUser | None:
        claims = jwt_claims(request.headers.get("authorization", "").removeprefix("Bearer ").strip()) or {}
        if claims.get("role") != "authenticated" or claims.get("exp", 0) < time.time():
            return None
        return next((u for u in self.users.values() if u.id == claims.get("sub")), None)

    def _logout(self, request: httpx.Request) -> httpx.Response:
        user = self._bearer_user(request)
        if user is None:
            return auth_error(401, "bad_jwt", "invalid JWT")
        self.sign_outs.append(request.url.params.get("scope", "global"))
        return httpx.Response(204, headers=API_VERSION)

    def _update_user(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        user = self._bearer_user(request)
        if user is None:
            return auth_error(401, "bad_jwt", "invalid JWT")
        if body.get("password") == user.password:
            return auth_error(422, "same_password", "New password should be different from the old password.")
        user.password = str(body.get("password"))
        return httpx.Response(200, json=user.as_json(), headers=API_VERSION)

    def _user(self, request: httpx.Request) -> httpx.Response:
        user = self._bearer_user(request)
        if user is None:
            return auth_error(401, "bad_jwt", "invalid JWT")
        return httpx.Response(200, json=user.as_json(), headers=API_VERSION)
