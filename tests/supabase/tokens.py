"""Unsigned test JWTs for PostgRESTHarness: it reads their claims without verifying them, as nothing
here is a real Supabase project. Never a credential."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from mimio_core.tokens import unverified_claims


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def mint_jwt(role: str, sub: str | None = None, **claims: Any) -> str:
    """An UNSIGNED test token carrying `role` (and `sub` for a user)."""
    payload = {"role": role, "exp": int(time.time()) + 3600, **({"sub": sub} if sub else {}), **claims}
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(payload)}.unsigned"


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, unverified; None when it is not one (the app's own reader)."""
    return unverified_claims(token) or None
