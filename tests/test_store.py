"""The store CONTRACT (rag/store/base.py), run against every backend.

A backend joins by adding its name to ``BACKENDS`` and, unless it is ``local``, a fixture
``<name>_url`` giving a ``Settings.store`` value of an empty index for one test.
"""
from __future__ import annotations

import numpy as np
import pytest

from helpers import SEED, FakeEmbedder
from rag.bm25 import BM25Index
from rag.chunk import Chunker, index_text
from rag.config import Settings
from rag.errors import IndexMismatchError, IndexMissingError, UnknownNameError
from rag.fusion import hybrid
from rag.ingest import read_seeds
from rag.store import DocPassages, backend_name, open_store, store_label
from rag.types import Filters

BACKENDS = ["local", pytest.param("postgres", marks=pytest.mark.slow)]  # postgres: tests/pg_server.py
EMB = FakeEmbedder()
MANIFEST = {"embedder": {"model_id": EMB.model_id, "dim": EMB.dim, "max_tokens": EMB.max_tokens},
            "chunking": Chunker().params(), "bm25": {"stem": "english", "stopwords": True},
            "tokenizer": "tiktoken:cl100k_base", "built_at": "2026-01-01T00:00:00", "skipped": []}


@pytest.fixture(params=BACKENDS)
def settings(request, tmp_path) -> Settings:
    """Settings whose ``store`` is an empty index of the backend under test."""
    url = "local" if request.param == "local" else request.getfixturevalue(f"{request.param}_url")
    return Settings(index_dir=tmp_path / "ix", seeds_dir=tmp_path / "seeds", store=url)


@pytest.fixture
def store(settings):
    s = open_store(settings)
    yield s
    s.close()


@pytest.fixture(scope="module")
def docs():
    return sorted(read_seeds(SEED.parent).documents, key=lambda d: d.id)


def passages(doc, chunker=Chunker()) -> DocPassages:
    chunks = chunker.chunk(doc)
    return DocPassages(doc.id, doc.content_hash, doc.title, doc.source, chunks,
                       EMB.encode([index_text(c) for c in chunks]))


def live_chunks(store, docs):
    return [c for d in docs for c in store.chunks_of(d.id)]


def test_an_empty_store_has_no_index_and_says_how_to_build_one(store):
    assert store.manifest() is None and len(store) == 0
    assert store.search(None, "Russia", 5, "bm25") == []
    with pytest.raises(IndexMissingError, match="rag index"):
        store.check()


def test_apply_records_the_manifest_documents_passages_and_vectors(store, docs):
    ups = [passages(d) for d in docs]
    store.apply(MANIFEST, ups, [])
    m = store.manifest()
    assert m["format_version"] == 2 and m["embedder"] == MANIFEST["embedder"]
    assert m["chunking"] == MANIFEST["chunking"] and m["passages"] == sum(len(u.chunks) for u in ups)
    assert m["documents"] == len(docs) == len(store.documents()) and len(store) == m["passages"]
    assert store.documents()[docs[0].id] == ups[0].info()
    assert store.chunks_of(docs[1].id) == ups[1].chunks
    assert np.allclose(store.vectors_of(docs[1].id), ups[1].vectors)
    store.check({"embedder": {"model_id": EMB.model_id}, "chunking": Chunker().params()})
    with pytest.raises(IndexMismatchError, match="other-model.*rag index"):
        store.check({"embedder": {"model_id": "other-model"}})


def test_upsert_replaces_a_documents_passages_and_delete_removes_it(store, settings, docs):
    store.apply(MANIFEST, [passages(d) for d in docs], [])
    before = {c.id for c in live_chunks(store, docs)}
    short = docs[0].__class__(**{**docs[0].__dict__, "text": docs[0].text[:400], "content_hash": "new",
                                 "end": docs[0].start + 400})
    store.apply(MANIFEST, [passages(short)], [docs[1].id])
    assert store.documents()[short.id]["hash"] == "new" and docs[1].id not in store.documents()
    assert store.chunks_of(docs[1].id) == [] and len(store.chunks_of(short.id)) == len(passages(short).chunks)
    gone = before - {c.id for c in live_chunks(store, docs)}
    assert gone and len(store) == len(live_chunks(store, docs))
    for mode in ("bm25", "dense", "hybrid"):
        q = EMB.encode([docs[1].title], "query")[0]
        found = {h.chunk.id for h in store.search(q, docs[1].title + " " + docs[0].title, 200, mode)}
        assert not found & gone
    with open_store(settings) as other:  # another reader sees the committed change
        assert len(other) == len(store) and docs[1].id not in other.documents()


def test_bm25_scores_equal_one_bm25_index_over_the_live_passages(store, docs):
    store.apply(MANIFEST, [passages(d) for d in docs[:3]], [])
    store.apply(MANIFEST, [passages(d) for d in docs[3:]], [docs[0].id])  # changes N, df, avgdl
    live = live_chunks(store, docs)
    ref = BM25Index.build([index_text(c) for c in live])
    row = {c.id: i for i, c in enumerate(live)}
    for query in ("Russia tanks tanks production", "Witkoff Dmitriev Washington", "Bruegel"):
        want = ref.scores(query)
        got = store.search(None, query, 1000, "bm25")
        assert len(got) == int((want > 0).sum())
        assert np.allclose([h.score for h in got], want[[row[h.chunk.id] for h in got]], rtol=1e-5)
        top = min(3, len(got))
        assert [h.chunk.id for h in got[:top]] == [live[i].id for i in np.argsort(-want, kind="stable")[:top]]


