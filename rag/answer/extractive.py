"""Extractive answers: the sentences of the retrieved passages that best answer the question.

Each candidate sentence is scored by ``dense_weight * cosine(question, sentence)`` plus
``(1 - dense_weight) * coverage`` (the share of the question's content words, weighted by
rarity among the candidates, found in the sentence, its neighbours and its title), plus a
bonus when it holds the kind of thing asked for (a year, a number, a name), plus a small
bonus for its passage's rank. The best sentence is quoted (with a close runner-up).

Whether to answer at all is decided by the bundled cross-encoder (ms-marco MiniLM): if no
top sentence reaches ``gate_threshold``, the answer is that the articles do not say, and
the closest passages still come with it. Parameters were calibrated on tests/dev.jsonl.
"""
from __future__ import annotations

import logging
import math
import re
from typing import Sequence

import numpy as np

from ..bm25 import Analyzer
from ..chunk import sentence_spans
from ..types import Answer, Citation, Hit
from .base import ANSWERERS, WholeAnswerer

log = logging.getLogger(__name__)
NOT_FOUND = "The articles do not say. The closest passages are listed below."


@ANSWERERS.register("extractive")
class ExtractiveAnswerer(WholeAnswerer):
    """Quotes the best sentence (and a close runner-up) from the passages, with [n] citations."""

    name = "extractive"

    def __init__(self, settings=None, embedder=None, *, passages: int = 5, threshold: float = 0.42,
                 dense_weight: float = 0.4, runner_up: float = 0.03, context: float = 0.5,
                 type_bonus: float = 0.1, gate: str = "cross-encoder", gate_threshold: float = -0.6,
                 gate_candidates: int = 8) -> None:
        self.embedder = embedder
        self.passages = passages
        self.threshold = threshold
        self.dense_weight = dense_weight if embedder is not None else 0.0
        self.runner_up = runner_up
        self.context = context
        self.type_bonus = type_bonus
        self.gate = _cross_encoder() if gate == "cross-encoder" else None
        self.gate_threshold = gate_threshold
        self.gate_candidates = gate_candidates
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
        cov = np.array([(1 - self.context) * sum(weight[t] for t in q_terms & o) / total
                        + self.context * sum(weight[t] for t in q_terms & c) / total for o, c in zip(own, ctx)])
        if self.dense_weight > 0:
            q = self.embedder.encode([question], "query")[0]
            dense = self.embedder.encode(texts, "passage") @ q
        else:
            dense = np.zeros(len(texts))
        want = answer_type(question)
        bonus = np.array([self.type_bonus * has_type(t, want, question) - 0.1 * (len(t.split()) < 6) for t in texts])
        prior = np.array([0.02 * (1 - h_i / max(1, len(hits))) for h_i, _, _ in cands])
        scores = self.dense_weight * dense + (1 - self.dense_weight) * cov + bonus + prior
        order = np.argsort(-scores, kind="stable")
        return [(float(scores[i]), *cands[i]) for i in order]

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        hits = list(hits)
        ranked = self.score(question, hits)
        if not ranked or not self.answerable(question, hits, ranked):
            return Answer(NOT_FOUND, [], hits, answered=False, answerer=self.name)
        best = ranked[:1]
        if len(ranked) > 1 and ranked[1][0] >= ranked[0][0] - self.runner_up:
            best.append(ranked[1])
        want = answer_type(question)
        if want and not any(has_type(hits[h].chunk.text[s:e], want, question) for _, h, s, e in best):
            best += self._typed_neighbour(question, hits, best[0], want)
        citations: list[Citation] = []
        parts = []
        for _, h_i, s, e in best:
            chunk = hits[h_i].chunk
            n = next((c.n for c in citations if c.chunk.id == chunk.id), len(citations) + 1)
            if n == len(citations) + 1:
                citations.append(Citation(n, chunk, chunk.text[s:e], chunk.start + s, chunk.start + e))
            parts.append(f"{_one_line(chunk.text[s:e])} [{n}]")
        return Answer(" ".join(parts), citations, hits, answered=True, answerer=self.name)

    def answerable(self, question: str, hits: Sequence[Hit], ranked: list) -> bool:
        """Whether the best candidates really answer the question.

        With the cross-encoder (default): its best logit over the top candidate sentences
        must reach ``gate_threshold``; without it, the best score must reach ``threshold``.
        """
        if self.gate is None:
            return ranked[0][0] >= self.threshold
        top = [hits[h].chunk.text[s:e] for _, h, s, e in ranked[:self.gate_candidates]]
        return float(np.max(self.gate(question, top))) >= self.gate_threshold

    @staticmethod
    def _typed_neighbour(question, hits, best, want) -> list:
        """The sentence after the best one, when it (and not the best) holds what was asked for."""
        _, h_i, s, e = best
        spans = sentence_spans(hits[h_i].chunk.text)
        nxt = next(((a, b) for a, b in spans if a >= e), None)
        if nxt and has_type(hits[h_i].chunk.text[nxt[0]:nxt[1]], want, question):
            return [(0.0, h_i, nxt[0], nxt[1])]
        return []


def _cross_encoder():
    """The bundled cross-encoder (shared by all answerers), or None if its files are missing."""
    global _CE
    if _CE is None:
        try:
            from ..onnx_runtime import CrossEncoderScorer

            _CE = CrossEncoderScorer()
        except (ImportError, FileNotFoundError) as exc:
            log.warning("no cross-encoder (%s): refusals use the sentence score alone", exc)
            _CE = False
    return _CE or None


_CE = None
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
    if kind == "person":  # a name of two or more capitalised words, new to the question
        return any(name not in question for name in _NAME.findall(sentence))
    return False


def _one_line(text: str) -> str:
    return " ".join(text.split())
