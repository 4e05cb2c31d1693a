"""The ``Embedder`` role: text -> L2-normalised float32 vectors. Backends register by name."""
from __future__ import annotations

from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from ..registry import Registry

Kind = Literal["query", "passage"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    Attributes a backend provides: ``model_id`` (recorded in the index manifest),
    ``dim`` and ``max_tokens`` (the longest input in its own tokens; longer is cut).
    Loading is deferred to the first ``encode`` call so constructors stay cheap.
    """

    model_id: str

    def encode(self, texts: Sequence[str], kind: Kind = "passage", *,
               batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, rows of unit length."""
        ...


EMBEDDERS: Registry[Embedder] = Registry("embedder backend")


def get_embedder(backend: str = "sentence-transformers", model: str = "", **options) -> Embedder:
    """Build the embedder ``backend`` for ``model`` ("" = the backend's default model).

    ``options`` go to the backend; ones it does not know are ignored (e.g. ``query_runtime``
    only concerns sentence-transformers).
    """
    from . import st  # noqa: F401  (registers the built-in backends)
    try:
        from . import onnx  # noqa: F401
    except ImportError:  # onnxruntime missing: that backend is simply unavailable
        pass
    return EMBEDDERS.create(backend, model=model, **options)
