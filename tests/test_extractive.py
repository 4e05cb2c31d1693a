from rag.answer import ANSWERERS, get_answerer
from rag.answer.extractive import NOT_FOUND, answer_type, has_type
from rag.errors import UnknownNameError
from rag.types import Chunk, Hit

import pytest

TEXT = ("The harbour opened in 1902. It was built by Maria Keller. "
        "Ships carried 40,000 tonnes of grain a year through it. The town council met on Mondays.")


def _hits():
    chunk = Chunk(id="c1", doc_id="d", text=TEXT, start=100, end=100 + len(TEXT), title="Harbour history",
                  source="harbour.txt", authors=("Ann Lee",), outlet="Port News", date="1/2/24")
    return [Hit(chunk, 1.0, 1)]


def test_quotes_the_best_sentence_with_a_numbered_citation_and_offsets():
    ans = get_answerer("extractive").answer("How much grain did ships carry a year?", _hits())
    assert ans.answered and ans.text.startswith("Ships carried 40,000 tonnes of grain a year through it. [1]")
    c = ans.citations[0]
    assert c.n == 1 and c.chunk.title == "Harbour history" and c.quote in TEXT
    assert TEXT[c.quote_start - 100:c.quote_end - 100] == c.quote


def test_says_the_articles_do_not_say_when_evidence_is_weak_and_keeps_the_passages():
    ans = get_answerer("extractive").answer("What is the airport's runway length in Peru?", _hits())
    assert not ans.answered and ans.text == NOT_FOUND and ans.citations == [] and len(ans.hits) == 1


def test_no_passages_means_no_answer():
    ans = get_answerer("extractive").answer("When did the harbour open?", [])
    assert not ans.answered and ans.hits == []


def test_answer_types():
    assert answer_type("In what year was he born?") == "year"
    assert answer_type("How many tanks were built?") == "number"
    assert answer_type("Which Secretary of Defense cried?") == "person"
    assert has_type("Born in 1958 into a family", "year", "")
    assert not has_type("the 1990s were different", "year", "")
    assert has_type("met Steve Witkoff today", "person", "Which envoy did Kirill Dmitriev meet?")
    assert not has_type("Kirill Dmitriev spoke", "person", "Which envoy did Kirill Dmitriev meet?")


def test_unknown_answerer_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid: .*extractive"):
        get_answerer("oracle")
    assert "extractive" in ANSWERERS.names()
