"""Filters on the source fields, with the same meaning in every store backend
(:class:`rag.types.Filters`; backends that filter in their own query language follow these)."""
from __future__ import annotations

import re
from datetime import date

from ..types import Chunk, Filters

_MONTHS = {m: i + 1 for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split())}


def parse_date(text: str | None) -> date | None:
    """A publication date as written in the articles: ``2025-03-19``, ``3/19/25``,
    ``3/19/2025``, ``March 19, 2025``, ``19 March 2025``; None if unreadable."""
    if not text:
        return None
    s = text.strip().lower()
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", s):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", s):
            year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
            return date(year, int(m[1]), int(m[2]))
        if m := re.fullmatch(r"([a-z]{3})[a-z]*\.? (\d{1,2}),? (\d{4})", s):
            return date(int(m[3]), _MONTHS[m[1]], int(m[2]))
        if m := re.fullmatch(r"(\d{1,2}) ([a-z]{3})[a-z]*\.?,? (\d{4})", s):
            return date(int(m[3]), _MONTHS[m[2]], int(m[1]))
    except (ValueError, KeyError):
        return None
    return None


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
        d = parse_date(chunk.date)
        if d is None:
            return False
        if f.since is not None and d < date.fromisoformat(f.since):
            return False
        if f.until is not None and d > date.fromisoformat(f.until):
            return False
    return True