def test_dense_and_hybrid_scores_follow_the_shared_formulas(store, docs):
    ups = [passages(d) for d in docs]
    store.apply(MANIFEST, ups, [])
    chunks = [c for u in ups for c in u.chunks]
    vecs = np.vstack([u.vectors for u in ups])
    bm = BM25Index.build([index_text(c) for c in chunks])
    query = "Dmitriev Witkoff talks in Washington"
    q = EMB.encode([query], "query")[0]
    dense = vecs @ q
    got = store.search(q, query, 5, "dense")
    assert [h.chunk.id for h in got] == [chunks[i].id for i in np.argsort(-dense, kind="stable")[:5]]
    assert np.allclose([h.score for h in got], np.sort(dense)[::-1][:5], atol=1e-5)
    cand = 20
    b = bm.scores(query)
    union = np.union1d(np.argsort(-dense, kind="stable")[:cand], np.flatnonzero(b > 0)[np.argsort(-b[b > 0])[:cand]])
    fused = hybrid(dense[union], b[union], 0.7)
    want = union[np.argsort(-fused, kind="stable")[:5]]
    got = store.search(q, query, 5, "hybrid", weight=0.7, candidates=cand)
    assert [h.chunk.id for h in got] == [chunks[i].id for i in want] and [h.rank for h in got] == [1, 2, 3, 4, 5]
    assert np.allclose([h.score for h in got], np.sort(fused)[::-1][:5], atol=1e-5)


def test_filters_apply_before_ranking(store, docs):
    store.apply(MANIFEST, [passages(d) for d in docs], [])
    q = EMB.encode(["Russia"], "query")[0]
    target = docs[2]
    for mode in ("dense", "bm25", "hybrid"):
        got = store.search(q, "Russia war economy", 3, mode, filters=Filters(article=target.title))
        assert got and {h.chunk.doc_id for h in got} == {target.id}
    author = next(d for d in docs if d.authors)
    got = store.search(q, "Russia", 50, "hybrid", filters=Filters(author=author.authors[0].upper()))
    assert got and all(author.authors[0] in h.chunk.authors for h in got)
    dated = [d for d in docs if d.date]
    assert store.search(q, "Russia", 5, "dense", filters=Filters(since="2100-01-01")) == []
    if dated:
        got = store.search(q, "Russia", 100, "dense", filters=Filters(since="2000-01-01"))
        assert {h.chunk.doc_id for h in got} <= {d.id for d in dated}


def test_a_failed_change_leaves_the_previous_state_whole(store, settings, docs):
    store.apply(MANIFEST, [passages(d) for d in docs[:4]], [])
    before = (len(store), dict(store.documents()))

    def interrupted():
        yield passages(docs[4])
        raise KeyboardInterrupt  # Ctrl-C while the change is being written
    with pytest.raises(KeyboardInterrupt):
        store.apply(MANIFEST, interrupted(), [docs[0].id])
    with open_store(settings) as fresh:
        for s in (store, fresh):
            assert (len(s), dict(s.documents())) == before
            s.check()
    store.apply(MANIFEST, [passages(docs[4])], [docs[0].id])  # and the next change completes
    assert docs[4].id in store.documents() and docs[0].id not in store.documents()


def test_full_apply_switches_to_a_new_model_in_one_step(store, docs):
    store.apply(MANIFEST, [passages(d) for d in docs], [])
    small = {**MANIFEST, "embedder": {"model_id": "fake:eight", "dim": 8, "max_tokens": 100}}
    chunks = Chunker().chunk(docs[0])
    vecs = np.eye(8, dtype=np.float32)[np.arange(len(chunks)) % 8]
    store.apply(small, [DocPassages(docs[0].id, "h", docs[0].title, docs[0].source, chunks, vecs)], [], full=True)
    assert store.manifest()["embedder"]["dim"] == 8 and list(store.documents()) == [docs[0].id]
    assert len(store) == len(chunks) and store.search(vecs[0], "Russia", 1, "dense")[0].score == pytest.approx(1)


def test_status_names_the_backend_without_secrets(store, settings):
    st = store.status()
    assert st["backend"] == backend_name(settings.store) and st["passages"] == 0
    assert "secret" not in repr(st)


def test_store_names_are_checked_and_credentials_scrubbed(tmp_path):
    with pytest.raises(UnknownNameError, match="valid: local, or a postgresql"):
        open_store(Settings(index_dir=tmp_path, store="mongodb://u:secret@h/db"))
    assert backend_name("postgresql://u:p@h/db") == "postgres" and backend_name("local") == "local"
    assert store_label("postgresql://rag:secret@db.example:5432/rag") == "postgresql://db.example:5432/rag"
    with pytest.raises(Exception, match="unknown local store option.*valid: path"):
        open_store(Settings(index_dir=tmp_path), colour="red")


def test_publication_dates_are_read_as_the_articles_write_them():
    from datetime import date

    from rag.store import parse_date

    assert parse_date("3/19/25") == parse_date("2025-03-19") == parse_date("March 19, 2025") == date(2025, 3, 19)
    assert parse_date("19 Mar 2025") == date(2025, 3, 19) and parse_date("someday") is None
    assert parse_date("13/45/25") is None and parse_date(None) is None


def test_documents_of_looks_up_only_the_named_documents(store, docs):
    store.apply(MANIFEST, [passages(d) for d in docs[:3]], full=True)
    got = store.documents_of([docs[0].id, "missing.txt", docs[2].id])
    assert set(got) == {docs[0].id, docs[2].id}
    assert got[docs[0].id] == store.documents()[docs[0].id]
    assert store.documents_of([]) == {}
