"""SQL of the PostgreSQL store: the tables of one generation and the search statement.

A *generation* is one complete index (one model, one chunking). Its tables are named
``rag_<kind>_g<N>``; ``rag_state`` names the live generation and holds its settings and the
BM25 statistics, so switching generations is one UPDATE in the transaction that built it.

BM25 (the Lucene variant rag.bm25/bm25s use): score(q, d) = sum over query tokens t of
``idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))`` with ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``.
Each passage row keeps its term ids (``terms``, GIN-indexed: the inverted index), their
counts (``tfs``) and its length ``dl``; ``bm25`` holds the per-term weights as a
``sparsevec`` computed with the reference ``avgdl_ref``. The keyword leg picks candidates
by ``bm25 <#> idf-vector`` among passages sharing a term with the query, then every returned
score is recomputed exactly from ``tfs``/``dl`` with the *current* N, df and avgdl, so
scores equal a BM25Index over the same passages. ``avgdl_ref`` is refreshed (all weights
rewritten) when the live avgdl drifts from it by more than REWEIGHT_DRIFT.
"""
from __future__ import annotations

from psycopg import sql

from ..types import Filters

SPARSE_DIM = 1_000_000_000  # pgvector's largest sparsevec dimension; term ids are 1..n
REWEIGHT_DRIFT = 0.02  # relative avgdl drift that triggers rewriting the stored weights

STATE_DDL = """
CREATE TABLE IF NOT EXISTS rag_state (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  gen integer NOT NULL,
  settings jsonb NOT NULL,
  dim integer NOT NULL,
  k1 double precision NOT NULL,
  b double precision NOT NULL,
  n bigint NOT NULL DEFAULT 0,          -- live passages (BM25's N)
  documents bigint NOT NULL DEFAULT 0,
  total_len bigint NOT NULL DEFAULT 0,  -- sum of passage lengths in analyzer tokens
  avgdl_ref double precision NOT NULL DEFAULT 1,
  updated_at timestamptz NOT NULL DEFAULT now()
)"""

GENERATION_DDL = """
CREATE TABLE {docs} (
  doc_id text PRIMARY KEY, hash text NOT NULL, title text NOT NULL, source text NOT NULL,
  passages integer NOT NULL
);
CREATE TABLE {terms} (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  term text NOT NULL UNIQUE,
  df integer NOT NULL DEFAULT 0
);
CREATE TABLE {passages} (
  pid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  chunk_id text NOT NULL,
  doc_id text NOT NULL,
  ord integer NOT NULL,
  title text NOT NULL, authors text[] NOT NULL, outlet text, date text, published date,
  source text NOT NULL, start integer NOT NULL, "end" integer NOT NULL, text text NOT NULL,
  embedding vector({dim}) NOT NULL,
  terms integer[] NOT NULL, tfs integer[] NOT NULL, dl integer NOT NULL,
  bm25 sparsevec({sparse}) NOT NULL
);
CREATE INDEX ON {passages} (doc_id, ord);
"""

# built after the bulk load of a new generation (faster than maintaining them row by row)
INDEX_DDL = """
CREATE INDEX ON {passages} USING gin (terms);
CREATE INDEX ON {passages} USING hnsw (embedding vector_ip_ops) WITH (m = {m}, ef_construction = {efc});
"""

CHUNK_COLUMNS = ("chunk_id", "doc_id", "text", "start", "end", "title", "source", "authors", "outlet", "date")
INSERT_COLUMNS = CHUNK_COLUMNS + ("ord", "published", "embedding", "terms", "tfs", "dl", "bm25")


def names(gen: int) -> dict[str, sql.Identifier]:
    """The table identifiers of generation ``gen``."""
    return {kind: sql.Identifier(f"rag_{kind}_g{gen}") for kind in ("docs", "terms", "passages")}


def generation_ddl(gen: int, dim: int, m: int = 16, ef_construction: int = 64) -> tuple[sql.Composed, sql.Composed]:
    """(tables, indexes) statements of generation ``gen`` with vectors of ``dim``."""
    lit = {"dim": sql.Literal(int(dim)), "sparse": sql.Literal(SPARSE_DIM),
           "m": sql.Literal(int(m)), "efc": sql.Literal(int(ef_construction))}
    return (sql.SQL(GENERATION_DDL).format(**names(gen), **lit),
            sql.SQL(INDEX_DDL).format(**names(gen), **lit))


def drop_generation(gen: int) -> sql.Composed:
    t = names(gen)
    return sql.SQL("DROP TABLE IF EXISTS {passages}, {terms}, {docs}").format(**t)


def filter_sql(filters: Filters | None, alias: str = "p") -> tuple[sql.Composable, dict]:
    """``AND ...`` conditions for ``filters`` (same meaning as rag.store.base.matches)."""
    if not filters:
        return sql.SQL(""), {}
    a = sql.Identifier(alias)
    parts, params = [], {}
    if filters.outlet is not None:
        parts.append(sql.SQL("lower({}.outlet) = lower(%(f_outlet)s)").format(a))
        params["f_outlet"] = filters.outlet
    if filters.author is not None:
        parts.append(sql.SQL("lower(%(f_author)s) = ANY(SELECT lower(x) FROM unnest({}.authors) x)").format(a))
        params["f_author"] = filters.author
    if filters.article is not None:
        parts.append(sql.SQL("({0}.doc_id = %(f_article)s OR {0}.title = %(f_article)s)").format(a))
        params["f_article"] = filters.article
    if filters.since is not None:
        parts.append(sql.SQL("{}.published >= %(f_since)s::date").format(a))
        params["f_since"] = filters.since
    if filters.until is not None:
        parts.append(sql.SQL("{}.published <= %(f_until)s::date").format(a))
        params["f_until"] = filters.until
    return sql.SQL(" AND ") + sql.SQL(" AND ").join(parts), params


