"""Shared fixtures: a fast fake embedder (also as the "fake" backend), the real bundled model, a seed index.

Fast tests (not marked ``slow``) must never import the real model's stack: the ``_no_model_in_fast_tests``
guard fails any fast test after which ``sentence_transformers`` or ``torch`` has appeared in ``sys.modules``.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import SEED, FakeEmbedder
pytest_plugins = ["llm_servers", "pg_server", "ui_helpers"]  # fake_llm and llama_server; the real PostgreSQL
# server (pg_server, pg_url); the browser and a page on a module's `server`

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# the suite runs with the defaults, whatever the developer's shell sets (subprocesses inherit this)
for _name in [n for n in os.environ if n.startswith("RAG_") or n == "OPENAI_API_KEY"]:
    del os.environ[_name]
# the query encoder's ONNX export (rag/embed/st_onnx.py) goes to a fresh folder, not ~/.cache
os.environ["RAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="rag-test-cache-")
atexit.register(shutil.rmtree, os.environ["RAG_CACHE_DIR"], ignore_errors=True)

HEAVY_MODULES = ("sentence_transformers", "torch")  # what loading the real embedding model imports


@pytest.fixture(autouse=True)
def _no_model_in_fast_tests(request):
    """A fast test that loads the real model's stack fails (in teardown, naming the test)."""
    before = [m for m in HEAVY_MODULES if m in sys.modules]
    yield
    if request.node.get_closest_marker("slow") is None:
        loaded = [m for m in HEAVY_MODULES if m in sys.modules and m not in before]
        if loaded:
            pytest.fail(f"a fast test imported {', '.join(loaded)}: mark it slow or use the fake embedder",
                        pytrace=False)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


class FakeBackend:
    """The "fake" embedder backend, registered in ``rag.embed.EMBEDDERS`` for one test."""

    name = "fake"

    def __init__(self) -> None:
        self.made: list[FakeEmbedder] = []  # every embedder the registry built, in order

    def factory(self, model: str = "", query_runtime: str = "onnx") -> FakeEmbedder:
        """The options ``Assistant`` passes to ``get_embedder`` (model, query_runtime), no more."""
        emb = FakeEmbedder(model)
        self.made.append(emb)
        return emb

    @property
    def encoded(self) -> list[str]:
        """Passage texts encoded by all of them."""
        return [t for e in self.made for t in e.encoded]


@pytest.fixture
def fake_backend(monkeypatch) -> FakeBackend:
    """``Settings(embed_backend="fake")`` and ``rag --backend fake`` use the fake embedder (then unregistered)."""
    from rag.embed import EMBEDDERS

    backend = FakeBackend()
    monkeypatch.setitem(EMBEDDERS._factories, backend.name, backend.factory)
    return backend


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
