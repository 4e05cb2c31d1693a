"""The browser chat page: a thin Gradio layer over ``rag.Assistant``.

``build_app(assistant)`` returns the page; ``serve()`` opens the assistant and
serves the page (``rag serve``). Besides the page, the app exposes one named API
endpoint, ``/ask`` (see ``api_ask``), usable from ``gradio_client``.
"""
# No `from __future__ import annotations`: gr.api reads the endpoint's real type hints.
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported

import html  # noqa: E402
import ipaddress  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from rag.assistant import MAX_UPLOAD_BYTES, Assistant  # noqa: E402
from rag.config import MODES, Settings  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.ingest import SUFFIXES  # noqa: E402  (the file types the engine can read)
from rag.types import Answer, Citation, Hit  # noqa: E402

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES: tuple[str, ...] = tuple(sorted(SUFFIXES))
MAX_K = 20
API_NAME = "ask"
EXAMPLES = [
    "How many tanks did Russia produce in 2024?",
    "Where is Michael Vlahos a senior fellow?",
    "How has RT described Kirill Dmitriev?",
    "Whom did Mike Waltz serve as an aide before his time in office?",
]

CSS = """
.rag-answer p { margin: 0 0 .5em 0; }
.rag-answer .cite { font-size: .75em; color: var(--color-accent); font-weight: 600; }
.rag-answer .unsupported { background: rgba(234, 88, 12, .12); border-bottom: 2px dotted #ea580c; }
.rag-answer .flag { color: #c2410c; font-size: .85em; margin-top: .4em; }
.rag-answer .notice { border-left: 3px solid #2563eb; background: rgba(37, 99, 235, .08);
  padding: .35em .6em; margin-bottom: .6em; font-size: .9em; }
.rag-answer .answered-by { font-size: .8em; opacity: .7; }
.rag-answer .not-answered { color: var(--body-text-color-subdued); font-style: italic; }
.rag-sources { margin-top: .6em; border-top: 1px solid var(--border-color-primary); padding-top: .4em; }
.rag-sources > summary { font-weight: 600; cursor: pointer; }
.rag-source { margin: .35em 0; padding: .3em .5em; border-radius: 6px; background: var(--background-fill-secondary); }
.rag-source > summary { cursor: pointer; list-style-position: outside; }
.rag-source .n { font-weight: 700; color: var(--color-accent); }
.rag-source .title { font-weight: 600; }
.rag-source .byline { color: var(--body-text-color-subdued); font-size: .9em; }
.rag-source .quote { display: block; margin-top: .2em; font-size: .92em; }
.rag-source .passage { margin-top: .4em; font-size: .9em; line-height: 1.45; white-space: normal; }
.rag-source mark { background: #fde68a; color: #1f2937; padding: 0 .1em; }
#index-status-table table, #index-status-table tr { border: none !important; }
#index-status-table table { border-collapse: collapse; width: 100%; font-size: .92em; }
#index-status-table th, #index-status-table td { border: none !important; text-align: left; padding: .3em .5em;
  border-bottom: 1px solid var(--border-color-primary) !important; }
#ask-message:empty, #upload-message:empty { display: none; }
.rag-error { color: #b91c1c; }
.rag-ok { color: #15803d; }
"""


# ---------------------------------------------------------------- rendering
def _esc(text: str) -> str:
    """HTML-escape text and keep its line breaks (no blank lines: the markdown renderer
    would end our HTML block there)."""
    return html.escape(text).replace("\r", "").replace("\n", "<br>")


def _cite_marks(escaped: str) -> str:
    """Show ``[n]`` markers as small superscripts (the text stays ``[n]``)."""
    return re.sub(r"\[(\d+(?:\s*,\s*\d+)*)\]", r'<sup class="cite">[\1]</sup>', escaped)


