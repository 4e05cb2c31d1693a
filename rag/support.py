"""Is a sentence of an answer supported by the passages it cites?

Support of a claim by a passage = the best match between the claim and the passage's
sentences (and neighbouring sentence pairs) under two signals:

* lexical: share of the claim's content words (lower-cased, crude stem) found in the window
  (``WINDOW_SHARE``) and in the whole passage (the rest: names are often a sentence earlier);
* semantic: cosine of the embeddings (the ``Embedder`` passed in), when one is given.

``score = SEM_WEIGHT * cosine + (1 - SEM_WEIGHT) * lexical`` (lexical alone without an
embedder); supported when ``score >= threshold``.

Calibration (seed file, 200-token passages of rag.chunk): 16 claims restating the evidence
of the answerable dev questions plus 8 paraphrases of them, each scored against its own
passage (should pass) and against the best-matching passage of every other article (should
fail). With all-MiniLM-L6-v2 at 0.45: 23/24 pass, 3/24 false accepts (lexical alone at
0.45: 21/24 and 4/24). Lexical alone at 0.55: 19/24 pass, 0/24 false accepts. Both are
worst cases over all other passages; an answer sentence only meets the one or two it cites.
Known blind spot: a wrong number in an otherwise copied sentence still passes.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .chunk import sentence_spans
from .types import Chunk

log = logging.getLogger(__name__)

SEM_WEIGHT = 0.5
WINDOW_SHARE = 0.7  # lexical = 0.7 * overlap with the window + 0.3 * overlap with the whole passage
THRESHOLD_WITH_EMBEDDINGS = 0.45
THRESHOLD_LEXICAL = 0.55

CITE_RE = re.compile(r"\[(\d{1,2})\]")  # a citation marker [n] once normalised (answer.citations)
MARKER_RE = re.compile(r"\s*" + CITE_RE.pattern)
_WORD_RE = re.compile(r"[A-Za-z\u00C0-\u024F]+(?:['’][A-Za-z]+)?|\d+(?:[.,]\d+)*")
_LEADING_MARKERS = re.compile(rf"(?:{MARKER_RE.pattern})+")
_STOP = frozenset("""
a an the and or but if then than that this these those there here of in on at to for from by with
about as into over under after before between through during without within is are was were be been
being am do does did done has have had having it its it's he she they them his her their hers theirs
him we us our you your i me my mine not no nor so too very can could would should will shall may might
must also just only such what which who whom whose when where why how all any each both either neither
some most more many much other own same one ones up down out off again further once s t according
said says say article articles source sources
""".split())


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[Span]:
    """Sentences of ``text`` with their character offsets; ``[n]`` markers stay with their sentence."""
    spans: list[Span] = []
    for s, e in sentence_spans(text):
        lead = _LEADING_MARKERS.match(text, s, e)
        if lead and spans:  # "… in 2024. [1] Next …": the marker closes the sentence before
            prev = spans.pop()
            spans.append(Span(text[prev.start:lead.end()], prev.start, lead.end()))
            s = lead.end() + len(text[lead.end():e]) - len(text[lead.end():e].lstrip())
        if s < e:
            spans.append(Span(text[s:e], s, e))
    return spans


def _stem(word: str) -> str:
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD_RE.findall(text) if w.lower() not in _STOP}


def lexical_overlap(claim: str, passage: str) -> float:
    """Share of the claim's content words that occur in the passage (1.0 for an empty claim)."""
    cw = content_words(claim)
    if not cw:
        return 1.0
    return len(cw & content_words(passage)) / len(cw)


def strip_markers(text: str) -> str:
    return MARKER_RE.sub("", text).strip()


def _windows(chunk_text: str) -> list[Span]:
    """Sentences of a passage and pairs of neighbours (claims often merge two sentences)."""
    sents = split_sentences(chunk_text)
    out = list(sents)
    for a, b in zip(sents, sents[1:]):
        out.append(Span(chunk_text[a.start:b.end], a.start, b.end))
    return out or [Span(chunk_text, 0, len(chunk_text))]


