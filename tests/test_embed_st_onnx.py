"""Questions through the ONNX export of the sentence-transformers model: same vectors, cached, safe fallback."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from rag.config import Settings
from rag.embed import get_embedder
from rag.embed import st_onnx
from rag.embed.st import bundled_model_path
from rag.errors import RagError

QUESTIONS = ["What did Dmitriev say about the talks in Washington?", "Who wrote Not Corrupt Enough?",
             "  sanctions relief  ", "Ünïcode and digits 1,234?", "A very long question. " * 150]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def torch_embedder():
    return get_embedder(query_runtime="torch")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, torch_embedder):
    """An export of the bundled model, made once for this module."""
    folder = tmp_path_factory.mktemp("export") / "bundle"
    st_onnx.export(torch_embedder.model, folder)
    return folder


def _count_exports(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = st_onnx.export

    def counting(model, folder):
        calls.append(1)
        real(model, folder)
    monkeypatch.setattr(st_onnx, "export", counting)
    return calls


@pytest.mark.slow
def test_onnx_questions_match_torch_vectors(exported, torch_embedder):
    enc = st_onnx.OnnxQueryEncoder(exported)
    got = enc.encode(QUESTIONS)
    want = torch_embedder.encode(QUESTIONS, "query")
    assert got.shape == want.shape == (len(QUESTIONS), torch_embedder.dim)
    assert float((got * want).sum(axis=1).min()) > 0.9999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_export_made_once_then_reused(cache, monkeypatch, torch_embedder):
    calls = _count_exports(monkeypatch)
    first = get_embedder()
    q1 = first.encode(QUESTIONS[:2], "query")
    assert calls == [1] and first.query_runtime == "onnx"
    assert len(list((cache / "st-onnx").glob("*/model.onnx"))) == 1
    second = get_embedder()  # a new process would do the same: load, no export, no torch model
    q2 = second.encode(QUESTIONS[:2], "query")
    assert calls == [1] and second._model is None
    np.testing.assert_array_equal(q1, q2)
    assert float((q2 * torch_embedder.encode(QUESTIONS[:2], "query")).sum(axis=1).min()) > 0.9999


@pytest.mark.slow
def test_damaged_cache_is_exported_again(cache, monkeypatch, exported, caplog):
    folder = cache / "st-onnx" / st_onnx.fingerprint(bundled_model_path())
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text((exported / "meta.json").read_text())
    (folder / "tokenizer.json").write_text((exported / "tokenizer.json").read_text())
    (folder / "model.onnx").write_bytes(b"half-written")
    calls = _count_exports(monkeypatch)
    with caplog.at_level(logging.WARNING):
        vec = get_embedder().encode(["Who is Kirill Dmitriev?"], "query")
    assert calls == [1] and "exporting again" in caplog.text
    assert vec.shape == (1, 384) and (folder / "model.onnx").stat().st_size > 1_000_000


@pytest.mark.slow
def test_failed_export_falls_back_to_torch(cache, monkeypatch, torch_embedder, caplog):
    def broken(model, folder):
        raise RuntimeError("exporter crashed")
    monkeypatch.setattr(st_onnx, "export", broken)
    e = get_embedder()
    with caplog.at_level(logging.WARNING):
        got = e.encode(QUESTIONS[:2], "query")
    assert e.query_runtime == "torch" and "exporter crashed" in caplog.text
    np.testing.assert_allclose(got, torch_embedder.encode(QUESTIONS[:2], "query"), atol=1e-5)
    assert not list(cache.glob("st-onnx/*/model.onnx"))  # nothing half-made left behind


@pytest.mark.slow
def test_export_that_disagrees_with_torch_is_not_used(cache, monkeypatch, caplog):
    monkeypatch.setattr(st_onnx, "PARITY", 1.01)  # no export can pass
    e = get_embedder()
    with caplog.at_level(logging.WARNING):
        e.encode(["Who is Kirill Dmitriev?"], "query")
    assert e.query_runtime == "torch" and "differ from torch" in caplog.text
    assert not list(cache.glob("st-onnx/*/model.onnx"))


def test_query_runtime_is_validated():
    with pytest.raises(RagError, match="valid: onnx, torch"):
        Settings(query_runtime="tensorrt")
    assert Settings.from_env({"RAG_QUERY_RUNTIME": "torch"}).query_runtime == "torch"
    with pytest.raises(ValueError, match="valid: onnx, torch"):
        get_embedder(query_runtime="gpu")


def test_fingerprint_follows_the_model_files(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.safetensors").write_bytes(b"weights v1")
    a = st_onnx.fingerprint(str(tmp_path / "m"))
    assert a == st_onnx.fingerprint(str(tmp_path / "m"))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"weights v2!")
    assert st_onnx.fingerprint(str(tmp_path / "m")) != a
    assert st_onnx.fingerprint("sentence-transformers/all-mpnet-base-v2") != a


@pytest.mark.slow
def test_answering_needs_no_torch_model(cache, seeds, tmp_path, torch_embedder):
    """Build with one embedder; a second process-like embedder answers without loading torch."""
    from rag import Assistant

    settings = Settings(seeds_dir=seeds, index_dir=tmp_path / "index")
    Assistant.open(settings=settings)  # builds the index (torch) and makes the export
    fresh = get_embedder()
    a = Assistant.open(settings=settings, embedder=fresh, build=False)
    ans = a.ask("Who is Kirill Dmitriev?")
    assert ans.citations and "Dmitriev" in ans.text
    assert fresh._model is None  # question, sentences and sizes all came from the export
    sents = ["Kirill Dmitriev heads the Russian Direct Investment Fund.", "Short one.", "x " * 400]
    np.testing.assert_allclose(fresh.encode(sents, "passage"), torch_embedder.model.encode(
        sents, normalize_embeddings=True), atol=2e-4)
