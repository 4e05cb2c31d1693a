"""Passage-encoding speed of the bundled MiniLM, every way the app can run it, side by side.

    python bench/embed_speed.py [--data ../shared/bench/scifact] [--abstracts 200] [--rounds 2]

Chunks the first ``--abstracts`` SciFact abstracts as the app does (350/60), then encodes the
same passages, one way after another in this process, ``--rounds`` times: torch fp32
(sentence-transformers), the fp32 ONNX export, the int8 export, and the bf16 build path
(``rag.embed.bulk``, one worker and the default one per core, where the CPU has native bf16).
Prints the best wall time of each, word-pieces per second, the speed relative to torch fp32
and the cosine of its vectors to torch fp32's (mean / min). BENCHMARKS.md, "Build speed".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.chunk import Chunker, index_text  # noqa: E402
from rag.embed import get_embedder  # noqa: E402
from rag.embed.bulk import Bf16Passages, native_bf16  # noqa: E402
from rag.passages import chunk_documents  # noqa: E402
from rag.types import Document  # noqa: E402


def passages(data: Path, n: int, embedder) -> list[str]:
    rows = [json.loads(line) for line in (data / "corpus.jsonl").read_text().splitlines()[:n]]
    docs = [Document(id=r["_id"], title=r["title"], text=f"{r['title']}\n\n{r['text']}", source=r["_id"],
                     start=0, end=0, content_hash=r["_id"]) for r in rows]
    return [index_text(c) for cs in chunk_documents(docs, Chunker(350, 60), embedder).values() for c in cs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    ap.add_argument("--abstracts", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    fp32 = get_embedder(precision="fp32")
    texts = passages(args.data, args.abstracts, fp32)
    tokens = sum(fp32.count_tokens_many(texts))
    torch_model = fp32.model
    ways = {"torch fp32": lambda t: torch_model.encode(t, batch_size=32, normalize_embeddings=True),
            "onnx fp32 export": lambda t: fp32.encode(t, "passage"),
            "onnx int8 export": get_embedder(precision="int8").encode}
    if native_bf16():
        ways["bf16, 1 worker"] = Bf16Passages(fp32, workers=1).encode
        ways["bf16, default workers"] = Bf16Passages(fp32).encode
    print(f"{len(texts)} passages, {tokens:,} word-pieces; native bf16: {native_bf16()}", flush=True)
    for fn in ways.values():
        fn(texts[:32])  # load and warm up
    best = {name: float("inf") for name in ways}
    vecs: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for name, fn in ways.items():
            t = time.perf_counter()
            vecs[name] = np.asarray(fn(texts), dtype=np.float32)
            best[name] = min(best[name], time.perf_counter() - t)
    ref = vecs["torch fp32"]
    for name in ways:
        v = vecs[name] / np.linalg.norm(vecs[name], axis=1, keepdims=True)
        cos = (v * ref).sum(axis=1)
        print(f"{name:24s} {best[name]:7.2f} s  {tokens / best[name]:7,.0f} tok/s  "
              f"{best['torch fp32'] / best[name]:5.2f}x torch fp32  cosine {cos.mean():.6f} / {cos.min():.6f}")


if __name__ == "__main__":
    main()
