"""Uploads (``Assistant.add_document``, what the page calls): a name never reaches outside the seeds
folder, unusable names and contents are refused with one line and leave nothing behind, and the
index keeps answering."""
from __future__ import annotations

import pytest

from robust_helpers import TANKS
from robust_checks import rag_error
from rag import Assistant, Settings
from rag.errors import RagError

NOTE = b"# Harbour note\n\nThe harbour holds twelve ships in winter.\n"


@pytest.fixture
def assistant(seeds, tmp_path, fake_embedder) -> Assistant:
    return Assistant.open(settings=Settings(seeds_dir=seeds, index_dir=tmp_path / "index"), embedder=fake_embedder)


def _files(folder):
    return sorted(p.name for p in folder.rglob("*"))


def _outside(tmp_path):
    """Everything under tmp_path but the seeds and index folders."""
    return sorted(str(p) for p in tmp_path.rglob("*") if not {"seeds", "index"} & set(p.relative_to(tmp_path).parts))


def _answers(a: Assistant) -> None:
    assert "1,500 tanks" in a.ask(TANKS).text


@pytest.mark.parametrize("name, saved", [
    ("../../etc/evil.txt", "evil.txt"),
    ("..\\..\\windows\\evil.txt", "evil.txt"),
    ("/abs/path/evil.md", "evil.md"),
    ("a\x00b\nc\r\x1b[31m.txt", "a_b_c_31m.txt"),  # control characters (and an escape sequence) become _
    (".hidden.txt", "hidden.txt"),
    ("report.txt. . ", "report.txt"),
    ("résumé.md", "r_sum_.md"),
    ("caf\udce9.txt", "caf_.txt"),
])
def test_an_upload_name_is_reduced_to_a_plain_name_inside_seeds(assistant, tmp_path, name, saved):
    seeds = assistant.settings.seeds_dir
    before, around = _files(seeds), _outside(tmp_path)
    report = assistant.add_document(name, NOTE)
    assert "Harbour note" in report.added
    assert (seeds / saved).read_bytes() == NOTE
    assert _files(seeds) == sorted(before + [saved])  # one new file, in seeds/, and nothing else
    assert _outside(tmp_path) == around and not (tmp_path.parent / "evil.txt").exists()
    assert "twelve ships" in assistant.search("harbour ships", k=1)[0].chunk.text


@pytest.mark.parametrize("name, data, message", [
    ("x" * 300 + ".txt", NOTE, "the file name is too long (304 characters; at most 200)"),
    ("CON.txt", NOTE, "CON.txt is a reserved device name"),
    ("nul.md", NOTE, "nul.md is a reserved device name"),
    ("Lpt1.txt", NOTE, "reserved device name"),
    ("..", NOTE, "'..' is not a usable file name"),
    ("", NOTE, "'' is not a usable file name"),
    ("///", NOTE, "is not a usable file name"),
    ("notes.exe", NOTE, "only .htm, .html, .markdown, .md, .pdf, .txt files can be added"),
    ("README", NOTE, "files can be added"),
    ("big.txt", b"x" * (5 * 1024 * 1024 + 1), "big.txt is larger than 5 MB"),
    ("empty.txt", b"", "empty.txt: the file is empty"),
    ("blank.md", b" \n\t", "the file is empty"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "image.txt: the file is binary, not text"),
    ("latin1.txt", "Caf\xe9".encode("latin-1"), "latin1.txt: the file is not valid UTF-8"),
    ("broken.pdf", b"%PDF-1.4\n% no objects", "broken.pdf: the PDF could not be read"),
    ("empty.pdf", b"", "empty.pdf: the PDF could not be read"),
])
def test_an_unusable_upload_is_refused_and_leaves_nothing_behind(assistant, name, data, message):
    seeds = assistant.settings.seeds_dir
    before = _files(seeds)
    with pytest.raises(RagError) as info:
        assistant.add_document(name, data)
    rag_error(info.value, message)
    assert _files(seeds) == before  # no file, no hidden temporary file
    assert assistant.status()["documents"] == 6
    _answers(assistant)


def test_uploads_keep_their_own_5_mb_limit_whatever_max_file_mb_is(seeds, tmp_path, fake_embedder):
    a = Assistant.open(settings=Settings(seeds_dir=seeds, index_dir=tmp_path / "ix", max_file_mb=100),
                       embedder=fake_embedder)
    with pytest.raises(RagError, match="larger than 5 MB"):
        a.add_document("big.md", b"word " * (1024 * 1024 + 1))


# -- never over an existing file, never a second copy (rag/documents.py) -------------------------
DIGEST = "000_2dc09e9634033631.txt"


def test_an_upload_named_like_the_shipped_digest_never_replaces_it(assistant):
    from rag.errors import DocumentExistsError

    seeds = assistant.settings.seeds_dir
    before = (seeds / DIGEST).read_bytes()
    with pytest.raises(DocumentExistsError) as info:
        assistant.add_document(DIGEST, NOTE)
    rag_error(info.value, f"{DIGEST} already exists", "rag remove")
    assert (seeds / DIGEST).read_bytes() == before and assistant.status()["documents"] == 6
    _answers(assistant)


@pytest.mark.parametrize("name", ["copy.txt", "../copy.txt"])
def test_a_second_copy_of_an_indexed_article_is_reported_as_a_duplicate(assistant, name):
    from rag.errors import DuplicateDocumentError

    seeds = assistant.settings.seeds_dir
    before = _files(seeds)
    with pytest.raises(DuplicateDocumentError) as info:
        assistant.add_document(name, (seeds / DIGEST).read_bytes())
    rag_error(info.value, "copy.txt is already indexed", "not added again")
    assert _files(seeds) == before and assistant.status()["documents"] == 6


@pytest.mark.parametrize("name", ["nope.txt", "../index/CURRENT", "/etc/passwd"])
def test_removing_a_file_that_is_not_in_seeds_is_one_line_and_removes_nothing(assistant, name):
    from rag.errors import DocumentNotFoundError

    before = _files(assistant.settings.seeds_dir)
    with pytest.raises(DocumentNotFoundError) as info:
        assistant.remove_document(name)
    rag_error(info.value, "is not a file in")
    assert _files(assistant.settings.seeds_dir) == before
    _answers(assistant)


def test_removing_the_last_file_empties_the_index_because_it_was_asked(assistant):
    report = assistant.remove_document(DIGEST)
    assert len(report.removed) == 6 and assistant.status()["documents"] == 0


def test_rag_remove_answered_no_deletes_nothing(built):
    from rag.cli import main

    out = built.runner.invoke(main, ["--backend", "fake", "--seeds", str(built.seeds), "--index", str(built.index),
                                     "remove", "penguins.md"], input="n\n")
    assert out.exit_code == 1 and "Aborted" in out.output and "Traceback" not in out.output
    assert (built.seeds / "penguins.md").exists()
    assert built("status").stdout.startswith("7 documents")
