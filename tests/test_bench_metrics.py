"""The benchmark's BEIR utilities (bench/beir.py) against values computed by hand, and bench/scifact.py's CLI."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from bench.beir import (doc_scores, load_corpus, load_qrels, load_queries, mean_metric, mrr_at, ndcg_at,
                        ranked, recall_at)
from helpers import ROOT
from rag.types import Chunk, Hit

INV_LOG3 = 1 / math.log2(3)  # the discount of rank 2 (rank 1: 1, rank 3: 1/2)


def test_one_relevant_document_at_rank_two():
    run, rels = {"a": 3.0, "b": 2.0, "c": 1.0}, {"b": 1}
    assert ndcg_at(run, rels, 10) == pytest.approx(0.6309297535714575) == pytest.approx(INV_LOG3)
    assert ndcg_at(run, rels, 1) == 0.0
    assert recall_at(run, rels, 1) == 0.0 and recall_at(run, rels, 2) == 1.0
    assert mrr_at(run, rels, 10) == 0.5 and mrr_at(run, rels, 1) == 0.0


def test_perfect_and_reversed_rankings():
    rels = {"a": 1, "b": 1}
    assert ndcg_at({"a": 2, "b": 1, "x": 0}, rels, 10) == pytest.approx(1.0)
    # relevant ones at ranks 2 and 3: (1/log2(3) + 1/2) / (1 + 1/log2(3))
    assert ndcg_at({"x": 3, "a": 2, "b": 1}, rels, 10) == pytest.approx((INV_LOG3 + 0.5) / (1 + INV_LOG3))


def test_graded_relevance_uses_the_grades_as_gains():
    run = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}
    rels = {"a": 1, "c": 2, "e": 3, "b": 0}  # e is relevant but never retrieved; b is judged not relevant
    # DCG@3 = 1/1 + 0 + 2/2 = 2; ideal gains 3, 2, 1: IDCG@3 = 3 + 2/log2(3) + 1/2
    assert ndcg_at(run, rels, 3) == pytest.approx(2 / (3 + 2 * INV_LOG3 + 0.5)) == pytest.approx(0.420004, abs=1e-6)
    assert recall_at(run, rels, 3) == pytest.approx(2 / 3)  # grade does not matter for recall
    assert recall_at(run, rels, 2) == pytest.approx(1 / 3)
    assert mrr_at(run, rels, 3) == 1.0


def test_ties_are_broken_by_document_id_descending_as_trec_eval_does():
    assert ranked({"d1": 1.0, "d2": 1.0, "d3": 0.5}) == ["d2", "d1", "d3"]
    assert ranked({"d3": 0.5, "d2": 1.0, "d1": 1.0}) == ["d2", "d1", "d3"]  # not the dict's order
    run, rels = {"d1": 1.0, "d2": 1.0, "d3": 0.5}, {"d1": 1}
    assert ndcg_at(run, rels, 1) == 0.0 and ndcg_at(run, rels, 2) == pytest.approx(INV_LOG3)
    assert mrr_at(run, rels, 10) == 0.5
    assert recall_at(run, {"d2": 1}, 1) == 1.0


def test_k_larger_than_the_run_and_empty_runs():
    run, rels = {"a": 2.0, "b": 1.0}, {"a": 1, "b": 1, "c": 1}
    assert recall_at(run, rels, 100) == pytest.approx(2 / 3)
    # ideal has three gains, the run only two: (1 + 1/log2(3)) / (1 + 1/log2(3) + 1/2)
    assert ndcg_at(run, rels, 10) == pytest.approx((1 + INV_LOG3) / (1 + INV_LOG3 + 0.5))
    assert ndcg_at({}, rels, 10) == recall_at({}, rels, 100) == mrr_at({}, rels, 10) == 0.0


def test_queries_without_relevant_judgements_score_zero_not_an_error():
    run = {"a": 1.0}
    for rels in ({}, {"a": 0}, {"x": 0, "y": 0}):
        assert ndcg_at(run, rels, 10) == recall_at(run, rels, 100) == mrr_at(run, rels, 10) == 0.0
    assert ndcg_at(run, {"a": -1}, 10) == 0.0  # a negative grade is no gain


def test_mean_is_over_the_queries_of_the_qrels():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    runs = {"q1": {"a": 1.0},             # 1.0
            "q2": {"x": 2.0, "b": 1.0},   # 1/log2(3)
            # q3 not retrieved at all: counts as 0
            "q9": {"z": 1.0}}             # not in the qrels: ignored
    assert mean_metric(ndcg_at, runs, qrels, 10) == pytest.approx((1 + INV_LOG3 + 0) / 3)
    assert mean_metric(recall_at, runs, qrels, 1) == pytest.approx(1 / 3)
    assert mean_metric(mrr_at, runs, qrels, 10) == pytest.approx((1 + 0.5) / 3)
    assert mean_metric(ndcg_at, runs, {}, 10) == 0.0


def hit(doc: str, score: float) -> Hit:
    return Hit(chunk=Chunk(id=f"{doc}-{score}", doc_id=doc, title=doc, text="t", source=doc, start=0, end=1),
               score=score)


def test_document_score_is_its_best_passage():
    assert doc_scores([hit("a", 0.2), hit("b", 0.5), hit("a", 0.9), hit("b", 0.1)]) == {"a": 0.9, "b": 0.5}
    assert doc_scores([]) == {}


@pytest.fixture
def beir_folder(tmp_path):
    """A tiny dataset in BEIR's layout: corpus.jsonl, queries.jsonl, qrels/test.tsv with its header."""
    rows = [{"_id": "d1", "title": "Zinc", "text": "Zinc fingers bind DNA."},
            {"_id": "d2", "title": "", "text": "Untitled abstract."}]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "1", "text": "What binds DNA?", "metadata": {}})
                                            + "\n" + json.dumps({"_id": "2", "text": "Unjudged?"}) + "\n")
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t2\n1\td2\t0\n\n")
    return tmp_path


