"""Extractive answers: the sentences of the retrieved passages that best answer the question.

Candidates are the passages' sentences that may be quoted (``evidence.is_evidence``: no byline,
headline, book-details line or fragment), each once (``evidence.same_sentence`` merges the copies
overlapping passages hold). Each is scored by ``dense_weight * cosine(question, sentence)`` plus
``(1 - dense_weight) * coverage`` (the share of the question's content words, weighted by rarity
among the candidates, found in the sentence, its neighbours and its title), plus a bonus when it
holds the kind of thing asked for (a year, a number, a new name), plus a small bonus for its
passage's rank; the best ``rerank`` of them also get ``ce_weight * sigmoid(logit / 2)`` of the
bundled cross-encoder (for "why / how / what does X think" questions its query is the question
with the article's headline, the article's thesis).

A factual question is answered by the best sentence (with a close runner-up, or the next sentence
when only that one holds what was asked for); a question asking why, how, or for someone's view by
the two or three best sentences within ``view_margin`` of the best, from different passages where
they exist, in reading order within each article. A sentence that says "he" or "she" for someone
the question names comes with the sentence before it that names them. A question naming an
article's author is answered from that author's articles. Questions about a reviewed book's
pages, publisher or price are answered by the book's record (title, author, details).

Whether to answer at all is decided by the cross-encoder: if no top candidate reaches
``gate_threshold``, the answer is that the articles do not say, and the closest passages still
come with it. Parameters were tuned on tests/dev.jsonl; tests/heldout.jsonl was not tuned on.
The cross-encoder reads the best ``answer_candidates`` (4) candidates: it is most of a question's
time, and 4 is the fewest that keeps the answers of both question files (6 cost 1.7x as much,
16 2.7x as much again, for the same answers; 3 loses one held-out answer; BENCHMARKS.md, "Load").
"""
from __future__ import annotations

import logging
import math
import re
from typing import Iterable, Sequence

import numpy as np

from ..bm25 import Analyzer
from ..chunk import sentence_spans
from ..types import Answer, Chunk, Hit
from .base import ANSWERERS, WholeAnswerer
from .evidence import asks_book_details, is_evidence, same_key, sentence_key
from .kinds import answer_type, asks_for_view, has_type, view_holder
from .quoting import Cand, antecedent, book_record, compose, headline, surname, typed_neighbour, without_authors

log = logging.getLogger(__name__)
NOT_FOUND = "The articles do not say. The closest passages are listed below."


