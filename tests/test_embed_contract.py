"""The Embedder contract, checked against every real backend (bundled models, no network)."""
from __future__ import annotations

import numpy as np
import pytest

from rag.embed import EMBEDDERS, Embedder, get_embedder

BACKENDS = ["sentence-transformers", "onnx"]

RELEVANT = ("Photosynthesis in plants converts light energy, water and carbon dioxide "
            "into glucose and oxygen inside the chloroplasts.")
IRRELEVANT = "The central bank raised interest rates by a quarter point to curb inflation."
QUERY = "How do plants make sugar from sunlight?"


# sentence-transformers twice: as configured by default (questions and small batches through its
# ONNX export, builds through torch) and with query_runtime="torch" (torch for everything)
VARIANTS = [("sentence-transformers", {}), ("sentence-transformers", {"query_runtime": "torch"}), ("onnx", {})]


@pytest.fixture(scope="module", params=VARIANTS, ids=["st", "st-torch", "onnx"])
def embedder(request) -> Embedder:
    backend, options = request.param
    return get_embedder(backend, "", **options)


@pytest.mark.slow
def test_backend_is_registered(embedder):
    assert isinstance(embedder, Embedder)
    assert set(BACKENDS) <= set(EMBEDDERS.names())
    assert isinstance(embedder.model_id, str) and embedder.model_id
    assert isinstance(embedder.max_tokens, int) and embedder.max_tokens >= 128


@pytest.mark.slow
def test_shapes_dtype_and_unit_norm(embedder):
    texts = [RELEVANT, IRRELEVANT, "short", "x " * 2000]  # the last one is longer than max_tokens
    vecs = embedder.encode(texts, "passage", batch_size=2)
    assert vecs.shape == (4, embedder.dim)
    assert vecs.dtype == np.float32
    assert np.all(np.isfinite(vecs))
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = embedder.encode([QUERY], "query")
    assert q.shape == (1, embedder.dim) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_empty_input(embedder):
    for kind in ("passage", "query"):
        out = embedder.encode([], kind)
        assert out.shape == (0, embedder.dim)
        assert out.dtype == np.float32


@pytest.mark.slow
def test_deterministic_and_order_preserving(embedder):
    a = embedder.encode([RELEVANT, IRRELEVANT], "passage")
    b = embedder.encode([RELEVANT, IRRELEVANT], "passage")
    np.testing.assert_array_equal(a, b)
    # reversed input gives the same rows, reversed (length-sorted batching must restore order)
    c = embedder.encode([IRRELEVANT, RELEVANT], "passage")
    np.testing.assert_allclose(c[::-1], a, atol=2e-2)
    assert float(c[1] @ a[0]) > 0.99 and float(c[0] @ a[1]) > 0.99


@pytest.mark.slow
def test_relevant_passage_scores_higher(embedder):
    q = embedder.encode([QUERY], "query")[0]
    p = embedder.encode([RELEVANT, IRRELEVANT], "passage")
    rel, irr = float(p[0] @ q), float(p[1] @ q)
    assert rel > irr + 0.1, (rel, irr)


@pytest.mark.slow
def test_query_and_passage_kinds(embedder):
    """Both kinds embed into the same space; a backend with a query prefix makes them differ."""
    q = embedder.encode([QUERY], "query")[0]
    p = embedder.encode([QUERY], "passage")[0]
    assert float(q @ p) > 0.7
    if getattr(embedder, "query_prefix", ""):
        assert not np.allclose(q, p)


@pytest.mark.slow
def test_count_tokens(embedder):
    assert embedder.count_tokens("") >= 2  # [CLS] [SEP]
    short = embedder.count_tokens("hello world")
    assert 3 <= short <= 6
    long = embedder.count_tokens("word " * 1000)
    assert long > embedder.max_tokens  # counts are not truncated
    assert embedder.count_tokens(RELEVANT) < embedder.count_tokens(RELEVANT + " " + IRRELEVANT)


def test_onnx_registered_without_loading_model():
    from rag.embed import onnx

    e = EMBEDDERS.create("onnx", model="")
    assert isinstance(e, onnx.OnnxEmbedder)
    assert e._session is None  # lazy: nothing loaded yet
    assert e.dim == 384 and e.max_tokens == 512
    assert e.model_id == onnx.BUNDLED_ID


def test_onnx_rejects_folder_without_model(tmp_path):
    from rag.embed.onnx import OnnxEmbedder

    with pytest.raises(FileNotFoundError):
        OnnxEmbedder(model=str(tmp_path))


def test_role_declares_what_callers_use():
    class NoCount:
        model_id, dim, max_tokens = "x", 3, 10

        def encode(self, texts, kind="passage", *, batch_size=32, progress=False):
            return np.zeros((len(texts), 3), np.float32)
    assert not isinstance(NoCount(), Embedder)  # count_tokens is part of the role


def test_base_embedder_defaults():
    from rag.embed import BaseEmbedder

    class Tiny(BaseEmbedder):
        model_id = "tiny"

        def encode(self, texts, kind="passage", *, batch_size=32, progress=False):
            return np.ones((len(texts), 5), np.float32) / np.sqrt(5)
    t = Tiny()
    assert isinstance(t, Embedder) and t.dim == 5 and t.max_tokens == 0
    assert t.count_tokens("two words") == 4


def test_embedder_for_passes_the_runtime_settings(tmp_path):
    from rag.config import Settings
    from rag.embed import embedder_for

    st = embedder_for(Settings(query_runtime="torch", onnx_threads=2, cache_dir=tmp_path))
    assert (st.query_runtime, st.threads, st.cache_dir) == ("torch", 2, tmp_path)
    bge = embedder_for(Settings(embed_backend="onnx", onnx_threads=3))  # takes threads, not cache_dir
    assert bge.threads == 3 and bge._session is None
    assert embedder_for(Settings()).threads is None  # 0 = automatic
