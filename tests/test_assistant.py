"""The facade: bad questions and uploads get clear errors and lose nothing."""
import pytest

from rag import Assistant, QuestionError, RagError, Settings
from rag.assistant import MAX_UPLOAD_BYTES, safe_filename
from rag.errors import IndexMissingError


@pytest.mark.parametrize("question", ["", "   \n\t ", None])
def test_empty_questions_get_a_clear_error(fake_assistant, question):
    with pytest.raises(QuestionError, match="empty"):
        fake_assistant.ask(question)
    with pytest.raises(QuestionError, match="empty"):
        fake_assistant.search(question)


def test_a_huge_question_gets_a_clear_error_not_a_traceback(fake_assistant):
    with pytest.raises(QuestionError, match=r"too long \(99,999 characters; the limit is 2,000\)"):
        fake_assistant.ask("why " * 25_000)


def test_ask_stream_yields_text_then_holds_the_answer(fake_assistant):
    stream = fake_assistant.ask_stream("How many tanks did Russia produce in 2024?")
    parts = list(stream)
    assert parts and all(isinstance(p, str) for p in parts)
    assert stream.answer.text == "".join(parts) and "1,500 tanks" in stream.answer.text


def test_ask_stream_refuses_a_bad_question_before_streaming(fake_assistant):
    with pytest.raises(QuestionError):
        fake_assistant.ask_stream("   ")


def test_status_reports_articles_passages_and_model(fake_assistant):
    s = fake_assistant.status()
    assert s["documents"] == 6 and s["passages"] > 30 and s["model"] == "fake:hashed-words"
    assert "Sheila Fitzpatrick: Not Corrupt Enough" in s["titles"] and s["built_at"]


def test_add_document_saves_into_seeds_and_indexes_it(fake_assistant, seeds):
    report = fake_assistant.add_document("../../evil/../penguins.txt",
                                         b"Penguin census\n\nThe penguin census counted 4,321 birds.")
    assert (seeds / "penguins.txt").is_file() and report.added == ["Penguin census"]
    assert not (seeds.parent / "evil").exists()
    hits = fake_assistant.search("penguin census birds", k=1)
    assert hits[0].chunk.source == "penguins.txt"


