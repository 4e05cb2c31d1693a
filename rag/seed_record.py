"""What each seed file held when the index last took it in, so ``rag index`` reads again only
the files that changed (as git trusts a file whose stat is unchanged).

A file is read again when its size, mtime, ctime or inode differ from the record, when it was
written within ``RACY_SECONDS`` of the record (a change in the same tick would not show), when
the index no longer holds its documents with the recorded hashes (a damaged, rebuilt or other
index), and always when the index's settings changed. The record is one JSON file per seeds
folder and store under ``Settings.cache_dir``; a missing or unreadable record only means that
every file is read, as without it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import defaultdict
from pathlib import Path

from .errors import IndexMissingError, RagError
from .ingest import IngestResult, read_seeds
from .store import Store
from .types import Document

log = logging.getLogger(__name__)

VERSION = 1
RACY_SECONDS = 2.0


def record_path(cache_dir: Path, seeds_dir: Path, store_label: str) -> Path:
    key = hashlib.sha256(f"{Path(seeds_dir).resolve()}\0{store_label}".encode()).hexdigest()[:24]
    return Path(cache_dir) / "seeds" / f"{key}.json"


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class SeedRecord:
    """The record at ``path``: ``reuse`` answers from it, ``save`` replaces it after a build."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.files: dict[str, dict] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") == VERSION and isinstance(data.get("files"), dict):
                self.files = data["files"]
        except (OSError, ValueError, AttributeError):
            pass

    @classmethod
    def for_settings(cls, settings) -> "SeedRecord":
        """The record of ``settings``' seeds folder and index (``cache_dir``/seeds/…)."""
        from .store import store_label

        where = f"{store_label(settings.store)} {Path(settings.index_dir).resolve()}"
        return cls(record_path(settings.cache_dir, settings.seeds_dir, where))

    def reuse(self, rel: str, st: os.stat_result) -> list[Document] | None:
        """The recorded documents of ``rel`` (ids, titles and hashes; no text) if its stat is unchanged."""
        entry = self.files.get(rel)
        if not isinstance(entry, dict) or entry.get("stat") != _stamp(st):
            return None
        try:
            return [Document(id=i, title=t, text="", source=rel, content_hash=h) for i, t, h in entry["docs"]]
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, found: IngestResult) -> None:
        """Record every file of ``found`` (its stat and documents), except those written too recently."""
        if found.reused == found.stats.keys() and len(self.files) == len(found.stats):
            return  # every file as recorded: the record stands
        docs: dict[str, list[list[str]]] = defaultdict(list)
        for d in found.documents:
            docs[d.source].append([d.id, d.title, d.content_hash])
        settled = time.time_ns() - int(RACY_SECONDS * 1e9)
        files = {rel: {"stat": _stamp(st), "docs": docs[rel]} for rel, st in found.stats.items()
                 if rel in docs and max(st.st_mtime_ns, st.st_ctime_ns) < settled}
        if files == self.files:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": VERSION, "files": files}), encoding="utf-8")
            os.replace(tmp, self.path)
            self.files = files
        except OSError as exc:  # a cache: without it every file is read next time
            log.debug("could not write the seeds record %s: %s", self.path, exc)
            tmp.unlink(missing_ok=True)


def read_changed(seeds_dir: Path, max_bytes: int | None, record: SeedRecord, store: Store,
                 expect: dict) -> IngestResult:
    """``read_seeds``, reading only the files the record cannot vouch for (see the module doc);
    ``expect``: the settings the index must have been built with (``indexer.expected_manifest``)."""
    from .indexer import compatible

    found = read_seeds(seeds_dir, max_bytes=max_bytes, reuse=record.reuse)
    if not found.reused:
        return found
    held: dict[str, str] = {}
    try:
        if compatible(store.manifest(), expect):
            try:
                store.check(expect, deep=True)  # what is damaged is left out of the listing below
                held = store.hashes()
            except IndexMissingError:
                # damaged: what is intact is listed, unless the store is then rebuilt whole (all files read)
                held = store.hashes() if store.repairs_parts else {}
    except RagError:  # unreadable: build_index repairs it, from files read again
        held = {}
    by_file: dict[str, list[Document]] = defaultdict(list)
    for d in found.documents:
        if d.source in found.reused:
            by_file[d.source].append(d)
    stale = {rel for rel, ds in by_file.items() if any(held.get(d.id) != d.content_hash for d in ds)}
    if stale:
        log.info("reading %d recorded file(s) again: the index does not hold them as recorded", len(stale))
        found = read_seeds(seeds_dir, max_bytes=max_bytes,
                           reuse=lambda rel, st: None if rel in stale else record.reuse(rel, st))
    log.debug("%d of %d seed files unchanged since the last build: not read", len(found.reused), len(found.stats))
    return found
