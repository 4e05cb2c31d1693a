"""Serving the page: ``serve()`` opens the assistant and launches the page (``rag serve``).

Where it listens and whether it asks for a login come from ``Settings`` (``host``, ``port``,
``auth``: ``RAG_HOST``, ``RAG_PORT``, ``RAG_AUTH``), read once by the caller, and so does how
many questions are answered at once (``concurrency``, ``RAG_CONCURRENCY``; the rest wait in
Gradio's queue).
"""
from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path
from typing import Any

import gradio as gr  # the package's __init__ has turned Gradio's analytics off

from rag.assistant import MAX_UPLOAD_BYTES, Assistant
from rag.config import Settings
from rag.errors import RagError

from .api import quiet_short_calls
from .app import build_app

log = logging.getLogger(__name__)

STYLE = Path(__file__).with_name("style.css")


def launch_kwargs() -> dict[str, Any]:
    """Page-wide launch options (Gradio 6 takes theme and css in ``launch``)."""
    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "monospace"])  # no web fonts: works offline
    return dict(theme=theme, css=STYLE.read_text(encoding="utf-8"), max_file_size=MAX_UPLOAD_BYTES,
                footer_links=["api"])


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:pass"`` -> ("user", "pass"); empty -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise RagError('RAG_AUTH must look like "user:password"')
    return user, password


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings | None = None, host: str | None = None, port: int | None = None,
          share: bool = False, auth: tuple[str, str] | str | None = None, open_browser: bool = False,
          block: bool = True, assistant: Assistant | None = None) -> gr.Blocks:
    """Open the assistant (building the index if needed) and serve the page.

    ``host``/``port``/``auth`` default to the settings' ``host`` (127.0.0.1), ``port`` (7860)
    and ``auth`` ("user:password", no login if empty); the settings are the assistant's, else
    ``settings``, else ``Settings.from_env()``. ``block=False`` returns at once.
    """
    if assistant is not None:
        settings = assistant.settings
    settings = settings or Settings.from_env()
    host = host or settings.host
    port = int(port or settings.port)
    login = auth if isinstance(auth, tuple) else parse_auth(auth or settings.auth)
    if not is_loopback(host) and login is None:
        log.warning("serving on %s without a login; set RAG_AUTH=user:password to require one", host)
    if assistant is None:
        assistant = Assistant.open(settings=settings, progress=sys.stderr.isatty())
    assistant.warm_up()
    app = build_app(assistant)
    quiet_short_calls(app)
    app.queue(default_concurrency_limit=settings.concurrency)  # RAG_CONCURRENCY questions at once
    app.launch(server_name=host, server_port=port, share=share, auth=login, inbrowser=open_browser,
               prevent_thread_lock=not block, quiet=False, state_session_capacity=settings.page_sessions,
               **launch_kwargs())
    return app
