"""The chat page: the Blocks layout and its wiring, a thin layer over ``rag.Assistant``.

``build_app(assistant)`` returns the page (HTML comes from ``render``/``panels``, handlers from
``chat``/``documents``; ``server.serve`` launches it). Besides the page, the app exposes one
named API endpoint, ``/ask`` (``api.make_api_ask``), usable from ``gradio_client``; it returns
``Answer.to_dict()``, the same shape as ``rag ask --json``.
"""
# No `from __future__ import annotations`: gr.api reads the endpoint's real type hints.
import logging
from collections.abc import Sequence
from typing import Any

import gradio as gr  # the package's __init__ has turned Gradio's analytics off

from rag.assistant import MAX_UPLOAD_BYTES
from rag.config import MODES, Settings
from rag.ingest import SUFFIXES  # the file types the engine can read

from .api import API_NAME, MAX_K, make_api_ask
from .uploads import UPLOAD_CACHE
from .chat import ANY, Chat, empty_conversation, restore
from .documents import Library, documents_panel

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES: tuple[str, ...] = tuple(sorted(SUFFIXES))
STORAGE_KEY = "rag-articles-conversation"  # the browser's localStorage key of the conversation
EXAMPLES = [
    "How many tanks did Russia produce in 2024?",
    "Where is Michael Vlahos a senior fellow?",
    "How has RT described Kirill Dmitriev?",
    "Whom did Mike Waltz serve as an aide before his time in office?",
]
# A click on [n] opens its source card and scrolls to it (hovering shows the title and quote).
CITE_JS = """() => {
  if (window.__ragCites) return; window.__ragCites = true;
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a.cite');
    if (!a) return;
    const card = document.getElementById((a.getAttribute('href') || '').slice(1));
    if (!card) return;
    e.preventDefault(); e.stopPropagation();
    card.open = true;
    card.closest('details.rag-sources') && (card.closest('details.rag-sources').open = true);
    card.scrollIntoView({block: 'center', behavior: 'smooth'});
    card.classList.add('flash'); setTimeout(() => card.classList.remove('flash'), 1500);
  }, true);
}"""


def build_app(assistant: Any, examples: Sequence[str] | None = None) -> gr.Blocks:
    """The chat page over ``assistant`` (a ``rag.Assistant``); launch with ``server.launch_kwargs()``."""
    settings: Settings = assistant.settings
    names = list(assistant.answerer_names())
    default_answerer = settings.answerer if settings.answerer in names else (names[0] if names else None)
    chat_h, lib = Chat(assistant), Library(assistant)

    with gr.Blocks(title="Ask the articles", analytics_enabled=False, delete_cache=UPLOAD_CACHE) as app:
        gr.Markdown("## Ask the articles\nAnswers come only from the indexed articles, each sentence "
                    "cited as [n]: click one to open its source, the supporting sentence highlighted.")
        saved = gr.BrowserState(empty_conversation(), storage_key=STORAGE_KEY)
        docs = gr.State(None)  # the documents: None until the page has loaded them
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
                    stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, elem_id="stop-button",
                                     visible=False)
                ask_message = gr.HTML("", elem_id="ask-message")
                rewrite = gr.Checkbox(True, label="Rewrite follow-up questions to stand alone (shown as "
                                      "“searched for: …”)", elem_id="rewrite")
                ex = gr.Examples(list(examples if examples is not None else EXAMPLES), inputs=[question],
                                 label="Example questions (click one to ask it)", elem_id="examples")
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
                with gr.Accordion("Filters", open=False, elem_id="filters"):
                    outlet = gr.Dropdown([ANY], value=ANY, label="Outlet", elem_id="f-outlet")
                    author = gr.Dropdown([ANY], value=ANY, label="Author", elem_id="f-author")
                    article = gr.Dropdown([ANY], value=ANY, label="Article", elem_id="f-article")
                    with gr.Row():
                        since = gr.Textbox(label="Since", placeholder="2025-04-01", elem_id="f-since")
                        until = gr.Textbox(label="Until", placeholder="2025-04-30", elem_id="f-until")
                with gr.Accordion("Add documents", open=True):
                    files = gr.File(label=f"Upload {', '.join(UPLOAD_SUFFIXES)} (max {MAX_UPLOAD_BYTES // 2**20} MB)",
                                    file_count="multiple", file_types=list(UPLOAD_SUFFIXES), elem_id="upload",
                                    height=120)
                    upload_message = gr.HTML("", elem_id="upload-message")
                with gr.Accordion("Documents", open=True, elem_id="documents"):
                    doc_message = gr.HTML("", elem_id="doc-message")
                    remove_target = gr.Textbox(visible=False)  # the file a confirmed Remove names
                    panel_slot = gr.Column(elem_id="doc-list")
                with gr.Accordion("Index status", open=False):
                    status_html = gr.HTML("", elem_id="index-status")
                    refresh = gr.Button("Refresh", size="sm", variant="secondary")

        view_outputs = [status_html, docs, outlet, author, article]
        with panel_slot:
            documents_panel(lib, docs, remove_target, doc_message, view_outputs, lib.view)

        private = dict(api_visibility="private")
        busy = lambda: (gr.update(interactive=False), gr.update(visible=True))  # noqa: E731
        idle = lambda: (gr.update(interactive=True), gr.update(visible=False))  # noqa: E731
        ask_inputs = [question, saved, answerer, k, mode, rewrite, outlet, author, article, since, until]
        asks = []
        for trigger in (send.click, question.submit, ex.load_input_event.then):
            first = trigger(busy, None, [send, stop], queue=False, **private)
            asks.append(first.then(chat_h.turn, ask_inputs, [chatbot, saved, question, ask_message],
                                   show_progress="minimal", **private))
            asks[-1].then(idle, None, [send, stop], queue=False, **private)
        stop.click(chat_h.stop, [saved], [chatbot, saved], cancels=asks, **private) \
            .then(idle, None, [send, stop], queue=False, **private)
        clear.click(lambda: ([], empty_conversation(), "", ""), None, [chatbot, saved, question, ask_message],
                    queue=False, **private)
        chatbot.clear(lambda: (empty_conversation(), ""), None, [saved, ask_message], queue=False, **private)
        files.upload(lib.add_files, [files], [upload_message, files], show_progress="full", show_progress_on=[files],
                     preprocess=False, **private) \
            .then(lib.view, None, view_outputs, **private)  # preprocess=False: raw FileData, see uploads.py
        refresh.click(lib.view, None, view_outputs, **private)
        app.load(restore, [saved], [chatbot], **private)
        app.load(lib.view, None, view_outputs, **private)
        app.load(None, None, None, js=CITE_JS, **private)
        gr.api(make_api_ask(assistant), api_name=API_NAME)
    return app
