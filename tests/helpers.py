"""Shared test data and the fake embedder (imported by test modules; fixtures live in conftest.py)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_2dc09e9634033631.txt"  # the shipped digest of six articles
DEV = Path(__file__).resolve().parent / "dev.jsonl"  # the dev questions about SEED


class FakeEmbedder:
    """Hashed bag of words: deterministic, instant, and similar texts get similar vectors.

    ``model`` only changes ``model_id`` (so an index built with another "model" does not match).
    """

    dim = 64
    max_tokens = 100_000

    def __init__(self, model: str = "") -> None:
        self.model_id = f"fake:{model or 'hashed-words'}"
        self.encoded: list[str] = []  # every passage text encoded so far

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