@ANSWERERS.register("extractive")
class ExtractiveAnswerer(WholeAnswerer):
    """Quotes the best supporting sentences of the passages, with [n] citations."""

    name = "extractive"

    def __init__(self, settings=None, embedder=None, *, passages: int = 5, threshold: float = 0.42,
                 dense_weight: float = 0.4, runner_up: float = 0.03, context: float = 0.5,
                 type_bonus: float = 0.1, gate: str = "cross-encoder", gate_threshold: float = -0.6,
                 gate_candidates: int | None = None, ce_weight: float = 0.3, rerank: int | None = None,
                 view_sentences: int = 3, view_margin: float = 0.25) -> None:
        self.embedder = embedder
        self.passages = passages
        self.threshold = threshold
        self.dense_weight = dense_weight if embedder is not None else 0.0
        self.runner_up = runner_up
        self.context = context
        self.type_bonus = type_bonus
        self.gate = _cross_encoder() if gate == "cross-encoder" else None
        self.gate_threshold = gate_threshold
        candidates = settings.answer_candidates if settings is not None else 4  # RAG_ANSWER_CANDIDATES
        self.gate_candidates = gate_candidates or candidates
        self.ce_weight = ce_weight if self.gate is not None else 0.0
        self.rerank = rerank or candidates
        self.view_sentences = view_sentences
        self.view_margin = view_margin
        self.analyzer = Analyzer()

    def warm(self, chunks: Iterable[Chunk], batch: int = 256) -> int:
        """Embed the quotable sentences of ``chunks`` ahead of questions (into the embedder's
        cache, when it has one); returns how many there were."""
        texts = list(dict.fromkeys(c.text[s:e] for c in chunks for s, e in sentence_spans(c.text)
                                   if is_evidence(c.text, s, e, c.title)))
        if self.embedder is not None and self.dense_weight > 0:
            for i in range(0, len(texts), batch):
                self.embedder.encode(texts[i:i + batch], "passage")
        return len(texts)

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[tuple[int, int, int]]:
        """(hit index, start, end) of every quotable sentence, each once, in passage order.

        A question naming an article's author keeps only that author's passages (if any).
        """
        hits = hits[:self.passages]
        named = [i for i, h in enumerate(hits)
                 if any(re.search(rf"\b{re.escape(surname(a))}\b", question) for a in h.chunk.authors)]
        out, seen, keys = [], set(), []
        for h_i in named or range(len(hits)):
            c = hits[h_i].chunk
            for s, e in sentence_spans(c.text):
                if not is_evidence(c.text, s, e, c.title) or (c.source, c.start + s) in seen:
                    continue
                key = sentence_key(c.text[s:e])
                if any(same_key(key, k) for k in keys):
                    continue
                seen.add((c.source, c.start + s))
                keys.append(key)
                out.append((h_i, s, e))
        return out

    def score(self, question: str, hits: Sequence[Hit]) -> list[Cand]:
        """(score, hit index, start, end) per candidate sentence, best first; offsets in chunk.text."""
        return self.rank(question, hits)[0]

    def rank(self, question: str, hits: Sequence[Hit]) -> tuple[list[Cand], dict[tuple[int, int, int], float]]:
        """``score``'s candidates, and the cross-encoder logit of each one it scored (for the gate).

        Nothing is kept on the answerer between calls: one instance serves concurrent questions.
        """
        cands = self.candidates(question, hits)
        gate_logits: dict[tuple[int, int, int], float] = {}
        if not cands:
            return [], gate_logits
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
        view = asks_for_view(question)
        bonus = np.array([self.type_bonus * has_type(t, want, question) - 0.1 * (len(t.split()) < 6)
                          for t in texts])
        if view:  # whose view is asked: named in the sentence, or its author; an author's bio is no view
            holders = view_holder(question)
            for i, (h_i, _, _) in enumerate(cands):
                authors = hits[h_i].chunk.authors
                own_view = any(surname(a) in holders for a in authors)
                bonus[i] += 1.5 * self.type_bonus * (not own_view and any(n in texts[i] for n in holders)) \
                    - 2 * self.type_bonus * any(texts[i].startswith(a) for a in authors)
        prior = np.array([0.02 * (1 - h_i / max(1, len(hits))) for h_i, _, _ in cands])
        scores = self.dense_weight * dense + (1 - self.dense_weight) * cov + bonus + prior
        if self.gate is not None:
            top = np.argsort(-scores, kind="stable")[:max(self.rerank, self.gate_candidates)]
            asked = without_authors(question, hits[:self.passages])  # "the author", not a name in a bio line
            # a view question is read with the article's headline (its thesis) instead; reading it
            # plainly as well changed no answer or refusal of either question file, at 1.7x the CPU
            pairs = [(f"{asked} {headline(hits[cands[i][0]].chunk.title)}" if view else asked, texts[i]) for i in top]
            logits = self.gate.pairs(pairs)
            gate_logits = {cands[i]: float(x) for i, x in zip(top, logits)}
            scores[top] += self.ce_weight / (1 + np.exp(-np.asarray(logits) / 2))
        order = np.argsort(-scores, kind="stable")
        return [(float(scores[i]), *cands[i]) for i in order], gate_logits

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        hits = list(hits)
        if asks_book_details(question):
            record = book_record(question, hits[:self.passages], self.analyzer)
            if record is not None:
                return compose([record], hits, self.name)
        ranked, gate_logits = self.rank(question, hits)
        if not ranked or not self.answerable(question, hits, ranked, gate_logits):
            return Answer(NOT_FOUND, [], hits, answered=False, answerer=self.name)
        want = answer_type(question)
        if want in ("year", "number", "person"):  # a sentence holding what was asked for, if one is close
            typed = next((c for c in ranked if has_type(hits[c[1]].chunk.text[c[2]:c[3]], want, question)), None)
            if typed is not None and typed[0] >= ranked[0][0] - self.type_bonus:
                ranked = [typed] + [c for c in ranked if c != typed]
        if asks_for_view(question):
            best = self._view_sentences(ranked)
        else:
            best = ranked[:1]
            second = ranked[1] if len(ranked) > 1 else None
            if second and second[0] >= ranked[0][0] - self.runner_up and \
                    (want is None or has_type(hits[second[1]].chunk.text[second[2]:second[3]], want, question)):
                best.append(second)
        if want and not any(has_type(hits[h].chunk.text[s:e], want, question) for _, h, s, e in best):
            best += typed_neighbour(question, hits, best[0], want)
        best += antecedent(question, hits, best[0])
        return compose(best, hits, self.name)

    def _view_sentences(self, ranked: list[Cand]) -> list[Cand]:
        """The best two or three sentences within ``view_margin`` of the best, other passages first."""
        close = [c for c in ranked if c[0] >= ranked[0][0] - self.view_margin]
        chosen = [close[0]]
        for c in close[1:]:  # one per passage first, then the rest
            if len(chosen) < self.view_sentences and all(c[1] != x[1] for x in chosen):
                chosen.append(c)
        for c in close[1:]:
            if len(chosen) < self.view_sentences and c not in chosen:
                chosen.append(c)
        return chosen

    def answerable(self, question: str, hits: Sequence[Hit], ranked: list,
                   gate_logits: dict[tuple[int, int, int], float] | None = None) -> bool:
        """Whether the best candidates really answer the question.

        With the cross-encoder (default): its best logit over the top candidate sentences
        must reach ``gate_threshold``; without it, the best score must reach ``threshold``.
        """
        if self.gate is None:
            return ranked[0][0] >= self.threshold
        top = ranked[:self.gate_candidates]
        gate_logits = gate_logits or {}
        logits = [gate_logits[c[1:]] for c in top if c[1:] in gate_logits]
        missing = [hits[h].chunk.text[s:e] for _, h, s, e in top if (h, s, e) not in gate_logits]
        if missing:  # candidates ``rank`` did not send to the cross-encoder
            logits += list(self.gate(without_authors(question, hits[:self.passages]), missing))
        return float(np.max(logits)) >= self.gate_threshold



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
__all__ = ["ExtractiveAnswerer", "NOT_FOUND", "answer_type", "has_type"]