@pytest.mark.parametrize("name, data, message", [
    ("blob.txt", b"\x00\x01\x02binary", "binary"),
    ("empty.md", b"", "empty"),
    ("latin.txt", "caf\xe9".encode("latin-1"), "UTF-8"),
    ("script.sh", b"echo hi", "only .htm, .html, .markdown, .md, .pdf, .txt"),
    ("...", b"text", "not a usable file name"),
    ("big.txt", b"word " * (MAX_UPLOAD_BYTES // 5 + 1), "larger than 5 MB"),
])
def test_bad_uploads_are_refused_and_leave_nothing_behind(fake_assistant, seeds, name, data, message):
    before = sorted(p.name for p in seeds.iterdir())
    with pytest.raises(RagError, match=message):
        fake_assistant.add_document(name, data)
    assert sorted(p.name for p in seeds.iterdir()) == before
    assert fake_assistant.status()["documents"] == 6


def test_safe_filename_never_leaves_the_folder():
    assert safe_filename("/etc/passwd.txt") == "passwd.txt"
    assert safe_filename("..\\..\\x.md") == "x.md"
    assert safe_filename("a b;rm -rf.txt") == "a b_rm -rf.txt"


def test_open_without_build_and_without_index_says_how_to_build(tmp_path, fake_embedder):
    settings = Settings(seeds_dir=tmp_path / "s", index_dir=tmp_path / "i")
    with pytest.raises(IndexMissingError, match="rag index"):
        Assistant.open(settings=settings, build=False, embedder=fake_embedder)


def test_an_empty_seeds_folder_gives_an_empty_but_working_index(tmp_path, fake_embedder):
    settings = Settings(seeds_dir=tmp_path / "s", index_dir=tmp_path / "i")
    (tmp_path / "s").mkdir()
    a = Assistant.open(settings=settings, embedder=fake_embedder)
    ans = a.ask("anything?")
    assert not ans.answered and a.search("anything") == []


def test_settings_name_the_embedder_backend(fake_backend, seeds, tmp_path):
    settings = Settings(seeds_dir=seeds, index_dir=tmp_path / "i", embed_backend="fake", embed_model="m2")
    a = Assistant.open(settings=settings)
    assert [e.model_id for e in fake_backend.made] == ["fake:m2"] and a.embedder is fake_backend.made[0]
    assert a.status()["model"] == "fake:m2" and a.search("tanks produced in 2024", k=1)


def test_an_unknown_embedder_backend_lists_the_valid_ones(fake_backend, tmp_path):
    with pytest.raises(RagError, match="unknown embedder backend 'nope'; valid: fake, .*sentence-transformers"):
        Assistant(Settings(seeds_dir=tmp_path, index_dir=tmp_path / "i", embed_backend="nope"))


# -- the page's helpers: rewrite switch, articles, documents and filter values -----------------
def test_ask_stream_says_what_it_searched_and_can_skip_rewriting(fake_assistant):
    history = [{"role": "user", "content": "How many tanks did Russia produce in 2024?"},
               {"role": "assistant", "content": "Around 1,500 tanks [1]."}]
    follow_up = "And how many armored vehicles?"
    rewritten = fake_assistant.ask_stream(follow_up, history=history)
    assert rewritten.query != follow_up and "armored vehicles" in rewritten.query
    plain = fake_assistant.ask_stream(follow_up, history=history, rewrite=False)
    assert plain.query == follow_up
    rewritten.close()
    plain.close()


def test_article_is_the_whole_article_around_its_passages(fake_assistant, seeds):
    hit = fake_assistant.search("How many tanks did Russia produce in 2024?", k=1)[0]
    doc = fake_assistant.article(hit.chunk.doc_id)
    assert doc.title == hit.chunk.title and doc.start <= hit.chunk.start < hit.chunk.end <= doc.end
    assert doc.text[hit.chunk.start - doc.start:hit.chunk.end - doc.start] == hit.chunk.text
    with pytest.raises(RagError, match="no article"):
        fake_assistant.article("nope.txt#1")


def test_documents_and_facets_come_from_the_index(fake_assistant):
    docs = fake_assistant.documents()
    assert len(docs) == 6 and sum(d["passages"] for d in docs) == fake_assistant.status()["passages"]
    tanks = next(d for d in docs if d["title"].startswith("Europe’s Fighting Talk"))
    assert tanks["authors"] == ["Matthew Blackburn", "Patricia Marins"] and tanks["outlet"] == "The National Interest"
    facets = fake_assistant.facets()
    assert facets["outlets"] == ["Intellinews", "London Review of Books", "Substack", "The National Interest",
                                 "The Realist Review"]
    assert "Lee Fang" in facets["authors"] and len(facets["articles"]) == 6


# -- managing the collection: duplicates, taken names, removal -----------------------------------
from helpers import SEED  # noqa: E402
from rag import DocumentExistsError, DocumentNotFoundError, DuplicateDocumentError  # noqa: E402

PENGUINS = b"Penguin census\n\nThe penguin census counted 4,321 birds on the island."


def test_a_second_copy_of_an_indexed_file_is_reported_as_a_duplicate_not_indexed(fake_assistant, seeds):
    before = sorted(p.name for p in seeds.iterdir())
    with pytest.raises(DuplicateDocumentError, match=r"copy\.txt is already indexed: “Sheila Fitzpatrick: "
                                                     r"Not Corrupt Enough” and 5 more \(in 000_2dc09e9634033631.txt\)"):
        fake_assistant.add_document("copy.txt", SEED.read_bytes())
    assert sorted(p.name for p in seeds.iterdir()) == before  # nothing saved, no hidden leftovers
    assert fake_assistant.status()["documents"] == 6


def test_the_same_article_under_another_name_is_a_duplicate_too(fake_assistant, seeds):
    fake_assistant.add_document("penguins.txt", PENGUINS)
    with pytest.raises(DuplicateDocumentError, match="“Penguin census” .in penguins.txt."):
        fake_assistant.add_document("penguins-again.md", PENGUINS + b"\n\n")  # trailing blank lines differ only
    assert not (seeds / "penguins-again.md").exists() and fake_assistant.status()["documents"] == 7


def test_a_taken_file_name_is_refused_and_the_old_file_kept(fake_assistant, seeds):
    fake_assistant.add_document("penguins.txt", PENGUINS)
    with pytest.raises(DocumentExistsError, match="penguins.txt already exists .*rename the file.*rag remove penguins.txt"):
        fake_assistant.add_document("penguins.txt", b"Seal census\n\nThe seal census counted 99 seals.")
    assert (seeds / "penguins.txt").read_bytes() == PENGUINS
    assert [h.chunk.source for h in fake_assistant.search("seal census seals", k=7)].count("penguins.txt") <= 1
    assert "Seal census" not in fake_assistant.status()["titles"]


def test_remove_document_deletes_the_file_and_the_index_forgets_it(fake_assistant, seeds):
    fake_assistant.add_document("penguins.txt", PENGUINS)
    assert fake_assistant.search("penguin census birds", k=1)[0].chunk.source == "penguins.txt"
    report = fake_assistant.remove_document("penguins.txt")
    assert report.removed == ["Penguin census"] and not (seeds / "penguins.txt").exists()
    assert all(h.chunk.source != "penguins.txt" for h in fake_assistant.search("penguin census birds", k=10))
    assert fake_assistant.status()["documents"] == 6
    assert sorted(p.name for p in seeds.iterdir()) == [SEED.name]  # nothing hidden left behind
    fake_assistant.add_document("penguins.txt", PENGUINS)  # and it can be added again
    assert fake_assistant.status()["documents"] == 7


def test_removing_a_digest_removes_all_its_articles(fake_assistant, seeds):
    report = fake_assistant.remove_document(SEED.name)
    assert len(report.removed) == 6 and fake_assistant.status()["documents"] == 0
    assert not fake_assistant.ask("How many tanks did Russia produce in 2024?").answered


@pytest.mark.parametrize("name", ["nope.txt", "../outside.txt", "/etc/passwd", "."])
def test_removing_what_is_not_in_the_seeds_folder_is_a_clear_error_and_deletes_nothing(
        fake_assistant, seeds, tmp_path, name):
    (tmp_path / "outside.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(DocumentNotFoundError, match=f"is not a file in {seeds}; files: {SEED.name}"):
        fake_assistant.remove_document(name)
    assert (tmp_path / "outside.txt").read_text(encoding="utf-8") == "keep me"
    assert fake_assistant.status()["documents"] == 6


def test_a_failed_update_after_remove_puts_the_file_back(fake_assistant, seeds, monkeypatch):
    def broken(*args, **kwargs):
        raise RagError("disk full")
    monkeypatch.setattr("rag.assistant.build_index", broken)
    with pytest.raises(RagError, match="disk full"):
        fake_assistant.remove_document(SEED.name)
    assert (seeds / SEED.name).read_bytes() == SEED.read_bytes()
    assert sorted(p.name for p in seeds.iterdir()) == [SEED.name]


# -- filters: outlet, author, article, dates, applied before ranking ----------------------------
from rag.types import Filters  # noqa: E402

TITLES_BY_OUTLET = {"Substack": {"Lee Fang: Mike Waltz’s Signal Chats Aren’t the Real Scandal",
                                 "Putin’s Economic Envoy Helped Break The Russian-US Impasse On Ukraine"}}


def test_an_outlet_filter_still_returns_k_passages_all_from_that_outlet(fake_assistant):
    question = "How many tanks did Russia produce in 2024?"
    unfiltered = fake_assistant.search(question, k=5)
    assert any(h.chunk.outlet != "Substack" for h in unfiltered)
    hits = fake_assistant.search(question, k=5, filters=Filters(outlet="substack"))  # any case
    assert len(hits) == 5 and {h.chunk.title for h in hits} <= TITLES_BY_OUTLET["Substack"]
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]


def test_author_article_and_date_filters(fake_assistant):
    q = "What did they say about Russia?"
    assert {h.chunk.authors for h in fake_assistant.search(q, k=8, filters={"author": "lee fang"})} == {("Lee Fang",)}
    title = "Michael Vlahos: America’s New Lost Cause"
    assert {h.chunk.title for h in fake_assistant.search(q, k=8, filters=Filters(article=title))} == {title}
    late = fake_assistant.search(q, k=20, filters=Filters(since="2025-04-04"))
    assert len(late) == 20 and {h.chunk.published for h in late} == {"2025-04-04"}
    early = fake_assistant.search(q, k=50, filters=Filters(until="3/19/25"))  # any byline form is read
    assert early and {h.chunk.outlet for h in early} == {"The National Interest"}
    window = fake_assistant.search(q, k=50, filters=Filters(since="2025-03-20", until="2025-04-03"))
    assert {h.chunk.published for h in window} == {"2025-03-20", "2025-04-03"}


def test_ask_answers_only_from_the_filtered_articles(fake_assistant):
    ans = fake_assistant.ask("How many tanks did Russia produce in 2024?", filters=Filters(outlet="The National Interest"))
    assert ans.answered and "1,500" in ans.text
    other = fake_assistant.ask("What did Dmitriev say about sanctions?", filters={"outlet": "Substack"})
    assert other.hits and all(h.chunk.outlet == "Substack" for h in other.hits)
    assert all(c.chunk.outlet == "Substack" for c in other.citations)


def test_filters_matching_nothing_give_no_passages_and_a_refusal(fake_assistant):
    assert fake_assistant.search("tanks", filters=Filters(outlet="Nowhere Gazette")) == []
    ans = fake_assistant.ask("How many tanks did Russia produce in 2024?", filters=Filters(since="2030-01-01"))
    assert not ans.answered and ans.hits == []


@pytest.mark.parametrize("filters, message", [
    (Filters(since="someday"), "since 'someday' is not a date: write it as YYYY-MM-DD"),
    (Filters(until="2025-02-30"), "until '2025-02-30' is not a date"),
    (Filters(since="2025-05-01", until="2025-04-01"), "since 2025-05-01 is after until 2025-04-01"),
    ({"publisher": "x"}, "unknown filter 'publisher'; valid: outlet, author, article, since, until"),
])
def test_bad_filters_are_clear_errors(fake_assistant, filters, message):
    with pytest.raises(QuestionError, match=message):
        fake_assistant.search("tanks", filters=filters)
    with pytest.raises(QuestionError, match=message):
        fake_assistant.ask_stream("tanks", filters=filters)


def test_blank_filters_are_no_filters(fake_assistant):
    assert fake_assistant.search("tanks", k=5, filters=Filters(outlet="  ", since="")) == \
        fake_assistant.search("tanks", k=5)


def test_sentences_and_questions_are_embedded_once_per_process(fake_assistant, fake_embedder):
    start = len(fake_embedder.encoded)  # the index's passages
    first = fake_assistant.ask("How many tanks did Russia produce in 2024?")
    before = len(fake_embedder.encoded)
    again = fake_assistant.ask("How many tanks did Russia produce in 2024?")
    assert len(fake_embedder.encoded) == before  # nothing embedded again: the same passages' sentences
    assert again.to_dict() == first.to_dict()
    fake_assistant.ask("How many tanks did Russia build in 2024?")
    # a question over mostly the same passages embeds only the sentences not seen before
    assert len(fake_embedder.encoded) - before < (before - start) / 3


def test_the_sentence_cache_can_be_turned_off(seeds, tmp_path, fake_embedder):
    settings = Settings(seeds_dir=seeds, index_dir=tmp_path / "index", vector_cache=0)
    a = Assistant.open(settings=settings, embedder=fake_embedder)
    a.ask("How many tanks did Russia produce in 2024?")
    before = len(fake_embedder.encoded)
    a.ask("How many tanks did Russia produce in 2024?")
    assert len(fake_embedder.encoded) > before


def test_warm_up_embeds_every_quotable_sentence_so_a_question_embeds_only_itself(fake_assistant):
    fake_assistant.warm_up()
    cache = fake_assistant._vectors
    assert len(cache) > 100  # the six articles' sentences
    before = cache.misses
    ans = fake_assistant.ask("How many tanks did Russia produce in 2024?")
    assert "1,500 tanks" in ans.text and cache.misses - before == 1  # the question; every sentence was ready


def test_warm_up_leaves_sentences_alone_when_they_would_not_fit_the_cache(seeds, tmp_path, fake_embedder):
    a = Assistant.open(settings=Settings(seeds_dir=seeds, index_dir=tmp_path / "ix", vector_cache=100),
                       embedder=fake_embedder)
    a.warm_up()
    assert len(a._vectors) < 60  # one question's passages, not the collection's sentences
