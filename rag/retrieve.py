"""Retrieval through the store: embed the question, ``Store.search``, then rerank if asked.

Hybrid fuses dense and BM25 by a weighted sum of per-query min-max normalised scores over
the union of both candidate lists: ``w * dense + (1 - w) * bm25`` (rag.store.base.hybrid_top).
"""
from __future__ import annotations

import logging

from .config import MODES
from .embed import Embedder
from .errors import RagError
from .rerank import Reranker
from .store import Store
from .types import Filters, Hit

log = logging.getLogger(__name__)


class Retriever:
    """Finds the passages of ``store`` that best match a query."""

    def __init__(self, store: Store, embedder: Embedder, *, mode: str = "hybrid",
                 weight: float = 0.5, candidates: int = 100, reranker: Reranker | None = None) -> None:
        if mode not in MODES:
            raise RagError(f"unknown retrieval mode {mode!r}; valid: {', '.join(MODES)}")
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.weight = weight
        self.candidates = candidates
        self.reranker = reranker

    def __len__(self) -> int:
        return len(self.store)

    def search(self, query: str, k: int = 5, mode: str | None = None, rerank: bool = True,
               filters: Filters | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first, each with its (fused) score."""
        mode = mode or self.mode
        if mode not in MODES:
            raise RagError(f"unknown retrieval mode {mode!r}; valid: {', '.join(MODES)}")
        if k < 1:  # an empty store returns no hits itself (len() would cost PostgreSQL a round trip)
            return []
        # a reranker rescoring its top `depth` needs that many candidates, whatever k is
        depth = max(k, getattr(self.reranker, "depth", k)) if (rerank and self.reranker) else k
        q = None if mode == "bm25" else self.embedder.encode([query], "query")[0]
        hits = self.store.search(q, query, depth, mode, self.weight, filters, self.candidates)
        if rerank and self.reranker is not None and hits:
            hits = self.reranker.rerank(query, hits)
        return hits[:k]
