"""Incremental rebuilds: only new or changed documents are embedded; gone ones disappear."""
import shutil

import pytest

from rag.bm25 import Analyzer
from rag.chunk import Chunker
from rag.errors import SeedsError
from rag.indexer import build_index
from rag.ingest import read_seeds
from rag.store.local import LocalStore


def _build(seeds, index, emb, chunker=None, allow_empty=False):
    found = read_seeds(seeds)
    return build_index(found.documents, index, embedder=emb, chunker=chunker or Chunker(),
                       skipped=found.skipped, allow_empty=allow_empty)


def test_first_build_writes_a_manifest_with_everything_needed(seeds, tmp_path, fake_embedder):
    report = _build(seeds, tmp_path / "ix", fake_embedder)
    assert report.full and len(report.added) == 6 and report.passages == report.embedded
    store = LocalStore(tmp_path / "ix")
    m = store.manifest()
    assert m["format_version"] == 2 and m["passages"] == report.passages
    assert m["embedder"] == {"model_id": "fake:hashed-words", "dim": 64, "max_tokens": 100_000}
    assert m["chunking"] == {"max_tokens": 200, "overlap": 40, "encoding": "cl100k_base"}
    assert m["tokenizer"] == "tiktoken:cl100k_base" and m["bm25"] == {**Analyzer().params(), "k1": 1.2, "b": 0.75}
    docs = store.documents()
    assert m["documents"] == len(docs) == 6 and all(len(d["hash"]) == 16 for d in docs.values())
    assert sum(d["passages"] for d in docs.values()) == report.passages


def test_a_build_embeds_with_what_the_embedder_offers_for_its_size(seeds, tmp_path, fake_embedder):
    from helpers import FakeEmbedder

    bulk, asked = FakeEmbedder(), []

    class Bulky(FakeEmbedder):  # as the sentence-transformers backend offers bf16 builds (rag.embed.bulk)
        def for_index(self, n):
            asked.append(n)
            return bulk

    emb = Bulky()
    report = _build(seeds, tmp_path / "ix", emb)
    assert asked == [report.passages] and len(bulk.encoded) == report.passages and emb.encoded == []


def test_nothing_changed_embeds_nothing_and_writes_nothing(seeds, tmp_path, fake_embedder):
    _build(seeds, tmp_path / "ix", fake_embedder)
    before = (tmp_path / "ix" / "CURRENT").read_text()
    fake_embedder.encoded.clear()
    report = _build(seeds, tmp_path / "ix", fake_embedder)
    assert not report.wrote and report.unchanged == 6 and fake_embedder.encoded == []
    assert (tmp_path / "ix" / "CURRENT").read_text() == before


