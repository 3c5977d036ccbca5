"""The process's Supabase connection: one client for everyone, so it must carry nobody's state."""

from __future__ import annotations

import httpx

from mimio_core.config import SupabaseSettings
from mimio_core.supabase_project import SupabaseProject
from tests.supabase.tokens import mint_jwt


def test_the_shared_http_client_keeps_no_cookies_and_sessions_are_separate():
    settings = SupabaseSettings("https://abcd.supabase.co", mint_jwt("anon"), mint_jwt("service_role"), 600)
    project = SupabaseProject(settings, http_timeout=7)
    try:
        request = httpx.Request("GET", "https://abcd.supabase.co/rest/v1/videos")
        answer = httpx.Response(200, headers={"set-cookie": "__cf_bm=abc; Path=/"}, request=request)
        project.http.cookies.extract_cookies(answer)  # what httpx does with every response
        assert list(project.http.cookies.jar) == []
        assert (project.http.timeout.read, project.http.timeout.connect) == (7, 7)
        first, second = project.new_user_session(), project.new_user_session()
        assert first.store is not second.store
        assert first._client.options is not second._client.options  # never one shared session store
        assert first._client.options.httpx_client is second._client.options.httpx_client is project.http
        assert project.host == "abcd.supabase.co"
    finally:
        project.close()
