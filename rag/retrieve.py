"""Retrieval through the store: embed the question, ``Store.search``, then rerank if asked.

Hybrid fuses dense and BM25 by a weighted sum of per-query min-max normalised scores over
the union of both candidate lists: ``w * dense + (1 - w) * bm25`` (rag.store.base.hybrid_top).
"""
from __future__ import annotations

import logging

from .config import check_mode
from .embed import Embedder
from .rerank import NoReranker, Reranker
from .store import Store
from .types import Filters, Hit

log = logging.getLogger(__name__)


class Retriever:
    """Finds the passages of ``store`` that best match a query (``reranker`` None = "none")."""

    def __init__(self, store: Store, embedder: Embedder, *, mode: str = "hybrid",
                 weight: float = 0.5, candidates: int = 100, reranker: Reranker | None = None) -> None:
        self.mode = check_mode(mode)
        self.store = store
        self.embedder = embedder
        self.weight = weight
        self.candidates = candidates
        self.reranker: Reranker = reranker if reranker is not None else NoReranker()

    def __len__(self) -> int:
        return len(self.store)

    def search(self, query: str, k: int = 5, mode: str | None = None, rerank: bool = True,
               filters: Filters | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first, each with its (fused) score."""
        mode = check_mode(mode or self.mode)
        if k < 1:  # an empty store returns no hits itself (len() would cost PostgreSQL a round trip)
            return []
        # a reranker rescoring its top `depth` needs that many candidates, whatever k is
        depth = max(k, self.reranker.depth) if rerank else k
        q = None if mode == "bm25" else self.embedder.encode([query], "query")[0]
        hits = self.store.search(q, query, depth, mode, self.weight, filters, self.candidates)
        if rerank and hits:
            hits = self.reranker.rerank(query, hits)
        return hits[:k]
