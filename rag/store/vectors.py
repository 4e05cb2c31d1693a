"""A segment's vectors in one FAISS file: exact (``IndexFlatIP``) or, from ``ann_threshold``
passages on, approximate (``IndexHNSWFlat``, inner product). Either holds each vector once;
scores of any row are read back from it (``reconstruct_batch``), no NumPy copy is kept.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)

FILE = "vectors.faiss"
EXACT_BELOW = 10_000  # a filtered search allowing fewer rows than this scores them exactly


@dataclass(frozen=True)
class AnnParams:
    """When and how a segment gets an approximate (HNSW) index instead of an exact one."""

    threshold: int = 200_000  # passages in a segment from which HNSW is used
    m: int = 32
    ef_construction: int = 64
    ef_search: int = 128
    search_threads: int = 1

    def kind(self, n: int) -> str:
        return "hnsw" if self.threshold and n >= self.threshold else "flat"


class VectorWriter:
    """Takes a segment's vectors batch by batch (to a raw scratch file), then writes the index."""

    def __init__(self, folder: Path, dim: int) -> None:
        self.folder, self.dim, self.rows = folder, dim, 0
        self._raw = folder / "vectors.raw"
        self._fh = open(self._raw, "wb")

    def add(self, vectors: np.ndarray) -> None:
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"vectors of dimension {v.shape[-1]} given, the index has {self.dim}")
        self._fh.write(v.tobytes())
        self.rows += len(v)

    def finish(self, ann: AnnParams) -> str:
        """Write ``vectors.faiss``; returns its kind (flat or hnsw)."""
        self._fh.close()
        kind = ann.kind(self.rows)
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, ann.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ann.ef_construction
            log.info("building an HNSW index of %d vectors", self.rows)
        else:
            index = faiss.IndexFlatIP(self.dim)
        if self.rows:
            raw = np.memmap(self._raw, dtype=np.float32, mode="r", shape=(self.rows, self.dim))
            faiss.omp_set_num_threads(os.cpu_count() or 1)  # building may use every core
            try:
                for i in range(0, self.rows, 65536):
                    index.add(np.ascontiguousarray(raw[i:i + 65536]))
            finally:
                faiss.omp_set_num_threads(ann.search_threads)
            del raw
        faiss.write_index(index, str(self.folder / FILE))
        self._raw.unlink()
        return kind

    def abort(self) -> None:
        self._fh.close()


def open_index(path: Path) -> faiss.Index:
    index = faiss.read_index(str(path))
    if not isinstance(index, (faiss.IndexFlatIP, faiss.IndexHNSWFlat)):
        raise ValueError(f"{path.name} holds an unexpected index type")
    return index


def search(index: faiss.Index, q: np.ndarray, k: int, allowed: np.ndarray | None,
           ef_search: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and inner products of the ``k`` best rows, best first; ``allowed`` is a bool mask."""
    n = index.ntotal
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    q = np.ascontiguousarray(q, dtype=np.float32).reshape(1, -1)
    hnsw = isinstance(index, faiss.IndexHNSWFlat)
    if allowed is None:
        params = faiss.SearchParametersHNSW(efSearch=max(ef_search, k)) if hnsw else None
        d, i = index.search(q, k, params=params)
    else:
        rows = np.flatnonzero(allowed)
        if len(rows) <= EXACT_BELOW:  # few allowed: score them all, exactly
            scores = reconstruct(index, rows) @ q[0]
            order = np.argsort(-scores, kind="stable")[:k]
            return rows[order], scores[order]
        return _search_selected(index, q, k, allowed, ef_search if hnsw else None)
    keep = i[0] >= 0
    return i[0][keep], d[0][keep]


def _search_selected(index, q, k, allowed, ef_search):
    bitmap = np.packbits(allowed, bitorder="little")
    sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
    params = (faiss.SearchParametersHNSW(sel=sel, efSearch=max(ef_search, k)) if ef_search
              else faiss.SearchParameters(sel=sel))
    d, i = index.search(q, k, params=params)
    keep = i[0] >= 0
    return i[0][keep], d[0][keep]


def reconstruct(index: faiss.Index, rows: np.ndarray) -> np.ndarray:
    """The stored vectors of ``rows`` (float32, one per row)."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return np.zeros((0, index.d), np.float32)
    return index.reconstruct_batch(rows)
