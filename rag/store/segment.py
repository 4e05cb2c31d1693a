"""Immutable segments: the passages added by one change (or one merge), in open files.

::

    seg-<id>/
      chunks.jsonl    one passage per line (rag.types.Chunk as JSON), row i = line i
      offsets.npy     int64 byte offset of each line, and the file's length at the end
      docs.json       the segment's documents as columns: id, hash, title, source, row, passages, ...
      vectors.faiss   FAISS index, row i = passage i (rag/store/vectors.py)
      terms.json, post_*.npy, doclen.npy   BM25 postings (rag/store/postings.py)

A segment is written in a ``.seg-<id>.partial`` folder, fsynced, renamed, and only then
named by a generation; it never changes afterwards. Deleting or replacing a document leaves
its rows in place and records them as deleted (tombstones) in the generation.
"""
from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Iterable

import numpy as np

from ..bm25 import Analyzer, term_counts
from ..chunk import index_text
from ..types import Chunk
from . import vectors
from .base import DocPassages
from .files import file_entry, fsync_path, verify_files
from .postings import Postings, PostingsBuilder

DOC_FIELDS = ("id", "hash", "title", "source", "row", "passages", "authors", "outlet", "date")


_CHUNK_FIELDS = [f.name for f in fields(Chunk)]


def _as_dict(c: Chunk) -> dict:
    """``Chunk.to_dict()`` without dataclasses.asdict's deep copy (5x faster)."""
    d = {f: getattr(c, f) for f in _CHUNK_FIELDS}
    d["authors"] = list(c.authors)
    return d


class SegmentWriter:
    """Writes one new segment; ``finish()`` returns its entry for the generation file."""

    def __init__(self, index_dir: Path, dim: int, analyzer: Analyzer) -> None:
        self.name = f"seg-{uuid.uuid4().hex[:16]}"
        self.index_dir, self.dim, self.analyzer = index_dir, dim, analyzer
        self.tmp = index_dir / f".{self.name}.partial"
        self.tmp.mkdir(parents=True)
        self._chunks = open(self.tmp / "chunks.jsonl", "wb")
        self.offsets = [0]
        self.docs: dict[str, list] = {f: [] for f in DOC_FIELDS}
        self.vectors = vectors.VectorWriter(self.tmp, dim)
        self.postings = PostingsBuilder()

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    def _doc(self, values: tuple) -> None:
        for f, v in zip(DOC_FIELDS, values):
            self.docs[f].append(v)

    def _lines(self, lines: Iterable[bytes]) -> None:
        pos = self.offsets[-1]
        for line in lines:
            self._chunks.write(line)
            pos += len(line)
            self.offsets.append(pos)

    def add(self, doc: DocPassages) -> None:
        """Append a document's passages (text, vector, BM25 term counts)."""
        first = doc.chunks[0] if doc.chunks else None
        self._doc((doc.doc_id, doc.hash, doc.title, doc.source, self.rows, len(doc.chunks),
                   list(first.authors) if first else [], first.outlet if first else None,
                   first.date if first else None))
        self._lines((json.dumps(_as_dict(c), ensure_ascii=False) + "\n").encode("utf-8") for c in doc.chunks)
        for c in doc.chunks:
            self.postings.add(*term_counts(self.analyzer, index_text(c)))
        if doc.chunks:
            self.vectors.add(doc.vectors)

    def add_live_rows(self, seg: "Segment", live: np.ndarray | None, dead: set[int]) -> None:
        """Append the live documents of ``seg`` (merging): lines, vectors and postings copied.

        ``live`` is its row mask (None: all rows), ``dead`` its deleted documents' ordinals.
        """
        keep = np.flatnonzero(live) if live is not None else np.arange(seg.size)
        d = seg.docs()
        for i in range(len(d["id"])):
            if i not in dead:
                values = [d[f][i] for f in DOC_FIELDS]
                values[4] = self.rows + int(np.searchsorted(keep, d["row"][i]))
                self._doc(tuple(values))
        for a in range(0, len(keep), 65536):
            rows = keep[a:a + 65536]
            self._lines(seg.line(int(r)) for r in rows)
            self.vectors.add(vectors.reconstruct(seg.index, rows))
        self.postings.add_postings(seg.postings, keep)

    def finish(self, ann: vectors.AnnParams) -> dict:
        """Write the remaining files, make them durable, move the folder into place."""
        self._chunks.close()
        kind = self.vectors.finish(ann)
        tokens = self.postings.save(self.tmp)
        np.save(self.tmp / "offsets.npy", np.array(self.offsets, np.int64))
        (self.tmp / "docs.json").write_text(json.dumps(self.docs, ensure_ascii=False), encoding="utf-8")
        files = {}
        for p in sorted(self.tmp.iterdir()):
            fsync_path(p)
            files[p.name] = file_entry(p)
        fsync_path(self.tmp)
        os.rename(self.tmp, self.index_dir / self.name)
        fsync_path(self.index_dir)
        return {"name": self.name, "passages": self.rows, "tokens": tokens, "docs": len(self.docs["id"]),
                "vectors": kind, "files": files, "deleted": [], "deleted_passages": 0,
                "deleted_tokens": 0, "deleted_docs": 0}

    def abort(self) -> None:
        import shutil

        for close in (self._chunks.close, self.vectors.abort):
            try:  # closing flushes; on a full disk that fails again, and the folder must still go
                close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


