"""BEIR utilities for the benchmarks: read a BEIR dataset folder, and score runs as trec_eval does.

A *run* maps document ids to scores for one query; *qrels* map document ids to graded relevance
(0 = judged not relevant). Metrics follow trec_eval, which BEIR calls through pytrec_eval:

- ranking: score descending, exact ties broken by document id *descending* (trec_eval's
  ``comp_sim_docno``), so results never depend on dict order;
- ``ndcg_at``: ``ndcg_cut_k``, gains are the relevance grades, discount ``log2(rank + 1)``, the ideal
  ranking is built from every relevant judged document (retrieved or not);
- ``recall_at``: ``recall_k``, relevant documents (grade > 0) in the top k over all relevant ones;
- ``mrr_at``: BEIR's ``MRR@k``, 1 / rank of the first relevant document in the top k, else 0.

A query without relevant judged documents scores 0 on every metric; ``mean_metric`` averages
over the queries of the qrels (a query the run lacks counts as an empty run).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Iterable, Mapping

Run = Mapping[str, float]
Rels = Mapping[str, int]


# -- reading a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) ------------------------
def load_corpus(folder: Path) -> dict[str, dict[str, str]]:
    """Document id -> {"title", "text"}, in file order."""
    out: dict[str, dict[str, str]] = {}
    with open(Path(folder) / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out[str(row["_id"])] = {"title": row.get("title") or "", "text": row.get("text") or ""}
    return out


def load_queries(folder: Path) -> dict[str, str]:
    """Query id -> query text."""
    with open(Path(folder) / "queries.jsonl", encoding="utf-8") as fh:
        return {str(r["_id"]): r["text"] for r in map(json.loads, filter(str.strip, fh))}


def load_qrels(folder: Path, split: str) -> dict[str, dict[str, int]]:
    """Query id -> {document id: relevance} from ``qrels/<split>.tsv`` (header line optional)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(Path(folder) / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if not line.strip():
                continue
            q, d, s = line.rstrip("\n").split("\t")[:3]
            if n == 0 and not s.strip().lstrip("-").isdigit():  # "query-id  corpus-id  score"
                continue
            qrels.setdefault(q, {})[d] = int(s)
    return qrels


# -- metrics ------------------------------------------------------------------------------------
def ranked(run: Run) -> list[str]:
    """Document ids best first; exact ties by id descending, as trec_eval orders them."""
    by_id = sorted(run, reverse=True)
    return sorted(by_id, key=lambda d: -run[d])  # stable: ties keep the descending-id order


def ndcg_at(run: Run, rels: Rels, k: int = 10) -> float:
    """nDCG@k with graded gains and log2 discounts (trec_eval ``ndcg_cut``)."""
    dcg = sum(max(rels.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked(run)[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(run: Run, rels: Rels, k: int = 100) -> float:
    """Share of the relevant documents (grade > 0) found in the top k."""
    relevant = {d for d, r in rels.items() if r > 0}
    return len(set(ranked(run)[:k]) & relevant) / len(relevant) if relevant else 0.0


def mrr_at(run: Run, rels: Rels, k: int = 10) -> float:
    """1 / rank of the first relevant document in the top k, 0 if there is none."""
    for i, d in enumerate(ranked(run)[:k], 1):
        if rels.get(d, 0) > 0:
            return 1.0 / i
    return 0.0


def mean_metric(metric: Callable[[Run, Rels, int], float], runs: Mapping[str, Run],
                qrels: Mapping[str, Rels], k: int) -> float:
    """``metric`` at ``k`` averaged over the queries of ``qrels`` (a missing run scores as empty)."""
    if not qrels:
        return 0.0
    return math.fsum(metric(runs.get(q, {}), rels, k) for q, rels in qrels.items()) / len(qrels)


def doc_scores(hits: Iterable) -> dict[str, float]:
    """Passage hits -> document id -> best score among its passages (BEIR scores documents)."""
    out: dict[str, float] = {}
    for h in hits:
        d = h.chunk.doc_id
        if d not in out or h.score > out[d]:
            out[d] = h.score
    return out
