"""Recall of the approximate vector indexes on REAL vectors: a built local index's MiniLM
vectors, SciFact's test claims as questions.

    python bench/ann_recall.py --index DIR [--data ../shared/bench/scifact]

DIR holds a local index of the SciFact corpus built with the default settings; if it holds
none, one is built there first (the bundled MiniLM, 200/40-token passages: ~5 minutes here).
Prints, for the ``pq`` codes (the default approximate index, rag/store/vectors.py), the rank at
which each true top-10 neighbour comes up in the codes' ordering and the recall@10 / @100 when
re-scoring the best R exactly; and HNSW's recall@10 at two search breadths, for comparison.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.beir import load_queries  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embed import embedder_for  # noqa: E402
from rag.store.local import LocalStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    args = ap.parse_args()
    store = LocalStore(args.index)
    if store.manifest() is None:
        from bench.scifact import load_scifact
        from rag.chunk import Chunker
        from rag.indexer import build_index

        s = Settings()
        docs, _, _ = load_scifact(args.data, "test")
        build_index(docs, store, embedder=embedder_for(s), chunker=Chunker(s.chunk_tokens, s.chunk_overlap, s.encoding))
    state = store._current()
    x = np.concatenate([s.index.reconstruct_n(0, s.index.ntotal) for s in state.segments])
    queries = load_queries(args.data)
    ids = [line.split()[0] for line in (args.data / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    q = embedder_for(Settings()).encode([queries[i] for i in dict.fromkeys(ids)], "query")
    n, dim = x.shape
    exact = faiss.IndexFlatIP(dim)
    exact.add(x)
    _, truth = exact.search(q, 100)
    codes = faiss.IndexPQFastScan(dim, dim // 2, 4, faiss.METRIC_INNER_PRODUCT)
    codes.train(x)
    codes.add(x)
    _, order = codes.search(q, n)  # the codes' full ordering
    rank = np.empty_like(order)
    rows = np.arange(n)
    for r in range(len(order)):
        rank[r, order[r]] = rows
    top10 = np.array([rank[r, truth[r, :10]] for r in range(len(q))])
    top100 = np.array([rank[r, truth[r, :100]] for r in range(len(q))])
    print(f"{n} vectors, {len(q)} questions")
    print("rank of the true top 10 in the codes' order: p50 %d, p99 %d, max %d"
          % tuple(np.quantile(top10, [0.5, 0.99, 1.0])))
    for r in (10, 20, 40, 100, 400, 1000):
        print(f"pq re-scoring {r}: recall@10 {np.mean(top10 < r):.3f}, recall@100 {np.mean(top100 < r):.3f}")
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 64
    hnsw.add(x)
    for ef in (64, 128):
        _, got = hnsw.search(q, 10, params=faiss.SearchParametersHNSW(efSearch=ef))
        print(f"hnsw efSearch {ef}: recall@10 "
              f"{np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth[:, :10])]):.3f}")


if __name__ == "__main__":
    main()
