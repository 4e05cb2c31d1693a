"""Read ``seeds/`` into documents; split digest files into their articles.

A digest is a file of several articles, each shaped ``headline`` / optional note /
``byline`` / body, e.g.::

    Europe's Fighting Talk is no Substitute for Hard Power

    By Matthew Blackburn and Patricia Marins, The National Interest, 3/19/25

    Body paragraphs...

A byline is ``[By AUTHORS, ]OUTLET, DATE`` on a line of its own; its date is kept as written
(``Document.date``) and as an ISO date (``Document.published``, see ``rag.dates``). Separator lines
(``***``, ``---``) and a site footer after the last article belong to no article.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .dates import parse_date
from .errors import SeedsError
from .seed_files import MB, SUFFIXES, TEXT_SUFFIXES, RICH_SUFFIXES, seed_files  # noqa: F401
from .types import Document

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_MB = 20  # Settings.max_file_mb

_DATE = r"\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2}|[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4}|\d{1,2} [A-Z][a-z]{2,8} \d{4}"
BYLINE = re.compile(
    rf"^(?:By\s+(?P<authors>[^,\n]+(?:,\s*[^,\n]+?)*?),\s+)?(?P<outlet>[^,\n]{{2,80}}?),\s*(?P<date>{_DATE})\s*$")
SEPARATOR = re.compile(r"^\s*(?:[*\-_=~#•·]\s*){3,}$")
_MAX_HEADLINE_WORDS = 30
_MAX_FOOTER_WORDS = 15


class SeedsMissingError(SeedsError):
    """The seeds folder is missing (or not a folder)."""


class IngestError(ValueError):
    """A file that cannot be read as text (empty, binary, not UTF-8, unsupported)."""


@dataclass
class IngestResult:
    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    stats: dict[str, os.stat_result] = field(default_factory=dict)  # file -> its stat when read
    reused: set[str] = field(default_factory=set)  # files whose documents ``reuse`` gave (not read)


Reuse = Callable[[str, os.stat_result], "list[Document] | None"]


def read_seeds(seeds_dir: Path, *, max_bytes: int | None = DEFAULT_MAX_FILE_MB * MB,
               reuse: Reuse | None = None) -> IngestResult:
    """Read every supported file under ``seeds_dir``; bad files are skipped with a warning.

    A missing folder is an error (``SeedsMissingError``), not an empty collection: indexing a
    mistyped path must not empty a good index. Skipped, each with a warning and an entry in
    ``skipped``: files larger than ``max_bytes`` (None: no limit), symlinks to anything outside
    ``seeds_dir``, names that are not valid UTF-8 (named by ``repr``), files that cannot be read,
    and empty, binary or non-UTF-8 ones (rag/seed_files.py). ``reuse(file, stat)`` may give a
    file's documents without reading it (rag.seed_record: their text left empty).
    """
    result = IngestResult()
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir():
        what = "is not a folder" if seeds_dir.exists() else "does not exist"
        raise SeedsMissingError(f"the seeds folder {seeds_dir} {what}: create it or pass --seeds or "
                                f"RAG_SEEDS_DIR (the index is unchanged)")
    files, result.skipped = seed_files(seeds_dir, max_bytes)
    for path, rel, st in files:
        try:
            result.stats[rel] = st
            known = reuse(rel, st) if reuse is not None else None
            if known is not None:
                result.documents.extend(known)
                result.reused.add(rel)
                continue
            result.documents.extend(split_documents(read_text(path), rel))
        except (IngestError, OSError) as exc:
            reason = str(exc) if isinstance(exc, IngestError) else f"it cannot be read ({exc.strerror or exc})"
            log.warning("skipped %s: %s", rel, reason)
            result.skipped.append((rel, reason))
    return result


def read_text(path: Path) -> str:
    """The text of a file; raises IngestError for empty, binary or non-UTF-8 files."""
    data = Path(path).read_bytes()
    suffix = Path(path).suffix.lower()
    if suffix == ".pdf":
        text = _pdf_text(data)
    else:
        text = decode_text(data)
        if suffix in (".html", ".htm"):
            text = _html_text(text)
    if not text.strip():
        raise IngestError("the file is empty" if not data.strip() else "no text could be extracted")
    return text


def decode_text(data: bytes) -> str:
    """Bytes of a text file as str; raises IngestError for binary or non-UTF-8 data."""
    if not data.strip():
        raise IngestError("the file is empty")
    if b"\x00" in data[:8192]:
        raise IngestError("the file is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"the file is not valid UTF-8 (byte {exc.start})") from None


def _html_text(html: str) -> str:
    import trafilatura  # optional extractor, imported only for HTML

    return trafilatura.extract(html, include_comments=False) or ""


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        pages = PdfReader(io.BytesIO(data)).pages
        return "\n\n".join(page.extract_text() or "" for page in pages)
    except (PdfReadError, ValueError, OSError) as exc:
        raise IngestError(f"the PDF could not be read ({exc})") from None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_documents(text: str, source: str) -> list[Document]:
    """Split ``text`` (the whole file ``source``) into articles, or one document."""
    lines = _lines(text)
    bylines = [i for i, (_, _, s) in enumerate(lines) if BYLINE.match(s.strip())]
    starts: list[tuple[int, int]] = []  # (headline line, byline line)
    for b in bylines:
        h = _headline_above(lines, b, floor=starts[-1][1] + 1 if starts else 0)
        if h is not None:
            starts.append((h, b))
    if not starts:
        return [_plain_document(text, source)]
    docs = []
    for n, (h, b) in enumerate(starts):
        start = lines[h][0]
        end = lines[starts[n + 1][0]][0] if n + 1 < len(starts) else len(text)
        end = _trim_tail(text, start, end, last=n + 1 == len(starts))
        m = BYLINE.match(lines[b][2].strip())
        authors = tuple(a.strip() for a in re.split(r",\s*|\s+and\s+|\s*&\s*", m["authors"]) if a.strip()) \
            if m["authors"] else ()
        body = text[start:end]
        docs.append(Document(
            id=f"{source}#{n + 1}", title=lines[h][2].strip().lstrip("#").strip(), text=body, source=source,
            start=start, end=end, authors=authors, outlet=m["outlet"].strip(), date=m["date"],
            published=parse_date(m["date"]), content_hash=content_hash(body)))
    return docs


def _lines(text: str) -> list[tuple[int, int, str]]:
    """(start, end, line) for each line of text, offsets into text."""
    out, pos = [], 0
    for line in text.splitlines(keepends=True):
        out.append((pos, pos + len(line), line.rstrip("\r\n")))
        pos += len(line)
    return out


def _headline_above(lines, b: int, floor: int) -> int | None:
    """The line index of the headline above byline ``b``: a short line, notes skipped."""
    seen = 0
    for i in range(b - 1, floor - 1, -1):
        s = lines[i][2].strip()
        if not s:
            continue
        if SEPARATOR.match(s) or BYLINE.match(s):
            return None
        seen += 1
        if seen > 3:
            return None
        if len(s.split()) <= _MAX_HEADLINE_WORDS and not s.lower().startswith("note:"):
            return i
    return None


def _trim_tail(text: str, start: int, end: int, last: bool) -> int:
    """Move ``end`` back over blank lines, separators and (for the last article) a footer."""
    paragraphs = [m for m in re.finditer(r"[^\n]+", text[start:end])]
    while paragraphs:
        s = paragraphs[-1].group().strip()
        is_footer = last and len(paragraphs) > 3 and len(s.split()) <= _MAX_FOOTER_WORDS \
            and not re.search(r"[.!?\"”’)]$", s)
        if not s or SEPARATOR.match(s) or is_footer:
            paragraphs.pop()
            last = last and not is_footer  # at most one footer line
            continue
        break
    return start + paragraphs[-1].end() if paragraphs else start


def _plain_document(text: str, source: str) -> Document:
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    first = first.lstrip("#").strip()
    title = first if 0 < len(first.split()) <= 15 else Path(source).stem.replace("_", " ")
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    body = text[start:end]
    return Document(id=source, title=title, text=body, source=source, start=start, end=end,
                    content_hash=content_hash(body))
