"""The ``Answerer`` role: question + retrieved hits -> cited ``Answer``. Registered by name.

Built in: ``extractive`` (quotes the best sentences) and ``llm`` (an OpenAI-compatible endpoint,
falling back to ``extractive`` with a notice when the endpoint fails; see ``fallback``).
"""
from __future__ import annotations

from ..config import Settings
from .base import ANSWERERS, Answerer, StreamingAnswerer, WholeAnswerer
from .fallback import FallbackAnswerer
from .llm import LLMAnswerer

__all__ = ["ANSWERERS", "Answerer", "StreamingAnswerer", "WholeAnswerer", "answerer_names", "get_answerer"]


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
    settings = settings if settings is not None else Settings.from_env()
    return FallbackAnswerer(LLMAnswerer(settings, embedder),
                            get_answerer("extractive", settings=settings, embedder=embedder), label="LLM")


def _load_builtins() -> None:
    from . import extractive  # noqa: F401  (registers "extractive"; it imports ANSWERERS from here)
