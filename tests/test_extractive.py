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


# -- what may be quoted, and each sentence once -------------------------------------------------
from rag.answer.evidence import book_records, is_evidence, same_sentence  # noqa: E402
from rag.answer.extractive import ExtractiveAnswerer  # noqa: E402
from rag.answer.kinds import asks_for_view, view_holder  # noqa: E402

REVIEW = """Ann Lee: Harbours of the North

Note: I enjoyed this one. – Editor

By Ann Lee, Port News, 3/20/25

Ann Lee is a historian of ports.

Salt and Stone: A History of Northern Harbours

by Maria Keller.

Granite, 412 pp., £25, May 2024, 978 1 108 47735 2

‘Salt and Stone.’ The title of Maria Keller’s book sounds dull. Keller’s book is one you want to read. Follow her on X: @keller.

Harbour dues

Keller, now a professor at Bergen, is a product of the old port schools. Born in 1950 into a family of pilots, she began working on the docks at sixteen. The harbour opened in 1902. It was built by Maria Keller's grandfather.
"""


def _spans(text):
    from rag.chunk import sentence_spans

    return {text[s:e]: is_evidence(text, s, e, "Ann Lee: Harbours of the North") for s, e in sentence_spans(text)}


def test_bylines_headlines_book_details_notes_and_fragments_are_not_evidence():
    verdict = _spans(REVIEW)
    for not_quotable in ["Ann Lee: Harbours of the North", "By Ann Lee, Port News, 3/20/25",
                         "Salt and Stone: A History of Northern Harbours", "by Maria Keller.",
                         "Granite, 412 pp., £25, May 2024, 978 1 108 47735 2", "Note: I enjoyed this one. – Editor",
                         "‘Salt and Stone.’", "Follow her on X: @keller.", "Harbour dues"]:
        assert verdict[not_quotable] is False, not_quotable
    for quotable in ["Ann Lee is a historian of ports.", "Keller’s book is one you want to read.",
                     "The harbour opened in 1902.", "The title of Maria Keller’s book sounds dull."]:
        assert verdict[quotable] is True, quotable


def test_headline_without_its_author_label_is_not_evidence_either():
    text = "Harbours of the North.\n\nShips came."
    assert not is_evidence(text, 0, len("Harbours of the North."), "Ann Lee: Harbours of the North.")


def test_same_sentence_merges_identical_and_near_identical_wording_only():
    a = "The Anglo-Americans are aggressive and are trying to impose their domination on the entire world."
    assert same_sentence(a, " ".join(a.split()))
    assert same_sentence(a, a.replace("entire", "whole"))
    assert not same_sentence(a, "The Soviets were bewildered and embarrassed by this turn of events.")


def test_book_records_are_title_author_and_details_together():
    (s, e), = book_records(REVIEW)
    assert REVIEW[s:e].startswith("Salt and Stone: A History") and REVIEW[s:e].endswith("47735 2")
    assert "by Maria Keller." in REVIEW[s:e]


def _review_hits():
    """Two overlapping passages of REVIEW (as the chunker makes them) and one of another article."""
    cut = REVIEW.index("Harbour dues")
    first = Chunk(id="r@0", doc_id="r", text=REVIEW[:cut].rstrip(), start=0, end=len(REVIEW[:cut].rstrip()),
                  title="Ann Lee: Harbours of the North", source="r.txt", authors=("Ann Lee",), outlet="Port News")
    back = REVIEW.index("‘Salt and Stone.’")
    second = Chunk(id="r@1", doc_id="r", text=REVIEW[back:].rstrip(), start=back, end=back + len(REVIEW[back:].rstrip()),
                   title=first.title, source="r.txt", authors=("Ann Lee",), outlet="Port News")
    other_text = "Ships carried grain through the harbour for a century. The harbour was dredged in 1990."
    other = Chunk(id="o@0", doc_id="o", text=other_text, start=0, end=len(other_text), title="Grain ships",
                  source="o.txt", authors=("Bo Chen",))
    return [Hit(first, 1.0, 1), Hit(second, 0.9, 2), Hit(other, 0.5, 3)]


def _answerer():
    return ExtractiveAnswerer(gate="none", threshold=0.0)  # no refusals: these test what is quoted


def test_a_sentence_in_two_overlapping_passages_is_quoted_and_cited_once():
    hits = _review_hits()
    ans = _answerer().answer("What does Ann Lee think of Keller's book?", hits)
    assert ans.answered
    assert ans.text.count("one you want to read") == 1
    quotes = [c.quote for c in ans.citations]
    assert len(quotes) == len(set(quotes))
    assert "By Ann Lee" not in ans.text and "Harbours of the North" not in ans.text and "pp." not in ans.text


def test_a_view_question_gets_two_or_three_sentences_in_reading_order():
    hits = _review_hits()
    ans = _answerer().answer("What does Ann Lee think of Keller's book?", hits)
    sentences = [p for p in ans.text.split("] ") if p]
    assert 2 <= len(sentences) <= 3
    offsets = [REVIEW.index(c.quote) for c in ans.citations]
    assert all(REVIEW[c.quote_start:c.quote_end] == c.quote for c in ans.citations)
    assert offsets == sorted(offsets)
    assert "Ann Lee is a historian" not in ans.text  # the author's bio is not her view


def test_a_question_about_a_books_pages_is_answered_by_its_record():
    ans = _answerer().answer("How many pages does Keller's book Salt and Stone have?", _review_hits())
    assert ans.answered and "412 pp." in ans.text and ans.text.startswith("Salt and Stone: A History")
    assert ans.citations[0].quote.endswith("47735 2")


def test_a_he_or_she_sentence_comes_with_the_sentence_naming_the_person():
    ans = _answerer().answer("In what year was Keller born?", _review_hits())
    assert "Born in 1950" in ans.text
    assert ans.text.index("Keller, now a professor at Bergen") < ans.text.index("Born in 1950")


def test_a_question_naming_an_author_is_answered_from_that_authors_articles():
    ans = _answerer().answer("What did Bo Chen say about the harbour?", _review_hits())
    assert ans.answered and {c.chunk.doc_id for c in ans.citations} == {"o"}


def test_view_questions_and_whose_view():
    assert asks_for_view("Why did the Signal chat matter according to Lee Fang?")
    assert asks_for_view("What does Sheila Fitzpatrick think of Radchenko's book?")
    assert asks_for_view("How does Zubok see Gorbachev's decision?")
    assert not asks_for_view("How many tanks did Russia produce in 2024?")
    assert not asks_for_view("Which envoy did Dmitriev meet?")
    assert view_holder("Why did the Signal chat matter according to Lee Fang?") == ["Lee", "Fang"]
    assert view_holder("How does Zubok see Gorbachev's decision?") == ["Zubok"]
    assert answer_type("Why did they leave?") == "reason"
    assert has_type("They left because the harbour froze.", "reason", "")
    assert not has_type("Russian Special Presidential Envoy Kirill Dmitriev visited.", "person",
                        "Which envoy did Kirill Dmitriev meet?")


def test_one_answerer_serves_concurrent_questions_alike():
    from concurrent.futures import ThreadPoolExecutor

    answerer = get_answerer("extractive")
    questions = ["How much grain did ships carry a year?", "What is the airport's runway length in Peru?",
                 "When did the harbour open?"] * 4
    alone = [answerer.answer(q, _hits()).text for q in questions]
    before = dict(vars(answerer))
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda q: answerer.answer(q, _hits()).text, questions))
    assert together == alone and vars(answerer).keys() == before.keys()
    assert NOT_FOUND in alone and any("1902" in t for t in alone)
