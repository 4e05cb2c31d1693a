"""What an extractive answer may quote: real sentences, each once.

``is_evidence`` rejects what is on the page but is not a claim of the article: the byline
("By Sheila Fitzpatrick, London Review of Books, 3/20/25"), the headline and other headings
(a line of its own without closing punctuation, or the title itself), book-details lines
("Cambridge, 760 pp., £30, May 2024, 978 1 108 47735 2"), "by Author." lines, an editor's
"Note:" above the article, social handles, and fragments (under four words, or a title-case
phrase such as "‘The Kremlin’s Cold War Bid for Global Power.’").

``same_sentence`` says when two candidates are the same sentence (the same place in the same
file, as overlapping passages repeat it, or near-identical wording), so each is quoted once.

``book_records`` finds the title / "by Author." / details block of a reviewed book: the one
place a question about a book's pages, publisher or price is answered, quoted whole so the
figures stay with the book they belong to.
"""
from __future__ import annotations

import re
import unicodedata

from ..ingest import BYLINE

_CLOSING = re.compile(r"[.!?…][\"'”’)\]]*$")
_BY_LINE = re.compile(r"^by\s+\S", re.I)
_DETAILS = re.compile(r"\b\d{1,4}\s*pp\.|\bISBN\b|\b97[89](?:[ -]?\d){10}\b")
_HANDLE = re.compile(r"(?:^|\s)@\w|https?://|www\.")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SMALL = frozenset("a an and as at but by for from in into of on or the to with vs".split())
MIN_WORDS = 4


def line_at(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) of the line(s) of ``text`` holding ``text[start:end]``, white space excluded."""
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    b = len(text) if b < 0 else b
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def is_evidence(text: str, start: int, end: int, title: str = "") -> bool:
    """Whether ``text[start:end]`` (a sentence of a passage) is a claim that may be quoted."""
    sent = text[start:end].strip()
    a, b = line_at(text, start, end)
    line = text[a:b]
    whole_line = (a, b) == (start, end) or line == sent
    words = _WORD.findall(sent)
    if len(words) < MIN_WORDS or _HANDLE.search(sent):
        return False
    if title and norm(sent) in (norm(title), norm(title.split(": ", 1)[-1])):
        return False
    if BYLINE.match(line) or line.lower().startswith("note:"):
        return False
    if whole_line and (_BY_LINE.match(sent) and len(words) <= 8 or _DETAILS.search(sent)
                       or not _CLOSING.search(sent)):
        return False
    return not _title_case(words)


def _title_case(words: list[str]) -> bool:
    """A phrase of capitalised words ("The Kremlin’s Cold War Bid for Global Power")."""
    content = [w for w in words if w.lower() not in _SMALL]
    return len(words) <= 12 and bool(content) and all(w[0].isupper() or w[0].isdigit() for w in content)


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")
    return " ".join(text.replace("“", '"').replace("”", '"').split())


def same_sentence(a: str, b: str, threshold: float = 0.85) -> bool:
    """Identical or near-identical wording (Jaccard overlap of their words ≥ ``threshold``)."""
    return same_key(sentence_key(a), sentence_key(b), threshold)


def sentence_key(text: str) -> tuple[str, frozenset[str]]:
    """What ``same_key`` compares: the normalised text and its set of words (computed once)."""
    n = norm(text)
    return n, frozenset(_WORD.findall(n))


def same_key(a: tuple[str, frozenset[str]], b: tuple[str, frozenset[str]], threshold: float = 0.85) -> bool:
    """``same_sentence`` of two ``sentence_key`` values."""
    if a[0] == b[0]:
        return True
    wa, wb = a[1], b[1]
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= threshold


_BOOK_QUESTION = re.compile(r"\bpages?\b|\bpublisher\b|\bpublished by\b|\bprice\b|\bcost\b|\bISBN\b|\bpp\b", re.I)


def asks_book_details(question: str) -> bool:
    """'How many pages…', 'Which publisher…', 'What does the book cost…'."""
    return _BOOK_QUESTION.search(question) is not None


def book_records(text: str) -> list[tuple[int, int]]:
    """(start, end) of each book record in ``text``: title line, "by …" line, details line."""
    lines = [m.span(1) for m in re.finditer(r"(?m)^[ \t]*(\S(?:.*\S)?)[ \t]*$", text)]
    out = []
    for i in range(2, len(lines)):
        details, by = text[slice(*lines[i])], text[slice(*lines[i - 1])]
        if _DETAILS.search(details) and not _CLOSING.search(details) and _BY_LINE.match(by):
            out.append((lines[i - 2][0], lines[i][1]))
    return out
