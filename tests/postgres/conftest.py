"""A throwaway PostgreSQL 15 cluster with the Supabase migrations applied, and emptied tables per test.

The session starts its own cluster in a temporary directory (never the system cluster): `initdb`
with trust authentication, then `pg_ctl start` listening on a Unix socket in that directory only
(`listen_addresses=''`), and `pg_ctl stop` at the end of the session. PostgreSQL refuses to run as
root, so under root the directory is given to the `postgres` OS user and both commands run through
`runuser -u postgres --`; as any other user they run directly.

One database gets `supabase_stub.sql` (what Supabase provides: roles, `auth`, `storage`) and then
every file of `supabase/migrations/` in filename order, as the superuser. Each test starts from
empty tables (a truncate), so tests may commit like PostgREST requests do.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from tests.conftest import require_service

if TYPE_CHECKING:
    import psycopg

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = ROOT / "supabase" / "migrations"
STUB = Path(__file__).with_name("supabase_stub.sql")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "mimio"
START_SECONDS = 30
# a throwaway cluster: no fsync, C locale
INITDB_OPTIONS = ["-E", "UTF8", "--locale=C", "--no-sync"]

# The users every test database knows (rows of auth.users, as Supabase Auth would create them).
USER_A = UUID("aaaaaaaa-0000-4000-8000-00000000000a")
USER_B = UUID("bbbbbbbb-0000-4000-8000-00000000000b")


@dataclass
class Cluster:
    base: Path
    port: int
    applied: list[str] = field(default_factory=list)

    @property
    def socket_dir(self) -> Path:
        return self.base

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname=dbname, autocommit=True
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(command: list[str], as_postgres: bool, cwd: Path) -> subprocess.CompletedProcess[str]:
    if as_postgres:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require_service(False, "psycopg is not installed (pip install -r requirements-dev.txt)")
    binaries = [PG_BIN / name for name in ("initdb", "pg_ctl", "postgres")]
    require_service(
        all(binary.exists() for binary in binaries),
        "PostgreSQL 15 is not installed (apt-get install postgresql-15)",
    )
    as_postgres = os.geteuid() == 0
    if as_postgres:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            owner = None
        require_service(
            owner is not None, "running as root and there is no `postgres` OS user to run PostgreSQL"
        )
        assert owner is not None
        require_service(shutil.which("runuser") is not None, "running as root and `runuser` is missing")

    base = Path(tempfile.mkdtemp(prefix="mimio-pg-"))
    if as_postgres:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, log = base / "data", base / "postgres.log"
    cluster = Cluster(base=base, port=_free_port())
    started = False
    try:
        init = _run(
            [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", *INITDB_OPTIONS],
            as_postgres,
            base,
        )
        if init.returncode != 0:
            pytest.fail(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        # Unix socket in the private directory only; durability is pointless for a throwaway cluster.
        server_options = (
            f"-k {shlex.quote(str(base))} -p {cluster.port} -c listen_addresses='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = True  # from here on, stop it whatever happens (a timed-out start may still come up)
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data)]
        start = _run(
            [*pg_ctl, "-l", str(log), "-w", "-t", str(START_SECONDS), "-o", server_options, "start"],
            as_postgres,
            base,
        )
        if start.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            pytest.fail(
                f"pg_ctl start failed ({start.returncode}):\n{start.stdout}\n{start.stderr}\n{server_log}"
            )
        yield cluster
    finally:
        if started:
            _run([*pg_ctl, "-m", "fast", "-w", "stop"], as_postgres, base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_database(pg_cluster: Cluster) -> str:
    """The test database: the Supabase stub, then every migration in filename order, then two users."""
    import psycopg

    with pg_cluster.connect() as admin:
        admin.execute(f"create database {DATABASE}")
    with pg_cluster.connect(DATABASE) as conn:
        conn.execute(STUB.read_text())
        for migration in sorted(MIGRATIONS_DIR.glob("*.sql")):
            try:
                with conn.transaction():
                    conn.execute(migration.read_text())
            except psycopg.Error as error:
                pytest.fail(f"migration {migration.name} failed: [{error.sqlstate}] {error}")
            pg_cluster.applied.append(migration.name)
        conn.execute(
            "insert into auth.users (id, email) values (%s, 'a@example.com'), (%s, 'b@example.com')",
            [USER_A, USER_B],
        )
    return DATABASE


@pytest.fixture
def db(pg_cluster: Cluster, pg_database: str) -> Iterator[psycopg.Connection]:
    """A superuser connection (autocommit) to the migrated database, emptied of rows first.

    Tests leave the schema as they found it (a temporary grant lives in a rolled-back transaction),
    so emptying the tables is all the isolation they need, and it takes milliseconds.
    """
    with pg_cluster.connect(pg_database) as conn:
        conn.execute("truncate public.videos, public.projects, public.queue_pauses, storage.objects")
        conn.execute("delete from storage.buckets where id <> 'videos'")
        yield conn
