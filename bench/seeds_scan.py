"""What `rag index` costs when one file is added to a large seeds folder: reading the folder.

    python bench/seeds_scan.py [--files 40000] [--work /tmp/rag-seeds-scan]

Writes ``--files`` seed files (bench/scale.py's synthetic documents, one per file) into a
folder, builds the index once through ``Assistant.rebuild`` with bench/scale.py's FAST FAKE
EMBEDDER, waits out the seed record's racy window, then times in this process: a no-op
rebuild and adding one file, each with the seed record (rag/seed_record.py: only changed
files are read) and without it (the record deleted first: every file read and hashed).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from rag import Assistant, Settings  # noqa: E402
from rag import seed_record  # noqa: E402
from scale import ZipfBagEmbedder, make_docs, vocabulary  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=40_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-seeds-scan"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    seeds = args.work / "seeds"
    seeds.mkdir(parents=True)
    words = vocabulary()
    docs = make_docs(args.files + 2, words, seed=5)
    for d in docs[:args.files]:
        (seeds / d.id).write_text(d.text, encoding="utf-8")
    settings = Settings(seeds_dir=seeds, index_dir=args.work / "index", cache_dir=args.work / "cache")
    a = Assistant(settings, ZipfBagEmbedder(words))
    t = time.perf_counter()
    a.rebuild()
    out = {"files": args.files, "seed_bytes": sum(p.stat().st_size for p in seeds.iterdir()),
           "first_build_s": time.perf_counter() - t}
    time.sleep(seed_record.RACY_SECONDS + 0.5)
    a.rebuild()  # records the files, now settled
    records = list((args.work / "cache" / "seeds").glob("*.json"))

    def timed(label: str, fn) -> None:
        t = time.perf_counter()
        rep = fn()
        out[label] = time.perf_counter() - t
        print(f"{label}: {out[label]:.2f} s ({rep.summary().splitlines()[-1]})", flush=True)

    for n, extra in ((0, None), (1, docs[args.files]), (2, docs[args.files + 1])):
        if extra is not None:
            (seeds / extra.id).write_text(extra.text, encoding="utf-8")
        if n == 2:
            for r in records:
                r.unlink()
            timed("add_one_without_record_s", a.rebuild)
        else:
            timed("noop_with_record_s" if n == 0 else "add_one_with_record_s", a.rebuild)
    for r in records:
        r.unlink()
    timed("noop_without_record_s", a.rebuild)
    print(json.dumps(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
