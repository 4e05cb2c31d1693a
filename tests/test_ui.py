"""The chat page: its rendering helpers (fast) and its named API endpoint over a real server (slow)."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.errors import RagError  # noqa: E402
from rag.types import Answer, Chunk, Citation, Hit  # noqa: E402
from ui.render import render_answer, render_passage, render_status  # noqa: E402

try:
    from tests.ui_helpers import TITLE, free_port, running_app
except ImportError:
    from ui_helpers import TITLE, free_port, running_app

PASSAGE = ("It is estimated Europe has around 2,900 battle-ready modern tanks. In contrast, Russia produced "
           "around 1,500 tanks in 2024, along with 5,700 armored vehicles.\n\nAir defense is <hard>.")
QUOTE = "In contrast, Russia produced around 1,500 tanks in 2024, along with 5,700 armored vehicles."


def _answer(**kw) -> Answer:
    chunk = Chunk(id="c", doc_id="d", text=PASSAGE, start=1000, end=1000 + len(PASSAGE), title=TITLE,
                  source="a.txt", authors=("Matthew Blackburn", "Patricia Marins"),
                  outlet="The National Interest", date="3/19/25")
    qs = PASSAGE.index(QUOTE)
    cit = Citation(1, chunk, QUOTE, 1000 + qs, 1000 + qs + len(QUOTE))
    fields = dict(text="Russia produced around 1,500 tanks in 2024 [1]. Cats run the Kremlin.",
                  citations=[cit], hits=[Hit(chunk, 0.9, 1)], answerer="extractive",
                  unsupported=["Cats run the Kremlin."])
    fields.update(kw)
    return Answer(**fields)


def test_render_answer_shows_sources_quote_and_flags():
    out = render_answer(_answer(notice="The LLM endpoint is down; extractive answer instead."))
    assert TITLE in out and "Matthew Blackburn and Patricia Marins, The National Interest, 3/19/25" in out
    assert f"<mark>{QUOTE}</mark>" in out  # the supporting sentence, highlighted
    assert 'class="unsupported"' in out and "Cats run the Kremlin." in out
    assert "1 sentence not supported" in out
    assert "The LLM endpoint is down" in out
    assert "\n\n" not in out  # one HTML block: a blank line would end it in the markdown renderer
    assert "&lt;hard&gt;" in out and "<hard>" not in out  # passage text is escaped


def test_render_answer_escapes_answer_text():
    out = render_answer(_answer(text="<script>alert(1)</script> [1]", unsupported=[]))
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "not supported" not in out


def test_render_passage_marks_quote_even_when_offsets_are_off():
    ans = _answer()
    c = ans.citations[0]
    moved = Citation(1, c.chunk, QUOTE, 0, 5)  # wrong offsets: fall back to finding the quote
    assert render_passage(moved).count("<mark>") == 1
    assert f"<mark>{QUOTE}</mark>" in render_passage(moved)


def test_unanswered_shows_closest_passages():
    out = render_answer(_answer(text="The articles do not say.", citations=[], answered=False, unsupported=[]))
    assert "not-answered" in out and "Closest passages (1)" in out


def test_answer_json_shape_is_rich_and_json_friendly():
    """The one shape of an answer: the page's /ask API and `rag ask --json` both return it."""
    import json

    ans = _answer()
    data = json.loads(json.dumps(ans.to_dict()))
    assert set(data) == {"text", "answered", "answerer", "notice", "unsupported", "citations", "hits"}
    assert data["unsupported"] == ["Cats run the Kremlin."] and data["answerer"] == "extractive"
    c = data["citations"][0]
    assert (c["n"], c["title"], c["outlet"], c["date"], c["source"]) == (
        1, TITLE, "The National Interest", "3/19/25", "a.txt")
    assert c["authors"] == ["Matthew Blackburn", "Patricia Marins"]
    assert c["passage"] == PASSAGE and (c["start"], c["end"]) == (1000, 1000 + len(PASSAGE))
    assert c["quote"] == QUOTE and c["passage"][c["quote_start"] - c["start"]:c["quote_end"] - c["start"]] == QUOTE
    h = data["hits"][0]
    assert (h["rank"], h["score"], h["title"], h["passage"]) == (1, 0.9, TITLE, PASSAGE)


