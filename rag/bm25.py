"""BM25: the analyzer and scoring formulas every store backend shares, and an in-memory index.

Scores are bm25s's ``lucene`` variant: for a query term t in passage d,
``idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))`` with
``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``, summed over the query's terms (a repeated
term counts each time), where N, df and avgdl are statistics of the whole collection. A passage
without any term is given the single token ``EMPTY`` (as bm25s needs), so its length is 1.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import bm25s
import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
K1, B = 1.2, 0.75
EMPTY = "\u2205"


@lru_cache(maxsize=4)
def _stemmer(language: str):
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer(language)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


class Analyzer:
    """Lower-cases, splits on word characters, drops English stop words, stems."""

    def __init__(self, stem: str | None = "english", stopwords: bool = True) -> None:
        self.stem = stem
        self.stopwords = stopwords

    def params(self) -> dict:
        return {"stem": self.stem, "stopwords": self.stopwords}

    def __call__(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        if self.stopwords:
            stop = _stopwords()
            words = [w for w in words if w not in stop]
        if self.stem:
            words = _stemmer(self.stem).stemWords(words)
        return words


class BM25Index:
    """Scores every passage for a query; ``scores(query)`` returns an array aligned with the passages."""

    def __init__(self, model: bm25s.BM25, analyzer: Analyzer, size: int) -> None:
        self.model = model
        self.analyzer = analyzer
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], analyzer: Analyzer | None = None,
              k1: float = 1.2, b: float = 0.75) -> "BM25Index":
        analyzer = analyzer or Analyzer()
        model = bm25s.BM25(k1=k1, b=b)
        tokens = [analyzer(t) or [EMPTY] for t in texts]  # bm25s needs a token in every row
        if texts:
            model.index(tokens, show_progress=False)
        return cls(model, analyzer, len(texts))

    def scores(self, query: str) -> np.ndarray:
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        terms = [t for t in self.analyzer(query) if t in self.model.vocab_dict]
        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.model.get_scores(terms), dtype=np.float32)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "analyzer.json").write_text(json.dumps({**self.analyzer.params(), "size": self.size}))
        if self.size:
            self.model.save(str(folder))

    @classmethod
    def load(cls, folder: Path) -> "BM25Index":
        meta = json.loads((folder / "analyzer.json").read_text())
        analyzer = Analyzer(stem=meta["stem"], stopwords=meta["stopwords"])
        model = bm25s.BM25.load(str(folder), allow_pickle=False) if meta["size"] else bm25s.BM25()
        return cls(model, analyzer, meta["size"])


def term_counts(analyzer: Analyzer, text: str) -> tuple[list[str], list[int]]:
    """The distinct terms of ``text`` (in first-seen order) and their counts; never empty."""
    counts: dict[str, int] = {}
    for t in analyzer(text) or [EMPTY]:
        counts[t] = counts.get(t, 0) + 1
    return list(counts), list(counts.values())


def idf(df: np.ndarray, n: int) -> np.ndarray:
    """Lucene's BM25 inverse document frequency of terms found in ``df`` of ``n`` passages."""
    df = np.asarray(df, dtype=np.float64)
    return np.log1p((n - df + 0.5) / (df + 0.5))


def tf_weight(tf: np.ndarray, dl: np.ndarray, avgdl: float, k1: float = K1, b: float = B) -> np.ndarray:
    """The term-frequency part of the BM25 score of passages of length ``dl``."""
    tf = np.asarray(tf, dtype=np.float64)
    return tf / (tf + k1 * ((1 - b) + b * np.asarray(dl, dtype=np.float64) / avgdl))
