"""The ``local`` store: a folder of immutable segments plus small generation files.

Each ``apply`` writes one new segment with the passages it adds (rag/store/segment.py),
records the replaced and deleted documents' rows as tombstones, and commits by writing a new
generation file and replacing ``CURRENT`` (rag/store/files.py), so its cost follows the change.
Segments are merged by a tiered policy (rag/store/merge.py) in the same process after the
commit. Readers open every file of a generation at once and notice a newer ``CURRENT`` at their
next search (only new segments are opened). Every file's size and CRC32 are in the
generation; sizes and small files are checked at open, everything by ``rag index``, which drops
what is damaged and re-embeds only those documents.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence

import faiss
import numpy as np

from ..bm25 import B, K1, Analyzer
from ..errors import IndexMissingError, IndexWriteError, RagError
from ..types import Chunk, Filters, Hit
from . import files, merge
from .base import (FORMAT_VERSION, REBUILD_HINT, STORES, DocPassages, Store, check_manifest, settings_part)
from .local_search import search_state
from .local_state import State, load_state
from .segment import SegmentWriter
from .vectors import AnnParams, reconstruct

log = logging.getLogger(__name__)
REPAIR_HINT = "run `rag index` to repair it (what is intact is reused)"
DOCS_READ_AT_OPEN = 16 * 1024 * 1024  # bigger documents lists are read when needed, checked by `rag index`


class LocalStore(Store):
    """The folder ``path``; see the module docstring."""

    name = "local"

    def __init__(self, path: str | Path, *, ann: AnnParams | None = None, merge_factor: int = 10,
                 cleanup_grace: float = 300.0) -> None:
        self.path = Path(path)
        self.ann = ann or AnnParams()
        # FAISS's OpenMP workers keep spinning after a search and slow everything else down:
        # one thread (Settings.faiss_threads) searched 10k passages in 0.8 ms, two in 23 ms
        faiss.omp_set_num_threads(self.ann.search_threads)
        self.merge_factor = merge_factor
        self.grace = cleanup_grace
        self._lock = threading.RLock()
        self._state: State = load_state(self.path, {}, self.ann)
        self._deep_checked: set[str] = set()
        self._damaged: set[str] = set()  # segments a deep check found damaged (dropped at the next apply)

    # -- reading -------------------------------------------------------------------------------
    def _current(self) -> State:
        """The live state, reloaded if another process (or this one) committed since."""
        state = self._state
        if state.stamp != files.pointer_stamp(self.path):
            with self._lock:
                if self._state.stamp != files.pointer_stamp(self.path):
                    self._state = load_state(self.path, self._state.opened, self.ann, self._state)
                state = self._state
        return state

    def manifest(self) -> dict | None:
        return self._current().manifest()

    def check(self, expect: dict | None = None, deep: bool = False) -> None:
        state = self._current()
        if state.legacy is not None:
            check_manifest(state.legacy, expect or {})
        if deep:
            state = self._verify(state)
        if state.problem:
            raise IndexMissingError(f"the index in {self.path} is damaged ({state.problem}): {REPAIR_HINT}")
        for seg in state.segments:  # documents lists small enough to read at open are read now
            if state.meta(seg.name)["files"]["docs.json"][0] < DOCS_READ_AT_OPEN:
                try:
                    seg.docs()
                except ValueError as exc:
                    raise IndexMissingError(f"the index in {self.path} is damaged ({exc}): {REPAIR_HINT}") from None
        m = state.manifest()
        if m is None:
            raise IndexMissingError(f"no index in {self.path}: {REBUILD_HINT}")
        check_manifest(m, expect or {})

    def _verify(self, state: State) -> State:
        """Checksum every file not yet checked by this process; drop damaged segments."""
        with self._lock:
            for seg in state.segments:
                if seg.name not in self._deep_checked:
                    problem = files.verify_files(seg.folder, state.meta(seg.name)["files"], deep=True)
                    try:
                        problem = problem or (seg.docs() and None)
                    except ValueError as exc:
                        problem = str(exc)
                    if problem:
                        self._damaged.add(seg.name)
                        log.warning("the index is damaged (%s): its documents will be indexed again", problem)
                        state = state.without(seg.name, problem)
                    else:
                        self._deep_checked.add(seg.name)
            self._state = state
            return state

    def documents(self) -> dict[str, dict]:
        """The live documents of the intact segments."""
        state = self._current()
        for name in self._damaged & set(state.opened):
            state = state.without(name, f"{name} is damaged")
        for seg in state.segments:
            try:
                seg.docs()
            except (OSError, ValueError) as exc:
                raise IndexMissingError(f"the index in {self.path} is damaged ({exc}): {REPAIR_HINT}") from None
        return state.documents()

    def hashes(self) -> dict[str, str]:
        return self.documents().hashes()

    def documents_of(self, doc_ids: Sequence[str]) -> dict[str, dict]:
        view = self.documents()  # looks each id up in the segments' document indexes
        return {i: view[i] for i in doc_ids if i in view}

    def search(self, query_vec: np.ndarray | None, query_text: str, k: int, mode: str = "hybrid",
               weight: float = 0.5, filters: Filters | None = None, candidates: int = 100) -> list[Hit]:
        try:
            return search_state(self._current(), query_vec, query_text, k, mode, weight, filters,
                                candidates, self.ann)
        except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: FAISS could not read a file
            if isinstance(exc, RagError):
                raise
            raise IndexMissingError(f"the index in {self.path} is damaged ({exc}): {REPAIR_HINT}") from None

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        state = self._current()
        seg, row, n = state.locate(doc_id)
        return [seg.chunk(r) for r in range(row, row + n)] if seg else []

    def vectors_of(self, doc_id: str) -> np.ndarray:
        state = self._current()
        seg, row, n = state.locate(doc_id)
        if seg is None:
            return np.zeros((0, state.dim), np.float32)
        return reconstruct(seg.index, np.arange(row, row + n))

    def __len__(self) -> int:
        return self._current().passages

    def status(self) -> dict:
        state = self._current()
        m = state.manifest() or {}
        return {"backend": self.name, "location": str(self.path), "passages": state.passages,
                "documents": m.get("documents", 0), "generation": m.get("generation"),
                "segments": [{"name": s["name"], "passages": merge.live(s), "vectors": s["vectors"]}
                             for s in state.metas], "problem": state.problem}

    def close(self) -> None:
        with self._lock:
            self._state.close()

    # -- writing -------------------------------------------------------------------------------
    def apply(self, manifest: dict, upserts: Iterable[DocPassages] = (), deletes: Sequence[str] = (),
              *, full: bool = False) -> None:
        try:
            self._apply(manifest, upserts, deletes, full)
        except OSError as exc:  # a full disk, a read-only folder: say so; nothing was switched
            raise IndexWriteError(f"cannot write the index in {self.path} ({exc.strerror or exc}): "
                           "the previous index is unchanged") from None

    def _apply(self, manifest: dict, upserts: Iterable[DocPassages], deletes: Sequence[str], full: bool) -> None:
        settings = settings_part(manifest)
        bm25 = settings.get("bm25") or {}
        settings["bm25"] = {**bm25, "k1": K1, "b": B}
        analyzer = Analyzer(**{k: bm25[k] for k in ("stem", "stopwords") if k in bm25})
        dim = int(settings["embedder"]["dim"])
        with files.writer_lock(self.path), self._lock:
            state = load_state(self.path, self._state.opened, self.ann, self._state)
            for name in self._damaged & set(state.opened):
                state = state.without(name, f"{name} is damaged")
            fresh = full or state.legacy is not None or state.dim not in (None, dim)
            metas = [] if fresh else [json.loads(json.dumps(m)) for m in state.metas]  # deep copies
            retired = dict(state.retired)
            for name in state.dropped + [m["name"] for m in state.metas if fresh]:
                retired[name] = time.time()
            touched, seen = set(deletes), set()
            writer = None
            try:
                for doc in upserts:
                    if doc.doc_id in seen:
                        raise ValueError(f"the document {doc.doc_id!r} is given twice")
                    seen.add(doc.doc_id)
                    touched.add(doc.doc_id)
                    writer = writer or SegmentWriter(self.path, dim, analyzer)
                    writer.add(doc)
                new = writer.finish(self.ann) if writer else None
                if new:
                    self._deep_checked.add(new["name"])  # just written and checksummed
            except BaseException:
                if writer:
                    writer.abort()
                raise
            if not fresh:
                for doc_id in touched:
                    state.tombstone(doc_id, metas)
            for m in metas:  # a segment whose documents are all deleted is simply dropped
                if m["docs"] == m["deleted_docs"]:
                    retired[m["name"]] = time.time()
            metas = [m for m in metas if m["name"] not in retired] + ([new] if new else [])
            self._commit(state, settings, metas, retired)
            try:
                self._merge(settings)
            except OSError as exc:
                log.warning("merging segments failed (%s); the index is complete, merging is retried "
                            "after the next change", exc.strerror or exc)

    def _commit(self, state: State, settings: dict, metas: list[dict], retired: dict) -> None:
        number = state.generation + 1
        gen = {"format_version": FORMAT_VERSION, "generation": number, "settings": settings,
               "segments": metas, "retired": retired}
        files.write_generation(self.path, number, gen)
        self._state = load_state(self.path, state.opened, self.ann, state)
        files.cleanup(self.path, gen, self.grace)

    def _merge(self, settings: dict) -> None:
        while True:
            state = self._state
            names = merge.plan(state.metas, self.merge_factor)
            if not names:
                return
            retired = {**state.retired, **{n: time.time() for n in names}}
            kept = [m for m in state.metas if m["name"] not in names]
            if all(m["docs"] == m["deleted_docs"] for m in state.metas if m["name"] in names):
                self._commit(state, settings, kept, retired)  # nothing live in them: just drop them
                continue
            log.info("merging %d segments", len(names))
            writer = SegmentWriter(self.path, state.dim, Analyzer())
            try:
                for name in names:
                    writer.add_live_rows(state.segment(name), state.live(name), state.dead(name))
                new = writer.finish(self.ann)
                self._deep_checked.add(new["name"])
            except BaseException:
                writer.abort()
                raise
            self._commit(state, settings, kept + [new], retired)


@STORES.register("local")
def open_local(settings, **options) -> LocalStore:
    """The local store of ``settings.index_dir`` with the ANN, merge and cleanup settings."""
    valid = {"path"}
    unknown = set(options) - valid
    if unknown:
        raise RagError(f"unknown local store option(s) {', '.join(sorted(unknown))}; valid: {', '.join(valid)}")
    ann = AnnParams(threshold=settings.ann_threshold, kind_name=settings.ann_kind, nprobe=settings.ann_nprobe,
                    ef_search=settings.ann_ef_search, refine=settings.ann_refine,
                    search_threads=max(1, settings.faiss_threads))
    return LocalStore(options.get("path", settings.index_dir), ann=ann, merge_factor=settings.merge_factor,
                      cleanup_grace=settings.cleanup_grace)

