"""The ``Embedder`` role and its registry; backends import these, never the package itself."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from ..registry import Registry

Kind = Literal["query", "passage"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors: everything callers (indexer, retriever, answerers) use.

    ``model_id`` is recorded in the index manifest; ``dim`` is the vector size; ``max_tokens`` is
    the longest input in the model's own tokens (longer is cut; 0 = no known limit) and
    ``count_tokens`` counts them, so the chunker can keep passages within it.
    Loading is deferred to the first ``encode`` call so constructors stay cheap.
    """

    model_id: str

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``, special tokens included, not truncated."""
        ...

    def encode(self, texts: Sequence[str], kind: Kind = "passage", *,
               batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, rows of unit length."""
        ...


class BaseEmbedder(ABC):
    """Defaults for a backend (in the style of simonw/llm's ``EmbeddingModel``): set ``model_id``,
    write ``encode``; override ``max_tokens`` and ``count_tokens`` when the model has a limit."""

    model_id: str = ""
    max_tokens: int = 0  # no known limit: passages are not checked against one
    _dim: int | None = None

    @property
    def dim(self) -> int:
        """Vector size, found by encoding one text (override when known without a model load)."""
        if self._dim is None:
            self._dim = int(self.encode(["x"]).shape[1])
        return self._dim

    def count_tokens(self, text: str) -> int:
        """Whitespace words plus two; only consulted when ``max_tokens`` is set."""
        return len(text.split()) + 2

    @abstractmethod
    def encode(self, texts: Sequence[str], kind: Kind = "passage", *,
               batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, rows of unit length."""


EMBEDDERS: Registry[Embedder] = Registry("embedder backend")