class Segment:
    """A segment opened for reading: every file opened now (so removal later cannot hurt).

    The FAISS index is read on first use (``index``), from the file opened here: a process
    that only updates the index (``rag index``) never loads the vectors.
    """

    def __init__(self, folder: Path, meta: dict, dim: int | None = None) -> None:
        problem = verify_files(folder, meta["files"], False)
        if problem:
            raise ValueError(problem)
        self.folder, self.name, self.size, self.dim = folder, meta["name"], int(meta["passages"]), dim
        self.offsets = np.load(folder / "offsets.npy", mmap_mode="r")
        self.postings = Postings(folder)
        if not len(self.offsets) == self.size + 1 == self.postings.size + 1:
            raise ValueError(f"{self.name} has files of different lengths")
        self._fd = os.open(folder / "chunks.jsonl", os.O_RDONLY)
        self._docs_fd = os.open(folder / "docs.json", os.O_RDONLY)
        self._vec_fd = os.open(folder / vectors.FILE, os.O_RDONLY)
        _, d, ntotal = vectors.header(self._vec_fd)  # 16 bytes: the index itself is read on first use
        if ntotal != self.size or (dim is not None and d != dim):
            self.close()
            raise ValueError(f"{self.name}/{vectors.FILE} holds {ntotal} vectors of {d} dimensions, "
                             f"{self.size} of {dim} expected")
        self.n_docs = int(meta["docs"])
        self._index = None
        self._index_lock = threading.Lock()
        self._docs: dict | None = None
        self._doc_index: dict[str, int] | None = None

    @property
    def index(self):
        """The segment's FAISS index (read on first use; ValueError if it does not fit)."""
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    index = vectors.open_index(Path(f"/proc/self/fd/{self._vec_fd}"))
                    if index.ntotal != self.size or (self.dim is not None and index.d != self.dim):
                        raise ValueError(f"{self.name}/{vectors.FILE} holds {index.ntotal} vectors of "
                                         f"{index.d} dimensions, {self.size} of {self.dim} expected")
                    self._index = index
        return self._index

    def doc_index(self) -> dict[str, int]:
        """doc id -> ordinal in ``docs()`` (built on first use; a segment never changes)."""
        if self._doc_index is None:
            self._doc_index = {d: i for i, d in enumerate(self.docs()["id"])}
        return self._doc_index

    def line(self, row: int) -> bytes:
        a, b = int(self.offsets[row]), int(self.offsets[row + 1])
        return os.pread(self._fd, b - a, a)

    def chunk(self, row: int) -> Chunk:
        try:
            return Chunk.from_dict(json.loads(self.line(row)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{self.name}/chunks.jsonl line {row + 1} is damaged ({exc})") from None

    def docs(self) -> dict[str, list]:
        """The segment's documents as columns (read on first use)."""
        if self._docs is None:
            size = os.fstat(self._docs_fd).st_size
            docs = json.loads(os.pread(self._docs_fd, size, 0))
            if not isinstance(docs, dict) or set(docs) != set(DOC_FIELDS) or \
                    any(not isinstance(v, list) or len(v) != self.n_docs for v in docs.values()):
                raise ValueError(f"{self.name}/docs.json has an unexpected shape")
            self._docs = docs
        return self._docs

    def __del__(self) -> None:  # the last state using it is gone
        self.close()

    def close(self) -> None:
        for attr in ("_fd", "_docs_fd", "_vec_fd"):
            fd = getattr(self, attr, -1)
            if fd >= 0:
                setattr(self, attr, -1)
                os.close(fd)
