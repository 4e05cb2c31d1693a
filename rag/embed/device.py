"""Which torch device an embedder runs on: ``auto`` picks CUDA when a GPU is visible."""
from __future__ import annotations

import logging

from ..errors import RagError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


def pick_device(requested: str = "auto") -> str:
    """``auto`` -> ``cuda`` if torch sees a CUDA device, else ``cpu``; ``cuda[:n]`` must be visible.

    Called when a model is loaded (not when an embedder is made), so a process that only
    encodes questions with the ONNX export never imports torch.
    """
    name = (requested or "auto").strip().lower()
    if name.split(":", 1)[0] not in DEVICES:
        raise RagError(f"unknown embedding device {requested!r}; valid: {', '.join(DEVICES)} (or cuda:N)")
    if name == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if name == "auto":
        chosen = "cuda" if available else "cpu"
        log.info("embedding device: %s", chosen)
        return chosen
    if not available:
        raise RagError(f"embedding device {requested!r} was asked for but torch sees no CUDA device; "
                       "use RAG_EMBED_DEVICE=auto or cpu")
    return name
