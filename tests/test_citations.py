"""Citation markers: normalised, checked against the prompt, read back, and turned into quoted citations."""
from __future__ import annotations

from llm_servers import SNIPPETS, seed_hits, seed_text
from rag.answer.citations import cite, cited_numbers, clean_markers, is_refusal
from rag.answer.prompt import NOT_ANSWERED, build_prompt
from rag.support import SupportChecker, strip_markers


def test_clean_markers_normalises_and_drops_unknown_sources():
    text, bad = clean_markers("Growth was 4% [1, 3]. He met Witkoff [7]. Also [Source 2] and [2-3].", {1, 2, 3})
    assert text == "Growth was 4% [1][3]. He met Witkoff. Also [2] and [2][3]."
    assert bad == [7]
    assert clean_markers("Nothing [9][12].", {1})[0] == "Nothing."
    assert clean_markers("In [2024] it grew [1].", {1})[0] == "In [2024] it grew [1]."  # not a marker
    assert clean_markers("See 【1】 and [passages 1 and 2; 3].", {1, 2, 3})[0] == "See [1] and [1][2][3]."
    assert clean_markers("Wide [1-40].", {1, 40})[0] == "Wide [1][40]."  # not forty citations


def test_cited_numbers_in_order_of_first_appearance():
    assert cited_numbers("a [2] b [1][2]. c [9]") == [2, 1, 9]
    assert cited_numbers("a [2] b [1][2]. c [9]", {1, 2}) == [2, 1]
    assert cited_numbers("no markers (1) [x]") == []
    # the one marker syntax is shared with the support check
    assert strip_markers("It grew 4% [1][2].") == "It grew 4%."


def test_refusal_detection():
    assert is_refusal(NOT_ANSWERED)
    assert is_refusal("")
    assert is_refusal("The provided sources do not mention gas prices.")
    assert not is_refusal("Russia's economy grew 4% [1].")
    assert not is_refusal("Dmitriev met Witkoff [1]. The articles do not say when.")
    assert not is_refusal("Dmitriev met Witkoff. The article does not mention the date.")
    assert is_refusal("The article does not answer the question of what he quoted.")


def test_cite_quotes_the_best_supporting_sentence_of_each_cited_passage():
    hits = seed_hits(*SNIPPETS)
    prompt = build_prompt("q?", hits, context_window=8192, max_tokens=256)
    text = "Russia's economy grew 4% last year [1]. Waltz was an aide to Dick Cheney [2]. Also [1]."
    cits = cite(text, prompt.sources, SupportChecker())
    assert [c.n for c in cits] == [1, 2]
    seed = seed_text()
    for c in cits:
        assert c.chunk == hits[c.n - 1].chunk
        assert c.quote in c.chunk.text and seed[c.quote_start:c.quote_end] == c.quote
    assert "grew 4% last year" in cits[0].quote and "Dick Cheney" in cits[1].quote
    # without quotes (a refusal), the citations still name the passages
    bare = cite(text, prompt.sources, SupportChecker(), quotes=False)
    assert [(c.n, c.quote) for c in bare] == [(1, None), (2, None)]
    assert cite("Cites a passage not shown [3].", prompt.sources[:2], SupportChecker()) == []
