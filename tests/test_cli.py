"""The rag command in-process (click's CliRunner) on the "fake" embedder backend: what it prints, and
every error path as one line and a non-zero exit code. Two subprocess tests run the real entry point."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner, Result

from helpers import DEV, ROOT
from rag.cli import main

TANKS = "How many tanks did Russia produce in 2024?"
TANKS_TITLE = "Europe’s Fighting Talk is no Substitute for Hard Power"


@pytest.fixture
def rag(fake_backend, seeds, tmp_path):
    """``rag --backend fake --seeds SEEDS --index INDEX ARGS...`` in-process; ``opts=False`` drops the three."""
    opts = ["--backend", fake_backend.name, "--seeds", str(seeds), "--index", str(tmp_path / "index")]
    runner = CliRunner()

    def run(*args: str, env: dict | None = None, opts_first: bool = True, input: str | None = None) -> Result:
        return runner.invoke(main, [*(opts if opts_first else []), *args], env=env, input=input)
    return run


@pytest.fixture
def questions(tmp_path):
    """Three dev questions (two answerable, one not) in the dev.jsonl format: a quick eval."""
    lines = DEV.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "three.jsonl"
    path.write_text("\n".join([lines[0], lines[1], lines[16]]) + "\n", encoding="utf-8")
    return path


def assert_error(result: Result, message: str) -> None:
    """Exit 1, nothing on stdout, and exactly one ``error: ...`` line on stderr holding ``message``."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not an exception escaping the command
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def assert_usage_error(result: Result, message: str) -> None:
    """click's usage error: exit 2, the usage line, a hint, and one ``Error: ...`` line last."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and result.stdout == ""
    assert "Traceback" not in result.stderr and result.stderr.startswith("Usage: ")
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and message in last, result.stderr


# -- what a user sees when things work ---------------------------------------------------------
def test_index_embeds_only_what_changed(rag, fake_backend, seeds):
    first = rag("index")
    assert first.exit_code == 0, first.output
    assert "added: Sheila Fitzpatrick: Not Corrupt Enough" in first.stdout and "6 documents" in first.stdout
    embedded = len(fake_backend.encoded)
    again = rag("index")
    assert "index up to date" in again.stdout and "0 embedded" in again.stdout
    assert len(fake_backend.encoded) == embedded
    (seeds / "penguins.md").write_text("# Penguin census\n\nThe census counted 4,321 penguins.\n", encoding="utf-8")
    third = rag("index")
    assert "added: Penguin census" in third.stdout and "6 documents unchanged" in third.stdout
    assert all("penguin" in t.lower() for t in fake_backend.encoded[embedded:])


def test_ask_answers_then_lists_numbered_sources(rag):
    out = rag("ask", TANKS)
    assert out.exit_code == 0, out.output
    answer, sources = out.stdout.split("\nSources:\n")
    assert "1,500 tanks" in answer and "[1]" in answer
    assert f"[1] {TANKS_TITLE} — Matthew Blackburn and Patricia Marins, The National Interest, 3/19/25" in sources
    assert "000_2dc09e9634033631.txt, characters" in sources


def test_ask_json_is_one_json_answer(rag):
    out = rag("ask", "--json", TANKS)
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["answered"] is True and "1,500 tanks" in data["text"]
    assert data["citations"][0]["title"] == TANKS_TITLE


def test_unanswerable_question_says_so_and_lists_closest_passages(rag):
    out = rag("ask", "What price did Dmitriev quote for Russian gas exports to China?")
    assert out.exit_code == 0, out.output
    assert "The articles do not say" in out.stdout and "Closest passages:" in out.stdout


def test_search_json_lines_are_ranked_hits(rag):
    out = rag("search", "--json", "-k", "2", "Bruegel report deterrence")
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2] and "Bruegel" in rows[0]["passage"]
    assert rows[0]["score"] >= rows[1]["score"]


def test_status_after_index_lists_the_articles(rag):
    rag("index")
    out = rag("status")
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("6 documents, ") and "model fake:hashed-words" in out.stdout
    assert "  - Sheila Fitzpatrick: Not Corrupt Enough" in out.stdout


def test_eval_prints_the_scores_and_writes_the_json_report(rag, tmp_path, questions):
    out = rag("eval", str(questions), "--show", "--json", str(tmp_path / "r.json"))
    assert out.exit_code == 0, out.output
    assert "3 questions (2 answerable), k=5" in out.stdout and "retrieval hit@5" in out.stdout
    assert "refusal accuracy: 1.000" in out.stdout  # the unanswerable one is refused
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["questions"] == 3 and report["answerable"] == 2 and len(report["rows"]) == 3
    assert [r["id"] for r in report["rows"]] == ["dev-001", "dev-002", "dev-017"]


# -- every error: one line, non-zero exit, nothing else ----------------------------------------
@pytest.mark.parametrize("command", ["ask", "search"])
@pytest.mark.parametrize("question, message", [
    ("", "the question is empty"), ("  \n\t ", "the question is empty"),
    ("x" * 100_000, "the question is too long (100,000 characters; the limit is 2,000)"),
])
def test_bad_questions(rag, command, question, message):
    assert_error(rag(command, question), message)


def test_status_without_an_index_says_how_to_build_one(rag):
    out = rag("status")
    assert_error(out, "no index in ")
    assert "rag index" in out.stderr


def test_index_built_with_another_model_is_refused_by_status(rag):
    assert rag("index").exit_code == 0
    assert_error(rag("--model", "other", "status"), "the index was built with embedder")


@pytest.mark.parametrize("args, message", [
    (["--reranker", "nope", "ask", "Who?"], "unknown reranker 'nope'; valid: cross-encoder, none"),
    (["ask", "--answerer", "oracle", "Who?"], "unknown answerer 'oracle'; valid: extractive"),
    (["eval", "--answerer", "oracle", str(DEV)], "unknown answerer 'oracle'; valid: extractive"),
])
def test_unknown_names_list_the_valid_ones(rag, args, message):
    assert_error(rag(*args), message)


def test_unknown_backend_lists_the_registered_ones(rag, fake_backend):
    out = rag("--backend", "nope", "--index", "ix", "status", opts_first=False)
    assert_error(out, "unknown embedder backend 'nope'; valid: fake, ")
    assert "sentence-transformers" in out.stderr


@pytest.mark.parametrize("env, message", [
    ({"RAG_MODE": "nope"}, "unknown retrieval mode 'nope'; valid: dense, bm25, hybrid"),
    ({"RAG_K": "abc"}, "RAG_K must be a number, got 'abc'"),
    ({"RAG_CHUNK_TOKENS": "3"}, "chunk_tokens must be at least 16"),
    ({"RAG_QUERY_RUNTIME": "gpu"}, "unknown query_runtime 'gpu'"),
])
def test_bad_settings_from_the_environment(rag, env, message):
    assert_error(rag("status", env=env), message)


@pytest.mark.parametrize("args, message", [
    (["ask", "--mode", "nope", "Who?"], "'nope' is not one of 'dense', 'bm25', 'hybrid'"),
    (["search", "--mode", "nope", "Who?"], "'nope' is not one of 'dense', 'bm25', 'hybrid'"),
    (["ask", "-k", "0", "Who?"], "0 is not in the range 1<=x<=50"),
    (["ask", "-k", "x", "Who?"], "'x' is not a valid integer"),
    (["search", "-k", "101", "Who?"], "101 is not in the range 1<=x<=100"),
    (["eval", "-k", "0", str(DEV)], "0 is not in the range 1<=x<=50"),
    (["ask"], "Missing argument 'QUESTION'"),
    (["frobnicate"], "No such command 'frobnicate'"),
])
def test_bad_options_get_clicks_usage_error(rag, args, message):
    assert_usage_error(rag(*args), message)


def test_seeds_that_is_a_file_is_a_usage_error(rag, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    out = rag("--seeds", str(tmp_path / "notes.txt"), "index", opts_first=False)
    assert_usage_error(out, "is a file")


def test_eval_with_a_missing_file(rag, tmp_path):
    assert_usage_error(rag("eval", str(tmp_path / "missing.jsonl")), "does not exist")


@pytest.mark.parametrize("content, message", [
    ('{"question": "Who?"}\nnot json\n', "bad.jsonl:2: not a JSON object"),
    ('["Who?"]\n', 'bad.jsonl:1: expected a JSON object with a "question" string'),
    ('{"q": "Who?"}\n', 'bad.jsonl:1: expected a JSON object with a "question" string'),
    ('{"question": "Who?", "answers": "Zubok"}\n', 'bad.jsonl:1: "answers" must be a list of strings'),
    ("\n  \n", "bad.jsonl: no questions"),
    (b"\xff\xfe\x00{", "bad.jsonl: not UTF-8 text"),
])
def test_eval_with_a_malformed_file(rag, tmp_path, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_error(rag("eval", str(bad)), message)


def test_eval_report_to_a_missing_folder_is_one_line(rag, tmp_path, questions):
    out = rag("eval", str(questions), "--json", str(tmp_path / "no" / "such" / "r.json"))
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert out.stderr.splitlines() == [f"error: No such file or directory: {tmp_path / 'no' / 'such' / 'r.json'}"]


def test_interrupt_is_one_word_and_exit_130(rag, monkeypatch):
    from rag.assistant import Assistant

    def interrupted(*a, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(Assistant, "rebuild", interrupted)
    out = rag("index")
    assert out.exit_code == 130 and out.stderr == "interrupted\n"


def test_a_mistyped_seeds_folder_does_not_empty_a_good_index(rag, tmp_path):
    assert rag("index").exit_code == 0
    out = rag("--seeds", str(tmp_path / "typo"), "--backend", "fake", "--index", str(tmp_path / "index"), "index",
              opts_first=False)
    assert out.exit_code == 1 and "typo" in out.stderr
    assert rag("status").stdout.startswith("6 documents, ")


# -- the installed entry point, in a subprocess --------------------------------------------------
def rag_process(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_entry_point_prints_one_line_errors(tmp_path):
    """``python -m rag.cli`` (what ``rag`` runs) maps errors as in-process; no model is loaded for this."""
    out = rag_process("--index", str(tmp_path / "none"), "status", timeout=60)
    assert out.returncode == 1 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: no index in {tmp_path / 'none'}") and "rag index" in lines[0]


@pytest.mark.slow
def test_real_model_index_then_ask_in_a_subprocess(tmp_path, seeds):
    opts = ["--seeds", str(seeds), "--index", str(tmp_path / "index")]
    first = rag_process(*opts, "index")
    assert first.returncode == 0, first.stderr
    assert "added: Sheila Fitzpatrick: Not Corrupt Enough" in first.stdout and "6 documents" in first.stdout
    out = rag_process(*opts, "ask", TANKS)
    assert out.returncode == 0, out.stderr
    answer, sources = out.stdout.split("\nSources:\n")
    assert "1,500 tanks" in answer and "[1]" in answer
    assert f"[1] {TANKS_TITLE} — Matthew Blackburn and Patricia Marins, The National Interest, 3/19/25" in sources


# -- rag remove ------------------------------------------------------------------------------------
def test_remove_asks_then_deletes_the_file_and_the_index_forgets_it(rag, seeds):
    (seeds / "penguins.md").write_text("# Penguin census\n\nThe census counted 4,321 penguins.\n", encoding="utf-8")
    assert "added: Penguin census" in rag("index").stdout
    kept = rag("remove", "penguins.md", input="n\n")
    assert kept.exit_code == 1 and "Delete " in kept.stderr and (seeds / "penguins.md").is_file()
    out = rag("remove", "penguins.md", input="y\n")
    assert out.exit_code == 0, out.output
    assert "removed: Penguin census" in out.stdout and "6 documents" in out.stdout
    assert not (seeds / "penguins.md").exists()
    assert "Penguin census" not in rag("status").stdout
    hits = [json.loads(line) for line in rag("search", "--json", "-k", "10", "penguin census").stdout.splitlines()]
    assert all(h["source"] != "penguins.md" for h in hits)


def test_remove_yes_does_not_ask(rag, seeds):
    (seeds / "penguins.md").write_text("# Penguin census\n\nThe census counted 4,321 penguins.\n", encoding="utf-8")
    assert rag("index").exit_code == 0
    out = rag("remove", "--yes", "penguins.md")
    assert out.exit_code == 0 and "removed: Penguin census" in out.stdout and "Delete " not in out.stderr
    assert not (seeds / "penguins.md").exists()


@pytest.mark.parametrize("name", ["nope.txt", "../index/CURRENT"])
def test_remove_of_a_file_not_in_the_seeds_folder_is_one_line_and_deletes_nothing(rag, seeds, name):
    assert rag("index").exit_code == 0
    out = rag("remove", "--yes", name)
    assert_error(out, f"{name} is not a file in {seeds}; files: 000_2dc09e9634033631.txt")
    assert rag("status").stdout.startswith("6 documents, ")


# -- short printed citations -----------------------------------------------------------------------
def test_printed_sources_are_title_byline_quote_and_place_not_whole_passages(rag):
    out = rag("ask", TANKS)
    sources = out.stdout.split("\nSources:\n")[1].splitlines()
    assert sources[0] == f"[1] {TANKS_TITLE} — Matthew Blackburn and Patricia Marins, The National Interest, 3/19/25"
    assert sources[1].strip().startswith("“In contrast, Russia produced around 1,500 tanks in 2024")
    assert sources[-1].strip().startswith("000_2dc09e9634033631.txt, characters ")
    assert "Russia also has the advantage" not in out.stdout  # the rest of the passage is not printed


def test_a_source_without_a_quote_prints_a_shortened_passage():
    from rag.cli import QUOTE_CHARS, render_sources
    from rag.types import Answer, Chunk, Citation

    text = "Ships came. " * 100
    chunk = Chunk(id="c", doc_id="d", text=text, start=10, end=10 + len(text), title="Harbour", source="h.txt",
                  authors=("Ann Lee",), outlet="Port News", date="1/2/24")
    printed = render_sources(Answer("Ships came [1].", [Citation(1, chunk)]))
    assert "[1] Harbour — Ann Lee, Port News, 1/2/24" in printed and "h.txt, characters 10–1210" in printed
    quote = " ".join(line.strip() for line in printed.splitlines()[3:-1])
    assert quote.endswith("…”") and len(quote) <= QUOTE_CHARS + 2


# -- filters -----------------------------------------------------------------------------------------
def test_search_and_ask_filters_by_outlet_author_and_date(rag):
    out = rag("search", "--json", "-k", "5", "--outlet", "Substack", TANKS)
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 5 and {r["outlet"] for r in rows} == {"Substack"}
    out = rag("search", "--json", "-k", "3", "--author", "Michael Vlahos", "--since", "2025-04-01", TANKS)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3 and {r["title"] for r in rows} == {"Michael Vlahos: America’s New Lost Cause"}
    out = rag("ask", "--until", "3/19/25", TANKS)
    assert out.exit_code == 0 and "1,500 tanks" in out.stdout and "The National Interest" in out.stdout


def test_filters_matching_nothing_say_so(rag):
    out = rag("ask", "--outlet", "Nowhere Gazette", TANKS)
    assert out.exit_code == 0 and "The articles do not say" in out.stdout
    assert "No passage matches the filters." in out.stdout


def test_a_bad_filter_date_is_one_line(rag):
    assert_error(rag("ask", "--since", "someday", TANKS), "since 'someday' is not a date: write it as YYYY-MM-DD")
    assert_error(rag("search", "--since", "2025-05-01", "--until", "2025-04-01", TANKS), "is after until")