# The query's terms as the keyword leg needs them: ids, idf weights (x repeats), sparse vector.
_QUERY_CTE = """
q AS (
  SELECT coalesce(array_agg(t.id ORDER BY t.id), '{{}}') AS ids,
         coalesce(array_agg(qt.n * ln(1 + (s.n - t.df + 0.5) / (t.df + 0.5)) ORDER BY t.id), '{{}}') AS w,
         format('{{%%s}}/%%s', string_agg(t.id || ':' || (qt.n * ln(1 + (s.n - t.df + 0.5) / (t.df + 0.5)))::real,
                ',' ORDER BY t.id), {sparse})::sparsevec AS v
  FROM unnest(%(q_terms)s::text[], %(q_counts)s::int[]) AS qt(term, n)
  JOIN {terms} t ON t.term = qt.term AND t.df > 0
  CROSS JOIN rag_state s
)"""

# exact BM25 of passage p with the current statistics (s: rag_state, q: the query CTE)
_EXACT_BM25 = """(SELECT coalesce(sum(qw.w * x.tf / (x.tf + s.k1 * (1 - s.b + s.b * p.dl / (s.total_len::float8 / s.n)))), 0)
    FROM unnest(p.terms, p.tfs) AS x(id, tf) JOIN unnest(q.ids, q.w) AS qw(id, w) USING (id))"""

_DENSE_LEG = """dense AS (
  SELECT p.pid FROM {passages} p WHERE true {where}
  ORDER BY p.embedding <#> %(q_vec)s::vector LIMIT %(cand)s)"""

_KEYWORD_LEG = """kw AS (
  SELECT p.pid FROM {passages} p
  WHERE p.terms && (SELECT ids FROM q) {where}
  ORDER BY p.bm25 <#> (SELECT v FROM q) LIMIT %(cand)s)"""


def search_sql(gen: int, mode: str, filters: Filters | None) -> tuple[sql.Composed, dict]:
    """One statement for a dense, bm25 or hybrid search: the union of the legs' candidates
    with both exact scores and the passage fields; the caller fuses (rag.store.base.hybrid_top)."""
    t = names(gen)
    where, params = filter_sql(filters)
    legs, union, scores = [], [], []
    with_dense, with_kw = mode in ("dense", "hybrid"), mode in ("bm25", "hybrid")
    if with_kw:
        legs += [sql.SQL(_QUERY_CTE).format(terms=t["terms"], sparse=sql.Literal(SPARSE_DIM)),
                 sql.SQL(_KEYWORD_LEG).format(passages=t["passages"], where=where)]
        union.append("SELECT pid FROM kw")
    if with_dense:
        legs.append(sql.SQL(_DENSE_LEG).format(passages=t["passages"], where=where))
        union.append("SELECT pid FROM dense")
    dense = "-(p.embedding <#> %(q_vec)s::vector)" if with_dense else "0::float8"
    kw = _EXACT_BM25 if with_kw else "0::float8"
    cols = sql.SQL(", ").join(sql.SQL("p.") + sql.Identifier(c) for c in CHUNK_COLUMNS)
    stmt = sql.SQL("WITH {legs}, u AS ({union})\nSELECT p.pid, {dense} AS dense, {kw} AS kw, {cols}\n"
                   "FROM u JOIN {passages} p USING (pid) CROSS JOIN rag_state s{q}").format(
        legs=sql.SQL(",\n").join(legs), union=sql.SQL(" UNION ".join(union)),
        dense=sql.SQL(dense), kw=sql.SQL(kw), cols=cols, passages=t["passages"],
        q=sql.SQL(" CROSS JOIN q" if with_kw else ""))
    return stmt, params


def reweight_sql(gen: int) -> sql.Composed:
    """Rewrite every stored BM25 weight with ``avgdl_ref`` (set beforehand in rag_state)."""
    return sql.SQL("""
UPDATE {passages} p SET bm25 = (
  SELECT format('{{%%s}}/%%s', string_agg(x.id || ':' || (x.tf / (x.tf + s.k1 * (1 - s.b + s.b * p.dl / s.avgdl_ref)))::real,
                ',' ORDER BY x.id), {sparse})::sparsevec
  FROM unnest(p.terms, p.tfs) AS x(id, tf))
FROM rag_state s""").format(passages=names(gen)["passages"], sparse=sql.Literal(SPARSE_DIM))


def delete_docs_sql(gen: int) -> sql.Composed:
    """Delete documents' passages and rows, lower df; returns (passages, their length, documents) removed."""
    t = names(gen)
    return sql.SQL("""
WITH gone AS (DELETE FROM {passages} WHERE doc_id = ANY(%(ids)s) RETURNING terms, dl),
     dfc AS (SELECT x.id, count(*) AS c FROM gone, unnest(gone.terms) AS x(id) GROUP BY x.id),
     upd AS (UPDATE {terms} t SET df = t.df - dfc.c FROM dfc WHERE t.id = dfc.id),
     docs AS (DELETE FROM {docs} WHERE doc_id = ANY(%(ids)s) RETURNING 1)
SELECT count(*), coalesce(sum(dl), 0), (SELECT count(*) FROM docs) FROM gone""").format(**t)
