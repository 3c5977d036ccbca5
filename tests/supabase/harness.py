"""PostgRESTHarness: a TEST HARNESS that answers the PostgREST and Storage requests supabase-py sends
for the Supabase store, by running them on the real PostgreSQL of tests/postgres (the migrations and
the Supabase stub applied), and the sign-in requests through a fake Auth (harness_auth.py). It is not
Supabase and not PostgREST: it speaks exactly the subset the store uses (harness_sql.py,
harness_storage.py) and refuses the rest with 400.

Each request is one transaction that, like PostgREST, first does `SET LOCAL ROLE <role>` and sets
`request.jwt.claims` from the `Authorization: Bearer <jwt>` header, so Row Level Security, column
privileges and function grants are the migration's own. Tokens are unsigned test JWTs (tokens.py);
their payload is read without verification. The `apikey` header must be one of the two keys given.

It plugs in as an `httpx.MockTransport` behind the one shared `httpx.Client` of the clients, and
records what arrived (`seen`) so tests can assert on the exact traffic.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from tests.supabase import harness_sql as q
from tests.supabase.harness_auth import AuthEndpoints
from tests.supabase.harness_storage import StorageEndpoints
from tests.supabase.tokens import jwt_claims
from tests.supabase.transport import Seen, StreamingMockTransport

ROLES = ("anon", "authenticated", "service_role")
SCHEMA = "public"
ERROR_STATUS = {"23503": 409, "23505": 409, "42883": 404, "42P01": 404}


def json_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def pg_error(error: psycopg.Error, role: str) -> httpx.Response:
    """A PostgreSQL error in PostgREST's shape and status."""
    code = error.sqlstate or "XX000"
    status = ERROR_STATUS.get(code) or (
        (401 if role == "anon" else 403) if code == "42501" else 400 if code[:2] in ("22", "23") else 500
    )
    diag = error.diag
    body = {"code": code, "message": diag.message_primary or str(error), "details": diag.message_detail}
    return json_response(status, {**body, "hint": diag.message_hint})


@dataclass
class Caller:
    role: str
    claims: dict[str, Any]


