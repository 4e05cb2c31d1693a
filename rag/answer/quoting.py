"""Choosing and quoting sentences for an extractive answer (helpers of ``extractive``).

``compose`` turns chosen sentences into the answer text and its numbered citations (one per
passage, each sentence once, articles in order of their best sentence, sentences in reading
order); ``antecedent`` adds the sentence naming the person a "he"/"she" sentence is about;
``typed_neighbour`` the next sentence when only it holds what was asked for; ``book_record``
finds the record of the reviewed book a question about pages, publisher or price names.
"""
from __future__ import annotations

import re
from typing import Sequence

from ..chunk import sentence_spans
from ..types import Answer, Citation, Hit
from .evidence import book_records, is_evidence
from .kinds import has_type, may_name_person

Cand = tuple[float, int, int, int]  # (score, hit index, start, end); offsets in chunk.text
_PRONOUN = re.compile(r"\b(?:he|she|his|her|him)\b", re.I)


def compose(chosen: list[Cand], hits: list[Hit], answerer: str) -> Answer:
    """The answer text and citations: articles in order of their best sentence, sentences in reading order."""
    doc_rank: dict[str, int] = {}
    for _, h_i, _, _ in chosen:
        doc_rank.setdefault(hits[h_i].chunk.doc_id, len(doc_rank))
    unique = {(hits[h].chunk.source, hits[h].chunk.start + s): (sc, h, s, e) for sc, h, s, e in reversed(chosen)}
    chosen = sorted(unique.values(), key=lambda c: (doc_rank[hits[c[1]].chunk.doc_id], hits[c[1]].chunk.start + c[2]))
    citations: list[Citation] = []
    parts = []
    for _, h_i, s, e in chosen:
        chunk = hits[h_i].chunk
        n = next((c.n for c in citations if c.chunk.id == chunk.id), len(citations) + 1)
        if n == len(citations) + 1:
            citations.append(Citation(n, chunk, chunk.text[s:e], chunk.start + s, chunk.start + e))
        parts.append(f"{one_line(chunk.text[s:e])} [{n}]")
    return Answer(" ".join(parts), citations, hits, answered=True, answerer=answerer)


def antecedent(question: str, hits: list[Hit], best: Cand) -> list[Cand]:
    """For a best sentence saying "he"/"she" for someone the question names: the sentence before, naming them."""
    _, h_i, s, e = best
    chunk = hits[h_i].chunk
    missing = [n for n in names(question) if n not in chunk.text[s:e] and may_name_person(n)]
    pronoun = _PRONOUN.search(chunk.text[s:e])
    if not missing or not pronoun or any(may_name_person(w) for w in names(chunk.text[s:s + pronoun.start()])):
        return []  # no pronoun, or someone is named before it
    at = chunk.start + s  # the sentence ending closest before it, in any passage of the article
    before = [(h.chunk.start + b, j, a, b) for j, h in enumerate(hits) if h.chunk.doc_id == chunk.doc_id
              for a, b in sentence_spans(h.chunk.text) if h.chunk.start + b <= at]
    if not before:
        return []
    _, j, a, b = max(before)
    prev = hits[j].chunk
    if any(n in prev.text[a:b] for n in missing) and is_evidence(prev.text, a, b, prev.title):
        return [(0.0, j, a, b)]
    return []


def typed_neighbour(question: str, hits: list[Hit], best: Cand, want: str) -> list[Cand]:
    """The sentence after the best one, when it (and not the best) holds what was asked for."""
    _, h_i, s, e = best
    chunk = hits[h_i].chunk
    nxt = next(((a, b) for a, b in sentence_spans(chunk.text) if a >= e), None)
    if nxt and not is_evidence(chunk.text, *nxt, chunk.title):
        return []
    if nxt and has_type(hits[h_i].chunk.text[nxt[0]:nxt[1]], want, question):
        return [(0.0, h_i, nxt[0], nxt[1])]
    return []


def book_record(question: str, hits: Sequence[Hit], analyzer) -> Cand | None:
    """The reviewed book's record (title, author, details) that the question names, if any."""
    q_terms = set(analyzer(question))
    best, best_overlap = None, 1
    for h_i, h in enumerate(hits):
        for s, e in book_records(h.chunk.text):
            overlap = len(q_terms & set(analyzer(h.chunk.text[s:e])))
            if overlap > best_overlap:
                best, best_overlap = (float(overlap), h_i, s, e), overlap
    return best


def names(question: str) -> list[str]:
    """Capitalised words of the question after its first word (the people and things it names)."""
    return re.findall(r"\b[A-Z][a-z]{2,}\b", question[1:])


def without_authors(question: str, hits: Sequence[Hit]) -> str:
    """The question with the names of the passages' authors replaced by "the author"."""
    for a in sorted({a for h in hits for a in h.chunk.authors}, key=len, reverse=True):
        question = re.sub(rf"\b(?:{re.escape(a)}|{re.escape(surname(a))})\b(?:['’]s)?", "the author", question)
    return question


def surname(author: str) -> str:
    return author.split()[-1] if author.split() else "\0"


def headline(title: str) -> str:
    """The headline without a leading "Author:" or "Outlet:" label."""
    return title.split(": ", 1)[-1]


def one_line(text: str) -> str:
    return " ".join(text.split())