class SupportChecker:
    """Scores claims against passages; caches passage-window embeddings per chunk id."""

    def __init__(self, embedder=None, threshold: float | None = None) -> None:
        self.embedder = embedder
        self.threshold = threshold if threshold is not None else (
            THRESHOLD_WITH_EMBEDDINGS if embedder is not None else THRESHOLD_LEXICAL)
        self._cache: dict[str, tuple[list[Span], np.ndarray | None]] = {}

    def _passage(self, chunk: Chunk) -> tuple[list[Span], np.ndarray | None]:
        key = f"{chunk.id}:{chunk.start}:{chunk.end}"
        if key not in self._cache:
            wins = _windows(chunk.text)
            vecs = None
            if self.embedder is not None:
                try:
                    vecs = np.asarray(self.embedder.encode([w.text for w in wins], kind="passage"))
                except Exception as exc:  # the check degrades to lexical overlap
                    log.warning("support check: embedding failed (%s); using lexical overlap", exc)
            self._cache[key] = (wins, vecs)
        return self._cache[key]

    def _claim_vec(self, claim: str) -> np.ndarray | None:
        if self.embedder is None:
            return None
        try:
            return np.asarray(self.embedder.encode([claim], kind="passage"))[0]
        except Exception as exc:
            log.warning("support check: embedding failed (%s); using lexical overlap", exc)
            return None

    def scores(self, claim: str, chunk: Chunk, claim_vec: np.ndarray | None = None) -> list[tuple[float, Span]]:
        """(score, window) for every window of the passage."""
        claim = strip_markers(claim)
        wins, vecs = self._passage(chunk)
        lex = np.array([lexical_overlap(claim, w.text) for w in wins], dtype=np.float32)
        lex = WINDOW_SHARE * lex + (1.0 - WINDOW_SHARE) * lexical_overlap(claim, chunk.text)
        if claim_vec is None or vecs is None:
            return list(zip(lex.tolist(), wins))
        cos = vecs @ claim_vec
        combined = SEM_WEIGHT * cos + (1.0 - SEM_WEIGHT) * lex
        return list(zip(combined.tolist(), wins))

    def support(self, claim: str, chunks: Iterable[Chunk]) -> float:
        """Best support score of ``claim`` over ``chunks`` (0.0 without chunks)."""
        vec = self._claim_vec(strip_markers(claim))
        best = 0.0
        for chunk in chunks:
            for score, _ in self.scores(claim, chunk, vec):
                best = max(best, score)
        return best

    def supported(self, claim: str, chunks: Iterable[Chunk]) -> bool:
        return self.support(claim, chunks) >= self.threshold

    def best_sentence(self, claim: str, chunk: Chunk) -> Span | None:
        """The sentence of ``chunk`` that best supports ``claim`` (offsets within chunk.text)."""
        vec = self._claim_vec(strip_markers(claim))
        sents = split_sentences(chunk.text)
        if not sents:
            return None
        by_span = {(w.start, w.end): s for s, w in self.scores(claim, chunk, vec)}
        return max(sents, key=lambda s: by_span.get((s.start, s.end), 0.0))


def best_supporting_sentence(claim: str, chunk: Chunk, embedder=None) -> tuple[str, int, int] | None:
    """(quote, start, end) of the best sentence of ``chunk`` for ``claim``; offsets in the source file."""
    span = SupportChecker(embedder).best_sentence(claim, chunk)
    if span is None:
        return None
    return span.text, chunk.start + span.start, chunk.start + span.end


def unsupported_sentences(answer_text: str, cited: dict[int, Chunk], all_chunks: Sequence[Chunk],
                          checker: SupportChecker) -> list[str]:
    """Sentences of ``answer_text`` no cited passage supports.

    A sentence with markers is checked against the passages it cites; one without markers
    against all passages shown to the model.
    """
    out: list[str] = []
    for span in split_sentences(answer_text):
        nums = [int(n) for n in CITE_RE.findall(span.text) if int(n) in cited]
        claim = strip_markers(span.text)
        if not content_words(claim):
            continue
        chunks = [cited[n] for n in nums if n in cited] if nums else list(all_chunks)
        if not checker.supported(claim, chunks):
            out.append(span.text)
    return out
