"""Supabase store tests over PostgRESTHarness: real supabase-py clients whose one shared httpx.Client
is answered by the harness, which runs each request on the PostgreSQL of tests/postgres."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from supabase import Client, ClientOptions, create_client

from mimio_core.store.supabase import SupabaseStore, supabase_client
from mimio_core.store.supabase_files import SupabaseFileStorage
from tests.postgres.conftest import USER_A, USER_B, Cluster, db, pg_cluster, pg_database  # noqa: F401
from tests.supabase.tokens import mint_jwt

if TYPE_CHECKING:
    from tests.supabase.harness import PostgRESTHarness
    from tests.supabase.served import ServedHarness

URL = "http://postgrest-harness.test"
ANON_KEY = mint_jwt("anon")
SERVICE_KEY = mint_jwt("service_role")
TIMEOUT = httpx.Timeout(10, connect=5)


def user_client(http: httpx.Client, user_id: object) -> Client:
    """A signed-in user's client without an Auth server: their JWT as the Authorization header, which
    `create_client` then keeps for table and storage calls (as after `sign_in_with_password`)."""
    token = mint_jwt("authenticated", sub=str(user_id), aud="authenticated")
    options = ClientOptions(httpx_client=http, auto_refresh_token=False, postgrest_client_retry=False)
    options.headers = {**options.headers, "Authorization": f"Bearer {token}"}
    return create_client(URL, ANON_KEY, options)


@pytest.fixture
def harness(pg_cluster: Cluster, pg_database: str, db, tmp_path: Path) -> Iterator[PostgRESTHarness]:  # noqa: F811
    """The harness over emptied tables (the `db` fixture truncates them first). Imported here: it needs
    psycopg, which `pg_cluster` has checked for (skip, or fail under MIMIO_REQUIRE_SERVICES=1)."""
    from tests.supabase.harness import PostgRESTHarness

    h = PostgRESTHarness(lambda: pg_cluster.connect(pg_database), tmp_path / "objects", ANON_KEY, SERVICE_KEY)
    yield h
    h.close()


@pytest.fixture
def served(harness: PostgRESTHarness) -> Iterator[ServedHarness]:
    """The harness over real HTTP on loopback, for a whole app (AppTest, or the dashboard in a browser)."""
    from tests.supabase.served import ServedHarness

    running = ServedHarness.start(harness)
    yield running
    running.stop()


@pytest.fixture
def http(harness: PostgRESTHarness) -> Iterator[httpx.Client]:
    """The one shared httpx.Client every client sends through."""
    with httpx.Client(transport=harness.transport(), timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
def service_client(http: httpx.Client) -> Client:
    return supabase_client(URL, SERVICE_KEY, http, retry=False)


@pytest.fixture
def service_store(service_client: Client) -> SupabaseStore:
    return SupabaseStore(service_client)


@pytest.fixture
def user_store(http: httpx.Client) -> Callable[[object], SupabaseStore]:
    return lambda user_id: SupabaseStore(user_client(http, user_id))


@pytest.fixture
def user_files(http: httpx.Client) -> Callable[..., SupabaseFileStorage]:
    return lambda user_id, **options: SupabaseFileStorage(user_client(http, user_id), **options)


@pytest.fixture
def service_files(service_client: Client) -> SupabaseFileStorage:
    return SupabaseFileStorage(service_client)


__all__ = ["ANON_KEY", "SERVICE_KEY", "URL", "USER_A", "USER_B", "user_client"]
