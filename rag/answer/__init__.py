"""The ``Answerer`` role: question + retrieved hits -> cited ``Answer``. Registered by name.

Built in: ``extractive`` (quotes the best sentences) and ``llm`` (an OpenAI-compatible endpoint,
falling back to ``extractive`` with a notice when the endpoint fails; see ``fallback``).
"""
from __future__ import annotations

from typing import Iterator, Protocol, Sequence, runtime_checkable

from ..config import Settings
from ..registry import Registry
from ..types import Answer, AnswerStream, Hit


@runtime_checkable
class Answerer(Protocol):
    """Answers a question from passages, whole or as a stream of text pieces."""

    name: str

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        """The whole answer."""
        ...

    def stream(self, question: str, hits: Sequence[Hit]) -> AnswerStream:
        """The answer as it is produced: iterate for text pieces, then read ``.answer``."""
        ...


class StreamingAnswerer:
    """Base of answerers that produce text as they go: write ``generate``; ``stream`` and ``answer`` follow.

    ``generate`` yields the text pieces, then the final ``Answer`` (``AnswerStream`` tells them apart).
    """

    name: str = ""

    def generate(self, question: str, hits: list[Hit]) -> Iterator[str | Answer]:
        raise NotImplementedError

    def stream(self, question: str, hits: Sequence[Hit]) -> AnswerStream:
        return AnswerStream(self.generate(question, list(hits)))

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        return self.stream(question, hits).answer


class WholeAnswerer:
    """Base of answerers that compute the whole answer at once: ``stream`` gives it as one piece."""

    name: str = ""

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        raise NotImplementedError

    def stream(self, question: str, hits: Sequence[Hit]) -> AnswerStream:
        return AnswerStream(_whole(self, question, hits))


def _whole(answerer: WholeAnswerer, question: str, hits: Sequence[Hit]) -> Iterator[str | Answer]:
    ans = answerer.answer(question, hits)  # runs on the first piece, like any stream
    yield ans.text
    yield ans


ANSWERERS: Registry[Answerer] = Registry("answerer")


def get_answerer(name: str, **kwargs) -> Answerer:
    """Build answerer ``name``; kwargs are passed to its factory (e.g. settings, embedder)."""
    _load_builtins()
    return ANSWERERS.create(name, **kwargs)


def answerer_names() -> list[str]:
    _load_builtins()
    return ANSWERERS.names()


@ANSWERERS.register("llm")
def llm_answerer(settings: Settings | None = None, embedder=None) -> Answerer:
    """The LLM answerer, falling back to the extractive one (with a notice) when the endpoint fails."""
    from .fallback import FallbackAnswerer
    from .llm import LLMAnswerer

    settings = settings if settings is not None else Settings.from_env()
    return FallbackAnswerer(LLMAnswerer(settings, embedder),
                            get_answerer("extractive", settings=settings, embedder=embedder), label="LLM")


def _load_builtins() -> None:
    from . import extractive  # noqa: F401

    # transitional (issue 9): until ExtractiveAnswerer derives from WholeAnswerer in its rewrite
    if not hasattr(extractive.ExtractiveAnswerer, "stream"):
        extractive.ExtractiveAnswerer.stream = WholeAnswerer.stream
