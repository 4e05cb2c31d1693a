"""The chat page: the Blocks layout and its event handlers, a thin layer over ``rag.Assistant``.

``build_app(assistant)`` returns the page (HTML comes from ``render``; ``server.serve``
launches it). Besides the page, the app exposes one named API endpoint, ``/ask``
(``api.make_api_ask``), usable from ``gradio_client``; it returns ``Answer.to_dict()``, the
same shape as ``rag ask --json``.
"""
# No `from __future__ import annotations`: gr.api reads the endpoint's real type hints.
import logging
from collections.abc import Sequence
from typing import Any

import gradio as gr  # the package's __init__ has turned Gradio's analytics off

from rag.assistant import MAX_UPLOAD_BYTES
from rag.config import MODES, Settings
from rag.ingest import SUFFIXES  # the file types the engine can read

from .api import API_NAME, MAX_K, error_text, make_api_ask
from .render import (render_answer, render_indexing, render_message, render_status,
                     render_streaming, report_text)
from .uploads import UPLOAD_CACHE, discard, label, shown_name, uploaded

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES: tuple[str, ...] = tuple(sorted(SUFFIXES))
EXAMPLES = [
    "How many tanks did Russia produce in 2024?",
    "Where is Michael Vlahos a senior fellow?",
    "How has RT described Kirill Dmitriev?",
    "Whom did Mike Waltz serve as an aide before his time in office?",
]


def build_app(assistant: Any, examples: Sequence[str] | None = None) -> gr.Blocks:
    """The chat page over ``assistant`` (a ``rag.Assistant``); launch with ``server.launch_kwargs()``."""
    settings: Settings = assistant.settings
    names = list(assistant.answerer_names())
    default_answerer = settings.answerer if settings.answerer in names else (names[0] if names else None)

    def chat_turn(question: str, chat: list, history: list, answerer: str, k: float, mode: str):
        """Stream one answer into the chat; bad input becomes a message under the box."""
        question = (question or "").strip()
        chat, history = list(chat or []), list(history or [])
        if not question:
            yield chat, history, gr.update(), render_message("Please type a question first.")
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
            yield chat, history, question, render_message(error_text(exc), sentence=True)
            return
        history = history + [{"role": "user", "content": question}, {"role": "assistant", "content": final.text}]
        yield shown + [{"role": "assistant", "content": render_answer(final)}], history, "", ""

    def add_files(files: list | None, progress=gr.Progress()):
        """Add uploaded files to the seeds folder and the index, one by one."""
        paths = uploaded(files)  # (temp path, name on the user's machine), each removed once read
        if not paths:
            yield render_message("Choose a file first."), gr.update(), None
            return
        lines: list[str] = []
        for i, (p, original) in enumerate(paths):
            name, shown = p.name, label(original, p.name)  # Gradio's clean name: no folders or control characters
            progress(i / len(paths), desc=f"Indexing {shown}")
            lines.append(render_indexing(shown, i, len(paths)))
            yield "".join(lines), gr.update(), gr.update()
            try:  # add_document refuses bad names, types, sizes and contents, saying why
                report = assistant.add_document(name, p.read_bytes())
                lines[-1] = render_message(report_text(shown, report), ok=True)
            except Exception as exc:  # noqa: BLE001 - show it, keep serving
                msg = error_text(exc)
                lines[-1] = render_message(msg if name in msg and original == name
                                           else f"{shown_name(original)}: {msg}")
            finally:
                discard(p)
            yield "".join(lines), gr.update(), gr.update()
        progress(1.0)
        yield "".join(lines), render_status(assistant.status()), None

    def status() -> str:
        try:
            return render_status(assistant.status())
        except Exception as exc:  # noqa: BLE001
            return render_message(error_text(exc))

    with gr.Blocks(title="Ask the articles", analytics_enabled=False, delete_cache=UPLOAD_CACHE) as app:
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
                     show_progress="full", preprocess=False)  # raw FileData: see uploads.py
        refresh.click(status, None, status_html, api_visibility="private")
        app.load(status, None, status_html, api_visibility="private")
        gr.api(make_api_ask(assistant), api_name=API_NAME)
    return app