def _flag_unsupported(text: str, unsupported: Sequence[str]) -> tuple[str, list[str]]:
    """Escape ``text``, wrapping each unsupported sentence; also return those not found."""
    spans: list[tuple[int, int]] = []
    missing: list[str] = []
    for sentence in unsupported:
        s = sentence.strip()
        i = text.find(s) if s else -1
        if i < 0:
            if s:
                missing.append(s)
            continue
        spans.append((i, i + len(s)))
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out.append(_cite_marks(_esc(text[pos:start])))
        out.append('<span class="unsupported" title="No cited passage supports this sentence">'
                   f"⚠ {_cite_marks(_esc(text[start:end]))}</span>")
        pos = end
    out.append(_cite_marks(_esc(text[pos:])))
    return "".join(out), missing


def _quote_span(c: Citation) -> tuple[int, int] | None:
    """Where ``c.quote`` sits in ``c.chunk.text``, if it does."""
    if not c.quote:
        return None
    text = c.chunk.text
    if c.quote_start is not None and c.quote_end is not None:
        s, e = c.quote_start - c.chunk.start, c.quote_end - c.chunk.start
        if 0 <= s < e <= len(text) and text[s:e] == c.quote:
            return s, e
    i = text.find(c.quote)
    return (i, i + len(c.quote)) if i >= 0 else None


def render_passage(c: Citation) -> str:
    """The cited passage, escaped, with the supporting sentence in ``<mark>``."""
    text, span = c.chunk.text, _quote_span(c)
    if span is None:
        return _esc(text)
    s, e = span
    return f"{_esc(text[:s])}<mark>{_esc(text[s:e])}</mark>{_esc(text[e:])}"


def _source_head(n: int | str, chunk) -> str:
    byline = html.escape(chunk.byline) if chunk.byline else ""
    return (f'<span class="n">[{n}]</span> <span class="title">{html.escape(chunk.title or chunk.source)}</span>'
            + (f' <span class="byline">— {byline}</span>' if byline else ""))


def render_sources(citations: Sequence[Citation]) -> str:
    """One collapsible block per citation: title, byline, quote; open it for the passage."""
    items = []
    for c in citations:
        quote = (f'<span class="quote">“<mark>{_esc(c.quote)}</mark>”</span>' if c.quote else "")
        items.append(f'<details class="rag-source"><summary>{_source_head(c.n, c.chunk)}{quote}</summary>'
                     f'<div class="passage">{render_passage(c)}</div></details>')
    label = f"Sources ({len(citations)})"
    return f'<details class="rag-sources" open><summary>{label}</summary>{"".join(items)}</details>'


def render_hits(hits: Sequence[Hit], label: str) -> str:
    """Retrieved passages that were not cited (shown collapsed when nothing was answered)."""
    items = [f'<details class="rag-source"><summary>{_source_head(h.rank or i + 1, h.chunk)}</summary>'
             f'<div class="passage">{_esc(h.chunk.text)}</div></details>' for i, h in enumerate(hits)]
    return f'<details class="rag-sources"><summary>{html.escape(label)}</summary>{"".join(items)}</details>'


def render_answer(answer: Answer) -> str:
    """A whole chat message for ``answer`` as one HTML block (no blank lines)."""
    parts = ['<div class="rag-answer">']
    if answer.notice:
        parts.append(f'<div class="notice">ℹ️ {_esc(answer.notice)}</div>')
    body, missing = _flag_unsupported(answer.text, answer.unsupported)
    cls = "" if answer.answered else ' class="not-answered"'
    parts.append(f"<p{cls}>{body}</p>")
    flagged = len(answer.unsupported)
    if flagged:
        parts.append(f'<div class="flag">⚠ {flagged} sentence{"s" if flagged > 1 else ""} not supported '
                     "by the cited passages (marked above); check them against the sources.</div>")
        for s in missing:
            parts.append(f'<div class="flag">⚠ Unsupported: “{_esc(s)}”</div>')
    if answer.citations:
        parts.append(render_sources(answer.citations))
    elif answer.hits:
        parts.append(render_hits(answer.hits, f"Closest passages ({len(answer.hits)})"))
    if answer.answerer:
        parts.append(f'<div class="answered-by">answered by {html.escape(answer.answerer)}</div>')
    parts.append("</div>")
    return "".join(parts)


