"""The on-disk index: atomic swap, loud failures on missing, damaged or mismatched indexes."""
import pytest

from helpers import SEED
from rag import store
from rag.chunk import Chunker
from rag.errors import IndexMismatchError, IndexMissingError
from rag.indexer import build_index, expected_manifest
from rag.bm25 import Analyzer
from rag.ingest import read_seeds


def _build(seeds, ix, emb):
    return build_index(read_seeds(seeds).documents, ix, embedder=emb, chunker=Chunker())


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexMissingError, match="rag index"):
        store.load_index(tmp_path / "nothing")


def test_a_crash_mid_write_leaves_the_previous_index_loadable(seeds, tmp_path, fake_embedder, monkeypatch):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    before = store.load_index(ix)
    (seeds / "new.txt").write_text("Late news\n\nSomething happened late.", encoding="utf-8")

    def boom(*a, **k):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C while the BM25 files were written
    monkeypatch.setattr(store.BM25Index, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        _build(seeds, ix, fake_embedder)
    monkeypatch.undo()
    after = store.load_index(ix)
    assert after.path == before.path and len(after.chunks) == len(before.chunks)
    assert not list(ix.glob(".*.partial"))
    assert _build(seeds, ix, fake_embedder).added == ["Late news"]  # and the next build completes


def test_half_written_or_damaged_index_fails_loudly(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    live = store.current_path(ix)
    (live / "chunks.jsonl").write_text((live / "chunks.jsonl").read_text().splitlines()[0] + "\n")
    with pytest.raises(IndexMissingError, match="incomplete.*rag index"):
        store.load_index(ix)
    (live / "vectors.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexMissingError, match="damaged"):
        store.load_index(ix)


def test_index_built_with_another_model_or_format_is_refused(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    fake_embedder.model_id = "sentence-transformers:other"
    expect = expected_manifest(fake_embedder, Chunker(), Analyzer())
    with pytest.raises(IndexMismatchError, match="fake:hashed-words.*other.*rag index"):
        store.load_index(ix, expect)
    manifest = store.current_path(ix) / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(IndexMismatchError, match="format 99"):
        store.load_index(ix)


def test_index_is_plain_open_files(seeds, tmp_path, fake_embedder):
    _build(seeds, tmp_path / "ix", fake_embedder)
    live = store.current_path(tmp_path / "ix")
    names = sorted(p.relative_to(live).as_posix() for p in live.rglob("*") if p.is_file())
    assert "manifest.json" in names and "chunks.jsonl" in names and "vectors.faiss" in names
    assert not [n for n in names if n.endswith((".pkl", ".pickle"))]
