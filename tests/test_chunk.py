import pytest

from helpers import SEED
from rag.chunk import Chunker, index_text, sentence_spans
from rag.ingest import split_documents
from rag.types import Document


@pytest.fixture(scope="module")
def seed_chunks():
    text = SEED.read_text(encoding="utf-8")
    chunker = Chunker()
    return text, chunker, [c for d in split_documents(text, SEED.name) for c in chunker.chunk(d)]


def test_every_seed_passage_is_the_exact_source_slice(seed_chunks):
    text, _, chunks = seed_chunks
    assert len(chunks) > 30
    for c in chunks:
        assert text[c.start:c.end] == c.text


def test_passages_respect_the_token_budget_and_sentence_boundaries(seed_chunks):
    text, chunker, chunks = seed_chunks
    for c in chunks:
        assert chunker.count(c.text) <= chunker.max_tokens
        # starts at a sentence start and ends at a sentence end of its article
        spans = sentence_spans(text)
        assert any(s == c.start for s, _ in spans) or text[c.start - 1] in "\n", c.text[:40]
        assert c.text.rstrip()[-1] in ".!?”’\")…" or "\n" in text[c.end:c.end + 1], c.text[-40:]


def test_consecutive_passages_overlap_by_whole_sentences(seed_chunks):
    _, chunker, chunks = seed_chunks
    pairs = [(a, b) for a, b in zip(chunks, chunks[1:]) if a.doc_id == b.doc_id]
    overlapping = [(a, b) for a, b in pairs if b.start < a.end]
    assert len(overlapping) >= len(pairs) // 2
    for a, b in overlapping:
        assert chunker.count(a.text[b.start - a.start:]) <= chunker.overlap + 5


def test_a_sentence_longer_than_a_passage_is_cut_at_words():
    long = " ".join(f"word{i}" for i in range(400)) + "."
    doc = Document(id="d", title="T", text=long, source="d.txt", start=0, end=len(long))
    chunker = Chunker(max_tokens=50, overlap=0)
    chunks = chunker.chunk(doc)
    assert len(chunks) > 5
    assert all(chunker.count(c.text) <= 50 and long[c.start:c.end] == c.text for c in chunks)
    assert " ".join(c.text for c in chunks) == long


def test_a_second_limit_splits_passages_further():
    text = " ".join(f"Sentence number {i} is here." for i in range(30))
    doc = Document(id="d", title="T", text=text, source="d.txt", start=0, end=len(text))
    chunks = Chunker(max_tokens=200, overlap=0).chunk(doc, fits=lambda t: len(t.split()) <= 20)
    assert all(len(c.text.split()) <= 20 for c in chunks)
    assert all(text[c.start:c.end] == c.text for c in chunks)


def test_index_text_puts_the_title_above_the_passage(seed_chunks):
    _, _, chunks = seed_chunks
    assert index_text(chunks[5]).startswith(chunks[5].title + "\n")


@pytest.mark.slow
def test_every_seed_passage_fits_the_embedders_own_token_limit(seed_chunks, real_embedder):
    """MiniLM reads 256 word-pieces and silently drops the rest: nothing may be cut off."""
    _, _, chunks = seed_chunks
    assert real_embedder.max_tokens == 256
    worst = max(real_embedder.count_tokens(index_text(c)) for c in chunks)
    assert worst <= real_embedder.max_tokens
