"""The page's one named API endpoint, ``/ask``, usable from ``gradio_client``.

``make_api_ask(assistant)`` returns the endpoint function that ``app.build_app`` registers
with ``gr.api``; it returns ``Answer.to_dict()``, the same shape as ``rag ask --json``.
"""
# No `from __future__ import annotations`: gr.api reads the endpoint's real type hints.
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr  # the package's __init__ has turned Gradio's analytics off

from rag.errors import RagError

log = logging.getLogger(__name__)

API_NAME = "ask"
MAX_K = 20


def error_text(exc: Exception) -> str:
    """A message for the page; unexpected errors are logged, not shown in full."""
    if isinstance(exc, (RagError, ValueError)):
        return str(exc) or exc.__class__.__name__
    log.exception("unexpected error in the page")
    return "Something went wrong on the server (see its log); please try again."


def make_api_ask(assistant: Any) -> Callable[..., dict]:
    """The ``/ask`` endpoint function over ``assistant`` (a ``rag.Assistant``)."""

    def api_ask(question: str, k: int = 0, mode: str = "", answerer: str = "",
                history: list[dict] | None = None) -> dict:
        """Answer ``question`` from the articles. k=0, mode="" and answerer="" use the server's
        defaults; history is the conversation so far as [{"role": ..., "content": ...}].
        Returns the answer as ``rag ask --json`` prints it: {text, answered, answerer, notice,
        unsupported, citations: [{n, title, authors, outlet, date, source, start, end, passage,
        quote, quote_start, quote_end}], hits: [{rank, score, title, ..., passage}]}."""
        try:
            answer = assistant.ask(question, k=int(k) or None, mode=mode or None, answerer=answerer or None,
                                   history=list(history or []) or None)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(error_text(exc)) from None
        return answer.to_dict()

    return api_ask
