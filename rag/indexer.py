"""Incremental (re)building: embed only documents that are new or changed, and hand the store
just that change (``Store.apply``), so the work follows the change, not the collection."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .bm25 import Analyzer
from .chunk import Chunker
from .commit import build_encoder, commit, embedded  # noqa: F401  (build_encoder, embedded: re-exported)
from .embed import Embedder
from .errors import IndexMismatchError, IndexMissingError, RagError, SeedsError
from .progress import Progress
from .store import Store, check_manifest
from .types import Document

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """What a (re)build did. Titles name the documents added, changed and removed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    documents: int = 0
    passages: int = 0
    embedded: int = 0  # passages embedded in this build
    seconds: float = 0.0
    full: bool = False  # everything was rebuilt (first build, or model/chunking changed)
    repaired: str | None = None  # what was damaged and has been rebuilt
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def wrote(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.full or self.repaired)

    def summary(self) -> str:
        lines = []
        for label, items in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
            lines += [f"{label}: {t}" for t in items]
        lines += [f"skipped {f}: {why}" for f, why in self.skipped]
        if self.repaired:
            lines.append(f"repaired: {self.repaired}")
        state = "rebuilt everything" if self.full else ("updated" if self.wrote else "up to date")
        lines.append(f"index {state}: {self.documents} documents, {self.passages} passages "
                     f"({self.embedded} embedded, {self.unchanged} documents unchanged) in {self.seconds:.1f}s")
        return "\n".join(lines)


def expected_manifest(embedder: Embedder, chunker: Chunker, analyzer: Analyzer) -> dict:
    """The manifest fields that must match for an index to be reused or loaded."""
    return {"embedder": {"model_id": embedder.model_id},
            "chunking": chunker.params(), "bm25": analyzer.params()}


def compatible(manifest: dict | None, expect: dict) -> bool:
    """Whether an index of ``manifest`` can be reused with the settings ``expect``."""
    if manifest is None:
        return False
    try:
        check_manifest(manifest, expect)
    except IndexMismatchError:
        return False
    return True


def as_store(store: Store | str | Path) -> Store:
    """``store`` itself, or the local store of the folder it names."""
    if isinstance(store, Store):
        return store
    from .store.local import LocalStore

    return LocalStore(store)


def build_index(docs: Sequence[Document], store: Store | str | Path, *, embedder: Embedder, chunker: Chunker,
                analyzer: Analyzer | None = None, progress: Progress = False,
                skipped: Sequence[tuple[str, str]] = (), batch_size: int = 32,
                allow_empty: bool = False, where: str = "") -> BuildReport:
    """Bring ``store`` up to date with ``docs``; readers see the old index until the change is committed.

    A damaged index is repaired: what is intact is kept, the documents of what is not are
    embedded again. No ``docs`` while the index holds documents is a SeedsError unless
    ``allow_empty`` (a typo'd or emptied seeds folder never empties a good index by accident);
    ``where`` names the seeds folder in that message. A write failure is an IndexWriteError.
    """
    t0 = time.perf_counter()
    store = as_store(store)
    analyzer = analyzer or Analyzer()
    expect = expected_manifest(embedder, chunker, analyzer)
    new_ids = _unique_ids(docs)
    manifest = store.manifest()
    if not docs and not allow_empty:
        _refuse_to_empty(store, manifest, skipped, where)
    full = not compatible(manifest, expect)
    if manifest is not None and full:
        log.info("index settings changed (model, chunking or format): rebuilding everything")
    report = BuildReport(full=full, skipped=list(skipped), documents=len(docs))
    if not full:
        try:
            store.check(expect, deep=True)
        except IndexMissingError as exc:
            report.repaired = str(exc).split(": run")[0]
            full = report.full = not store.repairs_parts
            log.warning("%s; repairing it%s", report.repaired, " (rebuilding everything)" if full else "")
    old = {} if full else store.hashes()
    todo: list[Document] = []
    for d in docs:
        h = old.get(d.id)
        if h is None:
            report.added.append(d.title)
            todo.append(d)
        elif h != d.content_hash:
            report.changed.append(d.title)
            todo.append(d)
        else:
            report.unchanged += 1
    if any(not d.text for d in todo):  # seed_record's text-less documents must never be embedded
        raise RagError("the index changed while the seeds folder was read: run `rag index` again")
    kept = report.unchanged + len(report.changed)  # old documents still there; the rest are gone
    gone = [i for i in old if i not in new_ids] if len(old) > kept else []
    if gone:
        info = store.documents()
        report.removed = [info[i]["title"] for i in gone]
    if not report.wrote:
        report.passages = len(store)
        report.seconds = time.perf_counter() - t0
        return report

    report.embedded = commit(store, expect, None if full else manifest, todo, gone, embedder=embedder,
                             chunker=chunker, batch_size=batch_size, progress=progress, skipped=skipped)
    report.passages = len(store)
    report.seconds = time.perf_counter() - t0
    return report


