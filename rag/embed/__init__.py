"""The ``Embedder`` role: text -> L2-normalised float32 vectors. Backends register by name.

The role and the registry live in ``base.py``; this module builds embedders by name.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .base import EMBEDDERS, BaseEmbedder, Embedder, Kind
from .cached import CachedEmbedder

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["EMBEDDERS", "BaseEmbedder", "CachedEmbedder", "Embedder", "Kind", "get_embedder", "embedder_for"]


def _load_builtins() -> None:
    from . import st  # noqa: F401  (registers the built-in backends)
    try:
        from . import onnx  # noqa: F401
    except ImportError:  # onnxruntime missing: that backend is simply unavailable
        pass


def get_embedder(backend: str = "sentence-transformers", model: str = "", **options) -> Embedder:
    """Build the embedder ``backend`` for ``model`` ("" = the backend's default model).

    ``options`` go to the backend; one it does not take is an UnknownNameError listing those it does.
    """
    _load_builtins()
    return EMBEDDERS.create(backend, model=model, **options)


def embedder_for(settings: "Settings") -> Embedder:
    """The embedder ``settings`` name, given the runtime settings its backend takes
    (``query_runtime``, ``threads`` = onnx_threads, ``cache_dir``, ``device`` = embed_device,
    ``precision`` = embed_precision)."""
    _load_builtins()
    offered = {"query_runtime": settings.query_runtime, "threads": settings.onnx_threads or None,
               "cache_dir": settings.cache_dir, "device": settings.embed_device,
               "precision": settings.embed_precision}
    return EMBEDDERS.create_from(settings.embed_backend, offered, model=settings.embed_model)
