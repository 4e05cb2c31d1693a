"""A segment's vectors in one FAISS file: exact (``IndexFlatIP``) or, from ``ann_threshold``
passages on, approximate:

- ``pq`` (the default): every vector also as a 4-bit product-quantisation code of 2 dimensions
  per sub-quantiser (``IndexPQFastScan``, 1/16 of the floats), all codes scanned with SIMD, and
  the best ``refine`` candidates re-scored exactly on the stored floats (``IndexRefineFlat``).
  A brute-force scan, so its recall does not depend on the vectors having neighbourhood
  structure; builds in seconds (BENCHMARKS.md).
- ``hnsw`` (``IndexHNSWFlat``): a graph, recall@10 0.98 at efSearch 128 on real MiniLM vectors
  but poor on vectors without structure, and slow to build.
- ``ivf`` (``IndexIVFFlat``, sqrt(N) lists, ``nprobe`` searched): quick to build, but it needs a
  large share of lists probed for the same recall.

Each holds each float vector once; scores of any row are read back from it
(``reconstruct_batch``), no NumPy copy is kept.
"""
from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)

FILE = "vectors.faiss"
EXACT_BELOW = 10_000  # a filtered search allowing fewer rows than this scores them exactly


@dataclass(frozen=True)
class AnnParams:
    """When and how a segment gets an approximate index instead of an exact one."""

    threshold: int = 200_000  # passages in a segment from which the approximate index is used
    kind_name: str = "pq"  # pq, hnsw or ivf
    refine: int = 1000  # pq: candidates re-scored exactly (at least 4 per result)
    nprobe: int = 32  # ivf: lists searched
    m: int = 32  # hnsw: links per vector
    ef_construction: int = 64
    ef_search: int = 128
    search_threads: int = 1

    def kind(self, n: int) -> str:
        return self.kind_name if self.threshold and n >= self.threshold else "flat"


