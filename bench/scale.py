"""Scale benchmark: cost of the index's own work at 10k, 100k and 1M passages.

Synthetic collections: documents of ~150 words (110-190) drawn from a Zipf vocabulary of
50,000 pseudo-words (s = 1.07), in sentences of 8-20 words. Vectors come from a FAST FAKE
EMBEDDER (``ZipfBagEmbedder``: the normalised sum of fixed random 384-d word vectors, via one
sparse matrix product per batch), so only the index's costs are measured, not a model's.
Questions: 5 distinct words of one random document (ranks beyond the 100 commonest).

Per backend (``--store``, default ``local``) and size: full build, add one document, change
one, delete one, no-op rebuild (each through ``rag.indexer.build_index`` on an open store, as
a serving process or ``rag index`` run does, plus the add with a freshly opened store), the
same changes through ``rag.indexer.update_index`` (only the named documents), then in
a fresh subprocess: open time, search p50/p95 per mode, dense and hybrid recall@10 of the
approximate index against exact search, peak RSS (VmHWM); and the index's disk size.

    python bench/scale.py --sizes 10000 100000 1000000 --out bench/results-scale.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.chunk import Chunker  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.bm25 import Analyzer  # noqa: E402
from rag.commit import embedded  # noqa: E402
from rag.indexer import build_index, expected_manifest, update_index  # noqa: E402
from rag.store import open_store  # noqa: E402
from rag.types import Document  # noqa: E402

VOCAB, DIM, ZIPF_S = 50_000, 384, 1.07
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def vocabulary() -> list[str]:
    """Pseudo-words of 2-3 syllables, unique, rank 0 = commonest."""
    rng = np.random.default_rng(1)
    words: dict[str, None] = {}
    while len(words) < VOCAB:
        n = rng.integers(2, 4)
        words["".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), n))] = None
    return list(words)


class ZipfBagEmbedder:
    """FAST FAKE EMBEDDER: a text's vector is the normalised sum of its words' fixed random vectors."""

    model_id = "fake:zipf-bag-384"
    dim = DIM
    max_tokens = 10**6

    def __init__(self, words: list[str]) -> None:
        self.index = {w: i for i, w in enumerate(words)}
        rng = np.random.default_rng(2)
        self.W = rng.standard_normal((len(words) + 1, DIM)).astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def encode(self, texts, kind="passage", *, batch_size=32, progress=False) -> np.ndarray:
        rows, cols = [], []
        for r, t in enumerate(texts):
            ids = [self.index.get(w, len(self.index)) for w in t.lower().replace(".", " ").split()]
            rows += [r] * len(ids)
            cols += ids
        m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), len(self.W)))
        out = np.asarray(m @ self.W, dtype=np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
        return out


def make_docs(n_docs: int, words: list[str], seed: int, start: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, VOCAB + 1) ** ZIPF_S
    p /= p.sum()
    draws = rng.choice(VOCAB, size=n_docs * 190, p=p)
    docs, at = [], 0
    for i in range(start, start + n_docs):
        n = int(rng.integers(110, 191))
        ws = [words[j] for j in draws[at:at + n]]
        at += n
        sents, k = [], 0
        while k < len(ws):
            m = int(rng.integers(8, 21))
            s = ws[k:k + m]
            sents.append(" ".join([s[0].capitalize()] + s[1:]) + ".")
            k += m
        title = f"Report {i}: {ws[0]} {ws[1]}"
        body = " ".join(sents)
        text = f"{title}\n\n{body}"
        docs.append(Document(id=f"doc-{i:07d}.txt", title=title, text=text, source=f"doc-{i:07d}.txt",
                             start=0, end=len(text), content_hash=f"h{seed}-{i}"))
    return docs


def queries(docs: list[Document], words: list[str], n: int = 200) -> list[str]:
    rng = np.random.default_rng(3)
    common = set(words[:100])
    out = []
    for d in rng.choice(len(docs), n, replace=False):
        ws = [w for w in dict.fromkeys(docs[d].text.split("\n\n", 1)[1].lower().replace(".", "").split())
              if w not in common]
        out.append(" ".join(rng.choice(ws, min(5, len(ws)), replace=False)))
    return out


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def run_size(n_passages: int, store_value: str, work: Path, words, emb, settings_kw: dict) -> dict:
    chunker = Chunker()
    per_doc = np.mean([len(chunker.chunk(d)) for d in make_docs(200, words, seed=9)])
    n_docs = int(round(n_passages / per_doc))
    t0 = time.perf_counter()
    docs = make_docs(n_docs, words, seed=n_passages)
    print(f"[{n_passages}] {n_docs} documents generated in {time.perf_counter() - t0:.0f}s", flush=True)
    index_dir = work / f"index-{n_passages}"
    shutil.rmtree(index_dir, ignore_errors=True)
    settings = Settings.from_env(index_dir=index_dir, store=store_value, **settings_kw)  # RAG_PG_BUILD_MEMORY etc.
    store = open_store(settings)
    res: dict = {"passages_target": n_passages, "documents": n_docs, "store": store.name}

    def build(ds, s=None):
        return build_index(ds, s or store, embedder=emb, chunker=chunker)
    res["full_build_s"], rep = timed(lambda: build(docs))
    res["passages"] = rep.passages
    res["build_process_peak_rss_mb"] = vm_hwm_mb()  # includes the generated documents
    print(f"[{n_passages}] full build: {rep.passages} passages in {res['full_build_s']:.1f}s", flush=True)
    extra = make_docs(1, words, seed=77, start=n_docs)[0]
    res["add_one_s"], rep = timed(lambda: build(docs + [extra]))
    assert rep.added and rep.embedded
    extra_b = make_docs(1, words, seed=79, start=n_docs + 20)[0]
    res["add_another_s"], rep = timed(lambda: build(docs + [extra, extra_b]))
    assert rep.added and rep.embedded
    build(docs + [extra])
    changed = replace(extra, text=extra.text + " Zuzu.", end=len(extra.text) + 6, content_hash="changed")
    res["change_one_s"], rep = timed(lambda: build(docs + [changed]))
    assert rep.changed
    res["delete_one_s"], rep = timed(lambda: build(docs))
    assert rep.removed
    res["noop_rebuild_s"], rep = timed(lambda: build(docs))
    assert not rep.wrote
    apply_only = []
    for i in range(3):  # the store's own share of an add: apply() alone, the embedding done
        more = make_docs(1, words, seed=100 + i, start=n_docs + 1 + i)[0]
        ups = list(embedded([more], emb, chunker, 32, False, [0]))
        m = {**expected_manifest(emb, chunker, Analyzer()), "embedder": {"model_id": emb.model_id, "dim": DIM}}
        apply_only.append(timed(lambda: store.apply(m, ups, []))[0])
        store.apply(m, [], [more.id])
    res["apply_one_s"] = float(np.median(apply_only))
    store.close()
    res.update(update_costs(n_passages, store_value, work, words, emb, n_docs))
    cold = open_store(settings)
    extra2 = make_docs(1, words, seed=78, start=n_docs + 10)[0]
    res["add_one_cold_s"], _ = timed(lambda: build(docs + [extra2], cold))
    build(docs, cold)
    cold.close()
    res["disk_mb"] = disk_mb(index_dir) if index_dir.exists() else None
    qfile = work / f"queries-{n_passages}.json"
    qfile.write_text(json.dumps(queries(docs, words)))
    del docs
    out = subprocess.run([sys.executable, __file__, "--probe", store_value, str(index_dir), str(qfile)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    res.update(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"[{n_passages}] {json.dumps(res)}", flush=True)
    return res


def cold_add(n_passages: int, store_value: str, work: Path, words, emb) -> dict:
    """On a kept index: add one document from a fresh process, as `rag index` would (open the
    store, verify every checksum, diff, embed, apply), then remove it the same way."""
    chunker = Chunker()
    per_doc = np.mean([len(chunker.chunk(d)) for d in make_docs(200, words, seed=9)])
    docs = make_docs(int(round(n_passages / per_doc)), words, seed=n_passages)
    settings = Settings(index_dir=work / f"index-{n_passages}", store=store_value)
    extra = make_docs(1, words, seed=80, start=len(docs) + 30)[0]
    out = {}
    for key, ds in (("add_one_fresh_process_s", docs + [extra]), ("delete_one_fresh_process_s", docs)):
        t = time.perf_counter()
        with open_store(settings) as store:
            rep = build_index(ds, store, embedder=emb, chunker=chunker)
        out[key] = time.perf_counter() - t
        assert rep.wrote
    out["fresh_process_peak_rss_mb"] = vm_hwm_mb()  # includes the generated documents
    return out


def update_costs(n_passages: int, store_value: str, work: Path, words, emb, n_docs: int | None = None) -> dict:
    """On a kept index, from this process: ``update_index`` (the named documents only, no listing
    of the collection) adding one document, a second one, changing one and deleting both; the
    first call opens the store."""
    chunker = Chunker()
    if n_docs is None:
        per_doc = np.mean([len(chunker.chunk(d)) for d in make_docs(200, words, seed=9)])
        n_docs = int(round(n_passages / per_doc))
    a, b = make_docs(2, words, seed=81, start=n_docs + 40)
    out = {}
    t = time.perf_counter()
    with open_store(Settings(index_dir=work / f"index-{n_passages}", store=store_value)) as store:
        def upd(docs, remove=()):
            return update_index(docs, store, embedder=emb, chunker=chunker, remove=remove)
        _, rep = timed(lambda: upd([a]))
        out["update_add_one_fresh_process_s"] = time.perf_counter() - t  # including the open
        assert rep.added
        out["update_add_another_s"], rep = timed(lambda: upd([b]))
        changed = replace(b, text=b.text + " Zuzu.", end=len(b.text) + 6, content_hash="changed")
        out["update_change_one_s"], rep = timed(lambda: upd([changed]))
        assert rep.changed
        out["update_delete_one_s"], rep = timed(lambda: upd([], remove=[a.id]))
        assert rep.removed
        upd([], remove=[b.id])
    return out


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe(store_value: str, index_dir: str, qfile: str) -> None:
    """In a fresh process: open, search latencies, peak RSS, then recall against exact search."""
    from rag.store.local_search import _bm25_of, _bm25_scores, _bm25_top, _dense_of, hybrid_top

    words = vocabulary()
    emb = ZipfBagEmbedder(words)
    qs = json.loads(Path(qfile).read_text())
    qv = emb.encode(qs, "query")
    t = time.perf_counter()
    store = open_store(Settings.from_env(index_dir=Path(index_dir), store=store_value))  # RAG_ANN_EF_SEARCH etc.
    store.check()
    res = {"open_s": time.perf_counter() - t}
    store.search(qv[0], qs[0], 5, "hybrid")  # the first search reads the vector index
    res["open_and_first_search_s"] = time.perf_counter() - t
    for mode in ("dense", "bm25", "hybrid"):
        lat = []
        for q in qs:
            t = time.perf_counter()
            store.search(emb.encode([q], "query")[0], q, 5, mode)
            lat.append(time.perf_counter() - t)
        res[f"{mode}_p50_ms"] = float(np.percentile(lat, 50) * 1000)
        res[f"{mode}_p95_ms"] = float(np.percentile(lat, 95) * 1000)
    res["serve_peak_rss_mb"] = vm_hwm_mb()
    if store.name == "local":
        import faiss

        state = store._current()
        kinds = {m["vectors"] for m in state.metas}
        res["vector_index"] = "+".join(sorted(kinds))
        flat = faiss.IndexFlatIP(DIM)
        for seg in state.segments:
            flat.add(seg.index.reconstruct_n(0, seg.index.ntotal))
        live = np.concatenate([state.live(s.name) if state.live(s.name) is not None else np.ones(s.size, bool)
                               for s in state.segments])
        _, exact = flat.search(qv, 300)
        rd, rh = [], []
        for q, v, ex in zip(qs, qv, exact):
            ex = ex[live[ex]]  # exact dense ranking of the live passages
            rd.append(len(_ids(state, ex[:10]) & {h.chunk.id for h in store.search(v, q, 10, "dense")}) / 10)
            bm = _bm25_scores(state, q, [state.live(s.name) for s in state.segments])
            bm_ids, _ = _bm25_top(state, bm, 100)
            want, _ = hybrid_top(ex[:100], bm_ids, lambda i: _dense_of(state, v, i),
                                 lambda i: _bm25_of(state, bm, i), 0.5, 10)
            rh.append(len(_ids(state, want) & {h.chunk.id for h in store.search(v, q, 10, "hybrid")}) / 10)
        res["dense_recall@10"], res["hybrid_recall@10"] = float(np.mean(rd)), float(np.mean(rh))
    print(json.dumps(res))


def _ids(state, gids) -> set[str]:
    from rag.store.local_search import _chunk

    return {_chunk(state, int(g)).id for g in gids}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--store", default="local", help="Settings.store: local or a postgresql:// URL")
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-scale"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results-scale.json")
    ap.add_argument("--ann-threshold", type=int, default=Settings().ann_threshold)
    ap.add_argument("--keep", action="store_true", help="keep the built indexes in --work")
    ap.add_argument("--cold", action="store_true", help="on indexes kept in --work: add/delete one "
                    "document from this fresh process (as `rag index` does)")
    ap.add_argument("--update", action="store_true", help="on indexes kept in --work: update_index "
                    "adding, changing and deleting one document from this fresh process")
    ap.add_argument("--probe", nargs=3, metavar=("STORE", "INDEX_DIR", "QUERIES"),
                    help="only measure a built index in this process (open, search, memory, recall)")
    args = ap.parse_args()
    if args.probe:
        return probe(*args.probe)
    args.work.mkdir(parents=True, exist_ok=True)
    words = vocabulary()
    emb = ZipfBagEmbedder(words)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for n in args.sizes:
        key = f"{args.store.split('://')[0]}-{n}"
        if args.cold or args.update:
            fn = cold_add if args.cold else update_costs
            results.setdefault(key, {}).update(fn(n, args.store, args.work, words, emb))
            print(json.dumps(results[key]), flush=True)
            args.out.write_text(json.dumps(results, indent=2))
            continue
        results[key] = run_size(n, args.store, args.work, words, emb, {"ann_threshold": args.ann_threshold})
        args.out.write_text(json.dumps(results, indent=2))
        if not args.keep:
            shutil.rmtree(args.work / f"index-{n}", ignore_errors=True)


if __name__ == "__main__":
    main()