def render_streaming(text: str) -> str:
    """The answer while it streams in."""
    return f'<div class="rag-answer"><p>{_cite_marks(_esc(text))} ▌</p></div>'


def _when(iso: str | None) -> str:
    """'2026-11-29T18:14:58+0000' -> '2026-11-29 18:14 UTC' (as given if it does not parse)."""
    if not iso:
        return "never"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M") + (" UTC" if when.tzinfo is not None else "")


def render_status(status: dict[str, Any]) -> str:
    """The index status panel."""
    titles = status.get("titles") or []
    rows = [("Articles", status.get("documents", "?")), ("Passages", status.get("passages", "?")),
            ("Model", status.get("model", "?")), ("Last built", _when(status.get("built_at")))]
    table = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    listing = "".join(f"<li>{html.escape(str(t))}</li>" for t in titles)
    more = f"<details><summary>Titles ({len(titles)})</summary><ul>{listing}</ul></details>" if titles else ""
    skipped = status.get("skipped") or []
    if skipped:
        bad = "".join(f"<li>{html.escape(str(f))}: {html.escape(str(why))}</li>" for f, why in skipped)
        more += f"<details><summary>Skipped files ({len(skipped)})</summary><ul>{bad}</ul></details>"
    return f'<div id="index-status-table"><table>{table}</table>{more}</div>'


def answer_payload(answer: Answer) -> dict[str, Any]:
    """JSON-friendly answer for the API: text, flags and one entry per source."""
    return {
        "text": answer.text,
        "answered": answer.answered,
        "answerer": answer.answerer,
        "notice": answer.notice,
        "unsupported": list(answer.unsupported),
        "sources": [{
            "n": c.n, "title": c.chunk.title, "authors": list(c.chunk.authors), "outlet": c.chunk.outlet,
            "date": c.chunk.date, "source": c.chunk.source, "quote": c.quote, "passage": c.chunk.text,
        } for c in answer.citations],
    }


def _message(text: str, ok: bool = False, sentence: bool = False) -> str:
    """A status line for the page; ``sentence`` capitalises the first letter."""
    if sentence:
        text = text[:1].upper() + text[1:]
    return f'<div class="{"rag-ok" if ok else "rag-error"}">{"✓" if ok else "⚠"} {_esc(text)}</div>'


def _error_text(exc: Exception) -> str:
    """A message for the page; unexpected errors are logged, not shown in full."""
    if isinstance(exc, (RagError, ValueError)):
        return str(exc) or exc.__class__.__name__
    log.exception("unexpected error in the page")
    return "Something went wrong on the server (see its log); please try again."


# ---------------------------------------------------------------- uploads
def _report_text(name: str, report: Any) -> str:
    """One line for the upload panel from a ``BuildReport``."""
    titles = list(getattr(report, "added", []) or []) + list(getattr(report, "changed", []) or [])
    what = ("added " + ", ".join(f"“{t}”" for t in titles)) if titles else "already indexed (unchanged)"
    return (f"{name}: {what}. The index now holds {getattr(report, 'documents', '?')} articles, "
            f"{getattr(report, 'passages', '?')} passages ({getattr(report, 'seconds', 0.0):.1f} s).")


