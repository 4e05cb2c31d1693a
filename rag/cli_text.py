"""What the ``rag`` command prints for answers and hits: short, plain-text source listings."""
from __future__ import annotations

import textwrap

from .types import Answer, Hit

QUOTE_CHARS = 240  # a printed citation quotes at most this much of its sentence


def render_sources(ans: Answer) -> str:
    """The notice, unsupported sentences and numbered sources printed under an answer.

    Each source is short: title and byline, the quoted sentence (shortened past ``QUOTE_CHARS``;
    the passage's opening if nothing was quoted), and the file with the quote's character offsets.
    """
    out = []
    if ans.notice:
        out.append(f"\nNote: {ans.notice}")
    for s in ans.unsupported:
        out.append(f"  ⚠ not supported by its sources: {s}")
    if ans.citations:
        out.append("\nSources:")
        for c in ans.citations:
            span = (c.quote_start, c.quote_end) if c.quote and c.quote_start is not None else None
            quote = textwrap.shorten(" ".join((c.quote or c.chunk.text).split()), QUOTE_CHARS, placeholder=" …")
            out.append(f"[{c.n}] {_title_line(c.chunk)}")
            out.append(textwrap.indent(textwrap.fill(f"“{quote}”", 96), "     "))
            out.append(f"     {_where(c.chunk, span)}")
    elif ans.hits:
        out.append("\nClosest passages:")
        for h in ans.hits[:3]:
            out.append(_source_line("  -", h.chunk))
            out.append(f"     “{textwrap.shorten(h.chunk.text, 180, placeholder=' …')}”")
    return "\n".join(out)


def _title_line(chunk) -> str:
    return f"{chunk.title} — {chunk.byline}" if chunk.byline else chunk.title


def _where(chunk, span: tuple[int, int] | None = None) -> str:
    start, end = span or (chunk.start, chunk.end)
    return f"{chunk.source}, characters {start}–{end}"


def _source_line(label: str, chunk) -> str:
    return f"{label} {_title_line(chunk)}\n     {_where(chunk)}"


def hit_block(h: Hit) -> str:
    text = textwrap.indent(textwrap.fill(" ".join(h.chunk.text.split()), 96), "     ")
    return f"{_source_line(f'{h.rank}. ({h.score:.3f})', h.chunk)}\n{text}\n"