class PostgRESTHarness:
    """Answers `/rest/v1/...` and `/storage/v1/...` on a real PostgreSQL database (see module doc)."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        files: Path,
        anon_key: str,
        service_key: str,
    ) -> None:
        self._connect = connect
        self._local = threading.local()
        self._connections: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self.keys = {anon_key, service_key}
        self.seen: list[Seen] = []
        self.storage = StorageEndpoints(self, files)
        self.auth = AuthEndpoints(connect)

    # plumbing
    def transport(self) -> httpx.BaseTransport:
        return StreamingMockTransport(self.handle)

    def _connection(self) -> psycopg.Connection:
        """One autocommit connection per thread, so concurrent clients really run concurrently."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def as_caller(self, caller: Caller) -> Iterator[psycopg.Connection]:
        """One transaction as PostgREST runs a request: role, then the JWT claims."""
        conn = self._connection()
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(caller.role)))
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)", [json.dumps(caller.claims)])
            yield conn

    def caller(self, request: httpx.Request) -> Caller | httpx.Response:
        """Who is asking, from `apikey` and `Authorization`; or the 401 the gateway would answer."""
        apikey = request.headers.get("apikey")
        if apikey not in self.keys:
            return json_response(401, {"message": "Invalid API key"})
        authorization = request.headers.get("authorization", f"Bearer {apikey}")
        claims = jwt_claims(authorization.removeprefix("Bearer ").strip())
        if claims is None:
            return json_response(401, {"code": "PGRST301", "message": "JWT could not be decoded"})
        if claims.get("exp", math.inf) < time.time():  # as PostgREST (and Storage) answer a stale token
            return json_response(401, {"code": "PGRST303", "message": "JWT expired"})
        role = claims.get("role", "anon")
        if role not in ROLES:
            return json_response(401, {"code": "PGRST301", "message": f"unknown role {role!r}"})
        return Caller(role, claims)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # dispatch
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(Seen.of(request))
        path = request.url.path
        try:
            if path.startswith("/rest/v1/"):
                return self._rest(request, path.removeprefix("/rest/v1/"))
            if path.startswith("/storage/v1/"):
                return self.storage.handle(request, path.removeprefix("/storage/v1/"))
            if path.startswith("/auth/v1/"):
                if request.headers.get("apikey") not in self.keys:
                    return json_response(401, {"message": "Invalid API key"})
                return self.auth.handle(request, path.removeprefix("/auth/v1/"))
        except q.Unsupported as error:
            return json_response(400, {"code": "PGRST100", "message": f"PostgRESTHarness: {error}"})
        return json_response(404, {"message": f"PostgRESTHarness has no route {path}"})

    # PostgREST
    def _rest(self, request: httpx.Request, route: str) -> httpx.Response:
        caller = self.caller(request)
        if isinstance(caller, httpx.Response):
            return caller
        for header in ("accept-profile", "content-profile"):
            if request.headers.get(header, SCHEMA) != SCHEMA:
                raise q.Unsupported(f"schema {request.headers[header]!r}")
        query = q.parse_query(request.url.params.multi_items(), request.headers.get("range"))
        prefer = dict(
            item.strip().partition("=")[::2] for item in request.headers.get("prefer", "").split(",") if item
        )
        try:
            with self.as_caller(caller) as conn:
                if route.startswith("rpc/"):
                    return self._rpc(conn, request, q.identifier(route.removeprefix("rpc/")), query)
                return self._table(conn, request, q.table_name(SCHEMA, route), query, prefer)
        except psycopg.Error as error:
            return pg_error(error, caller.role)

    def _table(
        self,
        conn: psycopg.Connection,
        request: httpx.Request,
        table: sql.Composable,
        query: q.Query,
        prefer: dict[str, str],
    ) -> httpx.Response:
        method = request.method
        if method in ("GET", "HEAD"):
            statement, params = q.select_statement(table, query)
            rows = conn.execute(statement, params).fetchone()[0]
            total = "*"
            if prefer.get("count") == "exact":
                statement, params = q.count_statement(table, query)
                total = str(conn.execute(statement, params).fetchone()[0])
            shown = f"{query.offset}-{query.offset + len(rows) - 1}" if rows else "*"
            headers = {"Content-Range": f"{shown}/{total}"}
            if request.headers.get("accept") == "application/vnd.pgrst.object+json":
                if len(rows) != 1:
                    return json_response(406, {"code": "PGRST116", "message": f"{len(rows)} rows, not 1"})
                rows = rows[0]
            return json_response(200, None if method == "HEAD" else rows, headers)
        body = json.loads(request.read() or b"null")
        if method == "POST":
            rows = body if isinstance(body, list) else [body]
            statement = q.insert_statement(table, query, rows, prefer.get("resolution"))
            params = [json.dumps(rows)]
        elif method == "PATCH":
            statement, params = q.update_statement(table, query, body), [json.dumps(body), *query.params]
        elif method == "DELETE":
            statement, params = q.delete_statement(table, query), list(query.params)
        else:
            raise q.Unsupported(f"method {method}")
        written, count = conn.execute(statement, params).fetchone()
        headers = {"Content-Range": f"*/{count}"} if prefer.get("count") == "exact" else {}
        representation = prefer.get("return") == "representation"
        status = 201 if method == "POST" else 200 if representation else 204
        return json_response(status, written if representation else None, headers)

    def _rpc(
        self, conn: psycopg.Connection, request: httpx.Request, name: str, query: q.Query
    ) -> httpx.Response:
        if request.method != "POST":
            raise q.Unsupported(f"rpc by {request.method}")
        arguments = json.loads(request.read() or b"{}")
        function = self._function(conn, name, set(arguments))
        if function is None:
            message = f"Could not find the function {SCHEMA}.{name}({', '.join(sorted(arguments))})"
            return json_response(404, {"code": "PGRST202", "message": message, "details": None, "hint": None})
        statement = q.rpc_statement(function, query, arguments)
        _, tail_params = query.tail()
        params = [json.dumps(arguments), *(query.params + tail_params if function.returns_rows else [])]
        result, _ = conn.execute(statement, params).fetchone()
        return json_response(200, result)

    @staticmethod
    def _function(conn: psycopg.Connection, name: str, given: set[str]) -> q.Function | None:
        """The overload whose input argument names are exactly the ones given, as PostgREST picks."""
        candidates = conn.execute(
            "SELECT coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'),"
            " array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, n)"
            " ORDER BY n), p.proretset OR rt.typtype = 'c'"
            " FROM pg_proc p JOIN pg_type rt ON rt.oid = p.prorettype"
            " WHERE p.pronamespace = %s::regnamespace AND p.proname = %s",
            [SCHEMA, name],
        ).fetchall()
        for names, modes, types, returns_rows in candidates:
            inputs = [n for i, n in enumerate(names) if not modes or modes[i] in ("i", "b", "v")]
            if set(inputs) == given and len(inputs) == len(types):
                return q.Function(SCHEMA, name, dict(zip(inputs, types, strict=True)), returns_rows)
        return None
