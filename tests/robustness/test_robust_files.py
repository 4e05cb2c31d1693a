"""Bad files in the seeds folder are skipped with a warning naming them (and listed in the build
report); they never stop ``rag index``, and the good articles beside them are indexed and answer."""
from __future__ import annotations

import logging
import os

import pytest

from robust_helpers import rag_process


def _bytes(data: bytes):
    return lambda seeds, outside: (seeds / "bad.txt").write_bytes(data) and "bad.txt"


def _latin1(seeds, outside):
    (seeds / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1"))
    return "latin1.txt"


def _empty_md(seeds, outside):
    (seeds / "empty.md").write_bytes(b"")
    return "empty.md"


def _sparse_21mb(seeds, outside):  # over the default limit of 20 MB (skipped before it is read)
    with open(seeds / "huge.txt", "wb") as fh:
        fh.truncate(21 * 1024 * 1024)
    return "huge.txt"


def _symlink_file_out(seeds, outside):
    (outside / "secret.txt").write_text("The secret launch code is 0000.", encoding="utf-8")
    (seeds / "link.txt").symlink_to(outside / "secret.txt")
    return "link.txt"


def _symlink_dir_out(seeds, outside):
    (outside / "more").mkdir()
    (outside / "more" / "secret.md").write_text("The secret launch code is 0000.", encoding="utf-8")
    (seeds / "elsewhere").symlink_to(outside / "more", target_is_directory=True)
    return "elsewhere"


def _broken_symlink(seeds, outside):
    (seeds / "gone.txt").symlink_to(seeds / "deleted.txt")
    return "gone.txt"


def _fifo(seeds, outside):  # reading it would block forever
    os.mkfifo(seeds / "pipe.txt")
    return "pipe.txt"


def _bad_name(seeds, outside):
    with open(os.fsencode(seeds) + b"/caf\xe9.txt", "wb") as fh:  # Latin-1 bytes: not a UTF-8 name
        fh.write(b"A readable article about coffee.")
    return repr("caf\udce9.txt")


def _broken_pdf(seeds, outside):
    (seeds / "broken.pdf").write_bytes(b"%PDF-1.4\n% truncated before any object")
    return "broken.pdf"


def _textless_html(seeds, outside):
    (seeds / "blank.html").write_text("<html><head><script>var x = 1;</script></head><body></body></html>",
                                      encoding="utf-8")
    return "blank.html"


BAD_FILES = [  # (id, make it -> its name as reported, the reason reported)
    ("binary", _bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR"), "the file is binary, not text"),
    ("not UTF-8", _latin1, "the file is not valid UTF-8 (byte 3)"),
    ("empty", _empty_md, "the file is empty"),
    ("whitespace only", _bytes(b"  \n\t\n"), "the file is empty"),
    ("over 20 MB", _sparse_21mb, "the file has 21 MB, more than the limit of 20 MB (RAG_MAX_FILE_MB)"),
    ("symlink to a file outside", _symlink_file_out, "a symlink to a file outside the seeds folder"),
    ("symlink to a folder outside", _symlink_dir_out, "a symlink to a folder outside the seeds folder"),
    ("broken symlink", _broken_symlink, "a broken symlink"),
    ("fifo", _fifo, "not a regular file"),
    ("non-UTF-8 name", _bad_name, "the file name is not valid UTF-8: rename the file"),
    ("broken pdf", _broken_pdf, "the PDF could not be read"),
    ("html without text", _textless_html, "no text could be extracted"),
]


@pytest.mark.parametrize("make, reason", [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_a_bad_seed_file_is_skipped_with_a_warning_and_the_rest_is_indexed(rag, tmp_path, caplog, make, reason):
    outside = tmp_path / "outside"
    outside.mkdir()
    name = make(rag.seeds, outside)
    with caplog.at_level(logging.WARNING):
        out = rag("index")
    assert out.exit_code == 0, out.output
    assert f"skipped {name}: {reason}" in out.stdout
    assert f"skipped {name}: {reason}" in caplog.text  # the warning names the file
    assert "index rebuilt everything: 6 documents" in out.stdout
    rag.answers()
    assert "0000" not in rag("search", "secret launch code").stdout  # nothing from outside seeds/


def test_a_smaller_limit_skips_files_over_it(rag):
    (rag.seeds / "long.md").write_text("# Long report\n\n" + "The harbour report is long. " * 5000, encoding="utf-8")
    out = rag("index", env={"RAG_MAX_FILE_MB": "0.1"})
    assert out.exit_code == 0
    assert "skipped long.md: the file has 0.134 MB, more than the limit of 0.1 MB (RAG_MAX_FILE_MB)" in out.stdout
    assert "skipped 000_2dc09e9634033631.txt" not in out.stdout and "6 documents" in out.stdout  # 61 KB
    again = rag("index")  # the default limit (20 MB): now it is indexed
    assert "added: Long report" in again.stdout


def test_a_symlink_inside_the_seeds_folder_is_read(rag):
    (rag.seeds / "sub").mkdir()
    (rag.seeds / "sub" / "note.md").write_text("# Harbour note\n\nThe harbour holds 12 ships.", encoding="utf-8")
    (rag.seeds / "alias.md").symlink_to(rag.seeds / "sub" / "note.md")
    out = rag("index")
    assert out.exit_code == 0 and "skipped" not in out.stdout and "8 documents" in out.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_skipped(rag):
    p = rag.seeds / "locked.txt"
    p.write_text("Locked away.", encoding="utf-8")
    p.chmod(0)
    out = rag("index")
    assert out.exit_code == 0 and "skipped locked.txt: it cannot be read (Permission denied)" in out.stdout


@pytest.mark.slow
def test_rag_index_in_a_subprocess_skips_a_non_utf8_name_and_finishes(seeds, tmp_path):
    """The installed command (argv and file names decoded by the OS, not by a test runner)."""
    _bad_name(seeds, tmp_path)
    opts = ["--backend", "fake", "--seeds", str(seeds), "--index", str(tmp_path / "index")]
    out = rag_process(*opts, "index")
    assert out.returncode == 0, out.stderr
    assert "WARNING rag.seed_files: skipped 'caf\\udce9.txt': the file name is not valid UTF-8" in out.stderr
    assert "6 documents" in out.stdout and "Traceback" not in out.stderr
    status = rag_process(*opts, "status")
    assert status.returncode == 0 and status.stdout.startswith("6 documents")
