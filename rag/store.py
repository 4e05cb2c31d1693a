"""The on-disk index: a folder of open files, written beside the old one and swapped in when complete.

::

    index/
      CURRENT                 name of the live build folder (replaced atomically)
      build-<stamp>/
        manifest.json         format, embedder, chunking, bm25 params, per-document hashes
        chunks.jsonl          one passage per line (text, offsets, source fields)
        vectors.faiss         inner-product FAISS index of unit vectors, row i = line i
        bm25/                 bm25s arrays (.npy, no pickle) + vocab/params JSON
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .bm25 import BM25Index
from .errors import IndexMismatchError, IndexMissingError
from .types import Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
POINTER = "CURRENT"
REBUILD_HINT = "run `rag index` (or Assistant.rebuild()) to rebuild it"


@dataclass
class IndexData:
    """A loaded index: manifest, passages, their vectors (row i = chunks[i]) and BM25."""

    path: Path
    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray
    bm25: BM25Index

    def __post_init__(self) -> None:
        self.faiss = faiss.IndexFlatIP(self.vectors.shape[1])
        if len(self.vectors):
            self.faiss.add(self.vectors)


def current_path(index_dir: Path) -> Path | None:
    """The live build folder of ``index_dir``, or None if there is no complete index."""
    pointer = Path(index_dir) / POINTER
    if not pointer.is_file():
        return None
    path = Path(index_dir) / pointer.read_text().strip()
    return path if (path / "manifest.json").is_file() else None


def read_manifest(index_dir: Path) -> dict | None:
    path = current_path(index_dir)
    if path is None:
        return None
    try:
        return json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def check_manifest(manifest: dict, expect: dict) -> None:
    """Raise IndexMismatchError if ``manifest`` differs from ``expect`` in any of its keys."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index has format {manifest.get('format_version')!r}, this version reads "
            f"{FORMAT_VERSION}: {REBUILD_HINT}")
    for key, want in expect.items():
        have = manifest.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            have = {k: have.get(k) for k in want}
        if have != want:
            raise IndexMismatchError(
                f"the index was built with {key} {have!r} but the settings ask for {want!r}: {REBUILD_HINT}")


def set_search_threads(threads: int = 1) -> None:
    """FAISS OpenMP threads (``Settings.faiss_threads``, ``RAG_FAISS_THREADS``; below 1 means 1).

    One query against a flat index of this size takes ~1.5 ms on one thread. With more, FAISS's
    OpenMP workers keep spinning after each search and slow the query encoder's own threads:
    hybrid search p50 was 18 ms with 2 FAISS threads and 9 ms with 1 (SciFact, 11,804 passages).
    """
    faiss.omp_set_num_threads(max(1, int(threads)))


def load_index(index_dir: Path, expect: dict | None = None, *, threads: int = 1) -> IndexData:
    """Load the live index (searched with ``threads`` FAISS threads); fails loudly if it is
    missing, damaged or built differently."""
    index_dir = Path(index_dir)
    set_search_threads(threads)
    path = current_path(index_dir)
    if path is None:
        raise IndexMissingError(f"no index in {index_dir}: {REBUILD_HINT}")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        check_manifest(manifest, expect or {})
        with open(path / "chunks.jsonl", encoding="utf-8") as fh:
            chunks = [Chunk.from_dict(json.loads(line)) for line in fh if line.strip()]
        index = faiss.read_index(str(path / "vectors.faiss"))
        vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else \
            np.zeros((0, manifest["embedder"]["dim"]), dtype=np.float32)
        bm25 = BM25Index.load(path / "bm25")
    except IndexMismatchError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexMissingError(f"the index in {path} is damaged ({exc}): {REBUILD_HINT}") from exc
    if not (len(chunks) == len(vectors) == bm25.size == manifest.get("passages")):
        raise IndexMissingError(f"the index in {path} is incomplete: {REBUILD_HINT}")
    return IndexData(path, manifest, chunks, np.ascontiguousarray(vectors, dtype=np.float32), bm25)


def write_index(index_dir: Path, manifest: dict, chunks: list[Chunk], vectors: np.ndarray,
                bm25: BM25Index) -> Path:
    """Write a complete new build, then point CURRENT at it; the old build stays live until then."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"build-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp = index_dir / f".{name}.partial"
    tmp.mkdir()
    try:
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for c in chunks:
                fh.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
        flat = faiss.IndexFlatIP(int(manifest["embedder"]["dim"]))
        if len(vectors):
            flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(flat, str(tmp / "vectors.faiss"))
        bm25.save(tmp / "bm25")
        manifest = {**manifest, "format_version": FORMAT_VERSION, "passages": len(chunks)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        _fsync_dir(tmp)
        final = index_dir / name
        os.rename(tmp, final)
        _write_pointer(index_dir, name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_stale(index_dir, keep=name)
    return final


def _write_pointer(index_dir: Path, name: str) -> None:
    tmp = index_dir / f".{POINTER}.tmp"
    with open(tmp, "w") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / POINTER)


def _fsync_dir(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def _remove_stale(index_dir: Path, keep: str) -> None:
    """Delete older builds and leftovers of interrupted ones."""
    for p in index_dir.iterdir():
        if p.is_dir() and p.name != keep and (p.name.startswith("build-") or p.name.endswith(".partial")):
            shutil.rmtree(p, ignore_errors=True)