# ---------------------------------------------------------------- the page
def build_app(assistant: Any, examples: Sequence[str] | None = None) -> gr.Blocks:
    """The chat page over ``assistant`` (a ``rag.Assistant``); launch with ``launch_kwargs()``."""
    settings: Settings = assistant.settings
    names = list(assistant.answerer_names())
    default_answerer = settings.answerer if settings.answerer in names else (names[0] if names else None)

    def chat_turn(question: str, chat: list, history: list, answerer: str, k: float, mode: str):
        """Stream one answer into the chat; bad input becomes a message under the box."""
        question = (question or "").strip()
        chat, history = list(chat or []), list(history or [])
        if not question:
            yield chat, history, gr.update(), _message("Please type a question first.")
            return
        shown = chat + [{"role": "user", "content": question}]
        yield shown + [{"role": "assistant", "content": render_streaming("")}], history, "", ""
        text = ""
        try:
            stream = assistant.ask_stream(question, k=int(k), mode=mode, answerer=answerer, history=history)
            for part in stream:
                text += part
                yield shown + [{"role": "assistant", "content": render_streaming(text)}], history, "", ""
            final = stream.answer
        except Exception as exc:  # noqa: BLE001 - the page must keep serving
            yield chat, history, question, _message(_error_text(exc), sentence=True)
            return
        history = history + [{"role": "user", "content": question}, {"role": "assistant", "content": final.text}]
        yield shown + [{"role": "assistant", "content": render_answer(final)}], history, "", ""

    def add_files(files: list | None, progress=gr.Progress()):
        """Add uploaded files to the seeds folder and the index, one by one."""
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            yield _message("Choose a file first."), gr.update(), None
            return
        lines: list[str] = []
        for i, p in enumerate(paths):
            name = Path(p).name
            progress(i / len(paths), desc=f"Indexing {name}")
            lines.append(f'<div class="rag-progress">⏳ Indexing {html.escape(name)} ({i + 1}/{len(paths)})…</div>')
            yield "".join(lines), gr.update(), gr.update()
            try:  # add_document refuses bad names, types, sizes and contents, saying why
                report = assistant.add_document(name, Path(p).read_bytes())
                lines[-1] = _message(_report_text(name, report), ok=True)
            except Exception as exc:  # noqa: BLE001 - show it, keep serving
                msg = _error_text(exc)
                lines[-1] = _message(msg if name in msg else f"{name}: {msg}")
            yield "".join(lines), gr.update(), gr.update()
        progress(1.0)
        yield "".join(lines), render_status(assistant.status()), None

    def status() -> str:
        try:
            return render_status(assistant.status())
        except Exception as exc:  # noqa: BLE001
            return _message(_error_text(exc))

    def api_ask(question: str, k: int = 0, mode: str = "", answerer: str = "",
                history: list[dict] | None = None) -> dict:
        """Answer ``question`` from the articles. k=0, mode="" and answerer="" use the server's
        defaults; history is the conversation so far as [{"role": ..., "content": ...}].
        Returns {text, answered, answerer, notice, unsupported, sources: [{n, title, authors,
        outlet, date, source, quote, passage}]}."""
        try:
            answer = assistant.ask(question, k=int(k) or None, mode=mode or None, answerer=answerer or None,
                                   history=list(history or []) or None)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(_error_text(exc)) from None
        return answer_payload(answer)

    with gr.Blocks(title="Ask the articles", analytics_enabled=False) as app:
        gr.Markdown("## Ask the articles\nAnswers come only from the indexed articles, each sentence "
                    "cited as [n]; open a source to read the passage, the supporting sentence highlighted.")
        history = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Conversation", show_label=False, elem_id="chat", height=560,
                                     layout="panel", latex_delimiters=[],
                                     sanitize_html=True, feedback_options=None, buttons=["copy"],
                                     placeholder="Ask a question about the articles; the answer cites its sources.")
                with gr.Row():
                    question = gr.Textbox(placeholder="Ask a question…", show_label=False, scale=5, lines=1,
                                          max_lines=6, elem_id="question", autofocus=True)
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask-button")
                ask_message = gr.HTML("", elem_id="ask-message")
                gr.Examples(list(examples if examples is not None else EXAMPLES), inputs=[question],
                            label="Example questions")
                clear = gr.Button("Clear conversation", size="sm", variant="secondary", elem_id="clear")
            with gr.Column(scale=2, min_width=300):
                with gr.Accordion("Answer settings", open=True):
                    answerer = gr.Dropdown(names, value=default_answerer, label="Answerer",
                                           info="The LLM appears when RAG_LLM_BASE_URL is set.",
                                           elem_id="answerer")
                    k = gr.Slider(1, MAX_K, value=min(settings.k, MAX_K), step=1, label="Passages to retrieve (k)",
                                  elem_id="k")
                    mode = gr.Radio(list(MODES), value=settings.mode, label="Retrieval", elem_id="mode",
                                    info="dense = meaning, bm25 = words, hybrid = both")
                with gr.Accordion("Add documents", open=True):
                    files = gr.File(label=f"Upload {', '.join(UPLOAD_SUFFIXES)} (max {MAX_UPLOAD_BYTES // 2**20} MB)",
                                    file_count="multiple", file_types=list(UPLOAD_SUFFIXES), elem_id="upload",
                                    height=120)
                    upload_message = gr.HTML("", elem_id="upload-message")
                with gr.Accordion("Index status", open=True):
                    status_html = gr.HTML(status(), elem_id="index-status")
                    refresh = gr.Button("Refresh", size="sm", variant="secondary")

        ask_event = dict(fn=chat_turn, inputs=[question, chatbot, history, answerer, k, mode],
                         outputs=[chatbot, history, question, ask_message], api_visibility="private",
                         show_progress="minimal")
        for trigger in (send.click, question.submit):  # the Ask button is off while an answer streams
            trigger(lambda: gr.update(interactive=False), None, send, queue=False, api_visibility="private") \
                .then(**ask_event) \
                .then(lambda: gr.update(interactive=True), None, send, queue=False, api_visibility="private")
        clear.click(lambda: ([], [], "", ""), None, [chatbot, history, question, ask_message],
                    api_visibility="private", queue=False)
        chatbot.clear(lambda: ([], ""), None, [history, ask_message], api_visibility="private", queue=False)
        files.upload(add_files, [files], [upload_message, status_html, files], api_visibility="private",
                     show_progress="full")
        refresh.click(status, None, status_html, api_visibility="private")
        app.load(status, None, status_html, api_visibility="private")
        gr.api(api_ask, api_name=API_NAME)
    return app


