"""Score fusion shared by hybrid retrieval, the reranker and every store backend.

All fusions take scores where higher is better and return fused scores, higher is better.
"""
from __future__ import annotations

import numpy as np

FUSIONS = ("minmax", "rrf", "replace")


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; all-equal values map to 0."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def hybrid(dense: np.ndarray, keyword: np.ndarray, weight: float) -> np.ndarray:
    """The hybrid retrieval score: ``weight * mm(dense) + (1 - weight) * mm(keyword)``.

    ``dense`` and ``keyword`` are the two legs' scores of the same candidates (the union of
    both legs' top lists), normalised per query.
    """
    return weight * minmax(dense) + (1 - weight) * minmax(keyword)


def fuse(first: np.ndarray, second: np.ndarray, *, fusion: str = "minmax",
         weight: float = 0.4, rrf_k: int = 60) -> np.ndarray:
    """Combine first-stage and reranker scores of the same hits; higher is better.

    ``minmax``: ``weight * mm(second) + (1 - weight) * mm(first)``;
    ``rrf``: weighted reciprocal ranks; ``replace``: the reranker's scores alone.
    """
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if fusion == "replace":
        return second
    if fusion == "minmax":
        return hybrid(second, first, weight)
    if fusion == "rrf":
        return weight / (rrf_k + ranks(second)) + (1 - weight) / (rrf_k + ranks(first))
    raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of ``scores`` (highest = 1), ties in input order."""
    r = np.empty(len(scores))
    r[np.argsort(-np.asarray(scores), kind="stable")] = np.arange(1, len(scores) + 1)
    return r
