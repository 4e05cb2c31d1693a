"""The seeds folder as a collection the user manages: add a file (checked, never over another one, never a
second copy of an indexed article) or remove one. ``Assistant.add_document`` / ``remove_document`` use this.

Choices (named in README.md):

* a file whose article(s) are already indexed (same content hash, whatever the file name) is refused
  with ``DuplicateDocumentError`` naming the indexed article and its file;
* a file name already taken in the seeds folder is refused with ``DocumentExistsError`` (the old file
  is kept; the message says to rename the upload or remove the old file first), never overwritten;
* removing deletes the file from the seeds folder (the user asked for it), then the index forgets
  its articles; a name outside the folder or not in it is a ``DocumentNotFoundError``.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DocumentExistsError, DocumentNotFoundError, DuplicateDocumentError, RagError
from .ingest import SUFFIXES, IngestError, read_text, split_documents


def stage_upload(seeds_dir: Path, name: str, data: bytes, indexed: dict[str, dict]) -> Path:
    """Write ``data`` to a hidden file beside ``seeds_dir/name`` after the checks; returns its path.

    ``indexed`` is the index manifest's ``documents`` (id -> {"hash", "title", "source", ...}).
    Raises ``DuplicateDocumentError``, ``DocumentExistsError`` or ``RagError`` (unreadable file).
    """
    seeds_dir.mkdir(parents=True, exist_ok=True)
    tmp = seeds_dir / f".upload-{name}"  # hidden from read_seeds; keeps the suffix
    tmp.write_bytes(data)
    try:
        try:
            docs = split_documents(read_text(tmp), name)
        except IngestError as exc:
            raise RagError(f"{name}: {exc}") from None
        by_hash = {meta.get("hash"): meta for meta in indexed.values()}
        dupes = [by_hash[d.content_hash] for d in docs if d.content_hash in by_hash]
        if dupes:
            first = dupes[0]
            more = f" and {len(dupes) - 1} more" if len(dupes) > 1 else ""
            raise DuplicateDocumentError(f"{name} is already indexed: “{first['title']}”{more} "
                                         f"(in {first['source']}); not added again")
        if (seeds_dir / name).exists():
            raise DocumentExistsError(f"{name} already exists in {seeds_dir} with other content: rename the "
                                      f"file to add it, or remove the old one first (rag remove {name})")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit_upload(tmp: Path, target: Path) -> None:
    """Move the staged file to ``target``; fails rather than replace a file that appeared meanwhile."""
    try:
        os.link(tmp, target)  # atomic, and never over an existing file
    except FileExistsError:
        raise DocumentExistsError(f"{target.name} already exists in {target.parent}: not overwritten") from None
    finally:
        tmp.unlink(missing_ok=True)


def seed_file(seeds_dir: Path, name: str) -> Path:
    """The file ``name`` (relative to ``seeds_dir``) that may be removed, or ``DocumentNotFoundError``."""
    root = seeds_dir.resolve()
    path = (seeds_dir / str(name).replace("\\", "/")).resolve()
    if root not in path.parents or path.suffix.lower() not in SUFFIXES or not path.is_file():
        known = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")) \
            if root.is_dir() else []
        listed = ", ".join(known[:5]) + (" …" if len(known) > 5 else "")
        raise DocumentNotFoundError(f"{name} is not a file in {seeds_dir}" + (f"; files: {listed}" if known else ""))
    return path
