"""Filters on the source fields, with the same meaning in every store backend
(:class:`rag.types.Filters`; backends that filter in their own query language follow these)."""
from __future__ import annotations

from datetime import date

from .. import dates
from ..types import Chunk, Filters


def parse_date(text: str | None) -> date | None:
    """A publication date as written in the articles (``2025-03-19``, ``3/19/25``, ``March 19, 2025``,
    ``19 March 2025``, …) as a ``date``; None if unreadable. The one parser is :func:`rag.dates.parse_date`."""
    iso = dates.parse_date(text)
    return date.fromisoformat(iso) if iso else None


def matches(filters: Filters | None, chunk: Chunk) -> bool:
    """Whether ``chunk`` passes ``filters`` (see :class:`rag.types.Filters`)."""
    if not filters:
        return True
    f = filters
    if f.outlet is not None and (chunk.outlet or "").casefold() != f.outlet.casefold():
        return False
    if f.author is not None and f.author.casefold() not in {a.casefold() for a in chunk.authors}:
        return False
    if f.article is not None and f.article not in (chunk.doc_id, chunk.title):
        return False
    if f.since is not None or f.until is not None:
        d = date.fromisoformat(chunk.published) if chunk.published else None
        if d is None:
            return False
        if f.since is not None and d < date.fromisoformat(f.since):
            return False
        if f.until is not None and d > date.fromisoformat(f.until):
            return False
    return True