def test_render_status():
    out = render_status({"documents": 6, "passages": 87, "model": "m", "built_at": "2026-01-01T00:00:00",
                         "titles": ["A <b>"], "skipped": [("x.txt", "the file is empty")]})
    assert "87" in out and "A &lt;b&gt;" in out and "x.txt: the file is empty" in out


def test_parse_auth():
    from ui.server import parse_auth

    assert parse_auth("ann:s3cret:x") == ("ann", "s3cret:x")
    assert parse_auth("") is None
    with pytest.raises(RagError):
        parse_auth("no-colon")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("ui_api")) as (url, seeds):
        yield url, seeds


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[0], analytics_enabled=False, verbose=False)


@pytest.mark.slow
def test_api_endpoint_returns_cited_answer(client):
    res = client.predict("How many tanks did Russia produce in 2024?", api_name="/ask")
    assert res["answered"] is True
    assert "1,500" in res["text"] and "[1]" in res["text"]
    src = {c["n"]: c for c in res["citations"]}[1]
    assert src["title"] == TITLE
    assert "Matthew Blackburn" in src["authors"] and src["outlet"] == "The National Interest"
    assert "1,500 tanks" in src["quote"] and src["quote"] in src["passage"]
    assert src["passage"][src["quote_start"] - src["start"]:src["quote_end"] - src["start"]] == src["quote"]
    assert res["hits"] and res["hits"][0]["rank"] == 1


@pytest.mark.slow
def test_api_endpoint_and_cli_json_return_the_same_answer(server, client):
    import json
    import subprocess
    import sys

    url, seeds = server
    question = "Where is Michael Vlahos a senior fellow?"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}  # the server's defaults
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "--seeds", str(seeds), "--index",
                           str(seeds.parent / "index"), "--no-progress", "ask", "--json", question],
                          capture_output=True, text=True, env={**env, "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cli, api = json.loads(proc.stdout), client.predict(question, api_name="/ask")
    assert api["answered"] and "Institute for Peace & Diplomacy" in api["text"]
    cli_scores, api_scores = ([h.pop("score") for h in d["hits"]] for d in (cli, api))
    assert cli_scores == pytest.approx(api_scores, abs=1e-4)  # two processes: the last digits may differ
    assert cli == api


@pytest.mark.slow
def test_api_endpoint_takes_options_and_history(client):
    history = [{"role": "user", "content": "How many tanks did Russia produce in 2024?"},
               {"role": "assistant", "content": "Around 1,500 tanks [1]."}]
    res = client.predict("How many artillery shells does Russia produce a year?", 3, "bm25", "extractive",
                         history, api_name="/ask")
    assert res["answerer"] == "extractive" and res["citations"]


@pytest.mark.slow
def test_api_endpoint_reports_bad_question(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        client.predict("   ", api_name="/ask")
    with pytest.raises(AppError, match="too long"):
        client.predict("why " * 1000, api_name="/ask")
    # and the server keeps serving
    assert client.predict("How many tanks did Russia produce in 2024?", api_name="/ask")["citations"]


@pytest.mark.slow
def test_serve_takes_port_and_login_from_settings(server):
    from gradio_client import Client

    from rag import Settings
    from ui.server import serve

    seeds = server[1]
    port = free_port()
    env = {"RAG_PORT": str(port), "RAG_AUTH": "reader:open sesame"}
    settings = Settings.from_env(env, seeds_dir=seeds, index_dir=seeds.parent / "index")  # the index is built
    app = serve(settings, block=False)
    try:
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(Exception, match="credentials|login|401"):
            Client(url, analytics_enabled=False, verbose=False)
        c = Client(url, auth=("reader", "open sesame"), analytics_enabled=False, verbose=False)
        res = c.predict("How many tanks did Russia produce in 2024?", api_name="/ask")
        assert res["citations"][0]["title"] == TITLE
    finally:
        app.close()
