"""Sentence-respecting, token-sized passages with exact offsets into the source file."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from .errors import RagError
from .tokens import ENCODINGS, count_tokens, get_encoding
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


EMBEDDER = "embedder"  # ``Chunker.encoding`` value: count in the embedder's own tokens


@dataclass(frozen=True)
class TokenLimit:
    """An embedder's input limit in its own tokens: a passage under its title, with the model's
    special tokens, must count at most ``max_tokens`` (else its tail would be silently dropped)."""

    max_tokens: int
    count_many: Callable[[Sequence[str]], list[int]]  # tokens of each text, special tokens excluded
    special: int = 2  # tokens the model adds to every input ([CLS], [SEP])
    exact: bool = False  # counts add up over white space (WordPiece): packed passages need no recount

    @classmethod
    def of(cls, embedder) -> "TokenLimit | None":
        """The limit of ``embedder`` (its ``max_tokens``, ``count_tokens`` and, when it has one, the
        batch ``count_tokens_many``), or None when it declares no limit."""
        if not embedder.max_tokens:
            return None
        special = embedder.count_tokens("")
        many = getattr(embedder, "count_tokens_many", None)
        if many is None:
            def many(texts):
                return [embedder.count_tokens(t) for t in texts]
        return cls(int(embedder.max_tokens), lambda texts: [n - special for n in many(list(texts))], special,
                   bool(getattr(embedder, "tokens_add_up", False)))


@dataclass(frozen=True)
class Chunker:
    """Packs whole sentences into passages of at most ``max_tokens`` tokens of ``encoding``.

    ``encoding`` is a tiktoken encoding, or ``"embedder"`` to count in the embedder's own tokens
    (then ``chunk`` needs its ``limit``). Consecutive passages share up to ``overlap`` tokens of
    whole sentences. A sentence longer than a passage is cut at word boundaries. ``limit`` (the
    embedder's own, see ``TokenLimit``) is a second budget the packing keeps, so no passage has
    to be split again after it; ``fits`` (optional) is a last check: a passage failing it is split.
    """

    max_tokens: int = 200
    overlap: int = 40
    encoding: str = "cl100k_base"

    def __post_init__(self) -> None:
        if self.encoding != EMBEDDER and self.encoding not in ENCODINGS:
            raise RagError(f"unknown chunk encoding {self.encoding!r}; valid: {', '.join(ENCODINGS + (EMBEDDER,))}")

    def params(self) -> dict:
        return {"max_tokens": self.max_tokens, "overlap": self.overlap, "encoding": self.encoding}

    def count(self, text: str) -> int:
        """Tokens of ``text`` in ``encoding`` (a tiktoken one; see ``chunk`` for "embedder")."""
        return count_tokens(text, self.encoding)

    def chunk(self, doc: Document, fits: Callable[[str], bool] | None = None,
              limit: TokenLimit | None = None) -> list[Chunk]:
        if self.encoding == EMBEDDER and limit is None:
            raise RagError('chunk encoding "embedder" needs the embedder\'s TokenLimit')
        spans = [(doc.start + s, doc.start + e) for s, e in sentence_spans(doc.text)]
        counter = _Counter(self, limit, doc)
        pieces = list(self._pieces(doc, spans, counter))
        chunks = []
        for s, e in self._pack(pieces, counter):
            chunks.extend(self._fit(doc, s, e, fits))
        return [self._make(doc, s, e) for s, e in chunks]

    def _text(self, doc: Document, s: int, e: int) -> str:
        return doc.text[s - doc.start:e - doc.start]

    def _pieces(self, doc: Document, spans, counter: "_Counter") -> Iterator[tuple[int, int, int, int]]:
        """(start, end, tokens, limit tokens) per sentence; over-long ones cut at word boundaries."""
        texts = [self._text(doc, s, e) for s, e in spans]
        for (s, e), (n, m) in zip(spans, counter.counts(texts)):
            if n <= self.max_tokens and m <= counter.budget(s):
                yield s, e, n, m
                continue
            words = self._words(doc, s, e, counter)
            cur = words[0][0]
            for i, (ws, we) in enumerate(words):
                if i + 1 == len(words) or not counter.fits(self._text(doc, cur, words[i + 1][1]), cur):
                    yield (cur, we, *counter.counts([self._text(doc, cur, we)])[0])
                    if i + 1 < len(words):
                        cur = words[i + 1][0]

    def _words(self, doc: Document, s: int, e: int, counter: "_Counter") -> list[tuple[int, int]]:
        """Word spans of ``s..e``; a word too long for a passage on its own is cut into the
        longest runs of characters that fit."""
        out = []
        for w in re.finditer(r"\S+", self._text(doc, s, e)):
            a, b = s + w.start(), s + w.end()
            while not counter.fits(self._text(doc, a, b), a):
                lo, hi = a + 1, b - 1  # the longest a..c that fits, at least one character
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    lo, hi = (mid, hi) if counter.fits(self._text(doc, a, mid), a) else (lo, mid - 1)
                out.append((a, lo))
                a = lo
            out.append((a, b))
        return out

    def _pack(self, pieces: list[tuple[int, int, int, int]], counter: "_Counter") -> Iterator[tuple[int, int]]:
        join = counter.join
        i = 0
        while i < len(pieces):
            j, total, second = i, 0, 0
            budget = counter.budget(pieces[i][0])
            while j < len(pieces) and (j == i or (total + pieces[j][2] + join <= self.max_tokens
                                                  and second + pieces[j][3] <= budget)):
                total += pieces[j][2] + join
                second += pieces[j][3]
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


class _Counter:
    """Token counts of one document's pieces: in the chunker's encoding, and against the limit.

    A passage that does not start the document is embedded under its title (``index_text``), so
    the title's tokens come off its limit budget."""

    def __init__(self, chunker: Chunker, limit: TokenLimit | None, doc: Document) -> None:
        self.chunker, self.limit, self.doc_start = chunker, limit, doc.start
        self.embedder_units = chunker.encoding == EMBEDDER
        # word-pieces add up over white space; tiktoken tokens may merge across it: 1 token of slack
        self.join = 0 if self.embedder_units else 1
        if limit is None:
            self.first = self.other = 1 << 30
        else:
            title = limit.count_many([doc.title])[0] if doc.title else 0
            self.other = limit.max_tokens - limit.special - title
            self.first = self.other if doc.title and not doc.text.startswith(doc.title) else \
                limit.max_tokens - limit.special

    def budget(self, start: int) -> int:
        return self.first if start == self.doc_start else self.other

    def counts(self, texts: list[str]) -> list[tuple[int, int]]:
        """(tokens in the chunker's encoding, tokens against the limit) of each text."""
        second = self.limit.count_many(texts) if self.limit is not None else [0] * len(texts)
        if self.embedder_units:
            return list(zip(second, second))
        enc = get_encoding(self.chunker.encoding)
        # one call per text: encode_ordinary_batch starts a thread pool per call (600 µs against 18)
        return list(zip((len(enc.encode_ordinary(t)) for t in texts), second))

    def fits(self, text: str, start: int) -> bool:
        n, m = self.counts([text])[0]
        return n <= self.chunker.max_tokens and m <= self.budget(start)


def index_text(chunk: Chunk) -> str:
    """The text that is embedded and BM25-indexed: the passage under its title."""
    if chunk.title and not chunk.text.startswith(chunk.title):
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text
