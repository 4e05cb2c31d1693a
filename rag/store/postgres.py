"""The ``postgres`` store: passages, pgvector vectors (HNSW) and BM25 statistics in PostgreSQL.

Chosen when ``Settings.store`` is a ``postgresql://user:password@host/db`` URL. Needs
PostgreSQL >= 15 with pgvector >= 0.7 (``CREATE EXTENSION vector``; the store creates it
when the role may). Many processes may share one database: readers never see half a
change (each change is one transaction), writers are serialised by an advisory lock, and
a change of model or chunking builds a new generation of tables and switches to it at
commit. Tables and the BM25 scheme: rag/store/pg_sql.py; writes: rag/store/pg_write.py.
"""
from __future__ import annotations

import logging
import threading
from typing import Iterable, Sequence

import numpy as np
from psycopg import sql

from ..errors import IndexMissingError, RagError
from ..types import Chunk, Filters, Hit
from .base import (REBUILD_HINT, STORES, DocPassages, Store, check_manifest, hits,
                   hybrid_top, settings_part, store_label, top)
from .pg_bm25 import analyzer_of, query_terms
from .pg_conn import PostgresError, connect, password_of, scrub
from .pg_sql import CHUNK_COLUMNS, chunk_of_row, names, search_sql
from .pg_write import build_generation, apply_change, read_state

log = logging.getLogger(__name__)

LOCK_KEY = 0x72616721  # pg_advisory_xact_lock key of index writers ("rag!")
OPTIONS = ("ef_search", "exact_below", "build_memory", "connect_timeout")
WRITING = "writing the index"


