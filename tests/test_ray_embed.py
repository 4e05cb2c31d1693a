"""Embedding passages on Ray (rag/embed/ray_embed.py) and the CUDA device choice (rag/embed/device.py).

The slow tests start a real local Ray cluster and use the real bundled model."""
from __future__ import annotations

import pytest

from rag.chunk import Chunker, index_text
from rag.config import Settings
from rag.embed import device as device_mod
from rag.indexer import build_encoder
from rag.embed.ray_embed import PassageEncoder, RayEmbedder, ray_embedder
from rag.errors import RagError
from rag.ingest import read_seeds


class _Recorder:
    """Stands in for sentence_transformers.SentenceTransformer: records the device it was given."""

    devices: list[str] = []

    def __init__(self, path, device=None, **_):
        _Recorder.devices.append(device)


@pytest.fixture
def cuda(monkeypatch):
    torch = pytest.importorskip("torch")

    def set_available(flag: bool):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: flag)
    return set_available


@pytest.mark.slow  # imports torch
def test_auto_device_is_cuda_only_when_torch_sees_one(cuda):
    cuda(True)
    assert device_mod.pick_device("auto") == "cuda" and device_mod.pick_device("cuda:1") == "cuda:1"
    assert device_mod.pick_device("cpu") == "cpu"
    cuda(False)
    assert device_mod.pick_device("auto") == "cpu"
    with pytest.raises(RagError, match="no CUDA device"):
        device_mod.pick_device("cuda")
    with pytest.raises(RagError, match="valid: auto, cpu, cuda"):
        device_mod.pick_device("tpu")


@pytest.mark.slow  # imports sentence-transformers (the model itself is not loaded)
@pytest.mark.parametrize("visible, want", [(True, "cuda"), (False, "cpu")])
def test_sentence_transformers_loads_on_the_gpu_when_visible(cuda, monkeypatch, visible, want):
    import sentence_transformers

    from rag.embed import get_embedder

    cuda(visible)
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", _Recorder)
    _Recorder.devices = []
    emb = get_embedder("sentence-transformers", "", device="auto")
    assert emb.query_runtime == "onnx"  # questions stay on the CPU export either way
    emb.model  # noqa: B018  (loads)
    # a Ray actor (num_gpus > 0 makes Ray expose a GPU to it) makes the same choice
    PassageEncoder("sentence-transformers", "", "auto", threads=0).embedder.model  # noqa: B018
    assert _Recorder.devices == [want, want]


def test_without_an_address_the_process_embeds_itself(fake_embedder):
    assert ray_embedder(fake_embedder, Settings()) is fake_embedder
    r = ray_embedder(fake_embedder, Settings(ray_address="local", ray_concurrency=3, ray_batch_size=16))
    assert isinstance(r, RayEmbedder) and (r.concurrency, r.batch_size, r.model_id) == (3, 16, fake_embedder.model_id)
    assert r.dim == fake_embedder.dim  # the role's other attributes come from the local embedder
    out = r.encode(["a question"], "query")  # questions never go to Ray
    assert out.shape == (1, fake_embedder.dim)
    fake_embedder.for_index = lambda n: "the local bf16 path"  # forwarded by RayEmbedder.__getattr__ ...
    assert build_encoder(r, 100_000) is r  # ... yet an index build still goes to Ray
    with pytest.raises(RagError, match="ray_concurrency"):
        Settings(ray_concurrency=0)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="make test installs .[ray]")
    from rag.embed.ray_embed import ray_connect

    ray_connect("local")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def seed_texts():
    from helpers import SEED
    import shutil
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp())
    shutil.copy(SEED, d / SEED.name)
    docs = read_seeds(d).documents
    shutil.rmtree(d)
    return [index_text(c) for doc in docs for c in Chunker().chunk(doc)]


@pytest.mark.slow
def test_ray_vectors_equal_the_single_process_ones(ray_cluster, real_embedder, seed_texts, monkeypatch):
    seen = {}
    real_map = ray_cluster.data.Dataset.map_batches

    def spy(self, fn, **kwargs):
        seen.update(kwargs)
        return real_map(self, fn, **kwargs)
    monkeypatch.setattr(ray_cluster.data.Dataset, "map_batches", spy)
    local = real_embedder.encode(seed_texts, "passage", batch_size=32, progress=True)  # the indexer's path
    ray_emb = RayEmbedder(real_embedder, backend="sentence-transformers", concurrency=2, batch_size=16, min_job=1)
    spread = ray_emb.encode(seed_texts, "passage")
    assert spread.shape == local.shape
    cos = (spread * local).sum(axis=1)
    assert cos.min() >= 0.9999  # row i is passage i: order kept through the pipeline
    assert (seen["compute"].min_size, seen["compute"].max_size) == (2, 2) and seen["batch_size"] == 16 and seen["num_cpus"] == 1
    assert seen["fn_constructor_kwargs"]["threads"] == 1 and seen["num_gpus"] is None


@pytest.mark.slow
def test_an_index_built_on_ray_equals_the_single_process_index(ray_cluster, real_embedder, seeds, tmp_path):
    from rag.indexer import build_index
    from rag.store import open_store

    docs = read_seeds(seeds).documents
    one, spread = (open_store(Settings(index_dir=tmp_path / name)) for name in ("one", "ray"))
    build_index(docs, one, embedder=real_embedder, chunker=Chunker())
    ray_emb = RayEmbedder(real_embedder, backend="sentence-transformers", concurrency=2, batch_size=32, min_job=1)
    report = build_index(docs, spread, embedder=ray_emb, chunker=Chunker())
    assert report.embedded == len(one) > 0 and len(spread) == len(one)
    assert one.manifest()["embedder"] == spread.manifest()["embedder"]
    for d in docs:
        assert one.chunks_of(d.id) == spread.chunks_of(d.id)
        a, b = one.vectors_of(d.id), spread.vectors_of(d.id)
        assert a.shape == b.shape and (a * b).sum(axis=1).min() >= 0.9999
    one.close(), spread.close()
