"""The configured Supabase project, as this process uses it.

Every client of the process (the engine's, and one per browser session) sends through ONE
`httpx.Client` with explicit timeouts: one connection pool, one place for timeouts. The engine's
client uses the service-role key, because it must finish a user's video after their tab has closed;
that client serves the engine alone, never a page. Pages act through a `UserSession`, whose client
carries the signed-in user's token, so Row Level Security applies to everything they read.
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from mimio_core.auth import UserSession
from mimio_core.config import ConfigError, SupabaseSettings
from mimio_core.store.supabase import SupabaseStore, supabase_client
from mimio_core.store.supabase_files import SupabaseFileStorage


class SupabaseProject:
    def __init__(self, settings: SupabaseSettings, http_timeout: float) -> None:
        self.settings = settings
        self.http = httpx.Client(
            timeout=httpx.Timeout(http_timeout, connect=min(10.0, http_timeout)),
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # shared by all users: keeps none
        )
        key = settings.service_role_key  # none in a web tier that runs no engine (MIMIO_ENGINE=off)
        self._engine_client = None if key is None else supabase_client(settings.url, key, self.http)

    @property
    def host(self) -> str:
        return httpx.URL(self.settings.url).host

    def engine_storage(self) -> tuple[SupabaseStore, SupabaseFileStorage]:
        """The engine's store and files: service role, every user's videos."""
        client = self._engine_client
        if client is None:
            raise ConfigError(
                "SUPABASE_SERVICE_ROLE_KEY is not set: an engine (the app's with MIMIO_ENGINE=embedded, or "
                "`python -m mimio_core worker`) needs it to finish every user's videos."
            )
        return SupabaseStore(client), SupabaseFileStorage(
            client, signed_url_seconds=self.settings.signed_url_seconds
        )

    def new_user_session(self) -> UserSession:
        """A signed-out session for one browser session, on a client of its own (anon key)."""
        client = supabase_client(self.settings.url, self.settings.anon_key, self.http)
        return UserSession(client, self.settings.signed_url_seconds)

    def close(self) -> None:
        self.http.close()
