"""Which files of the seeds folder are read, and which are skipped before reading (and why).

Skipped with a reason (the caller warns and lists them in the build report): symlinks leading
outside the folder, names that are not valid UTF-8 (shown by ``repr``), files over the size
limit, anything that is not a regular file, and subfolders that cannot be read. Symlinked
folders are never entered (they could loop); hidden files and unsupported suffixes are ignored.
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from .errors import SeedsError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
RICH_SUFFIXES = {".html", ".htm", ".pdf"}
SUFFIXES = TEXT_SUFFIXES | RICH_SUFFIXES
MB = 1024 * 1024


def seed_files(seeds_dir: Path, max_bytes: int | None = None
               ) -> tuple[list[tuple[str, str, os.stat_result]], list[tuple[str, str]]]:
    """(path, name relative to ``seeds_dir``, stat) of the files to read, sorted by name, and the
    (name, reason) of those skipped. An unreadable ``seeds_dir`` itself is a SeedsError."""
    seeds_dir = Path(seeds_dir)
    root = seeds_dir.resolve()
    found: list[tuple[str, str, os.stat_result]] = []
    skipped: list[tuple[str, str]] = []

    def skip(path: Path, reason: str) -> None:
        rel = shown(path.relative_to(seeds_dir).as_posix())
        log.warning("skipped %s: %s", rel, reason)
        skipped.append((rel, reason))

    def onerror(exc: OSError) -> None:
        if Path(exc.filename or "") == seeds_dir:
            raise SeedsError(f"the seeds folder {seeds_dir} cannot be read ({exc.strerror or exc})")
        skip(Path(exc.filename), f"the folder cannot be read ({exc.strerror or exc})")

    for top, dirs, names in os.walk(seeds_dir, onerror=onerror):
        dirs.sort()
        for d in list(dirs):
            p = Path(top) / d
            if p.is_symlink():
                dirs.remove(d)
                if not p.resolve().is_relative_to(root):
                    skip(p, "a symlink to a folder outside the seeds folder")
        base = Path(top).relative_to(seeds_dir).as_posix()  # once per folder: pathlib is slow per file
        prefix = "" if base == "." else base + "/"
        for name in names:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in SUFFIXES:
                continue
            p = os.path.join(top, name)
            rel = prefix + name
            try:
                reason, st = _why_not(p, rel, root, max_bytes)
            except OSError as exc:
                reason, st = f"it cannot be read ({exc.strerror or exc})", None
            if reason:
                skip(Path(p), reason)
            else:
                found.append((p, rel, st))
    return sorted(found, key=lambda f: f[1]), sorted(skipped)


def shown(name: str) -> str:
    """``name`` as it can be printed and stored: its ``repr`` if it is not valid UTF-8."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates (surrogateescape)
        return repr(name)


def _why_not(path: str, rel: str, root: Path, max_bytes: int | None) -> tuple[str | None, os.stat_result | None]:
    """Why ``path`` (``rel`` in the seeds folder) is skipped before reading it (or None), and its stat."""
    if shown(rel) != rel:
        return "the file name is not valid UTF-8: rename the file", None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        target = Path(path).resolve()
        if not target.is_relative_to(root):
            return "a symlink to a file outside the seeds folder", None
        if not target.exists():
            return "a broken symlink", None
        st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file", None
    if max_bytes is not None and st.st_size > max_bytes:
        return (f"the file has {st.st_size / MB:.3g} MB, more than the limit of {max_bytes / MB:.3g} MB "
                "(RAG_MAX_FILE_MB)"), None
    return None, st
