"""The side panels' HTML (index status, documents, upload progress, messages): pure functions, no Gradio."""
from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .render import _esc, format_date


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
    """The index status panel from ``Assistant.status()``."""
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


def render_file(source: str, docs: Sequence[dict[str, Any]]) -> str:
    """One file of the documents panel: its articles with title, byline, date and passages."""
    rows = []
    for d in docs:
        by = ", ".join(p for p in (" and ".join(d.get("authors") or ()), d.get("outlet") or "") if p)
        when = format_date(d.get("published"), d.get("date"))
        rows.append(f'<li class="doc" data-doc="{html.escape(str(d.get("id", "")), quote=True)}">'
                    f'<span class="title">{html.escape(d.get("title") or source)}</span>'
                    + (f' <span class="byline">— {html.escape(by)}</span>' if by else "")
                    + (f' <span class="date">· {html.escape(str(when))}</span>' if when else "")
                    + f' <span class="count">· {d.get("passages", 0)} passages</span></li>')
    n = len(docs)
    return (f'<div class="rag-file"><div class="file">{html.escape(source)} '
            f'<span class="count">({n} article{"s" if n != 1 else ""})</span></div>'
            f'<ul>{"".join(rows)}</ul></div>')


def render_message(text: str, ok: bool = False, sentence: bool = False) -> str:
    """A status line (✓ or ⚠) for the page; ``sentence`` capitalises the first letter."""
    if sentence:
        text = text[:1].upper() + text[1:]
    return f'<div class="rag-msg {"rag-ok" if ok else "rag-error"}">{"✓" if ok else "⚠"} {_esc(text)}</div>'


def render_progress(name: str, i: int, total: int, stage: str = "", done: int | None = None,
                    of: int | None = None, seconds_left: float | None = None) -> str:
    """The upload panel's line while file ``i`` (0-based) of ``total`` is indexed: its name, the
    stage (e.g. 'embedding passages 12/40') and the time left when known."""
    what = stage or "indexing"
    if done is not None and of:
        what += f" {done}/{of}"
    left = f" · about {seconds_left:.0f} s left" if seconds_left is not None else ""
    files = f" (file {i + 1}/{total})" if total > 1 else ""
    return f'<div class="rag-msg rag-progress">{html.escape(name)}{files}: {html.escape(what)}{left}…</div>'


def report_text(name: str, report: Any) -> str:
    """One line for the upload panel from a ``BuildReport``."""
    titles = list(getattr(report, "added", []) or []) + list(getattr(report, "changed", []) or [])
    what = ("added " + ", ".join(f"“{t}”" for t in titles)) if titles else "already indexed (unchanged)"
    return (f"{name}: {what}. The index now holds {getattr(report, 'documents', '?')} articles, "
            f"{getattr(report, 'passages', '?')} passages ({getattr(report, 'seconds', 0.0):.1f} s).")