def test_loading_a_beir_folder(beir_folder):
    assert load_corpus(beir_folder) == {"d1": {"title": "Zinc", "text": "Zinc fingers bind DNA."},
                                        "d2": {"title": "", "text": "Untitled abstract."}}
    assert load_queries(beir_folder) == {"1": "What binds DNA?", "2": "Unjudged?"}
    assert load_qrels(beir_folder, "test") == {"1": {"d1": 2, "d2": 0}}
    (beir_folder / "qrels" / "train.tsv").write_text("7\td2\t1\n")  # no header line
    assert load_qrels(beir_folder, "train") == {"7": {"d2": 1}}


def test_scifact_turns_the_corpus_into_documents(beir_folder):
    from bench.scifact import load_scifact

    docs, queries, qrels = load_scifact(beir_folder, "test")
    assert [(d.id, d.title, d.text, d.source) for d in docs] == [
        ("d1", "Zinc", "Zinc\n\nZinc fingers bind DNA.", "d1"), ("d2", "", "\n\nUntitled abstract.", "d2")]
    assert all(d.end == len(d.text) and d.content_hash for d in docs)
    assert queries["1"] == "What binds DNA?" and qrels == {"1": {"d1": 2, "d2": 0}}


def test_scifact_scores_a_configuration_from_passage_hits():
    """``bench.scifact.evaluate``: passages -> documents (best passage) -> mean nDCG@10, Recall@100."""
    from bench.scifact import EVAL_PASSAGES, evaluate

    class Retriever:
        def __init__(self) -> None:
            self.asked: list[tuple] = []

        def search(self, query, k, mode, rerank):
            self.asked.append((query, k, mode, rerank))
            return {"claim one": [hit("x", 0.9), hit("a", 0.5), hit("a", 0.95)],  # a's best passage wins
                    "claim two": [hit("y", 0.9), hit("b", 0.8)]}[query]

    r = Retriever()
    nd, rc = evaluate(r, {"1": "claim one", "2": "claim two"}, {"1": {"a": 1}, "2": {"b": 1, "c": 1}}, "dense", True)
    # q1: a first -> 1.0; q2: b at rank 2, c missing -> (1/log2(3)) / (1 + 1/log2(3))
    assert nd == pytest.approx((1 + INV_LOG3 / (1 + INV_LOG3)) / 2)
    assert rc == pytest.approx((1 + 0.5) / 2)
    assert r.asked == [("claim one", EVAL_PASSAGES, "dense", True), ("claim two", EVAL_PASSAGES, "dense", True)]


def test_scifact_script_help_runs():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "scifact.py"), "--help"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "SciFact (BEIR) retrieval benchmark" in out.stdout and "--probe-index" in out.stdout
