"""Writes of the PostgreSQL store: one change, or a new generation, in one transaction.

Callers hold the connection inside ``conn.transaction()`` after taking the advisory lock,
so readers see the whole change or none of it and concurrent writers run one after another.
"""
from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
from datetime import date
from typing import Iterable, Sequence

from psycopg import sql

from ..bm25 import B, K1
from ..chunk import index_text
from .base import FORMAT_VERSION, DocPassages, parse_date
from .pg_bm25 import add_df, analyze, analyzer_of, rows, term_ids
from .pg_sql import (INSERT_COLUMNS, REWEIGHT_DRIFT, STATE_DDL, delete_docs_sql, drop_generation, generation_ddl,
                     names, postings_sql)

log = logging.getLogger(__name__)

BATCH = 2000  # passages analysed and copied per round
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
STATE_COLUMNS = ("gen", "settings", "dim", "k1", "b", "n", "documents", "total_len", "avgdl_ref")


def read_state(conn, lock: bool = False) -> dict | None:
    """The live generation's row of rag_state, or None when nothing was built yet."""
    exists = conn.execute("SELECT to_regclass('rag_state') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    # tables of an earlier layout (a sparsevec column, no postings) read as format 1: rebuilt by `rag index`
    row = conn.execute(f"SELECT {', '.join(STATE_COLUMNS)}, updated_at, to_regclass('rag_post_g' || gen) IS NOT NULL "
                       "FROM rag_state" + (" FOR UPDATE" if lock else "")).fetchone()
    if not row:
        return None
    return {**dict(zip(STATE_COLUMNS, row)), "updated_at": row[-2],
            "format_version": FORMAT_VERSION if row[-1] else 1}


def _bm25_params(settings: dict) -> tuple[float, float]:
    bm25 = settings.get("bm25") or {}
    return float(bm25.get("k1", K1)), float(bm25.get("b", B))


def _dim(settings: dict, upserts: Sequence[DocPassages]) -> int:
    for u in upserts:
        if len(u.chunks):
            return int(u.vectors.shape[1])
    return int((settings.get("embedder") or {}).get("dim") or 0)


def insert(conn, gen: int, settings: dict, upserts: Iterable[DocPassages]) -> tuple[int, int, int, list[int]]:
    """Add the documents' rows (passages, terms and their df, docs), consuming ``upserts`` once,
    batch by batch; their postings are the caller's (``add_postings``). Returns (passages, their
    total length, documents, the passages' pids).

    Term ids are remembered across batches and the df written once at the end: updating them
    batch by batch would leave a dead row version per term and batch in the open transaction,
    and a large build's vocabulary lookups would slow down batch after batch.
    """
    t = names(gen)
    analyzer = analyzer_of(settings.get("bm25"))
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        t["passages"], sql.SQL(", ").join(map(sql.Identifier, INSERT_COLUMNS)))
    types = ["int8"] + ["text"] * 3 + ["int4", "int4"] + ["text"] * 2 + [
        "text[]", "text", "text", "date", "int4", "vector", "int4[]", "int4[]", "int4"]
    next_pids = sql.SQL("SELECT nextval(pg_get_serial_sequence({}, 'pid')) FROM generate_series(1, %s)").format(
        sql.Literal(t["passages"].as_string(conn)))
    docs_sql = sql.SQL("INSERT INTO {} (doc_id, hash, title, source, passages) SELECT * FROM "
                       "unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int[])").format(t["docs"])
    totals, all_pids = [0, 0, 0], []
    known: dict[str, int] = {}
    df_all: Counter = Counter()

    def flush(batch: list[tuple[DocPassages, int]], docs: list[DocPassages]) -> None:
        analyzed = analyze([index_text(u.chunks[i]) for u, i in batch], analyzer)
        known.update(term_ids(conn, t["terms"], {term for a in analyzed for term in a.counts} - known.keys()))
        df_all.update(known[term] for a in analyzed for term in a.counts)
        pids = [r[0] for r in conn.execute(next_pids, (len(batch),))] if batch else []
        all_pids.extend(pids)
        with conn.cursor().copy(copy_sql) as copy:
            copy.set_types(types)
            for pid, (u, i), a in zip(pids, batch, analyzed):
                c = u.chunks[i]
                tid, tf, dl = rows(a, known)
                copy.write_row((pid, c.id, c.doc_id, c.text, c.start, c.end, c.title, c.source, list(c.authors),
                                c.outlet, c.date, _published(c), i, u.vectors[i], tid, tf, dl))
                totals[1] += dl
        if docs:
            conn.execute(docs_sql, ([u.doc_id for u in docs], [u.hash for u in docs], [u.title for u in docs],
                                    [u.source for u in docs], [len(u.chunks) for u in docs]))
        totals[0] += len(batch)
        totals[2] += len(docs)

    batch: list[tuple[DocPassages, int]] = []
    docs: list[DocPassages] = []
    for u in upserts:
        docs.append(u)
        batch.extend((u, i) for i in range(len(u.chunks)))
        if len(batch) >= BATCH:
            flush(batch, docs)
            batch, docs = [], []
    if batch or docs:
        flush(batch, docs)
    add_df(conn, t["terms"], df_all)
    return totals[0], totals[1], totals[2], all_pids


