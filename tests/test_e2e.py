"""End to end with the real bundled model on the shipped articles: the quality bar."""
import shutil

import pytest

from helpers import DEV, SEED
from rag import Assistant, Settings
from rag.evaluate import evaluate, load_questions

pytestmark = pytest.mark.slow


def test_dev_questions_meet_the_quality_bar(seed_assistant):
    report = evaluate(seed_assistant, load_questions(DEV), k=5)
    print(report.summary())
    assert report.hit_at_k >= 0.95
    assert report.answer_accuracy >= 0.8
    assert report.refusal_accuracy == 1.0  # both unanswerable questions are refused


def test_every_citation_points_at_the_exact_source_text(seed_assistant):
    text = (seed_assistant.settings.seeds_dir / "000_2dc09e9634033631.txt").read_text(encoding="utf-8")
    for q in load_questions(DEV)[:6]:
        ans = seed_assistant.ask(q["question"])
        assert ans.citations, q["question"]  # all six are answerable
        for c in ans.citations:
            assert text[c.chunk.start:c.chunk.end] == c.chunk.text
            assert text[c.quote_start:c.quote_end] == c.quote


def test_adding_an_article_makes_it_answerable_and_removing_it_forgets_it(tmp_path, real_embedder):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds)
    a = Assistant.open(settings=Settings(seeds_dir=seeds, index_dir=tmp_path / "index"), embedder=real_embedder)
    question = "How many reindeer did the Arctic herders count in 2023?"
    assert not a.ask(question).answered

    (seeds / "reindeer.md").write_text(
        "# Reindeer count in Lapland\n\nBy Aino Virtanen, Arctic Times, 5/6/24\n\n"
        "Herders in northern Lapland counted 183,000 reindeer in 2023, the lowest figure in a decade. "
        "Warm winters froze the lichen under ice, so many animals starved.\n", encoding="utf-8")
    report = a.rebuild()
    assert report.added == ["Reindeer count in Lapland"] and report.unchanged == 6
    ans = a.ask(question)
    assert ans.answered and "183,000" in ans.text
    assert ans.citations[0].chunk.title == "Reindeer count in Lapland"
    assert ans.citations[0].chunk.authors == ("Aino Virtanen",)

    (seeds / "reindeer.md").unlink()
    assert a.rebuild().removed == ["Reindeer count in Lapland"]
    ans = a.ask(question)
    assert all("reindeer" not in h.chunk.text.lower() for h in ans.hits)