def update_index(docs: Sequence[Document], store: Store | str | Path, *, embedder: Embedder, chunker: Chunker,
                 analyzer: Analyzer | None = None, remove: Sequence[str] = (), progress: Progress = False,
                 batch_size: int = 32) -> BuildReport:
    """Add or replace ``docs`` and delete the documents whose ids ``remove`` lists, touching no
    other document: the cost is the change's (a lookup per named document, no listing of the
    collection, no full check), where ``build_index`` compares a whole collection with the index.

    The index must exist and be built with these settings (else IndexMissingError or
    IndexMismatchError, naming ``rag index``); readers see the old index until the commit.
    """
    t0 = time.perf_counter()
    store = as_store(store)
    analyzer = analyzer or Analyzer()
    expect = expected_manifest(embedder, chunker, analyzer)
    new_ids = _unique_ids(docs)
    manifest = store.manifest()
    if manifest is None:
        raise IndexMissingError("there is no index to update yet: build one first (`rag index`)")
    if not compatible(manifest, expect):
        raise IndexMismatchError("the index was built with other settings (model, chunking or format): "
                                 "rebuild it with `rag index`")
    store.check(expect)
    info = store.documents_of(list(new_ids) + [i for i in remove if i not in new_ids])
    old = {i: v["hash"] for i, v in info.items()}
    report = BuildReport()
    todo = [d for d in docs if old.get(d.id) != d.content_hash]
    report.added = [d.title for d in todo if d.id not in old]
    report.changed = [d.title for d in todo if d.id in old]
    report.unchanged = len(docs) - len(todo)
    gone = [i for i in dict.fromkeys(remove) if i in old and i not in new_ids]
    report.removed = [info[i]["title"] for i in gone]
    if report.wrote:
        report.embedded = commit(store, expect, manifest, todo, gone, embedder=embedder, chunker=chunker,
                                 batch_size=batch_size, progress=progress, skipped=manifest.get("skipped", ()))
    report.passages = len(store)
    report.documents = int((store.manifest() or {}).get("documents", 0))
    report.seconds = time.perf_counter() - t0
    return report


def _refuse_to_empty(store: Store, manifest: dict | None, skipped: Sequence, where: str) -> None:
    """A SeedsError if the index holds documents (building from nothing would empty it)."""
    if manifest is None:
        return
    try:
        held = len(store.documents())
    except RagError:
        held = 0
    if held:
        why = f", {len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped" if skipped else ""
        raise SeedsError(
            f"no documents to index{f' in {where}' if where else ''}{why}, but the index holds {held}: "
            "not emptying it (to empty it on purpose: `rag index --allow-empty`, or allow_empty=True)")


def _unique_ids(docs: Sequence[Document]) -> set[str]:
    """The documents' ids; ValueError naming one if two documents share it."""
    ids = {d.id for d in docs}
    if len(ids) != len(docs):
        seen: set[str] = set()
        for d in docs:
            if d.id in seen:
                raise ValueError(f"two documents share the id {d.id!r}")
            seen.add(d.id)
    return ids
