"""What every answerer is: the ``Answerer`` role, two base classes, and the registry of them by name."""
from __future__ import annotations

from typing import Iterator, Protocol, Sequence, runtime_checkable

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
