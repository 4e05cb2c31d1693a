"""An answer's HTML: pure functions from answers, sources and articles to HTML strings.

No Gradio here (fast to import and test); ``app.py`` puts these strings on the page and
``panels.py`` renders the side panels. Every piece of text is escaped; an answer is one HTML
block with no blank lines (the chat's markdown renderer would end the block there).

Each ``[n]`` of an answer is a link ``<a class="cite" href="#src-KEY-n" title="title — quote">``
to its source card ``<details id="src-KEY-n">`` (``KEY`` tells the answers of a conversation
apart); the page's script opens and scrolls to the card on click.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any
from datetime import date as _date

from rag.types import Answer, Chunk, Citation, Document, Hit

_MARKS = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def _esc(text: str) -> str:
    """HTML-escape text and keep its line breaks as ``<br>`` (never a blank line)."""
    return html.escape(text).replace("\r", "").replace("\n", "<br>")


def _attr(text: str) -> str:
    """Text for an attribute value (one line, escaped, quotes included)."""
    return html.escape(" ".join(text.split()), quote=True)


def source_id(key: str, n: int | str) -> str:
    """The element id of source card ``n`` of the answer ``key``."""
    return f"src-{key}-{n}"


def _cite_marks(escaped: str, key: str | None = None, titles: Mapping[int, str] | None = None) -> str:
    """``[n]`` markers as superscript links to their cards (plain superscripts without ``key``)."""
    def one(n: str) -> str:
        if key is None or titles is None or int(n) not in titles:
            return n
        return (f'<a class="cite" href="#{source_id(key, n)}" data-src="{source_id(key, n)}" '
                f'title="{titles[int(n)]}">{n}</a>')

    def group(m: re.Match) -> str:
        nums = [x.strip() for x in m.group(1).split(",")]
        return f'<sup class="cite">[{", ".join(one(n) for n in nums)}]</sup>'
    return _MARKS.sub(group, escaped)


def _flag_unsupported(text: str, unsupported: Sequence[str], marks) -> tuple[str, list[str]]:
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
        out.append(marks(_esc(text[pos:start])))
        out.append('<span class="unsupported" title="No cited passage supports this sentence">'
                   f"⚠ {marks(_esc(text[start:end]))}</span>")
        pos = end
    out.append(marks(_esc(text[pos:])))
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


def render_article(doc: Document, c: Citation) -> str:
    """The whole article ``doc`` with the cited passage (``.in-passage``) and its sentence (``<mark>``)."""
    text = doc.text
    ps, pe = c.chunk.start - doc.start, c.chunk.end - doc.start
    if not (0 <= ps < pe <= len(text)) or text[ps:pe] != c.chunk.text:  # the file changed since indexing
        return ('<div class="article-text">' + _esc(text) + "</div>"
                '<div class="flag">⚠ The file has changed since it was indexed; rebuild the index.</div>')
    span = _quote_span(c)
    qs, qe = (ps + span[0], ps + span[1]) if span else (pe, pe)
    passage = _esc(text[ps:qs]) + (f"<mark>{_esc(text[qs:qe])}</mark>" if qe > qs else "") + _esc(text[qe:pe])
    return (f'<div class="article-text">{_esc(text[:ps])}<span class="in-passage">{passage}</span>'
            f"{_esc(text[pe:])}</div>")


def format_date(published: str | None, written: str | None = None) -> str:
    """An ISO publication date as '19 Mar 2025', the one format of the page (else as written)."""
    if published:
        try:
            d = _date.fromisoformat(published)
            return f"{d.day} {d:%b %Y}"
        except ValueError:
            pass
    return written or ""


def render_location(chunk: Chunk) -> str:
    """'📄 file.txt · characters 24,441–25,302 · 19 Mar 2025'."""
    parts = [f"{html.escape(chunk.source)}", f"characters {chunk.start:,}–{chunk.end:,}"]
    when = format_date(chunk.published, chunk.date)
    if when:
        parts.append(f'<span class="date">{html.escape(when)}</span>')
    return f'<div class="where">{" · ".join(parts)}</div>'


def _source_head(n: int | str, chunk: Chunk) -> str:
    names = html.escape(" and ".join(chunk.authors)) if chunk.authors else ""
    by = ", ".join(p for p in (names, html.escape(chunk.outlet or "")) if p)
    return (f'<span class="n">[{n}]</span> <span class="title">{html.escape(chunk.title or chunk.source)}</span>'
            + (f' <span class="byline">— {by}</span>' if by else ""))


def _card(c: Citation, key: str, article: Document | None) -> str:
    quote = f'<span class="quote">“<mark>{_esc(c.quote)}</mark>”</span>' if c.quote else ""
    whole = (f'<details class="rag-article"><summary>Whole article</summary>{render_article(article, c)}</details>'
             if article is not None else "")
    return (f'<details class="rag-source" id="{source_id(key, c.n)}"><summary>{_source_head(c.n, c.chunk)}'
            f"{render_location(c.chunk)}{quote}</summary>"
            f'<div class="passage">{render_passage(c)}</div>{whole}</details>')


def render_sources(citations: Sequence[Citation], key: str = "0",
                   articles: Mapping[str, Document] | None = None) -> str:
    """One collapsible card per citation: title, byline, file and position, date, quote; open it
    for the passage and, when ``articles`` holds its document, the whole article."""
    items = "".join(_card(c, key, (articles or {}).get(c.chunk.doc_id)) for c in citations)
    return f'<details class="rag-sources" open><summary>Sources ({len(citations)})</summary>{items}</details>'


def render_hits(hits: Sequence[Hit], label: str) -> str:
    """Retrieved passages that were not cited (shown collapsed when nothing was answered)."""
    items = [f'<details class="rag-source"><summary>{_source_head(h.rank or i + 1, h.chunk)}'
             f'{render_location(h.chunk)}</summary><div class="passage">{_esc(h.chunk.text)}</div></details>'
             for i, h in enumerate(hits)]
    return f'<details class="rag-sources"><summary>{html.escape(label)}</summary>{"".join(items)}</details>'


def _searched(question: str | None, only: str | None = None) -> str:
    parts = ([f"Searched for: “{_esc(question)}”"] if question else []) + ([f"Only {_esc(only)}"] if only else [])
    return f'<div class="searched">{" · ".join(parts)}</div>' if parts else ""


def describe_filters(filters: Any) -> str:
    """'outlet Substack, since 2025-04-01' for the filters set on ``filters`` ("" for none)."""
    names = ("outlet", "author", "article", "since", "until")
    return ", ".join(f"{n} {getattr(filters, n)}" for n in names if getattr(filters, n, None))


def render_answer(answer: Answer, key: str = "0", articles: Mapping[str, Document] | None = None,
                  searched_for: str | None = None, only: str | None = None) -> str:
    """A whole chat message for ``answer`` as one HTML block (no blank lines).

    ``key`` makes the source ids unique in the conversation; ``articles`` (doc id -> Document)
    adds the whole-article views; ``searched_for`` shows a rewritten follow-up, ``only`` the filters."""
    parts = ['<div class="rag-answer">', _searched(searched_for, only)]
    if answer.notice:
        parts.append(f'<div class="notice">ℹ️ {_esc(answer.notice)}</div>')
    titles = {c.n: _attr(f"{c.chunk.title or c.chunk.source} — “{c.quote or c.chunk.text[:200]}”")
              for c in answer.citations}
    body, missing = _flag_unsupported(answer.text, answer.unsupported, lambda t: _cite_marks(t, key, titles))
    cls = "" if answer.answered else ' class="not-answered"'
    parts.append(f"<p{cls}>{body}</p>")
    flagged = len(answer.unsupported)
    if flagged:
        parts.append(f'<div class="flag">⚠ {flagged} sentence{"s" if flagged > 1 else ""} not supported '
                     "by the cited passages (marked above); check them against the sources.</div>")
        for s in missing:
            parts.append(f'<div class="flag">⚠ Unsupported: “{_esc(s)}”</div>')
    if answer.citations:
        parts.append(render_sources(answer.citations, key, articles))
    elif answer.hits:
        parts.append(render_hits(answer.hits, f"Closest passages ({len(answer.hits)})"))
    if answer.answerer:
        parts.append(f'<div class="answered-by">answered by {html.escape(answer.answerer)}</div>')
    parts.append("</div>")
    return "".join(parts)


def render_searching(searched_for: str | None = None) -> str:
    """The answer's place while the passages are being searched (before the first token)."""
    return (f'<div class="rag-answer rag-searching">{_searched(searched_for)}'
            '<p class="state"><span class="spinner"></span>Searching the articles…</p></div>')


def render_streaming(text: str, searched_for: str | None = None) -> str:
    """The answer while it streams in."""
    return f'<div class="rag-answer">{_searched(searched_for)}<p>{_cite_marks(_esc(text))} ▌</p></div>'


def render_stopped(text: str, searched_for: str | None = None) -> str:
    """An answer the user stopped: what had arrived, marked as stopped."""
    body = _cite_marks(_esc(text)) if text.strip() else ""
    return (f'<div class="rag-answer rag-stopped">{_searched(searched_for)}<p>{body}</p>'
            '<div class="flag">Stopped: the answer is incomplete and has no sources.</div></div>')
