"""Build speed vs LlamaIndex on SciFact, side by side in one run on this machine.

    python bench/vs_llamaindex.py --peer-python VENV/bin/python [--data ../shared/bench/scifact]
        [--peer-script ../shared/bench/peers/llamaindex_scifact.py] [--out bench/work/vs-llamaindex]
        [--order peer-first|ours-first|together] [--smoke]

Runs the LlamaIndex peer script with the Python of its own virtualenv (its docstring says how to
make one), then ``bench/scifact.py --embedders minilm --rerank none --lean`` in this Python with
the current ``RAG_*`` settings (the app's defaults unless set), and prints the comparison: index
build wall time and CPU time (ratio ours / peer), hybrid nDCG@10 on the 300 test claims, passages
longer than MiniLM's 256 word-pieces, and hybrid search p50 vs the peer's fusion p50. Both use the
bundled all-MiniLM-L6-v2, loaded and warmed up before their timed builds. ``--order together``
runs both at once, so both see the same load on a shared machine (each also slows the other);
``--smoke`` builds the first 300 abstracts only (the peer's SMOKE=1 run): build times compare,
quality figures do not.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_peer(python: str, script: Path, data: Path, out: Path, smoke: bool):
    """The peer's process and the JSON file it will write (SMOKE=1 writes ./results_smoke.json)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("results_smoke.json" if smoke else "llamaindex.json")
    env = {**os.environ, **({"SMOKE": "1"} if smoke else {})}
    proc = subprocess.Popen([python, str(script), "--data", str(data), "--out", str(path)], cwd=out,
                            stdout=open(out / "llamaindex.log", "w"), stderr=subprocess.STDOUT, env=env)
    return proc, path


def start_ours(data: Path, out: Path, smoke: bool):
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ours.json"
    cmd = [sys.executable, str(ROOT / "bench" / "scifact.py"), "--data", str(data), "--embedders", "minilm",
           "--rerank", "none", "--lean", "--json", str(path)] + (["--first", "300"] if smoke else [])
    proc = subprocess.Popen(cmd, stdout=open(out / "ours.log", "w"), stderr=subprocess.STDOUT, env=os.environ.copy())
    return proc, path


def finish(proc, path: Path) -> dict:
    if proc.wait() != 0:
        raise SystemExit(f"{proc.args[1]} failed (exit {proc.returncode}); see the log beside {path}")
    return json.loads(path.read_text())


def compare(peer: dict, ours: dict) -> dict:
    """The figures of issue 12, ours beside the peer's, with the ratios."""
    pb, ob = peer["index_build"], ours
    return {
        "peer_build_s": pb["wall_s"], "ours_build_s": round(ob["full_build_s"], 2),
        "build_ratio": round(ob["full_build_s"] / pb["wall_s"], 3),
        "peer_build_cpu_s": pb["process_cpu_s"], "ours_build_cpu_s": round(ob["build_cpu_s_by_embedder"]["minilm"], 2),
        "build_cpu_ratio": round(ob["build_cpu_s_by_embedder"]["minilm"] / pb["process_cpu_s"], 3),
        "peer_nodes": pb["nodes"], "peer_nodes_over_256": pb["nodes_over_256_wordpieces"],
        "ours_passages": ob["passages_by_embedder"]["minilm"],
        "ours_passages_over_limit": ob["passages_over_limit_by_embedder"]["minilm"],
        "ours_longest_passage": ob["longest_passage_tokens_by_embedder"]["minilm"],
        "peer_ndcg10_fusion": peer["ndcg@10"]["fusion_rrf"], "ours_ndcg10_hybrid": round(ob["ndcg10"]["hybrid-minilm"], 4),
        "peer_fusion_p50_ms": peer["latency"]["fusion_rrf"]["p50_ms"],
        "ours_hybrid_p50_ms": round(ob["search_p50_ms_by_config"]["hybrid-minilm"], 2),
        "search_ratio": round(ob["search_p50_ms_by_config"]["hybrid-minilm"] / peer["latency"]["fusion_rrf"]["p50_ms"], 3),
        "ours_settings": ob["settings"], "peer_versions": peer.get("versions", {}),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer-python", required=True, help="the python of the LlamaIndex virtualenv")
    p.add_argument("--peer-script", type=Path, default=ROOT.parent / "shared" / "bench" / "peers" / "llamaindex_scifact.py")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "work" / "vs-llamaindex")
    p.add_argument("--order", choices=("peer-first", "ours-first", "together"), default="peer-first")
    p.add_argument("--smoke", action="store_true", help="the first 300 abstracts only (build times only)")
    args = p.parse_args(argv)
    data, out = args.data.resolve(), args.out.resolve()
    t = time.strftime("%Y-%m-%dT%H:%M:%S")
    steps = {"peer": lambda: start_peer(args.peer_python, args.peer_script.resolve(), data, out, args.smoke),
             "ours": lambda: start_ours(data, out, args.smoke)}
    names = ["ours", "peer"] if args.order == "ours-first" else ["peer", "ours"]
    got = {}
    if args.order == "together":
        print("running the peer and ours at once ...", flush=True)
        started = {n: steps[n]() for n in names}
        got = {n: finish(*started[n]) for n in names}
    else:
        for n in names:
            print(f"running {n} ...", flush=True)
            got[n] = finish(*steps[n]())
    res = {"started": t, "order": args.order, "smoke": args.smoke, **compare(got["peer"], got["ours"])}
    (out / "comparison.json").write_text(json.dumps(res, indent=2))
    for k, v in res.items():
        if not isinstance(v, dict):
            print(f"{k:<26}{v}")
    return res


if __name__ == "__main__":
    main()
