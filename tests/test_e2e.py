"""End to end with the real bundled model on the shipped articles: the quality bar."""
import shutil

import pytest

from helpers import DEV, SEED
from rag import Assistant, DuplicateDocumentError, Settings
from rag.evaluate import evaluate, load_questions

pytestmark = pytest.mark.slow


class Recorder:
    """Passes ``ask`` to an Assistant and keeps every answer, so one evaluation run can be inspected."""

    def __init__(self, assistant) -> None:
        self.assistant, self.answers = assistant, []

    def ask(self, *args, **kwargs):
        self.answers.append(self.assistant.ask(*args, **kwargs))
        return self.answers[-1]


def test_dev_questions_meet_the_quality_bar_with_no_byline_headline_or_duplicate(seed_assistant):
    from rag.evaluate import norm
    from rag.ingest import BYLINE

    recorder = Recorder(seed_assistant)
    report = evaluate(recorder, load_questions(DEV), k=5)
    print(report.summary())
    assert report.hit_at_k >= 0.95
    assert report.answer_accuracy >= 0.9
    assert report.refusal_accuracy == 1.0  # every unanswerable question is refused

    lines = [ln.strip() for ln in SEED.read_text(encoding="utf-8").splitlines() if ln.strip()]
    bylines = [ln for ln in lines if BYLINE.match(ln)]
    headings = {norm(ln) for ln in lines if len(ln.split()) <= 15 and not ln.endswith((".", "?", "!", "’", "”"))}
    assert len(bylines) == 6 and "sheila fitzpatrick: not corrupt enough" in headings
    for ans in recorder.answers:
        assert not any(b in ans.text for b in bylines), ans.text
        for c in ans.citations:
            assert norm(c.quote) not in headings and norm(c.quote) != norm(c.chunk.title), c.quote
            assert not BYLINE.match(c.quote.strip()), c.quote
        sentences = [norm(p) for p in ans.text.split("] ") if p.strip()]
        sentences = [p[:p.rfind(" [")] if " [" in p else p for p in sentences]
        assert len(sentences) == len(set(sentences)), ans.text  # no sentence twice
        assert len({c.quote_start for c in ans.citations}) == len(ans.citations)


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

    reindeer = ("# Reindeer count in Lapland\n\nBy Aino Virtanen, Arctic Times, 5/6/24\n\n"
                "Herders in northern Lapland counted 183,000 reindeer in 2023, the lowest figure in a decade. "
                "Warm winters froze the lichen under ice, so many animals starved.\n").encode("utf-8")
    report = a.add_document("reindeer.md", reindeer)
    assert report.added == ["Reindeer count in Lapland"] and report.unchanged == 6
    ans = a.ask(question)
    assert ans.answered and "183,000" in ans.text
    assert ans.citations[0].chunk.title == "Reindeer count in Lapland"
    assert ans.citations[0].chunk.authors == ("Aino Virtanen",)
    assert ans.citations[0].chunk.published == "2024-05-06"

    with pytest.raises(DuplicateDocumentError, match="“Reindeer count in Lapland” .in reindeer.md."):
        a.add_document("reindeer copy.md", reindeer)  # the same article again: reported, not indexed twice
    assert a.status()["documents"] == 7 and not (seeds / "reindeer copy.md").exists()

    assert a.remove_document("reindeer.md").removed == ["Reindeer count in Lapland"]
    assert not (seeds / "reindeer.md").exists()
    ans = a.ask(question)
    assert not ans.answered and all("reindeer" not in h.chunk.text.lower() for h in ans.hits)


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    """The ```python block under "### Python" in README.md, run in a folder holding a copy of seeds/."""
    from helpers import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Python"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("\n```", section.index("```python"))]
    (tmp_path / "seeds").mkdir()
    shutil.copy(SEED, tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md (Python example)", "exec"), scope)
    a = scope["a"]
    assert "Institute for Peace & Diplomacy" in scope["ans"].text
    assert sorted(p.name for p in (tmp_path / "seeds").iterdir()) == [SEED.name]  # added, then removed
    assert a.status()["documents"] == 6


def test_filtered_questions_draw_only_on_the_matching_articles(seed_assistant):
    from rag.types import Filters

    tanks = "How many tanks did Russia produce in 2024?"
    ans = seed_assistant.ask(tanks, filters=Filters(outlet="The National Interest", until="2025-03-31"))
    assert ans.answered and "1,500" in ans.text and len(ans.hits) == 5
    assert {h.chunk.outlet for h in ans.hits} == {"The National Interest"}
    elsewhere = seed_assistant.ask(tanks, filters=Filters(outlet="Substack"))
    assert len(elsewhere.hits) == 5 and {h.chunk.outlet for h in elsewhere.hits} == {"Substack"}
    assert "1,500" not in elsewhere.text
