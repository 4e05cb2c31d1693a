"""The ``Answerer`` role: question + retrieved hits -> cited ``Answer``. Registered by name."""
from __future__ import annotations

from typing import Iterable, Iterator, Protocol, Sequence, runtime_checkable

from ..registry import Registry
from ..types import Answer, AnswerStream, Hit


@runtime_checkable
class Answerer(Protocol):
    """Answers a question from passages. ``stream`` is optional (see ``stream_answer``)."""

    name: str

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        ...


ANSWERERS: Registry[Answerer] = Registry("answerer")


def get_answerer(name: str, **kwargs) -> Answerer:
    """Build answerer ``name``; kwargs are passed to its factory (e.g. settings, embedder)."""
    _load_builtins()
    return ANSWERERS.create(name, **kwargs)


def answerer_names() -> list[str]:
    _load_builtins()
    return ANSWERERS.names()


def final_answer(items: Iterable[str | Answer]) -> Answer:
    """Run a stream of text pieces to its end and return the ``Answer`` it ends with."""
    return AnswerStream(items).answer


def stream_answer(answerer: Answerer, question: str, hits: Sequence[Hit]) -> Iterator[str | Answer]:
    """Yield text deltas, then the final ``Answer``; answerers without ``stream`` yield it whole."""
    stream = getattr(answerer, "stream", None)
    if stream is not None:
        yield from stream(question, hits)
        return
    ans = answerer.answer(question, hits)
    yield ans.text
    yield ans


def _load_builtins() -> None:
    from . import extractive, llm  # noqa: F401