def _ivf(raw: np.ndarray, dim: int) -> faiss.Index:
    """An IVF-Flat index trained on a sample of ``raw`` (k-means, sqrt(N) lists)."""
    n = len(raw)
    nlist = int(min(65536, max(1, round(np.sqrt(n)))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.sort(np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False))
    index.cp.niter = 10
    index.train(np.ascontiguousarray(raw[sample]))
    index.own_fields = True
    quantizer.this.disown()
    return index


def _pq(raw: np.ndarray, dim: int) -> faiss.Index:
    """4-bit fast-scan PQ codes (2 dimensions per sub-quantiser) refined on the exact floats."""
    m = dim // 2 if dim % 2 == 0 else dim
    base = faiss.IndexPQFastScan(dim, m, 4, faiss.METRIC_INNER_PRODUCT)
    sample = np.sort(np.random.default_rng(0).choice(len(raw), min(len(raw), 65_536), replace=False))
    base.train(np.ascontiguousarray(raw[sample]))
    index = faiss.IndexRefineFlat(base)
    index.own_fields = True
    base.this.disown()
    return index


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
        raw = np.memmap(self._raw, dtype=np.float32, mode="r", shape=(self.rows, self.dim)) if self.rows else None
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building may use every core
        try:
            if kind != "flat":
                log.info("building an approximate (%s) index of %d vectors", kind, self.rows)
            if kind == "hnsw":
                index = faiss.IndexHNSWFlat(self.dim, ann.m, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = ann.ef_construction
            elif kind == "ivf":
                index = _ivf(raw, self.dim)
            elif kind == "pq":
                index = _pq(raw, self.dim)
            else:
                index = faiss.IndexFlatIP(self.dim)
            if self.rows:
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


FOURCC = {b"IxFI": "flat", b"IHNf": "hnsw", b"IwFl": "ivf", b"IxRF": "pq"}


def header(fd: int) -> tuple[str, int, int]:
    """(kind, dimension, rows) from a FAISS file's first 16 bytes, without reading the index."""
    head = os.pread(fd, 16, 0)
    if len(head) < 16 or head[:4] not in FOURCC:
        raise ValueError(f"{FILE} is not a FAISS index of an expected type")
    d, ntotal = struct.unpack("<iq", head[4:16])
    return FOURCC[head[:4]], d, ntotal


def open_index(path: Path) -> faiss.Index:
    index = faiss.read_index(str(path))
    if isinstance(index, faiss.IndexIVFFlat):
        index.make_direct_map()  # so rows can be read back (8 bytes a vector)
    elif isinstance(index, faiss.IndexRefineFlat):
        if not isinstance(faiss.downcast_index(index.base_index), faiss.IndexPQFastScan):
            raise ValueError(f"{path.name} holds an unexpected index type")
    elif not isinstance(index, (faiss.IndexFlatIP, faiss.IndexHNSWFlat)):
        raise ValueError(f"{path.name} holds an unexpected index type")
    return index


def search(index: faiss.Index, q: np.ndarray, k: int, allowed: np.ndarray | None,
           ann: AnnParams) -> tuple[np.ndarray, np.ndarray]:
    """Rows and inner products of the ``k`` best rows, best first; ``allowed`` is a bool mask."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    q = np.ascontiguousarray(q, dtype=np.float32).reshape(1, -1)
    sel = bitmap = None
    if allowed is not None:
        rows = np.flatnonzero(allowed)
        if len(rows) <= EXACT_BELOW:  # few allowed: score them all, exactly
            scores = reconstruct(index, rows) @ q[0]
            order = np.argsort(-scores, kind="stable")[:k]
            return rows[order], scores[order]
        if isinstance(index, faiss.IndexRefineFlat):
            return _refined(index, q[0], k, allowed, ann)
        bitmap = np.packbits(allowed, bitorder="little")  # kept alive while FAISS reads it
        sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
    d, i = index.search(q, k, params=_params(index, k, ann, sel))
    keep = i[0] >= 0
    return i[0][keep], d[0][keep]


def _refined(index: faiss.Index, q: np.ndarray, k: int, allowed: np.ndarray,
             ann: AnnParams) -> tuple[np.ndarray, np.ndarray]:
    """``pq`` with a row mask (fast-scan takes no selector): enough candidates that about
    ``refine`` of them are allowed, the allowed ones re-scored exactly; every allowed row
    scored exactly if fewer than ``k`` of them came up."""
    want = max(ann.refine, 4 * k)
    share = max(float(allowed.mean()), 1e-9)
    n = int(min(index.ntotal, np.ceil(want / share)))
    base = faiss.downcast_index(index.base_index)
    _, cand = base.search(q.reshape(1, -1), n)
    cand = cand[0][cand[0] >= 0]
    cand = cand[allowed[cand]]
    if len(cand) < k:
        cand = np.flatnonzero(allowed)
    scores = reconstruct(index, cand) @ q
    order = np.argsort(-scores, kind="stable")[:k]
    return cand[order], scores[order]


def _params(index: faiss.Index, k: int, ann: AnnParams, sel) -> faiss.SearchParameters | None:
    if isinstance(index, faiss.IndexRefineFlat):
        return faiss.IndexRefineSearchParameters(k_factor=max(ann.refine, 4 * k) / k)
    if isinstance(index, faiss.IndexHNSWFlat):
        params = faiss.SearchParametersHNSW(efSearch=max(ann.ef_search, k))
    elif isinstance(index, faiss.IndexIVFFlat):
        params = faiss.SearchParametersIVF(nprobe=ann.nprobe)
    elif sel is None:
        return None
    else:
        params = faiss.SearchParameters()
    if sel is not None:
        params.sel = sel
    return params


def reconstruct(index: faiss.Index, rows: np.ndarray) -> np.ndarray:
    """The stored vectors of ``rows`` (float32, one per row)."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return np.zeros((0, index.d), np.float32)
    return index.reconstruct_batch(rows)
