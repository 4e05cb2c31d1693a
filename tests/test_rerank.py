"""Rerankers: fusion logic with fake scorers, and the real bundled cross-encoder."""
from __future__ import annotations

import numpy as np
import pytest

from rag.errors import UnknownNameError
from rag.fusion import fuse, minmax
from rag.rerank import RERANKERS, NoReranker, Reranker, ScoringReranker, get_reranker
from rag.types import Chunk, Hit


def make_hits(texts, scores=None):
    scores = scores if scores is not None else [1.0 - 0.1 * i for i in range(len(texts))]
    return [Hit(Chunk(id=f"c{i}", doc_id=f"d{i}", text=t, start=0, end=len(t), title=f"T{i}"), s, i + 1)
            for i, (t, s) in enumerate(zip(texts, scores))]


class FakeScorer:
    """Scores a passage by how many query words it contains; records what it was asked."""

    def __init__(self):
        self.calls = []

    def __call__(self, query, passages):
        self.calls.append(list(passages))
        words = set(query.lower().split())
        return np.array([len(words & set(p.lower().split())) for p in passages], dtype=np.float32)


def test_registry_names_and_unknown():
    assert {"none", "cross-encoder"} <= set(RERANKERS.names())
    with pytest.raises(UnknownNameError, match="cross-encoder"):
        get_reranker("nope")


def test_none_keeps_order_and_returns_new_hits():
    hits = make_hits(["a", "b", "c"], [3.0, 2.0, 1.0])
    out = get_reranker("none").rerank("q", hits)
    assert isinstance(get_reranker("none"), Reranker)
    assert [h.chunk.id for h in out] == ["c0", "c1", "c2"]
    assert [h.rank for h in out] == [1, 2, 3]
    assert [h.score for h in out] == [3.0, 2.0, 1.0]
    assert NoReranker().rerank("q", []) == []


def test_minmax_and_fuse():
    np.testing.assert_allclose(minmax(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(minmax(np.array([5.0, 5.0])), [0.0, 0.0])
    first, second = np.array([1.0, 0.5, 0.0]), np.array([0.0, 0.0, 10.0])
    np.testing.assert_allclose(fuse(first, second, fusion="replace"), second)
    np.testing.assert_allclose(fuse(first, second, fusion="minmax", weight=0.5), [0.5, 0.25, 0.5])
    np.testing.assert_allclose(fuse(first, second, fusion="minmax", weight=0.0), minmax(first))
    rrf = fuse(first, second, fusion="rrf", weight=0.5)
    assert rrf[2] > rrf[1] and rrf[0] > rrf[1]
    with pytest.raises(ValueError):
        fuse(first, second, fusion="bogus")


def test_replace_puts_best_scored_first_and_renumbers():
    hits = make_hits(["cats purr", "dogs bark loudly", "the sun"])
    r = ScoringReranker(FakeScorer(), depth=10, fusion="replace")
    out = r.rerank("why do dogs bark", hits)
    assert out[0].chunk.id == "c1"
    assert [h.rank for h in out] == [1, 2, 3]
    assert out[0].score == 2.0
    assert all(a.score >= b.score for a, b in zip(out, out[1:]))
    assert hits[0].rank == 1 and hits[0].chunk.id == "c0"  # inputs untouched


def test_fusion_weight_balances_first_stage():
    hits = make_hits(["alpha", "dogs bark", "gamma"], [10.0, 9.0, 0.0])
    # with weight 0 the first stage decides; with weight 1 the reranker does
    assert ScoringReranker(FakeScorer(), weight=0.0).rerank("dogs bark", hits)[0].chunk.id == "c0"
    assert ScoringReranker(FakeScorer(), weight=1.0).rerank("dogs bark", hits)[0].chunk.id == "c1"
    mid = ScoringReranker(FakeScorer(), weight=0.5).rerank("dogs bark", hits)
    assert mid[0].chunk.id == "c1" and mid[-1].chunk.id == "c2"


def test_only_top_depth_is_scored_and_tail_stays_below():
    scorer = FakeScorer()
    hits = make_hits(["a", "b", "c", "query words here", "e"])
    out = ScoringReranker(scorer, depth=2, fusion="replace").rerank("query words", hits)
    assert len(scorer.calls) == 1 and len(scorer.calls[0]) == 2
    assert [h.chunk.id for h in out[2:]] == ["c2", "c3", "c4"]  # tail keeps its order
    assert min(h.score for h in out[:2]) > max(h.score for h in out[2:])
    assert [h.rank for h in out] == [1, 2, 3, 4, 5]


def test_scorer_sees_title_with_passage():
    scorer = FakeScorer()
    ScoringReranker(scorer).rerank("q", make_hits(["body text"]))
    assert scorer.calls[0] == ["T0\nbody text"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        ScoringReranker(FakeScorer(), depth=0)
    with pytest.raises(ValueError):
        ScoringReranker(FakeScorer(), weight=1.5)
    with pytest.raises(ValueError):
        ScoringReranker(FakeScorer(), fusion="nope")
    bad = ScoringReranker(lambda q, ps: np.zeros(len(ps) + 1))
    with pytest.raises(ValueError):
        bad.rerank("q", make_hits(["a"]))
    assert ScoringReranker(FakeScorer()).rerank("q", []) == []


def test_cross_encoder_is_lazy():
    r = get_reranker("cross-encoder")
    assert r.score_pairs._session is None


@pytest.mark.slow
def test_real_cross_encoder_puts_relevant_passage_first():
    texts = [
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.",
        "Vitamin C deficiency causes scurvy, a disease marked by bleeding gums and poor wound healing.",
        "Interest rates were raised by the central bank to fight inflation.",
        "Scurvy was common among sailors on long voyages without fresh fruit.",
    ]
    query = "Which vitamin deficiency leads to scurvy?"
    hits = make_hits(texts, [0.9, 0.85, 0.4, 0.3])
    out = get_reranker("cross-encoder", fusion="replace").rerank(query, hits)
    assert out[0].chunk.id == "c1"
    assert {h.chunk.id for h in out} == {"c0", "c1", "c2", "c3"}
    scores = get_reranker("cross-encoder").score_pairs(query, texts)
    assert scores.dtype == np.float32 and scores.shape == (4,)
    assert scores[1] > scores[0] and scores[1] > scores[2]
    # batching and padding do not change a pair's score much
    alone = get_reranker("cross-encoder").score_pairs(query, texts[1:2])[0]
    assert abs(alone - scores[1]) < 0.5
    # fused with the default weight, the clearly relevant passage still wins over the first-stage top
    fused = get_reranker("cross-encoder").rerank(query, hits)
    assert fused[0].chunk.id == "c1"


def test_none_is_the_one_no_reranker():
    r = get_reranker("none")
    assert (r.name, r.depth) == ("none", 0)  # rescoring nothing, it needs no extra candidates
    assert get_reranker().name == "none"


def test_cross_encoder_declares_its_role_and_takes_threads():
    r = get_reranker("cross-encoder", depth=7, threads=1)
    assert isinstance(r, Reranker) and (r.name, r.depth) == ("cross-encoder", 7)
    assert r.score_pairs.threads == 1
