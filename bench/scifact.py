"""SciFact (BEIR) retrieval benchmark of the engine, plus speed, build and memory figures.

    python bench/scifact.py [--data ../shared/bench/scifact] [--json FILE] [--split test|train] [--quick]

Indexes the SciFact abstracts with ``rag.indexer.build_index`` once per embedder and
searches them with ``rag.retrieve.Retriever``; a document's score is the best score of
its passages. Prints nDCG@10 and Recall@100 for every configuration (bm25, dense and
hybrid per embedder, each with and without the cross-encoder reranker), embedding
throughput against the raw model, search latency, build / incremental / no-op rebuild
times, peak memory of a process that loads the index and answers queries, and the
latency of ``Assistant.ask`` in the default configuration. Metrics follow BEIR
(trec_eval ``ndcg_cut_10`` and ``recall_100``), written out in ``bench/beir.py`` without pytrec_eval.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rag.store.local import LocalStore  # noqa: E402
from rag.bm25 import Analyzer  # noqa: E402
from rag.chunk import Chunker, index_text  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embed import embedder_for  # noqa: E402
from rag.indexer import build_index, expected_manifest  # noqa: E402
from rag.ingest import content_hash  # noqa: E402
from rag.retrieve import Retriever  # noqa: E402
from rag.types import Document  # noqa: E402

from bench.beir import (doc_scores, load_corpus, load_qrels, load_queries, mean_metric,  # noqa: E402
                        ndcg_at, recall_at)

log = logging.getLogger("bench.scifact")

EMBEDDERS = {"minilm": "sentence-transformers", "bge": "onnx"}  # short name -> backend
EVAL_PASSAGES = 300  # passages fetched per query: enough for 100 distinct documents


# -- data ----------------------------------------------------------------------------------
def load_scifact(data: Path, split: str) -> tuple[list[Document], dict[str, str], dict[str, dict[str, int]]]:
    """Documents, queries (id -> text) and qrels (query id -> {doc id: relevance}) of ``split``."""
    docs = []
    for doc_id, row in load_corpus(data).items():
        text = f"{row['title']}\n\n{row['text']}"
        docs.append(Document(id=doc_id, title=row["title"], text=text, source=doc_id,
                             end=len(text), content_hash=content_hash(text)))
    return docs, load_queries(data), load_qrels(data, split)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# -- the cross-encoder, memoised across configurations of one run ---------------------------
class MemoScorer:
    """Caches (query, passage) scores so configurations sharing candidates score each pair once.

    ``seconds`` collects the cross-encoder time of each call that computed something.
    """

    def __init__(self, scorer) -> None:
        self.scorer = scorer
        self.cache: dict[tuple[str, str], float] = {}
        self.seconds: list[float] = []
        self.enabled = True  # off: score every call afresh (latency measurements)

    def __call__(self, query: str, passages) -> np.ndarray:
        if not self.enabled:
            return self.scorer(query, passages)
        todo = [p for p in dict.fromkeys(passages) if (query, p) not in self.cache]
        if todo:
            t = time.perf_counter()
            for p, s in zip(todo, self.scorer(query, todo)):
                self.cache[(query, p)] = float(s)
            self.seconds.append(time.perf_counter() - t)
        return np.array([self.cache[(query, p)] for p in passages], dtype=np.float32)


# -- measurements --------------------------------------------------------------------------
def evaluate(retriever: Retriever, queries: dict[str, str], qrels: dict, mode: str,
             rerank: bool) -> tuple[float, float]:
    """Mean nDCG@10 and mean Recall@100 of one configuration."""
    runs = {qid: doc_scores(retriever.search(queries[qid], k=EVAL_PASSAGES, mode=mode, rerank=rerank))
            for qid in qrels}
    return mean_metric(ndcg_at, runs, qrels, 10), mean_metric(recall_at, runs, qrels, 100)


def timed(fn, texts: list[str], warm: int = 3) -> list[float]:
    """Seconds of ``fn(text)`` per text, one at a time, after ``warm`` untimed calls."""
    for t in texts[:warm]:
        fn(t)
    out = []
    for t in texts:
        s = time.perf_counter()
        fn(t)
        out.append(time.perf_counter() - s)
    return out


def search_latency(retriever: Retriever, texts: list[str], k: int, mode: str,
                   rerank: bool = False) -> list[float]:
    """Warm, one query at a time, as the assistant searches ``k`` passages."""
    return timed(lambda t: retriever.search(t, k=k, mode=mode, rerank=rerank), texts)


def throughput(docs: list[Document], embedder, chunker: Chunker, analyzer: Analyzer,
               raw_encode, work: Path) -> tuple[float, float, int]:
    """Passages/s of ``build_index`` vs passages/s of the raw model on the same passage texts."""
    tmp = work / "throughput"
    shutil.rmtree(tmp, ignore_errors=True)
    embedder.encode(["warm up the model"], "passage")
    ix = LocalStore(tmp)
    rep = build_index(docs, ix, embedder=embedder, chunker=chunker, analyzer=analyzer)
    texts = [index_text(c) for d in docs for c in ix.chunks_of(d.id)]
    ix.close()
    t = time.perf_counter()
    raw_encode(texts)
    raw = time.perf_counter() - t
    shutil.rmtree(tmp, ignore_errors=True)
    return rep.passages / rep.seconds, len(texts) / raw, len(texts)


def over_limit(embedder, chunks) -> tuple[int, int]:
    """(longest passage in the embedder's own tokens, special tokens included; passages over its limit)."""
    texts = [index_text(c) for c in chunks]
    many = getattr(embedder, "count_tokens_many", None)
    counts = many(texts) if many else [embedder.count_tokens(t) for t in texts]
    return max(counts, default=0), sum(n > embedder.max_tokens for n in counts) if embedder.max_tokens else 0


def raw_encoder(name: str, embedder):
    """The underlying model's own batch encode call, bypassing our wrapper."""
    if name == "minilm" and embedder.query_encoder is not None:  # the ONNX export, as the build uses
        return lambda texts: embedder.query_encoder.encode(texts, batch_size=32)
    if name == "minilm":
        model = embedder.model
        return lambda texts: model.encode(texts, batch_size=32, convert_to_numpy=True,
                                          normalize_embeddings=True)
    session, tok = embedder.session, embedder.tokenizer

    def run(texts):  # plain onnxruntime on padded batches, in input order
        tok.enable_truncation(embedder.max_tokens)
        tok.enable_padding()
        try:
            for i in range(0, len(texts), 32):
                enc = tok.encode_batch(texts[i:i + 32])
                feeds = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                         "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                         "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
                session.run(None, feeds)
        finally:
            tok.no_padding()
            tok.no_truncation()
    return run


def probe(index_dir: Path, settings: Settings, questions: list[str]) -> dict:
    """In this process, as the app would: load the index, search ``questions`` one at a time (warm,
    k as the settings say), answer 20 of them; peak memory from VmHWM (this process image only)."""
    from rag.assistant import Assistant

    a = Assistant.open(index_dir=index_dir, build=False, settings=settings)
    lat = search_latency(a.retriever, questions, settings.k, settings.mode)
    for q in questions[:20]:
        a.ask(q)
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return {"fresh_search_p50_ms": pct(lat, 50) * 1000, "fresh_search_p95_ms": pct(lat, 95) * 1000,
            "peak_rss_mb": hwm / 1024}


def probe_fresh_process(index_dir: Path, settings: Settings, data: Path, split: str) -> dict:
    """``probe`` in a new process (``--probe-index``): no model of this one's is loaded there.

    (getrusage's ru_maxrss would not do: it survives exec and reports this process's size at the fork.)
    """
    env = {**os.environ, "RAG_RERANKER": "none", "RAG_EMBED_BACKEND": settings.embed_backend,
           "RAG_MODE": settings.mode, "RAG_HYBRID_WEIGHT": str(settings.dense_weight),
           "RAG_CHUNK_TOKENS": str(settings.chunk_tokens), "RAG_CHUNK_OVERLAP": str(settings.chunk_overlap)}
    out = subprocess.run([sys.executable, __file__, "--probe-index", str(index_dir), "--data", str(data),
                          "--split", split], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ask_latency(index_dir: Path, settings: Settings, embedder, queries: list[str]) -> list[float]:
    from rag.assistant import Assistant

    return timed(Assistant.open(index_dir=index_dir, build=False, settings=settings, embedder=embedder).ask, queries)


# -- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--quick", action="store_true",
                   help="a small smoke run: 15 queries, their documents plus 100 others")
    p.add_argument("--embedders", default="minilm,bge", help="comma list of: " + ", ".join(EMBEDDERS))
    p.add_argument("--rerank", default="all",
                   help="configurations also run with the cross-encoder: all, none, or a comma list "
                        "of config names (e.g. hybrid-bge,bm25)")
    p.add_argument("--weights", default="",
                   help="hybrid weight per embedder, e.g. minilm=0.5,bge=0.7 (default: the settings' hybrid_weight)")
    p.add_argument("--rerank-depth", type=int, help="passages the cross-encoder rescores per query")
    p.add_argument("--work", type=Path, help="folder for the indexes (default: a temporary one)")
    p.add_argument("--first", type=int, metavar="N",
                   help="only the first N abstracts of the corpus (as the peer's SMOKE=1 run: 300); "
                        "quality figures are then meaningless, build times comparable")
    p.add_argument("--lean", action="store_true",
                   help="build, score and time searches only (no add-one / no-op rebuild / throughput / "
                        "ask / fresh-process figures): the comparison with LlamaIndex (bench/vs_llamaindex.py)")
    p.add_argument("--probe-index", type=Path, metavar="DIR",
                   help="only measure, in this fresh process, search latency and peak memory on an index "
                        "built earlier (e.g. WORK/index-minilm; RAG_* settings as when it was built); prints JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.probe_index:
        _, queries, qrels = load_scifact(args.data, args.split)
        res = probe(args.probe_index, Settings.from_env(reranker="none"), [queries[q] for q in qrels][:100])
        print(json.dumps(res))
        return res

    settings = Settings.from_env(reranker="none")
    default_emb = "bge" if settings.embed_backend == "onnx" else "minilm"
    docs, queries, qrels = load_scifact(args.data, args.split)
    if args.quick:
        qrels = dict(list(qrels.items())[:15])
        wanted = {d for rels in qrels.values() for d in rels}
        docs = [d for d in docs if d.id in wanted] + [d for d in docs if d.id not in wanted][:100]
    if args.first:
        docs = docs[:args.first]
    names = [n.strip() for n in args.embedders.split(",") if n.strip()]
    weights = {n: settings.with_(embed_backend=EMBEDDERS[n]).dense_weight for n in names}
    weights.update({k.strip(): float(v) for k, v in (w.split("=") for w in args.weights.split(",") if w.strip())})
    if default_emb not in names:
        default_emb = names[0]
    work = args.work or Path(tempfile.mkdtemp(prefix="scifact-"))
    chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap, settings.encoding)
    analyzer = Analyzer()
    print(f"SciFact {args.split}: {len(docs)} documents, {len(qrels)} queries; chunks of "
          f"{settings.chunk_tokens}/{settings.chunk_overlap} tokens; hybrid weights {weights}; "
          f"work dir {work}", flush=True)

    from rag.rerank import get_reranker
    reranker = get_reranker("cross-encoder", **({"depth": args.rerank_depth} if args.rerank_depth else {}))
    memo = MemoScorer(reranker.score_pairs)
    reranker.score_pairs = memo

    latency_texts = [queries[q] for q in qrels]
    res: dict = {"ndcg10": {}, "recall100": {}, "search_p50_ms_by_config": {}, "search_p95_ms_by_config": {},
                 "full_build_s_by_embedder": {},
                 "split": args.split, "queries": len(qrels), "documents": len(docs),
                 "settings": {"chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap,
                              "encoding": settings.encoding, "embed_precision": settings.embed_precision,
                              "hybrid_weight": weights,
                              "rerank_depth": reranker.depth, "rerank_weight": reranker.weight,
                              "rerank_fusion": reranker.fusion}}
    rerank_all = args.rerank == "all"
    rerank_set = set() if args.rerank == "none" else {c.strip() for c in args.rerank.split(",")}
    rerank_secs_first: list[float] | None = None
    default_cfg = f"{settings.mode}-{default_emb}" if settings.mode != "bm25" else "bm25"

    def record(cfg: str, retriever: Retriever, mode: str) -> None:
        nonlocal rerank_secs_first
        variants = [(cfg, False)]
        if rerank_all or cfg in rerank_set:
            variants.append((cfg + "+rerank", True))
        for name, rr in variants:
            n0 = len(memo.seconds)
            nd, rc = evaluate(retriever, queries, qrels, mode, rr)
            res["ndcg10"][name], res["recall100"][name] = nd, rc
            if rr and rerank_secs_first is None:
                rerank_secs_first = memo.seconds[n0:]
            memo.enabled = False  # latency: k passages as the assistant asks, nothing cached
            lat = search_latency(retriever, latency_texts[:30 if rr else 100], settings.k, mode, rr)
            memo.enabled = True
            res["search_p50_ms_by_config"][name] = pct(lat, 50) * 1000
            res["search_p95_ms_by_config"][name] = pct(lat, 95) * 1000
            print(f"  {name:<22} nDCG@10 {nd:.4f}  Recall@100 {rc:.4f}  search p50 "
                  f"{pct(lat, 50) * 1000:.1f} ms (k={settings.k})", flush=True)

    for name in names:
        backend = EMBEDDERS[name]
        embedder = embedder_for(settings.with_(embed_backend=backend))
        index_dir = work / f"index-{name}"
        shutil.rmtree(index_dir, ignore_errors=True)
        t = time.perf_counter()  # loaded and warmed up before the timed build, as the LlamaIndex peer does
        embedder.encode(["warm up the model", "and its batches"], "passage")
        res.setdefault("model_load_s_by_embedder", {})[name] = time.perf_counter() - t
        print(f"[{name}] building the index ({embedder.model_id}) ...", flush=True)
        cpu = time.process_time()
        rep = build_index(docs, index_dir, embedder=embedder, chunker=chunker, analyzer=analyzer)
        res.setdefault("build_cpu_s_by_embedder", {})[name] = time.process_time() - cpu
        res["full_build_s_by_embedder"][name] = rep.seconds
        print(f"  {rep.passages} passages in {rep.seconds:.1f}s", flush=True)
        index = LocalStore(index_dir)
        index.check(expected_manifest(embedder, chunker, analyzer))
        chunks = [c for doc_id in index.documents() for c in index.chunks_of(doc_id)]
        res.setdefault("passages_by_embedder", {})[name] = len(chunks)
        res.setdefault("longest_passage_tokens_by_embedder", {})[name], res.setdefault(
            "passages_over_limit_by_embedder", {})[name] = over_limit(embedder, chunks)
        retriever = Retriever(index, embedder, mode="hybrid", weight=weights[name],
                              reranker=reranker)
        if name == names[0]:
            record("bm25", retriever, "bm25")
        record(f"dense-{name}", retriever, "dense")
        record(f"hybrid-{name}", retriever, "hybrid")
        if name == default_emb:
            res["full_build_s"] = rep.seconds
            res["embedder_limit"] = embedder.max_tokens
            qtexts = [queries[q] for q in qrels]
            lat = search_latency(retriever, qtexts, settings.k, settings.mode)
            res["search_p50_ms"], res["search_p95_ms"] = pct(lat, 50) * 1000, pct(lat, 95) * 1000
        if name == default_emb and not args.lean:
            extra = Document(id="bench-extra", title="An added abstract",
                             text="An added abstract\n\nA new study of zinc finger proteins in yeast.",
                             source="bench-extra", end=66, content_hash="x1")
            t = time.perf_counter()
            build_index(docs + [extra], index_dir, embedder=embedder, chunker=chunker, analyzer=analyzer)
            res["add_one_s"] = time.perf_counter() - t
            t = time.perf_counter()
            build_index(docs + [extra], index_dir, embedder=embedder, chunker=chunker, analyzer=analyzer)
            res["noop_rebuild_s"] = time.perf_counter() - t
            sample = docs[: 30 if args.quick else 300]
            res["passages_per_s"], res["raw_encode_per_s"], n = throughput(
                sample, embedder, chunker, analyzer, raw_encoder(name, embedder), work)
            res["throughput_passages"] = n
            ask_settings = settings.with_(embed_backend=backend, hybrid_weight=weights[name])
            ask = ask_latency(index_dir, ask_settings, embedder, qtexts[:50])
            res["ask_p50_ms"] = pct(ask, 50) * 1000
            res.update(probe_fresh_process(index_dir, ask_settings, args.data, args.split))
            res["default_index_dir"] = str(index_dir)
        del retriever, index
        gc.collect()

    res["default"] = default_cfg
    if rerank_secs_first:
        res["rerank_p50_ms"] = statistics.median(rerank_secs_first) * 1000
    best = max(res["ndcg10"], key=res["ndcg10"].get)
    res["best"] = best
    print_report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return res


def print_report(res: dict) -> None:
    print(f"\nSciFact {res['split']} ({res['queries']} queries, {res['documents']} documents)")
    print(f"{'configuration':<24}{'nDCG@10':>9}{'R@100':>8}{'p50 ms':>9}")
    for cfg in sorted(res["ndcg10"], key=lambda c: -res["ndcg10"][c]):
        lat = res["search_p50_ms_by_config"].get(cfg)
        mark = " (default)" if cfg == res["default"] else ""
        print(f"{cfg:<24}{res['ndcg10'][cfg]:>9.4f}{res['recall100'][cfg]:>8.4f}"
              f"{'' if lat is None else f'{lat:9.1f}'}{mark}")
    keys = ("passages_per_s", "raw_encode_per_s", "search_p50_ms", "search_p95_ms", "full_build_s",
            "add_one_s", "noop_rebuild_s", "fresh_search_p50_ms", "fresh_search_p95_ms", "peak_rss_mb",
            "ask_p50_ms", "rerank_p50_ms")
    for k in keys:
        if k in res:
            print(f"{k:<20}{res[k]:10.2f}")
    if "passages_per_s" in res:
        print(f"overhead ratio (raw / ours): {res['raw_encode_per_s'] / res['passages_per_s']:.2f}")
    print(f"default: {res['default']}   best: {res['best']}")


if __name__ == "__main__":
    main()
