import pytest

from helpers import SEED
from rag.chunk import Chunker, TokenLimit, index_text, sentence_spans
from rag.errors import RagError
from rag.passages import chunk_documents
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


# A long and odd text: a sentence of 700 words with no full stop, a 3,000-character "word" (a URL,
# a base64 blob), lines of CJK without spaces, an emoji run, and ordinary sentences around them.
ODD = ("Intro sentence. " + " ".join(f"clause{i}," for i in range(700)) + " end.\n"
       + "https://example.org/" + "a1B2c3" * 500 + "\n" + "统一码测试文本没有空格" * 40 + "\n"
       + "🙂" * 300 + " Last sentence here. " + "Another short one! " * 30)


def _docs(text: str, title: str = "An odd document"):
    return [Document(id="odd", title=title, text=text, source="odd.txt", start=0, end=len(text))]


class WordLimit:
    """An embedder-like limit for fast tests: a token is a whitespace word or a run of 4 characters."""

    max_tokens = 64
    model_id = "words"

    def count_tokens(self, text: str) -> int:
        return sum(max(1, -(-len(w) // 4)) for w in text.split()) + 2


def _within(chunks, emb) -> int:
    return max(emb.count_tokens(index_text(c)) for c in chunks)


def test_passages_are_packed_within_the_embedders_limit_so_none_is_split_again(seed_chunks):
    text, _, _ = seed_chunks
    emb = WordLimit()
    docs = split_documents(text, SEED.name)
    calls = []
    limit = TokenLimit.of(emb)
    chunks = [c for d in docs for c in Chunker(max_tokens=400, overlap=0).chunk(
        d, fits=lambda t: calls.append(t) or True, limit=limit)]
    assert _within(chunks, emb) <= emb.max_tokens
    assert len(calls) == len(chunks)  # the last check saw each passage once and split none
    assert all(text[c.start:c.end] == c.text for c in chunks)


def test_a_long_odd_text_never_exceeds_the_limit_and_nothing_is_lost():
    emb = WordLimit()
    chunks = chunk_documents(_docs(ODD), Chunker(max_tokens=10_000, overlap=0), emb)["odd"]
    assert _within(chunks, emb) <= emb.max_tokens
    assert all(ODD[c.start:c.end] == c.text for c in chunks)
    covered = "".join(ODD[c.start:c.end] for c in chunks)
    assert "".join(covered.split()) == "".join(ODD.split())  # every character kept, in order


def test_sizes_can_be_counted_in_the_embedders_own_tokens(seed_chunks):
    text, _, _ = seed_chunks
    emb = WordLimit()
    limit = TokenLimit.of(emb)
    docs = split_documents(text, SEED.name)
    chunks = [c for d in docs for c in Chunker(40, 8, "embedder").chunk(d, limit=limit)]
    # passages hold at most 40 of the embedder's tokens (a sentence alone may be cut at words)
    assert max(emb.count_tokens(c.text) - 2 for c in chunks) <= 40
    assert _within(chunks, emb) <= emb.max_tokens
    with pytest.raises(RagError, match="TokenLimit"):
        Chunker(40, 8, "embedder").chunk(docs[0])
    with pytest.raises(RagError, match="valid: cl100k_base, o200k_base, embedder"):
        Chunker(40, 8, "words")


@pytest.mark.slow
def test_every_seed_passage_fits_the_embedders_own_token_limit(seed_chunks, real_embedder):
    """MiniLM reads 256 word-pieces and silently drops the rest: nothing may be cut off."""
    text, _, _ = seed_chunks
    assert real_embedder.max_tokens == 256
    for chunker in (Chunker(), Chunker(350, 60), Chunker(254, 32, "embedder")):
        per_doc = chunk_documents(split_documents(text, SEED.name), chunker, real_embedder)
        chunks = [c for cs in per_doc.values() for c in cs]
        assert len(chunks) > 20
        worst = max(real_embedder.count_tokens(index_text(c)) for c in chunks)
        assert worst <= real_embedder.max_tokens, chunker


@pytest.mark.slow
def test_a_long_odd_text_fits_the_real_embedders_limit(real_embedder):
    chunks = chunk_documents(_docs(ODD, "A title of some length: with punctuation, digits 1,234 and Ünïcode"),
                             Chunker(350, 60), real_embedder)["odd"]
    assert max(real_embedder.count_tokens(index_text(c)) for c in chunks) <= real_embedder.max_tokens
    assert all(ODD[c.start:c.end] == c.text for c in chunks)
