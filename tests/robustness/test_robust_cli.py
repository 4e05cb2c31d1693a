"""The ``rag`` command refuses bad input with one line and a non-zero exit, and never loses a good
index: bad questions and options, missing or empty seeds folders, a model path that does not
exist, a port or host ``rag serve`` cannot use, an unexpected defect (in-process, fake backend)."""
from __future__ import annotations

import json
import socket
import sys

import pytest

from robust_helpers import TANKS, rag_process
from llm_servers import free_port
from robust_checks import one_line_error, process_error, usage_error


# -- bad questions -------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["ask", "search"])
@pytest.mark.parametrize("question, message", [
    ("", "the question is empty"),
    ("   \t\n ", "the question is empty"),
    ("\udcff", "invalid character at position 1"),  # what `rag ask $'\xff'` passes (surrogateescape)
    ("prix du caf\udce9 en 2024?", "invalid character at position 12"),
    ("tanks " * 400, "the question is too long (2,399 characters; the limit is 2,000)"),
])
def test_a_bad_question_is_one_line_and_the_index_still_answers(built, command, question, message):
    one_line_error(built(command, question), message)
    built.answers()


@pytest.mark.parametrize("args, message", [
    (["ask", "-k", "0", TANKS], "0 is not in the range 1<=x<=50"),
    (["ask", "-k", "five", TANKS], "'five' is not a valid integer"),
    (["search", "-k", "1000", TANKS], "1000 is not in the range 1<=x<=100"),
    (["ask", "--mode", "fuzzy", TANKS], "'fuzzy' is not one of 'dense', 'bm25', 'hybrid'"),
    (["ask"], "Missing argument 'QUESTION'"),
])
def test_bad_options_are_usage_errors(built, args, message):
    usage_error(built(*args), message)


def test_an_unknown_answerer_lists_the_valid_ones(built):
    one_line_error(built("ask", "-a", "oracle", TANKS), "unknown answerer 'oracle'; valid:", "extractive")


# -- nothing lost: the seeds folder --------------------------------------------------------------
def test_a_mistyped_seeds_folder_is_an_error_for_ask_too_and_the_index_stays(built, tmp_path):
    typo = tmp_path / "sedes"
    one_line_error(built("--backend", "fake", "--seeds", str(typo), "--index", str(built.index), "ask", TANKS,
                         opts=False), f"the seeds folder {typo} does not exist")
    assert built("status").stdout.startswith("7 documents, ")
    built.answers()


def test_a_missing_seeds_folder_builds_no_index(rag, tmp_path):
    rag.seeds = tmp_path / "nowhere"
    one_line_error(rag("index"), "does not exist", "--seeds or RAG_SEEDS_DIR")
    one_line_error(rag("status"), "no index", "rag index")


