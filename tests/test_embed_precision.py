"""embed_precision: int8 passages and questions from one quantised export, recorded in the index;
bf16 index builds that give the float vectors under the same id."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from helpers import SEED
from rag.chunk import Chunker, index_text
from rag.config import Settings
from rag.embed import embedder_for, get_embedder
from rag.embed.bulk import BULK_MIN, Bf16Passages, native_bf16
from rag.errors import RagError
from rag.indexer import build_index
from rag.passages import chunk_documents
from rag.ingest import read_seeds, split_documents
from rag.store.local import LocalStore

INT8_MIN_COSINE = 0.98   # every seed passage: int8 vector vs fp32 vector (st_onnx.INT8_PARITY)
INT8_MEAN_COSINE = 0.99


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(RagError, match="unknown embed_precision 'int4'; valid: auto, fp32, bf16, int8"):
        Settings(embed_precision="int4")
    with pytest.raises(RagError, match="valid: auto, fp32, bf16, int8"):
        Settings.from_env({"RAG_EMBED_PRECISION": "fp16"})


def test_precision_is_part_of_the_model_id_and_needs_the_onnx_runtime():
    fp32 = embedder_for(Settings())
    int8 = embedder_for(Settings(embed_precision="int8"))
    assert fp32.model_id == "sentence-transformers:all-MiniLM-L6-v2"  # indexes built before stay valid
    assert int8.model_id == "sentence-transformers:all-MiniLM-L6-v2+int8"
    with pytest.raises(ValueError, match="int8 runs on the ONNX export"):
        get_embedder(query_runtime="torch", precision="int8")


def test_bf16_keeps_the_model_id_and_small_builds_stay_on_the_export():
    bf16 = get_embedder(precision="bf16")
    assert bf16.model_id == embedder_for(Settings()).model_id == "sentence-transformers:all-MiniLM-L6-v2"
    assert bf16.for_index(BULK_MIN - 1) is bf16  # an upload: no torch start-up
    for precision in ("fp32", "int8"):
        e = get_embedder(precision=precision)
        assert e.for_index(100_000) is e
    assert Settings().embed_precision == "auto"


@pytest.mark.slow
def test_bf16_builds_give_the_float_vectors(real_embedder, seed_passages):
    bulk = get_embedder(precision="bf16").for_index(100_000)
    assert isinstance(bulk, Bf16Passages)
    got = bulk.encode(seed_passages, "passage")
    want = real_embedder.encode(seed_passages, "passage")
    cos = (want * got).sum(axis=1)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert cos.min() >= 0.9999, cos.min()
    assert np.array_equal(bulk.encode(["a question"], "query"), real_embedder.encode(["a question"], "query"))
    # auto: bf16 exactly where the CPU computes it natively
    auto = get_embedder(precision="auto").for_index(100_000)
    assert isinstance(auto, Bf16Passages) == native_bf16()


@pytest.fixture(scope="module")
def int8_embedder():
    return get_embedder(precision="int8")


@pytest.fixture(scope="module")
def seed_passages(real_embedder):
    text = SEED.read_text(encoding="utf-8")
    per_doc = chunk_documents(split_documents(text, SEED.name), Chunker(), real_embedder)
    return [index_text(c) for cs in per_doc.values() for c in cs]


@pytest.mark.slow
def test_int8_vectors_stay_close_to_fp32_on_every_seed_passage(real_embedder, int8_embedder, seed_passages):
    want = real_embedder.encode(seed_passages, "passage")
    got = int8_embedder.encode(seed_passages, "passage")
    cos = (want * got).sum(axis=1)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert cos.min() >= INT8_MIN_COSINE and cos.mean() >= INT8_MEAN_COSINE, (cos.min(), cos.mean())
    assert cos.min() < 0.99999  # really the quantised model, not the float one under another name


@pytest.mark.slow
def test_questions_use_the_same_precision_as_passages(real_embedder, int8_embedder, seed_passages):
    q = "What did Dmitriev say about the talks in Washington?"
    as_query = int8_embedder.encode([q], "query")
    as_passage = int8_embedder.encode([q], "passage")
    np.testing.assert_allclose(as_query, as_passage, atol=1e-6)
    assert float(as_query[0] @ real_embedder.encode([q], "query")[0]) < 0.99999
    # and the int8 question finds the same best passage among the int8 passages as fp32 does
    p8 = int8_embedder.encode(seed_passages, "passage")
    p32 = real_embedder.encode(seed_passages, "passage")
    assert int(np.argmax(p8 @ as_query[0])) == int(np.argmax(p32 @ real_embedder.encode([q], "query")[0]))


@pytest.mark.slow
def test_the_manifest_records_the_precision_and_a_switch_rebuilds(tmp_path, real_embedder, int8_embedder):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    docs = read_seeds(seeds).documents
    index = tmp_path / "index"
    first = build_index(docs, index, embedder=real_embedder, chunker=Chunker())
    assert first.full and LocalStore(index).manifest()["embedder"]["model_id"] == real_embedder.model_id
    again = build_index(docs, index, embedder=int8_embedder, chunker=Chunker())
    assert again.full and again.embedded == again.passages  # nothing kept from the fp32 vectors
    assert LocalStore(index).manifest()["embedder"]["model_id"].endswith("+int8")
    same = build_index(docs, index, embedder=int8_embedder, chunker=Chunker())
    assert not same.wrote
    back = build_index(docs, index, embedder=real_embedder, chunker=Chunker())
    assert back.full and LocalStore(index).manifest()["embedder"]["model_id"] == "sentence-transformers:all-MiniLM-L6-v2"
