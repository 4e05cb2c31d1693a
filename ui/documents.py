"""The collection side of the page: uploads with labelled progress, the documents panel (remove,
confirmed), and the filter panel's choices, all from the live index."""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from itertools import groupby
from typing import Any

import gradio as gr

from .api import error_text
from .chat import ANY
from .panels import render_file, render_message, render_progress, render_status, report_text
from .uploads import discard, label, shown_name, uploaded

log = logging.getLogger(__name__)


class Library:
    """Upload / remove / list handlers over ``assistant``."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    def documents(self) -> list[dict]:
        try:
            return self.assistant.documents()
        except Exception as exc:  # noqa: BLE001 - e.g. no index yet: an empty panel
            log.warning("cannot list the documents: %s", exc)
            return []

    def view(self):
        """(status panel, documents, outlet, author and article choices) from the live index."""
        try:
            status = render_status(self.assistant.status())
            facets = self.assistant.facets()
        except Exception as exc:  # noqa: BLE001
            return (render_message(error_text(exc)), [], *(gr.update(choices=[ANY]),) * 3)
        return (status, self.documents(),
                *(gr.update(choices=[ANY] + list(facets.get(key) or [])) for key in ("outlets", "authors", "articles")))

    def add_files(self, files: list | None, progress=gr.Progress()):
        """Add uploaded files to the seeds folder and the index, one by one, saying what happens
        (the stage, passages n/N and the time left, from ``add_document``'s progress callback).

        Yields (upload message, file box)."""
        paths = uploaded(files)  # (temp path, name on the user's machine), each removed once read
        if not paths:
            yield render_message("Choose a file first."), gr.skip()
            return
        lines: list[str] = []
        for i, (p, original) in enumerate(paths):
            name, shown = p.name, label(original, p.name)  # Gradio's clean name: no folders or control characters
            lines.append(render_progress(shown, i, len(paths), "reading and splitting"))
            yield "".join(lines), gr.skip()
            updates: queue.Queue = queue.Queue()
            try:
                data = p.read_bytes()
            finally:
                discard(p)
            job = _Job(lambda: self.assistant.add_document(name, data, progress=lambda *u: updates.put(u)))
            started: dict[str, float] = {}
            while job.running() or not updates.empty():
                try:
                    done, total, stage = updates.get(timeout=0.25)
                except queue.Empty:
                    continue
                t0 = started.setdefault(stage, time.monotonic())
                left = (time.monotonic() - t0) / done * (total - done) if 0 < done < total else None
                lines[-1] = render_progress(shown, i, len(paths), stage, done, total, left)
                progress(done / total if total else None, desc=f"{shown}: {stage}")
                yield "".join(lines), gr.skip()
            try:  # add_document refuses bad names, types, sizes, contents and duplicates, saying why
                lines[-1] = render_message(report_text(shown, job.result()), ok=True)
            except Exception as exc:  # noqa: BLE001 - show it, keep serving
                msg = error_text(exc)
                lines[-1] = render_message(msg if name in msg and original == name
                                           else f"{shown_name(original)}: {msg}")
            yield "".join(lines), gr.skip()
        yield "".join(lines), None

    def remove(self, source: str) -> Any:
        """Remove the file ``source`` (all its articles) from the seeds folder and the index
        ("" = the user did not confirm: nothing happens)."""
        if not source:
            return gr.skip()
        try:
            report = self.assistant.remove_document(source)
        except Exception as exc:  # noqa: BLE001
            return render_message(error_text(exc))
        gone = list(getattr(report, "removed", []) or [])
        titles = (": " + ", ".join(f"“{t}”" for t in gone)) if 0 < len(gone) <= 2 else \
            (f" ({len(gone)} articles)" if gone else "")
        return render_message(f"Removed {source}{titles}.", ok=True)


class _Job:
    """``fn()`` in a thread (the upload handler reports its progress meanwhile)."""

    def __init__(self, fn) -> None:
        self._out: dict = {}
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._out["error"] = exc

    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self):
        self._thread.join()
        if "error" in self._out:
            raise self._out["error"]
        return self._out["value"]


def confirm_js(source: str, articles: int) -> str:
    """The browser's own confirmation before a removal: the file name if confirmed, else ""."""
    what = f"Remove {source} ({articles} article{'s' if articles != 1 else ''}) from the seeds folder and the index?"
    return f"() => confirm({json.dumps(what)}) ? {json.dumps(source)} : ''"


def documents_panel(lib: Library, docs: gr.State, target: gr.Textbox, message: gr.HTML,
                    refresh: list, after) -> None:
    """The documents panel (inside the Blocks): each file with its articles and a Remove button
    that asks the browser to confirm; ``target`` (hidden) carries the confirmed file name,
    ``refresh`` are the outputs of ``after`` (``lib.view``), run after a removal."""

    @gr.render(inputs=[docs])
    def panel(items: list[dict] | None):
        if items is None:
            gr.HTML('<div class="rag-empty">Loading the list of documents…</div>')
            return
        if not items:
            gr.HTML('<div class="rag-empty">No articles are indexed yet: upload one above.</div>')
            return
        for source, group in groupby(sorted(items, key=lambda d: d["source"]), key=lambda d: d["source"]):
            group = list(group)
            gr.HTML(render_file(source, group), elem_classes=["doc-entry"])
            button = gr.Button(f"Remove {source}", size="sm", variant="secondary", elem_classes=["remove-doc"])
            button.click(lib.remove, [target], [message], js=confirm_js(source, len(group)),
                         api_visibility="private").then(after, None, refresh, api_visibility="private")
