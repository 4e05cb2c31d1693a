"""Shared fixtures: a fast fake embedder, the real bundled model, and a built seed index."""
from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# the suite runs with the defaults, whatever the developer's shell sets (subprocesses inherit this)
for _name in [n for n in os.environ if n.startswith("RAG_") or n == "OPENAI_API_KEY"]:
    del os.environ[_name]
# the query encoder's ONNX export (rag/embed/st_onnx.py) goes to a fresh folder, not ~/.cache
os.environ["RAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="rag-test-cache-")
atexit.register(shutil.rmtree, os.environ["RAG_CACHE_DIR"], ignore_errors=True)

pytest_plugins = ["pg_server"]  # the real PostgreSQL server fixtures: pg_server, pg_url

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_2dc09e9634033631.txt"
DEV = Path(__file__).resolve().parent / "dev.jsonl"


class FakeEmbedder:
    """Hashed bag of words: deterministic, instant, and similar texts get similar vectors."""

    model_id = "fake:hashed-words"
    dim = 64
    max_tokens = 100_000

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def encode(self, texts, kind="passage", *, batch_size=32, progress=False):
        self.encoded.extend(texts if kind == "passage" else [])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i] /= np.linalg.norm(out[i]) or 1.0
        return out


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def seeds(tmp_path) -> Path:
    """A seeds folder holding a copy of the shipped corpus."""
    d = tmp_path / "seeds"
    d.mkdir()
    shutil.copy(SEED, d / SEED.name)
    return d


@pytest.fixture
def fake_assistant(seeds, tmp_path, fake_embedder):
    from rag import Assistant, Settings

    settings = Settings(seeds_dir=seeds, index_dir=tmp_path / "index")
    return Assistant.open(settings=settings, embedder=fake_embedder)


@pytest.fixture(scope="session")
def real_embedder():
    from rag.embed import get_embedder

    return get_embedder()


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory, real_embedder):
    """An Assistant over a copy of seeds/, built with the real bundled model (built once)."""
    from rag import Assistant, Settings

    base = tmp_path_factory.mktemp("seed-index")
    (base / "seeds").mkdir()
    shutil.copy(SEED, base / "seeds" / SEED.name)
    settings = Settings(seeds_dir=base / "seeds", index_dir=base / "index")
    return Assistant.open(settings=settings, embedder=real_embedder)