def add_postings(conn, gen: int, settings: dict, avgdl: float, pids: Sequence[int] | None = None) -> None:
    """The postings of the passages ``pids`` (None: of every passage), weighted with ``avgdl``."""
    k1, b = _bm25_params(settings)
    params = {"k1": k1, "b": b, "avgdl": avgdl, "pids": list(pids or ())}
    if pids is None or len(params["pids"]):
        conn.execute(postings_sql(gen, only_new=pids is not None), params)


def _published(chunk) -> date | None:
    """The passage's ISO publication date (``Chunk.published``, else parsed from its byline date)."""
    iso = getattr(chunk, "published", None)
    try:
        return date.fromisoformat(iso) if iso else parse_date(chunk.date)
    except ValueError:
        return parse_date(chunk.date)


def reweight_if_drifted(conn, gen: int, settings: dict, n: int, total: int, ref: float) -> float:
    """Rewrite the postings' BM25 weights when the live avgdl left ``ref`` by REWEIGHT_DRIFT; the ref in force."""
    drift = abs(total / n / ref - 1) if n else 0.0
    if drift <= REWEIGHT_DRIFT:
        return ref
    log.info("average passage length moved %.1f%% from the one the BM25 weights use: rewriting the "
             "postings of %d passages", 100 * drift, n)
    conn.execute("UPDATE rag_state SET avgdl_ref = %s", (total / n,))
    conn.execute(sql.SQL("DELETE FROM {}").format(names(gen)["post"]))  # readers keep the old ones until commit
    add_postings(conn, gen, settings, total / n)
    return total / n


def apply_change(conn, state: dict, settings: dict, upserts: Iterable[DocPassages],
                 deletes: Sequence[str]) -> None:
    """Replace the upserted documents' passages and remove the deleted ones, in the live generation."""
    gen = state["gen"]
    upserts = list(upserts)  # a change: its ids are needed before its rows
    dim = _dim(settings, upserts)
    if upserts and dim and dim != state["dim"]:
        raise ValueError(f"vectors of size {dim} for an index of size {state['dim']}: rebuild it (full=True)")
    ids = sorted({u.doc_id for u in upserts} | set(deletes))
    gone_n, gone_len, gone_docs = conn.execute(delete_docs_sql(gen), {"ids": ids}).fetchone()
    new_n, new_len, new_docs, pids = insert(conn, gen, settings, upserts)
    add_postings(conn, gen, settings, state["avgdl_ref"], pids)
    n, total = state["n"] - gone_n + new_n, state["total_len"] - gone_len + new_len
    conn.execute("UPDATE rag_state SET settings = %s, n = %s, total_len = %s, documents = %s, updated_at = now()",
                 (json.dumps(settings), n, total, state["documents"] - gone_docs + new_docs))
    reweight_if_drifted(conn, gen, settings, n, total, state["avgdl_ref"])


def build_generation(conn, state: dict | None, settings: dict, upserts: Iterable[DocPassages],
                     build_memory: str = "1GB") -> int:
    """Build a new generation holding exactly ``upserts`` and make it the live one; returns its number.

    ``build_memory``: maintenance_work_mem while its indexes are built (an HNSW build slows
    several-fold once its graph outgrows it: about 2 GB for a million 384-d passages)."""
    conn.execute(STATE_DDL)
    gen = (state["gen"] + 1) if state else 1
    upserts = iter(upserts)
    first = next(upserts, None)
    dim = _dim(settings, [first] if first is not None else [])
    if dim < 1:
        raise ValueError("the first build needs the vector size: give passages or settings['embedder']['dim']")
    tables, indexes = generation_ddl(gen, dim, HNSW_M, HNSW_EF_CONSTRUCTION)
    conn.execute(drop_generation(gen))
    conn.execute(tables)
    stream = itertools.chain([first], upserts) if first is not None else iter(())
    n, total, docs, _ = insert(conn, gen, settings, stream)
    avgdl = total / n if n else 1.0
    for knob in ("work_mem", "maintenance_work_mem"):  # the postings' sort, then the indexes
        conn.execute(sql.SQL("SET LOCAL {} = {}").format(sql.Identifier(knob), sql.Literal(build_memory)))
    add_postings(conn, gen, settings, avgdl)  # all at once, in term order: read in order by the index
    conn.execute(indexes)
    k1, b = _bm25_params(settings)
    values = (gen, json.dumps(settings), dim, k1, b, n, docs, total, avgdl)
    conn.execute(f"INSERT INTO rag_state ({', '.join(STATE_COLUMNS)}) VALUES ({', '.join(['%s'] * 9)}) "
                 "ON CONFLICT (one) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in STATE_COLUMNS)
                 + ", updated_at = now()", values)
    if state:
        conn.execute(drop_generation(state["gen"]))
    # statistics for the planner: without rag_state's (one row) it expects hundreds of query terms
    # and sizes the keyword leg's hash table for millions of passages
    for table in ("passages", "post", "terms"):
        conn.execute("ANALYZE " + names(gen)[table].as_string(conn))
    conn.execute("ANALYZE rag_state")
    return gen
