"""Real-model embedding throughput: one process vs Ray Data with 1 and 2 workers, in one run.

    python bench/ray_throughput.py [--data ../shared/bench/scifact] [--passages 2000] [--json FILE]

Passages: SciFact abstracts chunked as the indexer chunks them (``index_text``), the first
``--passages``. Each configuration embeds the same texts with the bundled all-MiniLM-L6-v2
(torch, as index builds do): ``single`` in this process with torch's default threads;
``ray-N``: ``RayEmbedder`` on a local Ray cluster, N actors of one CPU (one torch thread)
each. Ray times include starting the actors and loading the model in each (what a
``rag index --ray`` run pays per job); the cluster itself is started before timing. Vectors
are checked against the single-process ones (min cosine).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.chunk import Chunker, index_text  # noqa: E402
from rag.embed import get_embedder  # noqa: E402
from rag.embed.ray_embed import RayEmbedder, ray_connect  # noqa: E402


def passages(data: Path, n: int) -> list[str]:
    from scifact import load_scifact

    docs, _, _ = load_scifact(data, "test")
    chunker, out = Chunker(), []
    for d in docs:
        out += [index_text(c) for c in chunker.chunk(d)]
        if len(out) >= n:
            break
    return out[:n]


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    texts = passages(args.data, args.passages)
    local = get_embedder("sentence-transformers", "", query_runtime="torch")
    local.encode(texts[:8], "passage", progress=True)  # load the model before timing
    t = time.perf_counter()
    ref = local.encode(texts, "passage", batch_size=32, progress=True)
    single = time.perf_counter() - t
    res = {"passages": len(texts), "cpus": os.cpu_count(), "single_s": single, "single_per_s": len(texts) / single}
    print(f"single process: {len(texts)} passages in {single:.1f}s ({len(texts) / single:.1f}/s)", flush=True)
    t = time.perf_counter()
    ray_connect("local")
    res["ray_cluster_start_s"] = time.perf_counter() - t
    for n in args.workers:
        emb = RayEmbedder(local, backend="sentence-transformers", concurrency=n, batch_size=args.batch_size)
        t = time.perf_counter()
        vecs = emb.encode(texts, "passage")
        took = time.perf_counter() - t
        cos = float((vecs * ref).sum(axis=1).min())
        res[f"ray{n}_s"], res[f"ray{n}_per_s"], res[f"ray{n}_min_cosine"] = took, len(texts) / took, cos
        res[f"ray{n}_vs_single"] = single / took
        print(f"ray, {n} worker(s): {took:.1f}s ({len(texts) / took:.1f}/s, {single / took:.2f}x single), "
              f"min cosine {cos:.6f}", flush=True)
    import ray

    ray.shutdown()
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
