"""rag/store/vectors.py: each vector index kind written, read back and searched against exact search."""
from __future__ import annotations

import numpy as np
import pytest

from rag.store import vectors
from rag.store.vectors import AnnParams, VectorWriter

DIM = 32


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 centres: neighbourhoods a graph or lists can follow."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIM))
    x = centres[rng.integers(0, 50, n)] + 0.6 * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def written(tmp_path, x: np.ndarray, kind: str):
    w = VectorWriter(tmp_path, DIM)
    for i in range(0, len(x), 5000):
        w.add(x[i:i + 5000])
    ann = AnnParams(threshold=1, kind_name=kind, nprobe=16)
    assert w.finish(ann) == kind
    with (tmp_path / vectors.FILE).open("rb") as fh:
        assert vectors.header(fh.fileno()) == (kind, DIM, len(x))
    return vectors.open_index(tmp_path / vectors.FILE), ann


def exact(x, q, k, allowed=None):
    s = x @ q
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    return np.argsort(-s, kind="stable")[:k]


@pytest.mark.parametrize("kind", ["pq", "hnsw", "ivf"])
def test_each_kind_finds_the_exact_neighbours_and_reads_rows_back(tmp_path, kind):
    x = clustered(12_000)
    index, ann = written(tmp_path, x, kind)
    qs = clustered(30, seed=1)
    recall = [len(set(vectors.search(index, q, 10, None, ann)[0]) & set(exact(x, q, 10))) / 10 for q in qs]
    assert np.mean(recall) >= 0.9
    assert np.allclose(vectors.reconstruct(index, np.array([0, 7, 11_999])), x[[0, 7, 11_999]])


def test_pq_with_a_row_mask_returns_only_allowed_rows_with_exact_scores(tmp_path):
    x = clustered(24_000)
    index, ann = written(tmp_path, x, "pq")
    allowed = np.random.default_rng(2).random(len(x)) < 0.6  # ~14k rows: the masked refine path
    assert allowed.sum() > vectors.EXACT_BELOW
    for q in clustered(10, seed=3):
        rows, scores = vectors.search(index, q, 10, allowed, ann)
        assert len(rows) == 10 and allowed[rows].all()
        assert np.allclose(scores, x[rows] @ q, atol=1e-5)
        assert len(set(rows) & set(exact(x, q, 10, allowed))) >= 9


def test_pq_with_a_mask_that_the_candidates_miss_still_finds_k_rows(tmp_path):
    x = clustered(24_000)
    index, ann = written(tmp_path, x, "pq")
    q = x[0]
    allowed = np.ones(len(x), bool)
    allowed[exact(x, q, 23_000)] = False  # only the 1,000 rows furthest from the question remain
    rows, _ = vectors.search(index, q, 5, allowed, AnnParams(threshold=1, kind_name="pq", refine=20))
    assert len(rows) == 5 and allowed[rows].all()
    assert set(rows) == set(exact(x, q, 5, allowed))


def test_a_file_of_another_index_type_is_refused(tmp_path):
    import faiss

    faiss.write_index(faiss.IndexLSH(DIM, 16), str(tmp_path / vectors.FILE))
    with (tmp_path / vectors.FILE).open("rb") as fh, pytest.raises(ValueError, match="not a FAISS index of an expected type"):
        vectors.header(fh.fileno())
