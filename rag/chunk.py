"""Sentence-respecting, token-sized passages with exact offsets into the source file."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

from .tokens import count_tokens
from .types import Chunk, Document

# A sentence ends at . ! ? … (plus closing quotes/brackets) before white space and a capital,
# digit or opening quote; or at a line break.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9\u00C0-\u00DD])|[.!?…]+[\"'”’)\]]*(?=\s*$)|\n")
_ABBREV = {"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "e.g", "i.e", "no", "fig",
           "gen", "gov", "sen", "rep", "col", "lt", "sgt", "capt", "inc", "ltd", "co", "corp", "jan",
           "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "pp", "vol",
           "ed", "eds", "al", "approx", "u.s", "u.k", "u.n"}


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, white space excluded."""
    spans, start = [], 0
    for m in _END.finditer(text):
        end = m.end()
        if m.group() != "\n" and _is_abbreviation(text, m.start()):
            continue
        _add_span(spans, text, start, end)
        start = end
    _add_span(spans, text, start, len(text))
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = re.search(r"([\w.]+)$", text[max(0, dot - 12):dot])
    if not word:
        return False
    w = word.group(1).lower()
    # single initials ("D.F. Fleming", "J. Smith") and known abbreviations
    return len(w) == 1 or re.fullmatch(r"(?:\w\.)+\w", w) is not None or w in _ABBREV


def _add_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    seg = text[start:end]
    if seg.strip():
        lead = len(seg) - len(seg.lstrip())
        spans.append((start + lead, start + len(seg.rstrip())))


@dataclass(frozen=True)
class Chunker:
    """Packs whole sentences into passages of at most ``max_tokens`` tiktoken tokens.

    Consecutive passages share up to ``overlap`` tokens of whole sentences. A sentence
    longer than a passage is cut at word boundaries. ``fits`` (optional) is a second
    check, e.g. the embedder's own token limit: a passage failing it is split again.
    """

    max_tokens: int = 200
    overlap: int = 40
    encoding: str = "cl100k_base"

    def params(self) -> dict:
        return {"max_tokens": self.max_tokens, "overlap": self.overlap, "encoding": self.encoding}

    def count(self, text: str) -> int:
        return count_tokens(text, self.encoding)

    def chunk(self, doc: Document, fits: Callable[[str], bool] | None = None) -> list[Chunk]:
        spans = [(doc.start + s, doc.start + e) for s, e in sentence_spans(doc.text)]
        pieces = list(self._pieces(doc, spans))
        chunks = []
        for s, e in self._pack(doc, pieces):
            chunks.extend(self._fit(doc, s, e, fits))
        return [self._make(doc, s, e) for s, e in chunks]

    def _text(self, doc: Document, s: int, e: int) -> str:
        return doc.text[s - doc.start:e - doc.start]

    def _pieces(self, doc: Document, spans) -> Iterator[tuple[int, int, int]]:
        """(start, end, tokens) per sentence; over-long sentences cut at word boundaries."""
        for s, e in spans:
            n = self.count(self._text(doc, s, e))
            if n <= self.max_tokens:
                yield s, e, n
                continue
            words = [(s + m.start(), s + m.end()) for m in re.finditer(r"\S+", self._text(doc, s, e))]
            cur = words[0][0]
            for i, (ws, we) in enumerate(words):
                if i + 1 == len(words) or self.count(self._text(doc, cur, words[i + 1][1])) > self.max_tokens:
                    yield cur, we, self.count(self._text(doc, cur, we))
                    if i + 1 < len(words):
                        cur = words[i + 1][0]

    def _pack(self, doc: Document, pieces: list[tuple[int, int, int]]) -> Iterator[tuple[int, int]]:
        i = 0
        while i < len(pieces):
            j, total = i, 0
            while j < len(pieces) and (j == i or total + pieces[j][2] + 1 <= self.max_tokens):
                total += pieces[j][2] + 1
                j += 1
            yield pieces[i][0], pieces[j - 1][1]
            if j >= len(pieces):
                break
            # next passage starts with the last sentences of this one, up to `overlap` tokens
            back, k = 0, j
            while k - 1 > i and back + pieces[k - 1][2] <= self.overlap:
                back += pieces[k - 1][2]
                k -= 1
            i = k

    def _fit(self, doc: Document, s: int, e: int, fits) -> list[tuple[int, int]]:
        if fits is None or fits(self._text(doc, s, e)):
            return [(s, e)]
        inner = [(a, b) for a, b in ((s + x, s + y) for x, y in sentence_spans(self._text(doc, s, e)))]
        if len(inner) < 2:
            words = [s + m.start() for m in re.finditer(r"\S+", self._text(doc, s, e))]
            if len(words) < 2:
                return [(s, e)]
            mid = words[len(words) // 2]
            left_end = s + len(self._text(doc, s, mid).rstrip())
            return self._fit(doc, s, left_end, fits) + self._fit(doc, mid, e, fits)
        half = len(inner) // 2
        return self._fit(doc, inner[0][0], inner[half - 1][1], fits) + self._fit(doc, inner[half][0], e, fits)

    def _make(self, doc: Document, s: int, e: int) -> Chunk:
        return Chunk(id=f"{doc.id}@{s}-{e}", doc_id=doc.id, text=self._text(doc, s, e), start=s, end=e,
                     title=doc.title, source=doc.source, authors=doc.authors, outlet=doc.outlet, date=doc.date)


def index_text(chunk: Chunk) -> str:
    """The text that is embedded and BM25-indexed: the passage under its title."""
    if chunk.title and not chunk.text.startswith(chunk.title):
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text
