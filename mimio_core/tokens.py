"""Reading a JWT's claims without verifying it (the server that receives the token verifies it).

Used only to tell what kind of key or session a token is: a configured key that is the wrong kind, and
whether a client acts as a signed-in user. Never to grant anything.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, or {} when the token is not one (Supabase's newer `sb_...` API keys)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}
