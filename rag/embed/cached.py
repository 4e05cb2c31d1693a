"""An embedder that remembers the vectors of texts it has encoded (least recently used first out).

Answerers embed the sentences of the passages they read; the same passages come back for many
questions, so their sentences are embedded once per process instead of once per question. The
cache is bounded (``size`` texts per kind; 0 turns it off), shared by concurrent questions (one
lock, held only to look up and store, never while the model runs) and keyed by the exact text,
so a hit returns exactly the vector the model gave.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from .base import Embedder, Kind


class CachedEmbedder:
    """Wraps ``embedder``; ``encode`` computes only the texts it has not seen (in one batch)."""

    def __init__(self, embedder: Embedder, size: int = 20_000) -> None:
        self.inner = embedder
        self.size = max(0, int(size))
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __getattr__(self, name: str):  # model_id, dim, max_tokens, count_tokens, ...
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, size={self.size})"

    def __len__(self) -> int:
        return len(self._vectors)

    def encode(self, texts: Sequence[str], kind: Kind = "passage", *,
               batch_size: int = 32, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        if not self.size or not texts:
            return self.inner.encode(texts, kind, batch_size=batch_size, progress=progress)
        found: dict[int, np.ndarray] = {}
        with self._lock:
            for i, t in enumerate(texts):
                vec = self._vectors.get((kind, t))
                if vec is not None:
                    self._vectors.move_to_end((kind, t))
                    found[i] = vec
            self.hits += len(found)
            self.misses += len(texts) - len(found)
        todo = list(dict.fromkeys(t for i, t in enumerate(texts) if i not in found))
        new = {}
        if todo:
            vecs = np.asarray(self.inner.encode(todo, kind, batch_size=batch_size, progress=progress),
                              dtype=np.float32)
            new = dict(zip(todo, vecs))
            with self._lock:
                for t, v in new.items():
                    self._vectors[(kind, t)] = v
                    self._vectors.move_to_end((kind, t))
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([found[i] if i in found else new[t] for i, t in enumerate(texts)])