# ---------------------------------------------------------------- serving
def launch_kwargs() -> dict[str, Any]:
    """Page-wide launch options (Gradio 6 takes theme and css in ``launch``)."""
    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "monospace"])  # no web fonts: works offline
    return dict(theme=theme, css=CSS, max_file_size=MAX_UPLOAD_BYTES, footer_links=["api"])


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:pass"`` -> ("user", "pass"); empty -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise RagError('RAG_AUTH must look like "user:password"')
    return user, password


def _is_loopback(host: str) -> bool:
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

    ``host``/``port``/``auth`` default to ``RAG_HOST`` (127.0.0.1), ``RAG_PORT`` (7860) and
    ``RAG_AUTH`` ("user:password", no login if unset). ``block=False`` returns at once.
    """
    host = host or os.environ.get("RAG_HOST") or "127.0.0.1"
    port = int(port or os.environ.get("RAG_PORT") or 7860)
    if auth is None or isinstance(auth, str):
        auth = parse_auth(auth or os.environ.get("RAG_AUTH"))
    if not _is_loopback(host) and auth is None:
        log.warning("serving on %s without a login; set RAG_AUTH=user:password to require one", host)
    if assistant is None:
        assistant = Assistant.open(settings=settings or Settings.from_env(), progress=sys.stderr.isatty())
    assistant.warm_up()
    app = build_app(assistant)
    app.queue(default_concurrency_limit=1)
    app.launch(server_name=host, server_port=port, share=share, auth=auth, inbrowser=open_browser,
               prevent_thread_lock=not block, quiet=False, **launch_kwargs())
    return app
