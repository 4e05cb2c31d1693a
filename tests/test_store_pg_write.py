"""Writes of the PostgreSQL store (rag/store/pg_write.py) against a real server: postings that
follow every change, a full build ready for index-only scans, the build memory setting, and
tables of the earlier layout rebuilt by `rag index`."""
from __future__ import annotations

import pytest

from helpers import FakeEmbedder
from rag.chunk import Chunker
from rag.config import Settings
from rag.errors import IndexMismatchError, RagError
from rag.indexer import build_index
from rag.ingest import read_seeds
from rag.store import open_store, pg_write

from test_store_postgres import QUERIES, doc, manifest

pytestmark = pytest.mark.slow


@pytest.fixture
def pg(pg_url, seed_docs):
    store = open_store(Settings(store=pg_url))
    store.apply(manifest(FakeEmbedder()), seed_docs, full=True)
    yield store
    store.close()


@pytest.fixture
def seed_docs(seeds):
    from test_store_postgres import passages

    return passages(read_seeds(seeds).documents, FakeEmbedder())


def one(store, query: str, *args):
    return store._conn.execute(query.format(g=store.status()["generation"]), args).fetchone()[0]


def assert_postings_match_passages(store) -> None:
    """One posting per (term, passage) of the live passages, none for passages that are gone."""
    want = one(store, "SELECT coalesce(sum(cardinality(terms)), 0) FROM rag_passages_g{g}")
    assert one(store, "SELECT count(*) FROM rag_post_g{g}") == want > 0
    assert one(store, "SELECT count(*) FROM rag_post_g{g} po LEFT JOIN rag_passages_g{g} p USING (pid) "
                      "WHERE p.pid IS NULL") == 0
    assert one(store, "SELECT count(*) FROM rag_passages_g{g} p CROSS JOIN unnest(p.terms, p.tfs) x(id, tf) "
                      "LEFT JOIN rag_post_g{g} po ON po.term = x.id AND po.pid = p.pid WHERE po.pid IS NULL") == 0


def test_postings_follow_adds_changes_deletes_and_reweighting(pg, seed_docs):
    emb = FakeEmbedder()
    assert_postings_match_passages(pg)
    pg.apply(manifest(emb), [doc("extra", "drone attacks on a refinery", n=3)], [seed_docs[0].doc_id])
    assert_postings_match_passages(pg)
    changed = doc("extra", "a changed text about tanks", n=2)
    pg.apply(manifest(emb), [changed, doc("other", "Moscow talks", n=2)])
    assert_postings_match_passages(pg)
    pg.apply(manifest(emb), [], ["extra"])
    assert_postings_match_passages(pg)
    ref = pg.status()["avgdl_ref"]
    pg.apply(manifest(emb), [doc(f"s{i}", "drone", n=5) for i in range(20)])  # avgdl drops: all rewritten
    assert pg.status()["avgdl_ref"] != ref
    assert_postings_match_passages(pg)
    weights = one(pg, "SELECT count(*) FROM rag_post_g{g} po JOIN rag_passages_g{g} p USING (pid) "
                      "CROSS JOIN rag_state s CROSS JOIN unnest(p.terms, p.tfs) x(id, tf) WHERE x.id = po.term "
                      "AND abs(po.w - x.tf / (x.tf + s.k1 * (1 - s.b + s.b * p.dl / s.avgdl_ref))) > 1e-6")
    assert weights == 0  # every stored weight uses the reference length in force


def test_a_full_build_leaves_the_postings_ready_for_index_only_scans(pg):
    visible, pages = pg._conn.execute(
        "SELECT relallvisible, relpages FROM pg_class WHERE oid = to_regclass(%s)",
        (f"rag_post_g{pg.status()['generation']}",)).fetchone()
    assert pages > 0 and visible == pages  # vacuumed after the build: no heap reads for postings


def test_build_memory_is_a_setting_the_build_runs_with(pg_url, monkeypatch):
    with pytest.raises(RagError, match="pg_build_memory"):
        Settings(pg_build_memory="lots")
    assert Settings.from_env({"RAG_PG_BUILD_MEMORY": "3GB"}).pg_build_memory == "3GB"
    seen = []
    real = pg_write.add_postings

    def spy(conn, *a, **k):  # the server's settings while the postings are written
        seen.append(tuple(conn.execute(f"SHOW {knob}").fetchone()[0] for knob in ("work_mem", "maintenance_work_mem")))
        return real(conn, *a, **k)
    monkeypatch.setattr(pg_write, "add_postings", spy)
    store = open_store(Settings(store=pg_url, pg_build_memory="64MB"))
    store.apply(manifest(FakeEmbedder()), [doc("a", "drone report", n=3)], full=True)
    assert seen == [("64MB", "64MB")] and len(store) == 3
    store.apply(manifest(FakeEmbedder()), [doc("b", "tank report", n=2)])  # a change: the server's own
    assert seen[1] != ("64MB", "64MB")
    store.close()


def test_tables_of_the_earlier_layout_are_rebuilt_by_rag_index(pg, pg_url, seeds):
    """Format 1 kept BM25 weights in a sparsevec table (rag_kw_gN) and had no postings."""
    emb = FakeEmbedder()
    docs = read_seeds(seeds).documents
    build_index(docs, pg, embedder=emb, chunker=Chunker())
    g = pg.status()["generation"]
    pg._conn.execute(f"DROP TABLE rag_post_g{g}")
    pg._conn.execute(f"CREATE TABLE rag_kw_g{g} (pid bigint PRIMARY KEY)")
    reader = open_store(Settings(store=pg_url))
    assert reader.manifest()["format_version"] == 1
    with pytest.raises(IndexMismatchError, match="rag index"):
        reader.check({})
    report = build_index(docs, pg, embedder=emb, chunker=Chunker())  # what `rag index` runs: a full rebuild
    assert report.full
    assert pg.status()["generation"] == g + 1
    assert one(pg, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'rag_kw_%%'") == 0
    reader.check({})
    assert reader.search(emb.encode([QUERIES[0]], "query")[0], QUERIES[0], 3, "bm25")
    reader.close()
