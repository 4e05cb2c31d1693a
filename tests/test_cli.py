"""The rag command, run as a user runs it (a subprocess), on the real bundled model."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def rag(*args, cwd=None, env=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    from conftest import SEED

    base = tmp_path_factory.mktemp("cli")
    (base / "seeds").mkdir()
    (base / "seeds" / SEED.name).write_bytes(SEED.read_bytes())
    return ["--seeds", str(base / "seeds"), "--index", str(base / "index")], base


def test_index_then_ask_answers_with_sources(dirs):
    opts, base = dirs
    first = rag(*opts, "index")
    assert first.returncode == 0, first.stderr
    assert "added: Sheila Fitzpatrick: Not Corrupt Enough" in first.stdout and "6 documents" in first.stdout
    again = rag(*opts, "index")
    assert "index up to date" in again.stdout and "0 embedded" in again.stdout

    out = rag(*opts, "ask", "How many tanks did Russia produce in 2024?")
    assert out.returncode == 0, out.stderr
    answer, sources = out.stdout.split("\nSources:\n")
    assert "1,500 tanks" in answer and "[1]" in answer
    assert "[1] Europe’s Fighting Talk is no Substitute for Hard Power — Matthew Blackburn and Patricia Marins, " \
           "The National Interest, 3/19/25" in sources
    assert "000_2dc09e9634033631.txt, characters" in sources


def test_ask_json_and_search(dirs):
    opts, _ = dirs
    out = rag(*opts, "ask", "--json", "Where is Michael Vlahos a senior fellow?")
    data = json.loads(out.stdout)
    assert data["answered"] and "Institute for Peace & Diplomacy" in data["text"]
    assert data["citations"][0]["chunk"]["title"] == "Michael Vlahos: America’s New Lost Cause"
    found = rag(*opts, "search", "--json", "-k", "2", "Bruegel report deterrence")
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(rows) == 2 and "Bruegel" in rows[0]["text"] and rows[0]["rank"] == 1


def test_unanswerable_question_says_so_and_lists_closest_passages(dirs):
    opts, _ = dirs
    out = rag(*opts, "ask", "What price did Dmitriev quote for Russian gas exports to China?")
    assert out.returncode == 0
    assert "The articles do not say" in out.stdout and "Closest passages:" in out.stdout


@pytest.mark.parametrize("question, message", [("", "the question is empty"), ("   ", "the question is empty"),
                                               ("x" * 100_000, "the question is too long")])
def test_bad_questions_get_one_line_errors_not_tracebacks(dirs, question, message):
    opts, _ = dirs
    out = rag(*opts, "ask", question)
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr


def test_unknown_answerer_and_missing_index_are_clear(dirs, tmp_path):
    opts, _ = dirs
    out = rag(*opts, "ask", "--answerer", "oracle", "Who?")
    assert out.returncode == 1 and "unknown answerer 'oracle'; valid: extractive" in out.stderr
    out = rag("--index", str(tmp_path / "none"), "status")
    assert out.returncode == 1 and "no index" in out.stderr and "rag index" in out.stderr


def test_eval_reports_retrieval_and_answer_quality(dirs, tmp_path):
    opts, _ = dirs
    dev = Path(__file__).parent / "dev.jsonl"
    out = rag(*opts, "eval", str(dev), "--json", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    assert "retrieval hit@5" in out.stdout and "refusal accuracy" in out.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    rows = [json.loads(line) for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert report["questions"] == len(rows) and report["answerable"] == sum(r["answerable"] for r in rows)
