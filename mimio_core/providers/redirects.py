"""Which redirects a provider download may follow: a provider (or whoever tampers with its answer)
must not point the engine at the server's own network (cloud metadata, a database, an admin page)."""

from __future__ import annotations

import ipaddress
import socket

import httpx

from mimio_core.providers.base import ProviderRefused

MAX_REDIRECTS = 5


def redirect_problem(
    origin: httpx.URL, target: httpx.URL, *, allow_private: bool, what: str = "a redirect"
) -> str | None:
    """Why `target` must not be fetched after a redirect from `origin` (or, `what`, a link the
    provider's answer gave), or None when it may be. The provider's own host is always fine; another
    host must be https (http too when `allow_private`) and, unless `allow_private`, resolve only to
    public addresses."""
    if target.scheme not in ("http", "https"):
        return f"{what} to a {target.scheme!r} URL"
    if target.host == origin.host or allow_private:
        return None
    try:
        infos = socket.getaddrinfo(target.host, target.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        return f"{what} to {target.host}, which does not resolve"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:  # private, loopback, link-local, reserved, shared (CGNAT)
            return (
                f"{what} to {target.host} ({address}), a private or local address "
                "(set MIMIO_PRIVATE_REDIRECTS=on for a local setup)"
            )
    if target.scheme != "https":  # checked last: a private address is the graver problem to name
        return f"{what} to {target.host} over plain http"
    return None


def refuse_redirect(
    origin: httpx.URL, target: httpx.URL, *, allow_private: bool, what: str = "a redirect"
) -> None:
    """`ProviderRefused` when the redirect (or link) must not be followed (see `redirect_problem`)."""
    if problem := redirect_problem(origin, target, allow_private=allow_private, what=what):
        raise ProviderRefused(f"The provider's download was refused: {problem}.")
