"""Connecting to PostgreSQL for the store, with errors that never show the password."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ..errors import RagError
from .base import store_label


class PostgresError(RagError):
    """The database is unreachable, refused us, or failed a statement (message scrubbed)."""


def password_of(url: str) -> str:
    """The password in a ``postgresql://user:password@…`` URL (or its ``?password=``), or ""."""
    try:
        parts = urlsplit(url)
        pw = parts.password or ""
        for item in parts.query.split("&"):
            if item.startswith("password="):
                pw = pw or item.split("=", 1)[1]
        return unquote(pw)
    except ValueError:
        return ""


def scrub(text, secret: str) -> str:
    """``text`` on one line, without ``secret`` or any ``user:password@`` of a URL."""
    text = " ".join(str(text).split())
    return store_label(text.replace(secret, "***") if secret else text)


def connect(url: str, label: str, secret: str, ef_search: int, timeout: int):
    """An autocommit connection with pgvector's types registered and HNSW search settings."""
    import psycopg
    from pgvector.psycopg import register_vector

    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=timeout)
    except psycopg.Error as exc:
        raise PostgresError(f"PostgreSQL at {label}: connecting failed: {scrub(exc, secret)}") from None
    try:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        conn.execute("SET hnsw.iterative_scan = strict_order")  # filtered searches still find k
    except psycopg.Error as exc:
        conn.close()
        raise PostgresError(f"PostgreSQL at {label} has no usable pgvector extension "
                            f"({scrub(exc, secret)}): run CREATE EXTENSION vector as its owner") from None
    return conn
