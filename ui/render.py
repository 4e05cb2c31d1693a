"""The page's HTML: pure functions from answers, sources and messages to HTML strings.

No Gradio here (fast to import and test); ``app.py`` puts these strings on the page.
Every piece of text is escaped; an answer is one HTML block with no blank lines (the
chat's markdown renderer would end the block there).
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from rag.types import Answer, Chunk, Citation, Hit


def _esc(text: str) -> str:
    """HTML-escape text and keep its line breaks as ``<br>`` (never a blank line)."""
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


def _source_head(n: int | str, chunk: Chunk) -> str:
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


def render_message(text: str, ok: bool = False, sentence: bool = False) -> str:
    """A status line (✓ or ⚠) for the page; ``sentence`` capitalises the first letter."""
    if sentence:
        text = text[:1].upper() + text[1:]
    return f'<div class="{"rag-ok" if ok else "rag-error"}">{"✓" if ok else "⚠"} {_esc(text)}</div>'


def render_indexing(name: str, i: int, total: int) -> str:
    """The upload panel's line while file ``i`` (0-based) of ``total`` is being indexed."""
    return f'<div class="rag-progress">⏳ Indexing {html.escape(name)} ({i + 1}/{total})…</div>'


def report_text(name: str, report: Any) -> str:
    """One line for the upload panel from a ``BuildReport``."""
    titles = list(getattr(report, "added", []) or []) + list(getattr(report, "changed", []) or [])
    what = ("added " + ", ".join(f"“{t}”" for t in titles)) if titles else "already indexed (unchanged)"
    return (f"{name}: {what}. The index now holds {getattr(report, 'documents', '?')} articles, "
            f"{getattr(report, 'passages', '?')} passages ({getattr(report, 'seconds', 0.0):.1f} s).")