class PostgresStore(Store):
    """A store in a PostgreSQL database (see the module docstring)."""

    name = "postgres"
    repairs_parts = False  # the row counts say that rows are missing, not whose: a repair rebuilds it all

    def __init__(self, url: str, *, ef_search: int = 200, exact_below: int = 20_000,
                 build_memory: str = "1GB", connect_timeout: int = 5) -> None:
        self._url = url
        self._secret = password_of(url)
        self.label = store_label(url)
        self.ef_search = int(ef_search)
        self.exact_below = int(exact_below)  # dense search scans all rows below this many passages
        self.build_memory = build_memory  # maintenance_work_mem of a new generation's index build
        self._lock = threading.RLock()
        self._state: dict | None = None
        self._expect: dict | None = None
        self._verified: tuple | None = None  # the state the last deep check counted
        self._conn = connect(url, self.label, self._secret, self.ef_search, connect_timeout)

    def __repr__(self) -> str:
        return f"PostgresStore({self.label!r})"

    # -- connection and errors ---------------------------------------------------------------
    def _scrub(self, text) -> str:
        return scrub(text, self._secret)

    def _error(self, exc: Exception, doing: str) -> PostgresError:
        return PostgresError(f"PostgreSQL at {self.label}: {doing} failed: {self._scrub(exc)}")

    def _run(self, doing: str, fn):
        """Run ``fn()`` under the lock; driver errors become one scrubbed line. A connection the
        server dropped (restart, failover) is opened again and ``fn`` retried once, unless it wrote."""
        import psycopg

        with self._lock:
            for attempt in (0, 1):
                try:
                    return fn()
                except psycopg.errors.UndefinedTable as exc:
                    if doing == WRITING:
                        raise self._error(exc, doing) from None
                    raise  # _read reloads the generation
                except psycopg.OperationalError as exc:
                    if attempt or not self._conn.broken or doing == WRITING:
                        raise self._error(exc, doing) from None
                    log.warning("lost the connection to %s: reconnecting", self.label)
                    self._conn = connect(self._url, self.label, self._secret, self.ef_search, 5)
                except psycopg.Error as exc:
                    raise self._error(exc, doing) from None

    def _read(self, doing: str, fn, default=None, refresh: bool = False):
        """``fn(state)`` on the live generation (``default`` when there is none). When another
        process's rebuild replaced that generation, reload it (checking the settings asked for
        before) and retry once."""
        import psycopg

        for attempt in (0, 1):
            state = self._live(refresh=refresh or attempt > 0)
            if state is None:
                return default
            try:
                return self._run(doing, lambda: fn(state))
            except psycopg.errors.UndefinedTable:
                if attempt:
                    raise IndexMissingError(f"the index at {self.label} is gone: {REBUILD_HINT}") from None
                self._state = None
                if self._expect is not None:
                    self.check(self._expect)

    def _table(self, state: dict, kind: str) -> str:
        return names(state["gen"])[kind].as_string(self._conn)

    def _live(self, refresh: bool = False) -> dict | None:
        if self._state is None or refresh:
            self._state = self._run("reading the index state", lambda: read_state(self._conn))
        return self._state

    # -- the contract ------------------------------------------------------------------------
    def manifest(self) -> dict | None:
        state = self._live(refresh=True)
        if state is None:
            return None
        return {**state["settings"], "format_version": state["format_version"], "passages": int(state["n"]),
                "documents": int(state["documents"])}

    def documents(self) -> dict[str, dict]:
        rows = self._read("listing documents", lambda st: self._conn.execute(
            "SELECT doc_id, hash, title, source, passages FROM " + self._table(st, "docs")).fetchall(),
            default=[], refresh=True)
        return {r[0]: {"hash": r[1], "title": r[2], "source": r[3], "passages": r[4]} for r in rows}

    def documents_of(self, doc_ids: Sequence[str]) -> dict[str, dict]:
        rows = self._read("looking up documents", lambda st: self._conn.execute(
            "SELECT doc_id, hash, title, source, passages FROM " + self._table(st, "docs")
            + " WHERE doc_id = ANY(%s)", (list(doc_ids),)).fetchall(), default=[], refresh=True)
        return {r[0]: {"hash": r[1], "title": r[2], "source": r[3], "passages": r[4]} for r in rows}

    def hashes(self) -> dict[str, str]:
        """``{doc_id: hash}``, streamed with binary COPY (a million rows in about a second)."""
        def read(st):
            sql = f"COPY (SELECT doc_id, hash FROM {self._table(st, 'docs')}) TO STDOUT (FORMAT BINARY)"
            with self._conn.cursor().copy(sql) as cp:
                cp.set_types(["text", "text"])
                return dict(cp.rows())
        return self._read("listing documents", read, default={}, refresh=True)

    def check(self, expect: dict | None = None, deep: bool = False) -> None:
        """The settings check; ``deep`` also counts the rows against the recorded totals."""
        manifest = self.manifest()
        if manifest is None:
            raise IndexMissingError(f"no index at {self.label}: {REBUILD_HINT}")
        check_manifest(manifest, expect or {})
        self._expect = expect
        state = self._state or {}
        stamp = (state.get("gen"), state.get("updated_at"), manifest["passages"], manifest["documents"])
        if deep and stamp != self._verified:  # counted once per state (`rag index` checks before and in the build)
            rows, docs = self._read("counting rows", lambda st: self._conn.execute(
                f"SELECT (SELECT count(*) FROM {self._table(st, 'passages')}), "
                f"(SELECT count(*) FROM {self._table(st, 'docs')})").fetchone())
            if (rows, docs) != (manifest["passages"], manifest["documents"]):
                raise IndexMissingError(f"the index at {self.label} is inconsistent ({rows} passages and "
                                        f"{docs} documents, {manifest['passages']} and {manifest['documents']} "
                                        f"recorded): {REBUILD_HINT}")
            self._verified = stamp

    def apply(self, manifest: dict, upserts: Iterable[DocPassages] = (), deletes: Sequence[str] = (),
              *, full: bool = False) -> None:
        settings = settings_part(manifest)

        def write():
            with self._conn.transaction():
                if not self._conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
                    log.info("another writer is updating the index at %s: waiting for it", self.label)
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                state = read_state(self._conn, lock=True)
                if full or state is None:
                    return build_generation(self._conn, state, settings, upserts, self.build_memory)
                apply_change(self._conn, state, settings, upserts, deletes)
        gen = self._run(WRITING, write)
        self._state = None
        if gen is not None:  # a new generation: mark its postings all-visible, for index-only scans
            self._run("vacuuming the new index", lambda: self._conn.execute(
                sql.SQL("VACUUM {}").format(names(gen)["post"])))

    def search(self, query_vec: np.ndarray | None, query_text: str, k: int, mode: str = "hybrid",
               weight: float = 0.5, filters: Filters | None = None, candidates: int = 100) -> list[Hit]:
        if k < 1:
            return []
        params = {"cand": max(candidates, k)}
        if mode != "bm25":
            params["q_vec"] = np.asarray(query_vec, dtype=np.float32).reshape(-1)

        def run(state):
            if mode != "dense":
                terms, counts = query_terms(query_text, analyzer_of(state["settings"].get("bm25")))
                params.update(q_terms=terms, q_counts=counts)
            stmt, fparams = search_sql(state["gen"], mode, filters, exact=state["n"] < self.exact_below)
            return self._conn.execute(stmt, {**params, **fparams}).fetchall()
        rows = self._read("searching", run, default=[])
        if not rows:
            return []
        pids = np.array([r[0] for r in rows], dtype=np.int64)
        dense = np.array([r[1] for r in rows], dtype=np.float64)
        kw = np.array([r[2] for r in rows], dtype=np.float64)
        by_pid = {int(r[0]): chunk_of_row(r[3:]) for r in rows}
        order = np.argsort(pids, kind="stable")
        pids, dense, kw = pids[order], dense[order], kw[order]
        if mode == "hybrid":
            pos = {int(p): i for i, p in enumerate(pids)}
            ids, scores = hybrid_top(pids, pids, lambda x: dense[[pos[int(i)] for i in x]],
                                     lambda x: kw[[pos[int(i)] for i in x]], weight, k)
        else:
            ids, scores = top(pids, dense if mode == "dense" else kw, k)
        return hits([by_pid[int(i)] for i in ids], scores)

    def _select(self, doc_id: str, columns: str):
        return self._read("reading passages", lambda st: self._conn.execute(
            f"SELECT {columns} FROM {self._table(st, 'passages')} WHERE doc_id = %s ORDER BY ord",
            (doc_id,)).fetchall(), default=[])

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        return [chunk_of_row(r) for r in self._select(doc_id, ", ".join(f'"{c}"' for c in CHUNK_COLUMNS))]

    def vectors_of(self, doc_id: str) -> np.ndarray:
        rows = self._select(doc_id, "embedding")
        dim = (self._state or {}).get("dim", 0)
        vecs = [r[0].to_numpy() if hasattr(r[0], "to_numpy") else r[0] for r in rows]
        return np.array(vecs, dtype=np.float32).reshape(len(rows), dim)

    def __len__(self) -> int:
        state = self._live(refresh=True)
        return int(state["n"]) if state else 0

    def status(self) -> dict:
        state = self._live(refresh=True)
        versions = self._run("reading versions", lambda: self._conn.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'vector')").fetchone())
        out = {"backend": self.name, "location": self.label, "passages": 0, "documents": 0,
               "server_version": versions[0], "pgvector": versions[1]}
        if state:
            out.update(passages=int(state["n"]), documents=int(state["documents"]), generation=state["gen"],
                       dim=state["dim"], avgdl=state["total_len"] / state["n"] if state["n"] else 0.0,
                       avgdl_ref=state["avgdl_ref"], hnsw_ef_search=self.ef_search,
                       dense_search="exact" if state["n"] < self.exact_below else "hnsw")
        return out

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@STORES.register("postgres")
def open_postgres(settings, **options) -> PostgresStore:
    """The factory ``open_store`` calls for a ``postgresql://`` ``Settings.store``."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise RagError(f"unknown postgres store option(s) {', '.join(unknown)}; valid: {', '.join(OPTIONS)}")
    options.setdefault("ef_search", settings.pg_ef_search)
    options.setdefault("exact_below", settings.pg_exact_below)
    options.setdefault("build_memory", settings.pg_build_memory)
    return PostgresStore(settings.store, **options)
