"""Writes of the PostgreSQL store: one change, or a new generation, in one transaction.

Callers hold the connection inside ``conn.transaction()`` after taking the advisory lock,
so readers see the whole change or none of it and concurrent writers run one after another.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Sequence

from psycopg import sql

from ..chunk import index_text
from .base import DocPassages, parse_date
from .pg_bm25 import add_df, analyze, analyzer_of, lengths, rows, term_ids
from .pg_sql import (INSERT_COLUMNS, REWEIGHT_DRIFT, STATE_DDL, delete_docs_sql, drop_generation,
                     generation_ddl, names, reweight_sql)

log = logging.getLogger(__name__)

BATCH = 2000  # passages analysed and copied per round
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
BUILD_MEMORY = "1GB"  # maintenance_work_mem while a new generation's indexes are built
STATE_COLUMNS = ("gen", "settings", "dim", "k1", "b", "n", "documents", "total_len", "avgdl_ref")


def read_state(conn, lock: bool = False) -> dict | None:
    """The live generation's row of rag_state, or None when nothing was built yet."""
    exists = conn.execute("SELECT to_regclass('rag_state') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute(f"SELECT {', '.join(STATE_COLUMNS)} FROM rag_state"
                       + (" FOR UPDATE" if lock else "")).fetchone()
    return dict(zip(STATE_COLUMNS, row)) if row else None


def _bm25_params(settings: dict) -> tuple[float, float]:
    bm25 = settings.get("bm25") or {}
    return float(bm25.get("k1", 1.2)), float(bm25.get("b", 0.75))


def _dim(settings: dict, upserts: Sequence[DocPassages]) -> int:
    for u in upserts:
        if len(u.chunks):
            return int(u.vectors.shape[1])
    return int((settings.get("embedder") or {}).get("dim") or 0)


def insert(conn, gen: int, settings: dict, upserts: Sequence[DocPassages], avgdl: float) -> tuple[int, int]:
    """Add the documents' rows (passages, terms, docs); returns (passages, their total length)."""
    t = names(gen)
    analyzer = analyzer_of(settings.get("bm25"))
    k1, b = _bm25_params(settings)
    items = [(u, i) for u in upserts for i in range(len(u.chunks))]
    total_n = total_len = 0
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        t["passages"], sql.SQL(", ").join(map(sql.Identifier, INSERT_COLUMNS)))
    types = ["text"] * 3 + ["int4", "int4"] + ["text"] * 2 + ["text[]", "text", "text", "int4", "date",
                                                                 "vector", "int4[]", "int4[]", "int4", "sparsevec"]
    for lo in range(0, len(items), BATCH):
        batch = items[lo:lo + BATCH]
        analyzed = analyze([index_text(u.chunks[i]) for u, i in batch], analyzer)
        ids = term_ids(conn, t["terms"], {term for a in analyzed for term in a.counts})
        df: Counter = Counter(ids[term] for a in analyzed for term in a.counts)
        add_df(conn, t["terms"], df)
        with conn.cursor().copy(copy_sql) as copy:
            copy.set_types(types)
            for (u, i), a in zip(batch, analyzed):
                c = u.chunks[i]
                tid, tf, dl, vec = rows(a, ids, k1, b, avgdl)
                copy.write_row((c.id, c.doc_id, c.text, c.start, c.end, c.title, c.source, list(c.authors),
                                c.outlet, c.date, i, parse_date(c.date), u.vectors[i], tid, tf, dl, vec))
                total_len += dl
        total_n += len(batch)
    if upserts:
        conn.execute(sql.SQL("INSERT INTO {} (doc_id, hash, title, source, passages) "
                             "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int[])")
                     .format(t["docs"]), ([u.doc_id for u in upserts], [u.hash for u in upserts],
                                          [u.title for u in upserts], [u.source for u in upserts],
                                          [len(u.chunks) for u in upserts]))
    return total_n, total_len


def apply_change(conn, state: dict, settings: dict, upserts: Sequence[DocPassages],
                 deletes: Sequence[str]) -> None:
    """Replace the upserted documents' passages and remove the deleted ones, in the live generation."""
    gen = state["gen"]
    dim = _dim(settings, upserts)
    if upserts and dim and dim != state["dim"]:
        raise ValueError(f"vectors of size {dim} for an index of size {state['dim']}: rebuild it (full=True)")
    ids = sorted({u.doc_id for u in upserts} | set(deletes))
    gone_n, gone_len, gone_docs = conn.execute(delete_docs_sql(gen), {"ids": ids}).fetchone()
    new_n, new_len = insert(conn, gen, settings, upserts, state["avgdl_ref"])
    n, total = state["n"] - gone_n + new_n, state["total_len"] - gone_len + new_len
    avgdl_ref = state["avgdl_ref"]
    drift = n and abs(total / n / avgdl_ref - 1)
    if drift and drift > REWEIGHT_DRIFT:
        avgdl_ref = total / n
    conn.execute("UPDATE rag_state SET settings = %s, n = %s, total_len = %s, documents = %s, avgdl_ref = %s, "
                 "updated_at = now()", (json.dumps(settings), n, total,
                                        state["documents"] - gone_docs + len(upserts), avgdl_ref))
    if avgdl_ref != state["avgdl_ref"]:
        log.info("average passage length drifted by %.1f%%: rewriting the BM25 weights of %d passages",
                 100 * drift, n)
        conn.execute(reweight_sql(gen), {})  # {}: %% in it is an escaped %


def build_generation(conn, state: dict | None, settings: dict, upserts: Sequence[DocPassages]) -> int:
    """Build a new generation holding exactly ``upserts`` and make it the live one; returns its number."""
    conn.execute(STATE_DDL)
    gen = (state["gen"] + 1) if state else 1
    dim = _dim(settings, upserts)
    if dim < 1:
        raise ValueError("the first build needs the vector size: give passages or settings['embedder']['dim']")
    tables, indexes = generation_ddl(gen, dim, HNSW_M, HNSW_EF_CONSTRUCTION)
    conn.execute(drop_generation(gen))
    conn.execute(tables)
    analyzer = analyzer_of(settings.get("bm25"))
    dls = lengths([index_text(c) for u in upserts for c in u.chunks], analyzer)
    avgdl = sum(dls) / len(dls) if dls else 1.0
    n, total = insert(conn, gen, settings, upserts, avgdl)
    conn.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(BUILD_MEMORY)))
    conn.execute(indexes)
    k1, b = _bm25_params(settings)
    values = (gen, json.dumps(settings), dim, k1, b, n, len(upserts), total, avgdl)
    conn.execute(f"INSERT INTO rag_state ({', '.join(STATE_COLUMNS)}) VALUES ({', '.join(['%s'] * 9)}) "
                 "ON CONFLICT (one) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in STATE_COLUMNS)
                 + ", updated_at = now()", values)
    if state:
        conn.execute(drop_generation(state["gen"]))
    conn.execute("ANALYZE " + names(gen)["passages"].as_string(conn))
    return gen
