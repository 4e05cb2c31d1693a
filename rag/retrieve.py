"""Dense (FAISS), BM25 and hybrid retrieval over a loaded index.

Hybrid fuses the two by a weighted sum of per-query min-max normalised scores over
the union of both candidate lists: ``w * dense + (1 - w) * bm25``.
"""
from __future__ import annotations

import logging
import numpy as np

from .config import check_mode
from .embed import Embedder
from .fusion import hybrid
from .rerank import NoReranker, Reranker
from .store import IndexData
from .types import Hit

log = logging.getLogger(__name__)


class Retriever:
    """Finds the passages of ``index`` that best match a query (``reranker`` None = "none")."""

    def __init__(self, index: IndexData, embedder: Embedder, *, mode: str = "hybrid",
                 weight: float = 0.5, candidates: int = 100, reranker: Reranker | None = None) -> None:
        self.mode = check_mode(mode)
        self.index = index
        self.embedder = embedder
        self.weight = weight
        self.candidates = candidates
        self.reranker: Reranker = reranker if reranker is not None else NoReranker()

    def __len__(self) -> int:
        return len(self.index.chunks)

    def search(self, query: str, k: int = 5, mode: str | None = None, rerank: bool = True) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first, each with its fused score."""
        mode = check_mode(mode or self.mode)
        n = len(self)
        if n == 0 or k < 1:
            return []
        # a reranker rescoring its top `depth` needs that many candidates, whatever k is
        depth = max(k, self.reranker.depth) if rerank else k
        ids, scores = self.scores(query, mode, depth)
        hits = [Hit(self.index.chunks[i], float(s), r + 1) for r, (i, s) in enumerate(zip(ids, scores))]
        if rerank and hits:
            hits = self.reranker.rerank(query, hits)
        return hits[:k]

    def scores(self, query: str, mode: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Passage ids and scores of the ``depth`` best passages, best first."""
        n = len(self)
        depth = min(depth, n)
        if mode == "bm25":
            s = self.index.bm25.scores(query)
            return _top(np.arange(n), s, depth)
        q = self.embedder.encode([query], "query")[0]
        if mode == "dense":
            d, i = self.index.faiss.search(q[None, :], depth)
            return i[0], d[0]
        cand = min(max(self.candidates, depth), n)
        _, dense_ids = self.index.faiss.search(q[None, :], cand)
        bm = self.index.bm25.scores(query)
        bm_ids = np.argpartition(-bm, cand - 1)[:cand] if cand < n else np.arange(n)
        ids = np.union1d(dense_ids[0][dense_ids[0] >= 0], bm_ids)
        dense = self.index.vectors[ids] @ q
        fused = hybrid(dense, bm[ids], self.weight)
        return _top(ids, fused, depth)


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order], scores[order]