def test_add_change_delete_embed_only_what_changed(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    (seeds / "new.txt").write_text("Penguin census\n\nThe penguin census counted 4,321 birds.", encoding="utf-8")
    fake_embedder.encoded.clear()
    report = _build(seeds, ix, fake_embedder)
    assert report.added == ["Penguin census"] and report.unchanged == 6 and not report.full
    assert fake_embedder.encoded == ["Penguin census\n\nThe penguin census counted 4,321 birds."]

    (seeds / "new.txt").write_text("Penguin census\n\nThe census counted 5,000 birds.", encoding="utf-8")
    fake_embedder.encoded.clear()
    report = _build(seeds, ix, fake_embedder)
    assert report.changed == ["Penguin census"] and len(fake_embedder.encoded) == 1

    (seeds / "new.txt").unlink()
    fake_embedder.encoded.clear()
    report = _build(seeds, ix, fake_embedder)
    assert report.removed == ["Penguin census"] and fake_embedder.encoded == []
    store = LocalStore(ix)
    chunks = [c for d in read_seeds(seeds).documents for c in store.chunks_of(d.id)]
    assert all("penguin" not in c.text.lower() for c in chunks) and len(chunks) == len(store)
    assert not store.search(None, "penguin census", 5, "bm25")


def test_reused_vectors_are_the_ones_a_full_build_computes(seeds, tmp_path, fake_embedder):
    _build(seeds, tmp_path / "a", fake_embedder)
    (seeds / "new.txt").write_text("Extra\n\nSomething else entirely.", encoding="utf-8")
    _build(seeds, tmp_path / "a", fake_embedder)
    _build(seeds, tmp_path / "b", fake_embedder)
    a, b = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    assert sorted(a.documents()) == sorted(b.documents())
    for doc_id in b.documents():
        assert a.chunks_of(doc_id) == b.chunks_of(doc_id)
        assert (a.vectors_of(doc_id) == b.vectors_of(doc_id)).all()
    for mode in ("dense", "bm25", "hybrid"):  # and they rank alike, scores included
        q = fake_embedder.encode(["Russia tanks"], "query")[0]
        ha, hb = (s.search(q, "Russia tanks", 10, mode) for s in (a, b))
        assert [(h.chunk.id, round(h.score, 5)) for h in ha] == [(h.chunk.id, round(h.score, 5)) for h in hb]


def test_changing_chunking_or_model_rebuilds_everything(seeds, tmp_path, fake_embedder):
    _build(seeds, tmp_path / "ix", fake_embedder)
    report = _build(seeds, tmp_path / "ix", fake_embedder, Chunker(max_tokens=120, overlap=20))
    assert report.full and report.embedded == report.passages
    fake_embedder.model_id = "fake:other-model"
    assert _build(seeds, tmp_path / "ix", fake_embedder, Chunker(max_tokens=120, overlap=20)).full


def test_a_deleted_seed_file_and_bad_files_are_reported(seeds, tmp_path, fake_embedder):
    (seeds / "bad.txt").write_bytes(b"\xff\xfe\x00\x01")
    report = _build(seeds, tmp_path / "ix", fake_embedder)
    assert report.skipped == [("bad.txt", "the file is binary, not text")]
    assert "skipped bad.txt" in report.summary()
    shutil.rmtree(seeds)
    seeds.mkdir()
    with pytest.raises(SeedsError, match="allow-empty"):  # emptying the index is explicit
        _build(seeds, tmp_path / "ix", fake_embedder)
    assert len(LocalStore(tmp_path / "ix")) > 0
    report = _build(seeds, tmp_path / "ix", fake_embedder, allow_empty=True)
    assert len(report.removed) == 6 and report.passages == 0
    assert len(LocalStore(tmp_path / "ix")) == 0


def _doc(i, text=None):
    from rag.types import Document

    body = text or f"Report {i}\n\nThe penguin census number {i} counted birds on the ice."
    return Document(id=f"new-{i}.txt", title=f"Report {i}", text=body, source=f"new-{i}.txt", start=0,
                    end=len(body), content_hash=f"h{i}-{len(body)}")


def test_update_index_adds_replaces_and_removes_only_the_named_documents(seeds, tmp_path, fake_embedder):
    from rag.indexer import update_index

    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    store = LocalStore(ix)
    before = dict(store.documents())
    rep = update_index([_doc(1), _doc(2)], store, embedder=fake_embedder, chunker=Chunker())
    assert rep.added == ["Report 1", "Report 2"] and rep.documents == 8 and rep.embedded >= 2
    changed = _doc(2, "Report 2\n\nA second census counted more birds.")
    rep = update_index([changed, _doc(1)], store, embedder=fake_embedder, chunker=Chunker(), remove=["new-1.txt"])
    assert rep.changed == ["Report 2"] and rep.unchanged == 1 and rep.removed == []  # new-1 was also given: kept
    rep = update_index([], store, embedder=fake_embedder, chunker=Chunker(), remove=["new-1.txt", "nothing.txt"])
    assert rep.removed == ["Report 1"] and rep.documents == 7
    after = LocalStore(ix).documents()
    assert {i: after[i] for i in before} == before  # the other documents are untouched
    assert "second census" in LocalStore(ix).chunks_of("new-2.txt")[0].text


def test_update_index_never_lists_the_collection(seeds, tmp_path, fake_embedder, monkeypatch):
    from rag.indexer import update_index

    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    store = LocalStore(ix)

    from rag.store.local_state import DocumentsView

    def listing(*a, **k):
        raise AssertionError("the whole collection was listed")
    monkeypatch.setattr(store, "hashes", listing)
    monkeypatch.setattr(DocumentsView, "__iter__", listing)  # lookups by id only
    monkeypatch.setattr(DocumentsView, "hashes", listing)
    rep = update_index([_doc(3)], store, embedder=fake_embedder, chunker=Chunker())
    assert rep.added == ["Report 3"]
    assert store.search(None, "penguin census", 1, "bm25")[0].chunk.doc_id == "new-3.txt"


def test_update_index_needs_an_index_built_with_the_same_settings(seeds, tmp_path, fake_embedder):
    from rag.errors import IndexMismatchError, IndexMissingError
    from rag.indexer import update_index

    with pytest.raises(IndexMissingError, match="rag index"):
        update_index([_doc(1)], tmp_path / "none", embedder=fake_embedder, chunker=Chunker())
    _build(seeds, tmp_path / "ix", fake_embedder)
    with pytest.raises(IndexMismatchError, match="rebuild it with `rag index`"):
        update_index([_doc(1)], tmp_path / "ix", embedder=fake_embedder, chunker=Chunker(120, 20))
