"""Support checking of answer sentences, and quote finding, on sentences from the seed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import DEV
from llm_servers import seed_chunk, seed_paragraphs, seed_text
from rag.support import (SupportChecker, best_supporting_sentence, lexical_overlap, split_sentences,
                         unsupported_sentences)


# claims an answer could make, one per answerable dev question (true per the evidence)
CLAIMS = {
    "dev-001": "Vladislav Zubok was born in 1958.",
    "dev-002": "Radchenko's book To Run the World has 760 pages.",
    "dev-003": "Zubok says it is an enigma why power did not corrupt Gorbachev enough.",
    "dev-004": "The phrase to run the world in Radchenko's title comes from Kissinger's notes.",
    "dev-005": "In July 1947 Stalin told Enver Hoxha that the Anglo-Americans are aggressive and "
               "trying to impose their domination on the world.",
    "dev-006": "The political scientist D.F. Fleming published a 1961 book explaining why the West lost the Cold War.",
    "dev-007": "Russia produces 3 million artillery shells a year.",
    "dev-008": "Russia produced 1,500 tanks in 2024.",
    "dev-009": "A Bruegel report calculated that 300,000 troops is the minimum force for basic deterrence.",
    "dev-010": "Matthew Blackburn is a senior researcher at the Norwegian Institute of International Affairs.",
    "dev-011": "Secretary of Defense Lloyd Austin is described as blinking back tears.",
    "dev-012": "Michael Vlahos is a senior fellow at the Institute for Peace and Diplomacy.",
    "dev-013": "Mike Waltz served as an aide to Dick Cheney before taking office.",
    "dev-014": "Dmitriev said Russia's economy grew 4% last year.",
    "dev-015": "Kirill Dmitriev met US special envoy Steve Witkoff in Washington.",
    "dev-016": "RT has described Kirill Dmitriev as Russia's chief economic envoy in the Russian-US talks.",
}


def cases():
    """(claim, gold paragraph, paragraphs of the other articles) per dev question."""
    paras = seed_paragraphs()
    out = []
    for line in DEV.read_text().splitlines():
        d = json.loads(line)
        if d["id"] not in CLAIMS:
            continue
        gold = next(p for p in paras if d["evidence"][:40] in p.text)
        claim = CLAIMS[d["id"]]
        others = sorted((p for p in paras if p.title != gold.title),  # the 8 hardest negatives
                        key=lambda p: -lexical_overlap(claim, p.text))[:8]
        out.append((claim, gold, others))
    return out


def test_split_sentences_keeps_offsets_and_abbreviations():
    text = "Mr. Waltz met the U.S. envoy in Washington [1]. He left!  Then (p. 3) came 1,500 tanks.\n\nNew para"
    spans = split_sentences(text)
    assert [s.text for s in spans] == ["Mr. Waltz met the U.S. envoy in Washington [1].", "He left!",
                                       "Then (p. 3) came 1,500 tanks.", "New para"]
    for s in spans:
        assert text[s.start:s.end] == s.text


def test_lexical_overlap():
    assert lexical_overlap("Russia produced 1,500 tanks", "Russia produced around 1,500 tanks in 2024") == 1.0
    assert lexical_overlap("Zubok was born in Moscow", "Born in 1958 in Moscow") == pytest.approx(2 / 3)


def _rates(checker):
    cs = cases()
    recall = sum(checker.supported(c, [g]) for c, g, _ in cs) / len(cs)
    false_accept = sum(checker.supported(c, others) for c, _, others in cs) / len(cs)
    return recall, false_accept


def test_calibrated_lexical_threshold_on_seed_claims():
    """Measured: recall 15/16, false accepts 0/16 (paragraphs of the seed)."""
    recall, false_accept = _rates(SupportChecker(None))
    assert recall >= 14 / 16, recall
    assert false_accept <= 1 / 16, false_accept


@pytest.mark.slow
def test_calibrated_embedding_threshold_on_seed_claims(real_embedder):
    recall, false_accept = _rates(SupportChecker(real_embedder))
    assert recall >= 15 / 16, recall
    assert false_accept <= 3 / 16, false_accept


def test_best_supporting_sentence_is_the_evidence_with_file_offsets():
    text = seed_text()
    chunk = seed_chunk("Russia’s economy grew 4% last year")
    quote, start, end = best_supporting_sentence("Dmitriev said the economy grew 4% last year.", chunk)
    assert "economy grew 4% last year" in quote
    assert text[start:end] == quote and chunk.start <= start < end <= chunk.end


def test_unsupported_sentences_flags_invented_claims_only():
    econ = seed_chunk("Russia’s economy grew 4% last year")
    waltz = seed_chunk("Waltz served as an aide to Dick Cheney")
    answer = ("Dmitriev said Russia's economy grew 4% last year [1]. "
              "Waltz served as an aide to Dick Cheney [2]. "
              "Dmitriev also owns a football club in Madrid [1]. "
              "Waltz was an aide to Dick Cheney [1].")  # true, but not in the passage it cites
    flagged = unsupported_sentences(answer, {1: econ, 2: waltz}, [econ, waltz], SupportChecker(None))
    assert flagged == ["Dmitriev also owns a football club in Madrid [1].", "Waltz was an aide to Dick Cheney [1]."]
    # a sentence citing nothing is checked against all passages
    assert unsupported_sentences("Waltz was an aide to Dick Cheney.", {}, [econ, waltz], SupportChecker(None)) == []
