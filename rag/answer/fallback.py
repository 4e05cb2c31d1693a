"""An answerer that falls back to another when the first fails (like Haystack's FallbackChatGenerator).

``FallbackAnswerer(primary, fallback)`` streams the primary's answer. When the primary raises
``AnswererError`` (endpoint down, timeout, malformed stream, ...), the fallback answers instead
and its ``Answer.notice`` says why:

* before any text was streamed: "LLM unavailable: <reason>. Showing the extractive answer
  instead." and the fallback's text is streamed in its place;
* after text was streamed: "The LLM answer was interrupted: <reason>. The partial text was
  discarded; ..." and nothing more is streamed: consumers show the final ``Answer.text``.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Iterator

from ..errors import AnswererError
from ..types import Answer, Hit
from .base import Answerer, StreamingAnswerer

log = logging.getLogger(__name__)


class FallbackAnswerer(StreamingAnswerer):
    """``primary``'s answer, or ``fallback``'s with a notice when ``primary`` raises ``AnswererError``."""

    def __init__(self, primary: Answerer, fallback: Answerer, *, label: str | None = None) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self.label = label or primary.name  # how notices name the primary ("LLM")

    def __repr__(self) -> str:
        return f"FallbackAnswerer({self.primary!r}, {self.fallback!r})"

    def generate(self, question: str, hits: list[Hit]) -> Iterator[str | Answer]:
        pieces: list[str] = []
        inner = self.primary.stream(question, hits)
        try:
            for piece in inner:
                pieces.append(piece)
                yield piece
            yield inner.answer
            return
        except AnswererError as exc:
            reason = str(exc)
        finally:
            inner.close()  # also when the consumer stops early: releases the primary's connection
        yield from self._fall_back(question, hits, reason, streamed=bool("".join(pieces).strip()))

    def _fall_back(self, question: str, hits: list[Hit], reason: str, streamed: bool) -> Iterator[str | Answer]:
        reason = reason.rstrip(".")
        other = self.fallback.name
        notice = f"{self.label} unavailable: {reason}. Showing the {other} answer instead."
        if streamed:
            notice = (f"The {self.label} answer was interrupted: {reason}. The partial text was discarded; "
                      f"showing the {other} answer instead.")
        log.warning("%s answerer falling back to %s: %s", self.primary.name, other, reason)
        try:
            stream = self.fallback.stream(question, hits)
            for piece in stream:
                if not streamed:
                    yield piece
            final = stream.answer
        except Exception as exc:  # noqa: BLE001 - the user still gets a notice
            log.error("%s fallback failed: %s", other, exc)
            yield Answer("", [], list(hits), answered=False, answerer=self.name,
                         notice=f"{notice} (The {other} answerer failed too: {exc})")
            return
        extra = f" {final.notice}" if final.notice else ""
        yield replace(final, notice=notice + extra)
