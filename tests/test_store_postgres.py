"""The PostgreSQL store against a real server (tests/pg_server.py): BM25 parity with the local
index, hybrid fusion, filters in SQL, whole-or-nothing changes, serialised writers, generations,
HNSW recall, and a password that never shows."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from helpers import FakeEmbedder
from rag.bm25 import Analyzer, BM25Index
from rag.chunk import Chunker, index_text
from rag.config import Settings
from rag.errors import IndexMismatchError, IndexMissingError, RagError
from rag.ingest import read_seeds
from rag.store import DocPassages, open_store
from rag.store import pg_write
from rag.store.base import hybrid_top, matches
from rag.store.postgres import PostgresStore
from rag.types import Chunk, Filters

pytestmark = pytest.mark.slow
QUERIES = ["Russia tanks production 2024", "Witkoff met Putin in Moscow", "the economy of Ukraine",
           "drone drone attacks", "who said that?"]


def manifest(emb, dim=64, model_id=None) -> dict:
    return {"embedder": {"model_id": model_id or emb.model_id, "dim": dim, "max_tokens": None},
            "chunking": Chunker().params(), "bm25": {**Analyzer().params(), "k1": 1.2, "b": 0.75},
            "tokenizer": "tiktoken:cl100k_base", "built_at": "now", "skipped": []}


def passages(docs, emb) -> list[DocPassages]:
    out = []
    for d in docs:
        cs = list(Chunker().chunk(d))
        out.append(DocPassages(d.id, d.content_hash, d.title, d.source, cs,
                               emb.encode([index_text(c) for c in cs])))
    return out


def doc(doc_id: str, words: str, n: int = 2, **fields) -> DocPassages:
    chunks = [Chunk(id=f"{doc_id}#{i}", doc_id=doc_id, text=f"{words} part {i}", start=i * 100,
                    end=i * 100 + 50, title=f"Title {doc_id}", source=f"{doc_id}.txt", **fields) for i in range(n)]
    return DocPassages(doc_id, f"h-{words}", f"Title {doc_id}", f"{doc_id}.txt", chunks,
                       FakeEmbedder().encode([index_text(c) for c in chunks]))


@pytest.fixture
def emb():
    return FakeEmbedder()


@pytest.fixture
def seed_docs(seeds):
    return passages(read_seeds(seeds).documents, FakeEmbedder())


@pytest.fixture
def pg(pg_url, emb, seed_docs):
    store = open_store(Settings(store=pg_url))
    store.apply(manifest(emb), seed_docs, full=True)
    yield store
    store.close()


def all_chunks(store, ups) -> list[Chunk]:
    return [c for u in ups for c in store.chunks_of(u.doc_id)]


def assert_bm25_like_local(store, chunks):
    local = BM25Index.build([index_text(c) for c in chunks])
    for q in QUERIES:
        want = local.scores(q)
        order = [i for i in np.argsort(-want, kind="stable")[:10] if want[i] > 0]
        got = store.search(None, q, 10, mode="bm25")
        assert [h.chunk.id for h in got][:3] == [chunks[i].id for i in order][:3], q
        by_id = {c.id: want[i] for i, c in enumerate(chunks)}
        assert len(got) == len(order)
        for h in got:
            assert h.score == pytest.approx(by_id[h.chunk.id], rel=1e-5, abs=1e-6)


def test_bm25_scores_equal_the_local_index_before_and_after_changes(pg, seed_docs, emb):
    assert_bm25_like_local(pg, all_chunks(pg, seed_docs))
    extra = doc("extra", "drone attacks on Moscow refinery by Ukraine economy", n=3)
    pg.apply(manifest(emb), [extra], [seed_docs[0].doc_id])
    assert_bm25_like_local(pg, all_chunks(pg, seed_docs[1:] + [extra]))
    assert pg.status()["avgdl_ref"] != pg.status()["avgdl"]  # weights not rewritten: scores still exact


def test_large_drift_of_passage_length_rewrites_the_weights(pg, seed_docs, emb):
    short = [doc(f"s{i}", "drone", n=5) for i in range(20)]  # 100 one-word passages: avgdl falls a lot
    pg.apply(manifest(emb), short)
    s = pg.status()
    assert s["avgdl_ref"] == pytest.approx(s["avgdl"])
    assert_bm25_like_local(pg, all_chunks(pg, seed_docs + short))


def test_hybrid_is_the_shared_fusion_of_both_legs(pg, seed_docs, emb):
    chunks = all_chunks(pg, seed_docs)
    vecs = np.vstack([pg.vectors_of(u.doc_id) for u in seed_docs])
    local = BM25Index.build([index_text(c) for c in chunks])
    for q in QUERIES:
        qv = emb.encode([q], "query")[0]
        dense, bm = vecs @ qv, local.scores(q)
        ids, scores = hybrid_top(np.argsort(-dense)[:100], np.flatnonzero(bm > 0), lambda i: dense[i],
                                 lambda i: bm[i], 0.4, 5)
        got = pg.search(qv, q, 5, mode="hybrid", weight=0.4)
        assert [h.chunk.id for h in got] == [chunks[i].id for i in ids], q
        assert [h.score for h in got] == pytest.approx(list(scores), abs=1e-5)
        assert [h.rank for h in got] == [1, 2, 3, 4, 5]
        top = pg.search(qv, q, 3, mode="dense")
        assert [h.chunk.id for h in top] == [chunks[i].id for i in np.argsort(-dense)[:3]]


def test_filters_restrict_before_ranking(pg_url, emb):
    store = open_store(Settings(store=pg_url))
    ups = [doc("a", "drone report", n=4, outlet="Reuters", authors=("Ann Lee",), date="March 3, 2025"),
           doc("b", "drone report", n=4, outlet="AP", authors=("Bo Ng", "Ann Lee"), date="2024-12-30"),
           doc("c", "drone report", n=4, outlet="AP", date=None)]
    store.apply(manifest(emb), ups, full=True)
    chunks = [c for u in ups for c in u.chunks]
    qv = emb.encode(["drone"], "query")[0]
    for f in (Filters(outlet="ap"), Filters(author="ann lee"), Filters(article="Title c"), Filters(article="b"),
              Filters(since="2025-01-01"), Filters(until="2024-12-31"), Filters(outlet="AP", since="2024-01-01")):
        want = {c.id for c in chunks if matches(f, c)}
        for mode in ("dense", "bm25", "hybrid"):
            got = store.search(qv, "drone report", 10, mode=mode, filters=f)
            assert {h.chunk.id for h in got} == want, (f, mode)
    assert store.search(qv, "drone", 3, filters=Filters(outlet="nobody")) == []
    store.close()


class Paused:
    """Holds a writer inside its transaction (after it wrote its rows) until released."""

    def __init__(self, monkeypatch):
        self.inside, self.go = threading.Event(), threading.Event()
        real = pg_write.insert

        def insert(*a, **k):
            out = real(*a, **k)
            if threading.current_thread().name == "paused-writer":
                self.inside.set()
                assert self.go.wait(30)
            return out
        monkeypatch.setattr(pg_write, "insert", insert)

    def start(self, fn) -> threading.Thread:
        t = threading.Thread(target=fn, name="paused-writer")
        t.start()
        assert self.inside.wait(30)
        return t


def test_a_reader_never_sees_half_a_change(pg, pg_url, seed_docs, emb, monkeypatch):
    target = seed_docs[1]
    before = pg.chunks_of(target.doc_id)
    new = replace(doc(target.doc_id, "zyzzyva quuxification", n=2), hash="new")
    writer = open_store(Settings(store=pg_url))
    paused = Paused(monkeypatch)
    t = paused.start(lambda: writer.apply(manifest(emb), [new], [seed_docs[2].doc_id]))
    # the writer has deleted and inserted rows but not committed: readers see the old state whole
    assert [c.id for c in pg.chunks_of(target.doc_id)] == [c.id for c in before]
    assert seed_docs[2].doc_id in pg.documents()
    assert pg.search(None, "zyzzyva quuxification", 5, mode="bm25") == []
    paused.go.set()
    t.join(30)
    assert [c.text for c in pg.chunks_of(target.doc_id)] == [c.text for c in new.chunks]
    assert seed_docs[2].doc_id not in pg.documents()
    assert pg.hashes() == {k: v["hash"] for k, v in pg.documents().items()} and pg.hashes()[target.doc_id] == "new"
    assert len(pg) == sum(len(u.chunks) for u in seed_docs if u.doc_id not in
                          (target.doc_id, seed_docs[2].doc_id)) + 2
    writer.close()


def test_concurrent_writers_are_serialised_by_the_advisory_lock(pg, pg_url, emb, monkeypatch, caplog):
    first, second = open_store(Settings(store=pg_url)), open_store(Settings(store=pg_url))
    paused = Paused(monkeypatch)
    t1 = paused.start(lambda: first.apply(manifest(emb), [doc("one", "first writer")]))
    done = threading.Event()
    caplog.set_level(logging.INFO, logger="rag.store.postgres")
    t2 = threading.Thread(target=lambda: (second.apply(manifest(emb), [doc("two", "second writer")]), done.set()))
    t2.start()
    time.sleep(1.0)
    assert not done.is_set()  # waiting for the lock, not writing beside the first
    waiting = pg._conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    assert waiting.fetchone()[0] == 1
    assert "waiting" in caplog.text
    paused.go.set()
    t1.join(30), t2.join(30)
    assert done.is_set() and {"one", "two"} <= set(pg.documents())
    assert pg.manifest()["documents"] == len(pg.documents())
    first.close(), second.close()


def test_a_crash_mid_change_leaves_the_previous_index(pg, seed_docs, emb, monkeypatch):
    before = (len(pg), pg.documents(), pg.status()["avgdl"])

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(pg_write, "add_df", boom)
    with pytest.raises(KeyboardInterrupt):
        pg.apply(manifest(emb), [doc("late", "late news")], [seed_docs[0].doc_id])
    monkeypatch.undo()
    assert (len(pg), pg.documents(), pg.status()["avgdl"]) == before
    pg.apply(manifest(emb), [doc("late", "late news")])
    assert "late" in pg.documents()


def test_a_new_model_builds_a_new_generation_and_switches_in_one_step(pg, pg_url, seed_docs, emb):
    reader = open_store(Settings(store=pg_url))
    reader.check({"embedder": {"model_id": emb.model_id}})
    qv = emb.encode(["drone"], "query")[0]
    assert reader.search(qv, "drone", 3)
    gen = pg.status()["generation"]
    other = [replace(u, vectors=np.hstack([u.vectors, u.vectors]) / np.sqrt(2)) for u in seed_docs[:2]]
    pg.apply(manifest(emb, dim=128, model_id="fake:other"), other, full=True)
    assert pg.status()["generation"] == gen + 1 and pg.status()["dim"] == 128
    tables = pg._conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", (f"rag_%_g{gen}",))
    assert tables.fetchone()[0] == 0  # the old generation is gone
    with pytest.raises(IndexMismatchError, match="fake:other"):  # the reader notices, not a SQL error
        reader.search(qv, "drone", 3)
    reader.close()


def test_hnsw_recall_against_exact_search(pg_url, emb):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((4000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ups = []
    for d in range(40):
        cs = [Chunk(id=f"r{d}#{i}", doc_id=f"r{d}", text=f"row {d} {i}", start=i, end=i + 1) for i in range(100)]
        ups.append(DocPassages(f"r{d}", "h", f"r{d}", "x", cs, vecs[d * 100:(d + 1) * 100]))
    store = open_store(Settings(store=pg_url, pg_exact_below=0))  # HNSW however small the table
    store.apply(manifest(emb), ups, full=True)
    assert store.status()["dense_search"] == "hnsw"
    store._conn.execute("SET enable_seqscan = off")  # at 4,000 rows the planner would rightly scan them all
    plan = store._conn.execute("EXPLAIN SELECT pid FROM rag_passages_g1 ORDER BY embedding <#> %s LIMIT 10",
                               (vecs[0],)).fetchall()
    assert "Index Scan using rag_passages_g1_embedding_idx" in " ".join(r[0] for r in plan)  # the HNSW index
    queries = rng.standard_normal((50, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    found = 0
    for q in queries:
        exact = {f"r{i // 100}#{i % 100}" for i in np.argsort(-(vecs @ q))[:10]}
        found += len(exact & {h.chunk.id for h in store.search(q, "", 10, mode="dense")})
    assert found / 500 >= 0.98
    store.close()


def test_server_down_or_wrong_password_is_one_line_without_the_password(pg_server):
    from pg_server import PW_PASSWORD, PW_USER

    bad = pg_server.url("postgres", PW_USER, "wrong-" + PW_PASSWORD)
    with pytest.raises(RagError) as err:
        open_store(Settings(store=bad))
    msg = str(err.value)
    assert "password authentication failed" in msg and "\n" not in msg and "wrong-" not in msg
    down = f"postgresql://{PW_USER}:{PW_PASSWORD}@127.0.0.1:9/rag"
    with pytest.raises(RagError) as err:
        open_store(Settings(store=down))
    msg = str(err.value)
    assert "connecting failed" in msg and "\n" not in msg and PW_PASSWORD not in msg


def test_the_password_never_appears_in_repr_status_errors_or_logs(pg_url, emb, caplog):
    from pg_server import PW_PASSWORD

    caplog.set_level(logging.DEBUG)
    store = open_store(Settings(store=pg_url))
    store.apply(manifest(emb), [doc("a", "some words")], full=True)
    store.search(emb.encode(["words"])[0], "words", 3)
    with pytest.raises(RagError) as err:
        store._run("failing on purpose", lambda: store._conn.execute(f"SELECT '{PW_PASSWORD}'::int"))
    shown = [repr(store), str(store.status()), str(err.value), caplog.text, repr(Settings(store=pg_url))]
    assert "***" in str(err.value)
    assert all(PW_PASSWORD not in s for s in shown)
    assert isinstance(store, PostgresStore) and store.status()["location"].startswith("postgresql://")
    store.close()


def test_an_empty_database_has_no_index(pg_url):
    store = open_store(Settings(store=pg_url))
    assert store.manifest() is None and len(store) == 0 and store.documents() == {}
    assert store.search(np.ones(64, np.float32) / 8, "x", 3) == []
    with pytest.raises(IndexMissingError, match="rag index"):
        store.check({})
    store.close()


def test_rag_index_on_ray_into_postgres_then_search_and_status(pg_url, seeds, tmp_path):
    """The whole path as a user runs it: `rag --store URL index --ray`, the real model, a local Ray cluster."""
    import json
    import os
    import subprocess
    import sys

    from pg_server import PW_PASSWORD

    def rag(*args, store=pg_url):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_STORE": store, "RAG_RAY_MIN_PASSAGES": "1"}
        return subprocess.run([sys.executable, "-m", "rag.cli", "--seeds", str(seeds), "-v", *args],
                              capture_output=True, text=True, env=env, timeout=900)

    built = rag("index", "--ray", "--ray-workers", "1")
    assert built.returncode == 0, built.stderr[-2000:]
    assert "6 documents" in built.stdout and "embedding" in built.stderr and "on Ray" in built.stderr
    again = rag("index")
    assert "index up to date" in again.stdout and "0 embedded" in again.stdout
    status = rag("status")
    assert "store: postgres at postgresql://" in status.stdout and "6 documents" in status.stdout
    found = rag("search", "How many tanks did Russia produce in 2024?", "--json", "-k", "3")
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(hits) == 3 and any("tanks" in h["passage"] for h in hits)
    assert all(PW_PASSWORD not in out.stdout + out.stderr for out in (built, again, status, found))
    down = rag("status", store=f"postgresql://rag_pw:{PW_PASSWORD}@127.0.0.1:9/rag")
    assert down.returncode == 1 and down.stderr.count("\n") == 1 and "Traceback" not in down.stderr
    assert down.stderr.startswith("error: PostgreSQL at postgresql://127.0.0.1:9/rag") and PW_PASSWORD not in down.stderr


def test_a_dropped_connection_is_reopened_for_reads(pg, pg_server, emb):
    import psycopg

    qv = emb.encode(["drone"], "query")[0]
    before = [h.chunk.id for h in pg.search(qv, "drone", 3)]
    pid = pg._conn.info.backend_pid
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:  # as a server restart would
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert [h.chunk.id for h in pg.search(qv, "drone", 3)] == before
    assert pg._conn.info.backend_pid != pid


def test_small_collections_are_searched_exactly(pg_url, emb):
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((300, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cs = [Chunk(id=f"x#{i}", doc_id="x", text=f"row {i}", start=i, end=i + 1) for i in range(300)]
    store = open_store(Settings(store=pg_url))  # pg_exact_below 20,000 by default
    store.apply(manifest(emb), [DocPassages("x", "h", "x", "x", cs, vecs)], full=True)
    assert store.status()["dense_search"] == "exact"
    for q in rng.standard_normal((20, 64)).astype(np.float32):
        got = [h.chunk.id for h in store.search(q, "", 10, mode="dense")]
        assert got == [f"x#{i}" for i in np.argsort(-(vecs @ q))[:10]]
    store.close()


def test_a_damaged_index_is_found_by_the_deep_check_and_repaired_by_rag_index(pg_url, seeds, caplog):
    from rag.indexer import build_index

    docs = read_seeds(seeds).documents
    store = open_store(Settings(store=pg_url))
    build_index(docs, store, embedder=FakeEmbedder(), chunker=Chunker())
    store.check(deep=True)
    gen = store.status()["generation"]
    store._conn.execute(f"DELETE FROM rag_passages_g{gen} WHERE ord = 0")  # damage behind the store's back
    other = open_store(Settings(store=pg_url))
    with pytest.raises(IndexMissingError, match="inconsistent.*rag index"):
        other.check(deep=True)
    with caplog.at_level(logging.WARNING):
        report = build_index(docs, other, embedder=FakeEmbedder(), chunker=Chunker())
    assert report.repaired and "repairing" in caplog.text
    other.check(deep=True)
    assert len(other) == other.manifest()["passages"]
    other.close()
    store.close()
