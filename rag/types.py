"""Value types that cross module borders."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

from .dates import parse_date


def byline(authors: tuple[str, ...], outlet: str | None, date: str | None) -> str:
    """'A and B, Outlet, date' with whatever parts are known."""
    parts = [" and ".join(authors)] if authors else []
    return ", ".join(parts + [p for p in (outlet, date) if p])


@dataclass(frozen=True)
class Document:
    """One article: a whole file, or one article of a digest file.

    ``text`` is ``source_text[start:end]`` of the file at ``source``. ``date`` is the date as the
    byline writes it, ``published`` the same date in ISO form (``YYYY-MM-DD``; parsed from ``date``
    when not given, None if it cannot be read).
    """

    id: str
    title: str
    text: str
    source: str  # path of the file, relative to the seeds folder
    start: int = 0
    end: int = 0
    authors: tuple[str, ...] = ()
    outlet: str | None = None
    date: str | None = None
    content_hash: str = ""
    published: str | None = None

    def __post_init__(self) -> None:
        if self.published is None and self.date:
            object.__setattr__(self, "published", parse_date(self.date))

    @property
    def byline(self) -> str:
        """'Author, Outlet, date' with whatever parts are known."""
        return byline(self.authors, self.outlet, self.date)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document; ``text == source_text[start:end]`` of its file.

    ``published`` is the ISO publication date (parsed from ``date`` when not given, so passages
    of indexes written before the field existed get it too).
    """

    id: str
    doc_id: str
    text: str
    start: int
    end: int
    title: str = ""
    source: str = ""
    authors: tuple[str, ...] = ()
    outlet: str | None = None
    date: str | None = None
    published: str | None = None

    def __post_init__(self) -> None:
        if self.published is None and self.date:
            object.__setattr__(self, "published", parse_date(self.date))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["authors"] = list(self.authors)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Chunk":
        d = dict(d)
        d["authors"] = tuple(d.get("authors") or ())
        return cls(**d)

    @property
    def byline(self) -> str:
        """'Author, Outlet, date' with whatever parts are known."""
        return byline(self.authors, self.outlet, self.date)


@dataclass(frozen=True)
class Filters:
    """Which passages a search may return; every field set must match (None = any).

    ``outlet`` and ``author`` match case-insensitively (an author matches any of a passage's
    authors); ``article`` is a document id or title; ``since``/``until`` are ISO dates
    (``YYYY-MM-DD``, inclusive) compared with the passage's parsed publication date.
    Stores apply filters *before* ranking, so a filtered search still returns k passages.
    """

    outlet: str | None = None
    author: str | None = None
    article: str | None = None
    since: str | None = None
    until: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.outlet, self.author, self.article, self.since, self.until))


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its score (higher is better) and rank (1-based)."""

    chunk: Chunk
    score: float
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        """``{rank, score, <the passage's fields>}``: ``rag search --json`` and an answer's hits."""
        return {"rank": self.rank, "score": float(self.score), **_passage_dict(self.chunk)}


@dataclass(frozen=True)
class Citation:
    """Source ``[n]`` of an answer: the passage, and the sentence quoted from it if any."""

    n: int
    chunk: Chunk
    quote: str | None = None  # the supporting sentence, a substring of chunk.text
    quote_start: int | None = None  # offsets of the quote in the source file
    quote_end: int | None = None

    @property
    def title(self) -> str:
        return self.chunk.title

    def to_dict(self) -> dict[str, Any]:
        """``{n, <the passage's fields>, quote, quote_start, quote_end}`` (see ``Answer.to_dict``)."""
        return {"n": self.n, **_passage_dict(self.chunk), "quote": self.quote,
                "quote_start": self.quote_start, "quote_end": self.quote_end}


def _passage_dict(chunk: Chunk) -> dict[str, Any]:
    """A passage as it appears in an answer's JSON: where it is from, and its text."""
    return {"id": chunk.id, "doc_id": chunk.doc_id, "title": chunk.title, "authors": list(chunk.authors),
            "outlet": chunk.outlet, "date": chunk.date, "published": chunk.published, "source": chunk.source,
            "start": chunk.start, "end": chunk.end, "passage": chunk.text}


@dataclass
class Answer:
    """An answer with numbered citations and the hits it was drawn from.

    ``answered`` is False when the articles do not answer the question.
    ``unsupported`` lists sentences of ``text`` that no cited passage supports.
    ``notice`` carries a visible remark (e.g. the LLM was down and we fell back).
    """

    text: str
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    answered: bool = True
    answerer: str = ""
    unsupported: list[str] = field(default_factory=list)
    notice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The one JSON shape of an answer (``rag ask --json`` and the page's ``/ask`` API).

        ``{text, answered, answerer, notice, unsupported: [str], citations: [{n, id, doc_id,
        title, authors, outlet, date, source, start, end, passage, quote, quote_start,
        quote_end}], hits: [{rank, score, id, doc_id, title, ..., passage}]}``; ``start``/``end``
        and ``quote_start``/``quote_end`` are character offsets in the file ``source``.
        """
        return {
            "text": self.text,
            "answered": self.answered,
            "answerer": self.answerer,
            "notice": self.notice,
            "unsupported": list(self.unsupported),
            "citations": [c.to_dict() for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
        }


class AnswerStream:
    """An answer as it is produced: iterate for its text pieces, then read ``.answer``.

    >>> stream = assistant.ask_stream("Who met Witkoff?")
    >>> for piece in stream: print(piece, end="")
    >>> stream.answer.citations

    The final ``Answer.text`` may differ from the joined pieces (invalid citation markers
    removed, or a fallback answer after a failed LLM): show ``answer.text`` at the end.
    Reading ``.answer`` before the end runs the stream to its end.
    """

    def __init__(self, items: Iterable["str | Answer"]) -> None:
        self._items = iter(items)
        self._answer: Answer | None = None
        self._pieces: list[str] = []
        self.query: str | None = None  # the question as searched (a follow-up rewritten), when known

    def __iter__(self) -> Iterator[str]:
        for item in self._items:
            if isinstance(item, Answer):
                self._answer = item
            else:
                self._pieces.append(item)
                yield item

    @property
    def answer(self) -> Answer:
        """The final ``Answer`` (runs the rest of the stream first if needed)."""
        if self._answer is None:
            for _ in self:
                pass
        if self._answer is None:
            raise RuntimeError("the answer stream ended without an Answer")
        return self._answer

    @property
    def streamed_text(self) -> str:
        """The text pieces yielded so far, joined."""
        return "".join(self._pieces)

    def close(self) -> None:
        """Stop producing (e.g. the user pressed Stop); releases the answerer's connection."""
        close = getattr(self._items, "close", None)
        if close is not None:
            close()
