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
from mimio_core.config import SupabaseSettings
from mimio_core.store.supabase import SupabaseStore, supabase_client
from mimio_core.store.supabase_files import SupabaseFileStorage


class SupabaseProject:
    def __init__(self, settings: SupabaseSettings, http_timeout: float) -> None:
        self.settings = settings
        self.http = httpx.Client(
            timeout=httpx.Timeout(http_timeout, connect=min(10.0, http_timeout)),
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # shared by all users: keeps none
        )
        self._engine_client = supabase_client(settings.url, settings.service_role_key, self.http)

    @property
    def host(self) -> str:
        return httpx.URL(self.settings.url).host

    def engine_storage(self) -> tuple[SupabaseStore, SupabaseFileStorage]:
        """The engine's store and files: service role, every user's videos."""
        client = self._engine_client
        return SupabaseStore(client), SupabaseFileStorage(
            client, signed_url_seconds=self.settings.signed_url_seconds
        )

    def new_user_session(self) -> UserSession:
        """A signed-out session for one browser session, on a client of its own (anon key)."""
        client = supabase_client(self.settings.url, self.settings.anon_key, self.http)
        return UserSession(client, self.settings.signed_url_seconds)

    def close(self) -> None:
        self.http.close()
