"""The chat's event handlers: ask (streamed, stoppable), stop, and the conversation kept in the browser.

The conversation lives in a ``gr.BrowserState`` as ``{"chat": [messages as shown], "history":
[{"role", "content"} as the assistant reads it]}``, so it survives a reload of the page.
"""
from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import gradio as gr

from rag.errors import RagError
from rag.types import Filters

from .api import error_text
from .panels import render_message
from .render import describe_filters, render_answer, render_searching, render_stopped, render_streaming

log = logging.getLogger(__name__)

ANY = "(any)"  # the filter dropdowns' "no filter" choice
MAX_SAVED_MESSAGES = 40  # what the browser keeps of a long conversation (its storage is small)


def empty_conversation() -> dict[str, list]:
    return {"chat": [], "history": []}


def make_filters(outlet: str | None, author: str | None, article: str | None,
                 since: str | None, until: str | None) -> Filters:
    """The filter panel's values as ``Filters`` ("(any)" and blanks = no filter; the assistant checks
    the dates and says how to write one it cannot read)."""
    def pick(v: str | None) -> str | None:
        v = (v or "").strip()
        return None if not v or v == ANY else v

    return Filters(outlet=pick(outlet), author=pick(author), article=pick(article),
                   since=pick(since), until=pick(until))


class Chat:
    """Ask / Stop handlers over ``assistant``; remembers each browser session's answer in progress."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant
        self._live: dict[str, dict] = {}  # session -> {"chat", "text", "query"} of the streaming answer
        self._lock = threading.Lock()

    def _articles(self, answer) -> dict:
        out = {}
        for c in answer.citations:
            if c.chunk.doc_id not in out:
                try:
                    out[c.chunk.doc_id] = self.assistant.article(c.chunk.doc_id)
                except RagError as exc:  # the card still shows its passage
                    log.warning("no whole-article view: %s", exc)
        return out

    def turn(self, question: str, saved: dict | None, answerer: str, k: float, mode: str, rewrite: bool,
            outlet: str, author: str, article: str, since: str, until: str, request: gr.Request = None):
        """Stream one answer into the chat; bad input becomes a message under the box.

        Yields (chatbot, saved conversation, question box, message under the box)."""
        saved = saved if isinstance(saved, dict) else empty_conversation()
        chat, history = list(saved.get("chat") or []), list(saved.get("history") or [])
        question = (question or "").strip()
        if not question:
            yield chat, gr.skip(), gr.skip(), render_message("Please type a question first.")
            return
        session = getattr(request, "session_hash", None) or "-"
        shown = chat + [{"role": "user", "content": question}]
        yield shown + [{"role": "assistant", "content": render_searching()}], gr.skip(), "", ""
        live = {"chat": shown, "text": "", "query": None}
        with self._lock:
            self._live[session] = live
        stream = None
        try:
            filters = make_filters(outlet, author, article, since, until)
            stream = self.assistant.ask_stream(question, k=int(k), mode=mode, answerer=answerer,
                                               history=history, filters=filters, rewrite=bool(rewrite))
            query = stream.query if stream.query and stream.query != question else None
            live["query"] = query
            yield shown + [{"role": "assistant", "content": render_searching(query)}], gr.skip(), "", ""
            for part in stream:
                live["text"] += part
                yield shown + [{"role": "assistant", "content": render_streaming(live["text"], query)}], \
                    gr.skip(), "", ""
            final = stream.answer
            html = render_answer(final, uuid.uuid4().hex[:8], self._articles(final), query,
                                 describe_filters(filters))
        except Exception as exc:  # noqa: BLE001 - the page must keep serving
            yield chat, gr.skip(), question, render_message(error_text(exc), sentence=True)
            return
        finally:
            if stream is not None:
                stream.close()  # also when Stop cancels this event (Gradio closes the generator)
            with self._lock:
                if self._live.get(session) is live:
                    del self._live[session]
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": final.text}]
        shown = shown + [{"role": "assistant", "content": html}]
        yield shown, {"chat": shown[-MAX_SAVED_MESSAGES:], "history": history}, "", ""

    def stop(self, saved: dict | None, request: gr.Request = None):
        """Stop pressed: show what had arrived as a stopped answer (its event is cancelled)."""
        session = getattr(request, "session_hash", None) or "-"
        with self._lock:
            live = self._live.pop(session, None)
        if live is None:  # nothing was streaming (it had just finished)
            return gr.skip(), gr.skip()
        shown = live["chat"] + [{"role": "assistant", "content": render_stopped(live["text"], live["query"])}]
        saved = saved if isinstance(saved, dict) else empty_conversation()
        return shown, {"chat": shown[-MAX_SAVED_MESSAGES:], "history": list(saved.get("history") or [])}


def restore(saved: dict | None) -> list:
    """The chat as it was before the page was reloaded."""
    return list(saved.get("chat") or []) if isinstance(saved, dict) else []
