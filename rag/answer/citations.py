"""Citation markers in a model's answer: normalise them, read them, and turn them into ``Citation``s.

Models write ``[1, 2]``, ``[1-2]``, ``[Source 1]`` or ``【1】``; ``clean_markers`` rewrites them to
the one form ``[n]`` (``support.CITE_RE``) and drops numbers not shown to the model, so every
later step reads ``[n]`` only. ``cite`` then finds, for each cited passage, the sentence that best
supports what the answer says with that marker (its quote and offsets in the source file).
"""
from __future__ import annotations

import re
from typing import Sequence

from ..support import CITE_RE, SupportChecker, split_sentences, strip_markers
from ..types import Citation
from .prompt import NOT_ANSWERED, Source

# a marker as models write it: [1], [1, 2], [1-3], [Source 1], [passages 1 and 2], 【1】
RAW_MARKER_RE = re.compile(
    r"(?P<pre>[ \t]*)[\[【]\s*(?:(?:sources?|refs?\.?|passages?)\s*)?"
    r"(?P<body>\d{1,2}(?:\s*(?:,|;|-|–|and|&)\s*(?:(?:sources?|passages?)\s*)?\d{1,2})*)\s*[\]】]",
    re.IGNORECASE)
_REFUSAL_RE = re.compile(
    r"\b(?:articles?|sources?|passages?|texts?|context|documents?)\b[^.\n]{0,40}?"
    r"\b(?:do(?:es)?\s+not|don['’]t|doesn['’]t|did\s+not|cannot|can['’]t|fail\s+to)\b[^.\n]{0,30}?"
    r"\b(?:answer|say|mention|contain|provide|include|specify|address|state|discuss)"
    r"|\bno\s+(?:relevant\s+)?information\b|\bnot\s+(?:mentioned|stated|covered)\s+in\s+the\b",
    re.IGNORECASE)
MAX_RANGE = 20  # [1-3] is 1, 2, 3; a wider "range" is read as its two ends


def _expand(body: str) -> list[int]:
    nums: list[int] = []
    for part in re.split(r"\s*(?:,|;|and|&)\s*", body, flags=re.IGNORECASE):
        part = re.sub(r"(?i)sources?|passages?", "", part).strip()
        m = re.fullmatch(r"(\d+)\s*[-–]\s*(\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            nums.extend(range(a, b + 1) if 0 <= b - a <= MAX_RANGE else (a, b))
        elif part.isdigit():
            nums.append(int(part))
    return nums


def clean_markers(text: str, valid: set[int]) -> tuple[str, list[int]]:
    """Normalise citation markers to ``[n]`` and drop those not in ``valid``.

    ``[1, 2]``, ``[1-2]`` and ``[Source 1]`` become ``[1][2]`` / ``[1]``; a marker whose
    numbers are all invalid is removed with the space before it. Returns the text and
    the invalid numbers seen.
    """
    invalid: list[int] = []

    def sub(m: re.Match) -> str:
        keep: list[int] = []
        for n in _expand(m.group("body")):
            if n in valid:
                if n not in keep:
                    keep.append(n)
            else:
                invalid.append(n)
        return m.group("pre") + "".join(f"[{n}]" for n in keep) if keep else ""

    return RAW_MARKER_RE.sub(sub, text).strip(), invalid


def cited_numbers(text: str, valid: set[int] | None = None) -> list[int]:
    """Numbers of ``[n]`` markers (only those in ``valid`` if given), in order of first appearance."""
    seen: list[int] = []
    for m in CITE_RE.finditer(text):
        n = int(m.group(1))
        if (valid is None or n in valid) and n not in seen:
            seen.append(n)
    return seen


def is_refusal(text: str) -> bool:
    """Does the text say the articles do not answer?

    Yes when it is empty, when it opens with such a sentence, or when it contains the
    prescribed reply and cites nothing; a caveat after an answer does not count.
    """
    plain = strip_markers(text)
    if not plain:
        return True
    sents = split_sentences(plain)
    if sents and _REFUSAL_RE.search(sents[0].text):
        return True
    return NOT_ANSWERED.lower().rstrip(".") in plain.lower() and not cited_numbers(text)


def cite(text: str, sources: Sequence[Source], checker: SupportChecker, *, quotes: bool = True) -> list[Citation]:
    """A ``Citation`` per passage ``text`` cites (``[n]`` = ``sources[n-1]``), in order of first citation.

    With ``quotes``, each carries the passage sentence that best supports the answer's sentences
    citing it, with its offsets in the source file.
    """
    by_n = {s.n: s for s in sources}
    sentences = split_sentences(text)
    out: list[Citation] = []
    for n in cited_numbers(text, set(by_n)):
        src = by_n[n]
        chunk = src.hit.chunk
        claims = " ".join(strip_markers(s.text) for s in sentences if f"[{n}]" in s.text)
        span = checker.best_sentence(claims or text, src.chunk) if quotes else None
        if span is None:
            out.append(Citation(n=n, chunk=chunk))
        else:
            out.append(Citation(n=n, chunk=chunk, quote=span.text, quote_start=chunk.start + span.start,
                                quote_end=chunk.start + span.end))
    return out
