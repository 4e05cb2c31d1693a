import pytest

from rag.errors import RagError


@pytest.fixture
def retriever(fake_assistant):
    return fake_assistant.retriever


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_each_mode_finds_the_passage_with_the_answer(retriever, mode):
    hits = retriever.search("Russia produced tanks armored vehicles artillery pieces 2024", k=3, mode=mode)
    assert len(hits) == 3 and [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert any("1,500 tanks" in h.chunk.text for h in hits)
    top = next(h for h in hits if "1,500 tanks" in h.chunk.text).chunk
    assert top.title == "Europe’s Fighting Talk is no Substitute for Hard Power"
    assert top.authors == ("Matthew Blackburn", "Patricia Marins") and top.date == "3/19/25"


def test_bm25_ranks_exact_rare_terms_first(retriever):
    assert "Bruegel" in retriever.search("Bruegel", k=1, mode="bm25")[0].chunk.text


def test_hybrid_fused_scores_are_in_unit_range(retriever):
    hits = retriever.search("Dmitriev Witkoff Washington", k=10, mode="hybrid")
    assert all(0.0 <= h.score <= 1.0 for h in hits) and hits[0].score > hits[-1].score


def test_k_larger_than_the_index_returns_everything_once(retriever):
    hits = retriever.search("Russia", k=10_000, mode="hybrid")
    assert len(hits) == len(retriever) == len({h.chunk.id for h in hits})


def test_unknown_mode_lists_the_valid_ones(retriever):
    with pytest.raises(RagError, match="dense, bm25, hybrid"):
        retriever.search("x", mode="semantic")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_real_model_every_mode_finds_the_evidence(seed_assistant, mode):
    hits = seed_assistant.search("How many tanks did Russia produce in 2024?", k=3, mode=mode)
    assert any("Russia produced around 1,500 tanks in 2024" in h.chunk.text for h in hits)
    if mode == "hybrid":
        assert "Russia produced around 1,500 tanks in 2024" in hits[0].chunk.text


def test_filters_reach_the_store_and_apply_before_ranking(retriever):
    from rag.types import Filters

    title = "Putin’s Economic Envoy Helped Break The Russian-US Impasse On Ukraine"
    hits = retriever.search("Russia tanks artillery production", k=3, mode="hybrid", filters=Filters(article=title))
    assert len(hits) == 3 and {h.chunk.title for h in hits} == {title}


def test_bm25_needs_no_query_vector(retriever, fake_embedder):
    fake_embedder.encoded.clear()
    calls = []
    real = fake_embedder.encode
    fake_embedder.encode = lambda *a, **k: calls.append(a) or real(*a, **k)
    assert retriever.search("Bruegel", k=1, mode="bm25") and calls == []


def test_no_reranker_means_the_none_reranker_and_depth_widens_the_search(fake_assistant):
    from rag.rerank import NoReranker, ScoringReranker
    from rag.retrieve import Retriever

    base = fake_assistant.retriever
    plain = Retriever(base.store, base.embedder, mode="bm25")
    assert isinstance(plain.reranker, NoReranker)
    seen = []

    def scorer(query, passages):
        seen.append(len(passages))
        return [0.0] * len(passages)
    deep = Retriever(base.store, base.embedder, mode="bm25", reranker=ScoringReranker(scorer, depth=6))
    hits = deep.search("Russia tanks", k=2)
    assert len(hits) == 2 and seen == [6]  # the reranker saw its depth, not k
    assert [h.chunk.id for h in plain.search("Russia tanks", k=2)] == \
        [h.chunk.id for h in deep.search("Russia tanks", k=2, rerank=False)]


def test_bad_mode_at_construction_is_the_same_error():
    from rag.retrieve import Retriever

    with pytest.raises(RagError, match="unknown retrieval mode 'fuzzy'; valid: dense, bm25, hybrid"):
        Retriever(None, None, mode="fuzzy")


def test_assistant_passes_runtime_settings_to_reranker_and_store(seeds, tmp_path, fake_embedder):
    import faiss

    from rag import Assistant, Settings

    settings = Settings(seeds_dir=seeds, index_dir=tmp_path / "index", reranker="cross-encoder",
                        onnx_threads=1, faiss_threads=2)
    a = Assistant.open(settings=settings, embedder=fake_embedder)
    try:
        assert a.retriever.reranker.name == "cross-encoder" and a.retriever.reranker.score_pairs.threads == 1
        assert faiss.omp_get_max_threads() == 2
    finally:
        faiss.omp_set_num_threads(1)
    assert Assistant.open(settings=settings.with_(reranker="none", faiss_threads=1), embedder=fake_embedder,
                          build=False).retriever.reranker.name == "none"
