"""Extractive answers: the sentences of the retrieved passages that best answer the question.

Each candidate sentence is scored by ``dense_weight * cosine(question, sentence)`` plus
``(1 - dense_weight) * coverage`` (the share of the question's content words, weighted
by rarity among the candidates, that the sentence or its passage's title contains), plus
a small bonus for the passage's rank. Below ``threshold`` the answer is that the articles
do not say; the closest passages still come with it.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from ..bm25 import Analyzer
from ..chunk import sentence_spans
from ..types import Answer, Citation, Hit
from . import ANSWERERS

NOT_FOUND = "The articles do not say. The closest passages are listed below."


@ANSWERERS.register("extractive")
class ExtractiveAnswerer:
    """Quotes the best sentence (and a close runner-up) from the passages, with [n] citations."""

    name = "extractive"

    def __init__(self, settings=None, embedder=None, *, passages: int = 5, threshold: float = 0.42,
                 dense_weight: float = 0.5, runner_up: float = 0.03, **_: object) -> None:
        self.embedder = embedder
        self.passages = passages
        self.threshold = threshold
        self.dense_weight = dense_weight if embedder is not None else 0.0
        self.runner_up = runner_up
        self.analyzer = Analyzer()

    def score(self, question: str, hits: Sequence[Hit]) -> list[tuple[float, int, int, int]]:
        """(score, hit index, start, end) per candidate sentence, best first; offsets in chunk.text."""
        cands = [(h_i, s, e) for h_i, h in enumerate(hits[:self.passages])
                 for s, e in sentence_spans(h.chunk.text)]
        if not cands:
            return []
        texts = [hits[h_i].chunk.text[s:e] for h_i, s, e in cands]
        q_terms = set(self.analyzer(question))
        title_terms = {h_i: set(self.analyzer(hits[h_i].chunk.title)) for h_i, _, _ in cands}
        own = [set(self.analyzer(t)) for t in texts]
        # a sentence is read with its neighbours in the same passage ("he" -> the name before)
        ctx = [own[i] | title_terms[c[0]]
               | (own[i - 1] if i and cands[i - 1][0] == c[0] else set())
               | (own[i + 1] if i + 1 < len(cands) and cands[i + 1][0] == c[0] else set())
               for i, c in enumerate(cands)]
        df = {t: sum(t in st for st in ctx) for t in q_terms}
        weight = {t: math.log(1 + len(cands) / (1 + df[t])) for t in q_terms}
        total = sum(weight.values()) or 1.0
        cov = np.array([0.7 * sum(weight[t] for t in q_terms & o) / total
                        + 0.3 * sum(weight[t] for t in q_terms & c) / total for o, c in zip(own, ctx)])
        if self.dense_weight > 0:
            q = self.embedder.encode([question], "query")[0]
            dense = self.embedder.encode(texts, "passage") @ q
        else:
            dense = np.zeros(len(texts))
        want = answer_type(question)
        bonus = np.array([0.08 * has_type(t, want, question) - 0.1 * (len(t.split()) < 6) for t in texts])
        prior = np.array([0.02 * (1 - h_i / max(1, len(hits))) for h_i, _, _ in cands])
        scores = self.dense_weight * dense + (1 - self.dense_weight) * cov + bonus + prior
        order = np.argsort(-scores, kind="stable")
        return [(float(scores[i]), *cands[i]) for i in order]

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        hits = list(hits)
        ranked = self.score(question, hits)
        if not ranked or ranked[0][0] < self.threshold:
            return Answer(NOT_FOUND, [], hits, answered=False, answerer=self.name)
        best = ranked[:1]
        if len(ranked) > 1 and ranked[1][0] >= ranked[0][0] - self.runner_up:
            best.append(ranked[1])
        citations: list[Citation] = []
        parts = []
        for _, h_i, s, e in best:
            chunk = hits[h_i].chunk
            n = next((c.n for c in citations if c.chunk.id == chunk.id), len(citations) + 1)
            if n == len(citations) + 1:
                citations.append(Citation(n, chunk, chunk.text[s:e], chunk.start + s, chunk.start + e))
            parts.append(f"{_one_line(chunk.text[s:e])} [{n}]")
        return Answer(" ".join(parts), citations, hits, answered=True, answerer=self.name)


_TYPES = [
    ("year", re.compile(r"\b(what|which) year\b|\bwhen\b", re.I)),
    ("number", re.compile(r"\bhow (many|much|long|old|far)\b|\bwhat (number|percentage|share|price|amount)\b", re.I)),
    ("person", re.compile(r"\b(who|whom|whose)\b|\bwhich [\w ]{0,30}?(secretary|envoy|scientist|minister|"
                          r"president|leader|author|official|general|adviser|advisor|historian|journalist)\b", re.I)),
]
_NAME = re.compile(r"\b[A-Z][a-z’']+(?:\s+(?:[A-Z]\.\s*)*[A-Z][a-z’']+)+")


def answer_type(question: str) -> str | None:
    """The kind of thing the question asks for: year, number, person, or None."""
    return next((name for name, rx in _TYPES if rx.search(question)), None)


def has_type(sentence: str, kind: str | None, question: str) -> bool:
    """Whether ``sentence`` holds something of ``kind`` that the question does not already name."""
    if kind == "year":
        return re.search(r"\b(1[5-9]|20)\d\d\b", sentence) is not None
    if kind == "number":
        return any(n not in question for n in re.findall(r"\d[\d,.]*", sentence))
    if kind == "person":
        return any(name not in question for name in _NAME.findall(sentence))
    return False


def _one_line(text: str) -> str:
    return " ".join(text.split())
