"""BM25 term statistics for the PostgreSQL store, computed with the shared analyzer.

Passages become rows of (term ids, term counts, length); the postings' weights, the Lucene
BM25 term-frequency parts ``tf / (tf + k1 * (1 - b + b * dl / avgdl))`` that rag.bm25's bm25s
index uses, are computed from them in SQL (rag/store/pg_sql.py's ``postings_sql``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from psycopg import sql

from ..bm25 import Analyzer, term_counts


@dataclass
class Analyzed:
    """One passage's tokens: term -> count, and its length as BM25 counts it."""

    counts: Counter
    dl: int


def analyzer_of(bm25: dict | None) -> Analyzer:
    """The analyzer a manifest's ``bm25`` part names."""
    bm25 = bm25 or {}
    return Analyzer(stem=bm25.get("stem", "english"), stopwords=bm25.get("stopwords", True))


def analyze(texts: Sequence[str], analyzer: Analyzer) -> list[Analyzed]:
    """Counts and lengths (rag.bm25.term_counts: an empty passage has one placeholder token)."""
    out = []
    for t in texts:
        terms, counts = term_counts(analyzer, t)
        out.append(Analyzed(Counter(dict(zip(terms, counts))), sum(counts)))
    return out


def query_terms(text: str, analyzer: Analyzer) -> tuple[list[str], list[int]]:
    """The query's distinct terms and how often each occurs (repeats weigh more, as in bm25s)."""
    c = Counter(analyzer(text))
    return list(c), list(c.values())


def term_ids(conn, table: sql.Identifier, terms: set[str]) -> dict[str, int]:
    """Ids of ``terms`` in the vocabulary table, adding the new ones."""
    if not terms:
        return {}
    words = sorted(terms)
    conn.execute(sql.SQL("INSERT INTO {} (term) SELECT unnest(%s::text[]) ON CONFLICT (term) DO NOTHING")
                 .format(table), (words,))
    rows = conn.execute(sql.SQL("SELECT term, id FROM {} WHERE term = ANY(%s)").format(table), (words,))
    return dict(rows.fetchall())


def add_df(conn, table: sql.Identifier, df: Counter) -> None:
    """Raise the document frequencies of the given term ids."""
    if df:
        ids, counts = zip(*sorted(df.items()))
        conn.execute(sql.SQL("UPDATE {} t SET df = t.df + c.n FROM unnest(%s::int[], %s::int[]) AS c(id, n) "
                             "WHERE t.id = c.id").format(table), (list(ids), list(counts)))


def rows(analyzed: Analyzed, ids: dict[str, int]) -> tuple[list[int], list[int], int]:
    """(term ids, counts, dl) of one passage, ids ascending."""
    pairs = sorted((ids[t], n) for t, n in analyzed.counts.items())
    return [i for i, _ in pairs], [int(n) for _, n in pairs], analyzed.dl
