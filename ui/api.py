"""The page's one named API endpoint, ``/ask``, usable from ``gradio_client``.

``make_api_ask(assistant)`` returns the endpoint function that ``app.build_app`` registers
with ``gr.api``; it returns ``Answer.to_dict()``, the same shape as ``rag ask --json``.
Arguments are checked before any work: a refused call raises ``gr.Error`` with the reason
(``gradio_client`` raises ``AppError`` with it) and logs one line on the server console,
not a traceback.
"""
# No `from __future__ import annotations`: gr.api reads the endpoint's real type hints.
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr  # the package's __init__ has turned Gradio's analytics off

from rag.arguments import check_choice, check_history, check_k, check_str
from rag.config import MODES
from rag.errors import ArgumentError, RagError
from rag.types import Filters

log = logging.getLogger(__name__)

API_NAME = "ask"
MAX_K = 20
MAX_HISTORY = 100  # messages; only the last few are used to rewrite a follow-up
MAX_TURN_CHARS = 20_000
ROLES = ("user", "assistant")


def error_text(exc: Exception) -> str:
    """A message for the page; unexpected errors are logged, not shown in full."""
    if isinstance(exc, (RagError, ValueError)):
        return str(exc) or exc.__class__.__name__
    log.exception("unexpected error in the page")
    return "Something went wrong on the server (see its log); please try again."


def refusal(exc: Exception) -> gr.Error:
    """The ``gr.Error`` for a refused request; logs one line (Gradio prints no traceback for it)."""
    msg = error_text(exc)
    if isinstance(exc, (RagError, ValueError)):
        log.warning("/%s refused: %s", API_NAME, " ".join(msg.split())[:300])
    return gr.Error(msg, print_exception=False)


def make_api_ask(assistant: Any) -> Callable[..., dict]:
    """The ``/ask`` endpoint function over ``assistant`` (a ``rag.Assistant``)."""

    def api_ask(question: str, k: int = 0, mode: str = "", answerer: str = "",
                history: list[dict] | None = None, outlet: str = "", author: str = "", article: str = "",
                since: str = "", until: str = "") -> dict:
        """Answer ``question`` from the articles. k=0, mode="" and answerer="" use the server's
        defaults; history is the conversation so far as [{"role": ..., "content": ...}];
        outlet/author/article/since/until ("" = any) keep only matching passages, before ranking.
        Returns the answer as ``rag ask --json`` prints it: {text, answered, answerer, notice,
        unsupported, citations: [{n, title, authors, outlet, date, source, start, end, passage,
        quote, quote_start, quote_end}], hits: [{rank, score, title, ..., passage}]}."""
        try:
            args = dict(k=check_k(k, MAX_K, zero_is_default=True),
                        mode=check_choice(mode, MODES, "mode", blank_is_default=True),
                        answerer=check_choice(answerer, assistant.answerer_names(), "answerer", blank_is_default=True),
                        history=check_history(history, ROLES, MAX_HISTORY, MAX_TURN_CHARS),
                        filters=Filters(**{name: check_str(value, name) or None for name, value in (
                            ("outlet", outlet), ("author", author), ("article", article),
                            ("since", since), ("until", until))}))
            question = assistant.check_question(check_str(question, "the question"))
            return assistant.ask(question, **args).to_dict()
        except Exception as exc:  # noqa: BLE001 - a message for the caller, one line in the log
            raise refusal(exc) from None

    return api_ask


API_PARAMETERS = ("question", "k", "mode", "answerer", "history", "outlet", "author", "article", "since", "until")


def quiet_short_calls(app: gr.Blocks) -> None:
    """Make Gradio's own refusal of an ``/ask`` call with too few values (raw HTTP; gradio_client
    fills in the defaults) a clear one-line error too, instead of a ValueError and its traceback."""
    check = getattr(app, "validate_inputs", None)
    if check is None:  # another Gradio version: nothing to adapt
        return

    def validate_inputs(block_fn, inputs):
        try:
            check(block_fn, inputs)
        except ValueError:
            if getattr(block_fn, "api_name", None) != API_NAME:
                raise
            raise refusal(ArgumentError(
                f"/{API_NAME} takes {len(API_PARAMETERS)} values ({', '.join(API_PARAMETERS)}), "
                f"got {len(inputs)}")) from None

    app.validate_inputs = validate_inputs