def test_seeds_from_the_environment_that_is_a_file_is_an_error(built, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("not a folder", encoding="utf-8")
    out = built("--backend", "fake", "--index", str(built.index), "index", opts=False,
                env={"RAG_SEEDS_DIR": str(f)})
    one_line_error(out, f"the seeds folder {f} is not a folder")
    assert built("status").stdout.startswith("7 documents, ")


def test_an_empty_seeds_folder_does_not_empty_the_index_without_allow_empty(built):
    for p in built.seeds.iterdir():
        p.unlink()
    one_line_error(built("index"), "no documents to index", "the index holds 7", "rag index --allow-empty")
    assert built("status").stdout.startswith("7 documents, ")
    one_line_error(built("ask", TANKS), "allow-empty")  # ask updates the index first: refused the same way
    out = built("index", "--allow-empty")
    assert out.exit_code == 0 and "removed: Penguin census" in out.stdout and "0 documents" in out.stdout
    assert built("status").stdout.startswith("0 documents, 0 passages")


def test_seeds_whose_files_are_all_unreadable_do_not_empty_the_index(built):
    for p in built.seeds.iterdir():
        p.write_bytes(b"\x00\x01binary")
    one_line_error(built("index"), "no documents to index", "2 files skipped", "holds 7")
    built.seeds.joinpath("000_2dc09e9634033631.txt").unlink()
    assert built("status").stdout.startswith("7 documents, ")


def test_an_empty_seeds_folder_and_no_index_is_no_loss(rag):
    for p in rag.seeds.iterdir():
        p.unlink()
    out = rag("index")
    assert out.exit_code == 0 and "0 documents" in out.stdout


# -- the embedding model -------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["/nowhere/minilm", "./models/minilm", "~/no-such-model-dir", "a/b/c"])
def test_a_model_path_that_does_not_exist_is_one_line_naming_it(rag, model):
    before = set(sys.modules)
    out = rag("--backend", "sentence-transformers", "--model", model, "--seeds", str(rag.seeds),
              "--index", str(rag.index), "index", opts=False)
    one_line_error(out, f"the embedding model {model} does not exist", "RAG_EMBED_MODEL")
    assert "torch" not in set(sys.modules) - before  # refused before any model is loaded


def test_rag_embed_model_from_the_environment_pointing_nowhere(rag, tmp_path):
    gone = tmp_path / "deleted-model"
    out = rag("--seeds", str(rag.seeds), "--index", str(rag.index), "status", opts=False,
              env={"RAG_EMBED_MODEL": str(gone)})
    one_line_error(out, f"the embedding model {gone} does not exist")


# -- rag serve: where it listens -----------------------------------------------------------------
def test_serve_on_a_busy_port_says_so_before_building_or_starting(rag):
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        out = rag("serve", "--port", str(port))
    one_line_error(out, f"cannot listen on 127.0.0.1:{port} (Address already in use)", "--port")
    assert not rag.index.exists()  # refused before the index was built


@pytest.mark.parametrize("host, message", [
    ("no-such-host.invalid", "unknown host"),
    ("300.1.2.3", "unknown host"),
    ("192.0.2.1", "Cannot assign requested address"),  # a TEST-NET address: not this machine's
])
def test_serve_on_a_bad_host_is_one_line(rag, host, message):
    one_line_error(rag("serve", "--host", host, "--port", str(free_port())), message)
    assert not rag.index.exists()


@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_serve_on_an_impossible_port_is_one_line(rag, port):
    one_line_error(rag("serve", "--port", port), f"port {port} is not a port number")


# -- rag eval files, status, defects -------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "questions.jsonl"),
    (b'["a list", "not an object"]\n', ":1: expected a JSON object"),
])
def test_eval_of_a_malformed_file_is_one_line(built, tmp_path, content, message):
    path = tmp_path / "questions.jsonl"
    path.write_bytes(content)
    one_line_error(built("eval", str(path)), message)


def test_status_of_an_index_folder_with_no_index_names_rag_index(rag):
    rag.index.mkdir()
    one_line_error(rag("status"), f"no index in {rag.index}", "rag index")


def test_an_unexpected_defect_is_still_one_line(built, monkeypatch):
    from rag.assistant import Assistant

    def broken(self):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(Assistant, "status", broken)
    one_line_error(built("status"), "unexpected ZeroDivisionError: division by zero", "-vv")


def test_ask_json_of_an_answer_is_valid_json_after_refusals(built):
    one_line_error(built("ask", "\udcff", "--json"), "invalid character")
    out = built("ask", TANKS, "--json")
    assert out.exit_code == 0 and "1,500" in json.loads(out.stdout)["text"]


# -- the same through a real process (argv decoded by the OS) ------------------------------------
@pytest.mark.slow
def test_invalid_utf8_in_argv_is_one_line_from_the_real_command(seeds, tmp_path):
    opts = ["--backend", "fake", "--seeds", str(seeds), "--index", str(tmp_path / "index")]
    out = rag_process(*opts, "ask", b"how many tanks \xff?")  # `rag ask $'how many tanks \xff?'`
    process_error(out, "invalid character at position 16")
    assert out.stdout == "" and len(out.stderr.splitlines()) == 1


@pytest.mark.slow
def test_serve_on_a_busy_port_from_the_real_command(seeds, tmp_path):
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        out = rag_process("--backend", "fake", "--seeds", str(seeds), "--index", str(tmp_path / "index"),
                          "serve", "--port", str(port), timeout=60)
    process_error(out, "Address already in use")
    assert len(out.stderr.splitlines()) == 1 and not (tmp_path / "index").exists()
