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
