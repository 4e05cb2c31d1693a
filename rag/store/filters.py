"""Filters on the source fields, with the same meaning in every store backend
(:class:`rag.types.Filters`; backends that filter in their own query language follow these)."""
from __future__ import annotations

from dataclasses import fields
from datetime import date

from .. import dates
from ..errors import QuestionError
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


def check_filters(filters: Filters | dict | None) -> Filters | None:
    """``filters`` with blanks dropped and dates as ISO dates (any byline form is read), or None.

    A dict may be given (``{"outlet": "Substack", "since": "2025-04-01"}``); an unknown field, an
    unreadable date or ``since`` after ``until`` is a ``QuestionError`` saying so.
    """
    if filters is None:
        return None
    if isinstance(filters, dict):
        valid = [f.name for f in fields(Filters)]
        unknown = sorted(set(filters) - set(valid))
        if unknown:
            raise QuestionError(f"unknown filter {unknown[0]!r}; valid: {', '.join(valid)}")
        filters = Filters(**filters)
    values = {f.name: (str(v).strip() or None) if v is not None else None
              for f in fields(Filters) for v in [getattr(filters, f.name)]}
    for name in ("since", "until"):
        if values[name] is not None:
            iso = dates.parse_date(values[name])
            if iso is None:
                raise QuestionError(f"{name} {values[name]!r} is not a date: write it as YYYY-MM-DD")
            values[name] = iso
    if values["since"] and values["until"] and values["since"] > values["until"]:
        raise QuestionError(f"since {values['since']} is after until {values['until']}: nothing can match")
    out = Filters(**values)
    return out if out else None
