"""The chat page: its rendering (fast, no Gradio), its packaging as ``rag.ui``, and its named
API endpoint over a real server (slow)."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.errors import RagError  # noqa: E402
from rag.types import Answer, Chunk, Citation, Document, Hit  # noqa: E402
from rag.ui.panels import (render_file, render_message, render_progress, render_status,  # noqa: E402
                           report_text)
from rag.ui.render import (render_answer, render_article, render_passage, render_searching,  # noqa: E402
                           render_stopped, render_streaming)

try:
    from tests.ui_helpers import TITLE, free_port, running_app
except ImportError:
    from ui_helpers import TITLE, free_port, running_app

ROOT = Path(__file__).resolve().parent.parent
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
    assert TITLE in out and "Matthew Blackburn and Patricia Marins, The National Interest" in out
    assert "a.txt · characters 1,000–1,1" in out and "19 Mar 2025" in out  # file, position, parsed date
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


def test_citation_marks_link_to_their_cards_with_title_and_quote_on_hover():
    out = render_answer(_answer(text="Tanks [1]. Both [1, 2]. Unknown [7].", unsupported=[]), key="k1")
    link = ('<a class="cite" href="#src-k1-1" data-src="src-k1-1" title="' + TITLE.replace("’", "’")
            + " — “" + QUOTE + '”">1</a>')
    assert out.count(link) == 2  # each [1], also inside [1, 2]
    assert '<details class="rag-source" id="src-k1-1">' in out  # the card the link leads to
    assert "[2]" not in out.split('href="#src-k1-1"')[0]  # no card 2, no link 2
    assert 'href="#src-k1-2"' not in out and 'href="#src-k1-7"' not in out
    assert "[7]</sup>" in out  # an unknown marker stays plain text
    other = render_answer(_answer(unsupported=[]), key="k2")
    assert 'id="src-k2-1"' in other and 'id="src-k1-1"' not in other  # two answers, two ids


def test_link_title_is_escaped():
    ans = _answer(unsupported=[])
    c = ans.citations[0]
    ans.citations[0] = Citation(1, c.chunk, 'He said "<go>"', None, None)
    out = render_answer(ans, key="x")
    assert 'title="' + TITLE + ' — “He said &quot;&lt;go&gt;&quot;”"' in out


def _doc(prefix: str = "Headline\n\n") -> Document:
    return Document(id="d", title=TITLE, text=prefix + PASSAGE + "\n\nThe end.", source="a.txt",
                    start=1000 - len(prefix), end=1000 + len(PASSAGE) + 10)


def test_article_view_highlights_passage_and_sentence():
    ans = _answer(unsupported=[])
    out = render_article(_doc(), ans.citations[0])
    assert out.startswith('<div class="article-text">Headline<br><br><span class="in-passage">It is estimated')
    assert f"<mark>{QUOTE}</mark>" in out and out.count("<mark>") == 1
    assert "&lt;hard&gt;.</span><br><br>The end.</div>" in out  # the passage ends where it ends
    full = render_answer(ans, key="k", articles={"d": _doc()})
    assert '<details class="rag-article"><summary>Whole article</summary>' in full
    assert "<hard>" not in full and "\n\n" not in full


def test_article_view_says_when_the_file_changed():
    from dataclasses import replace

    edited = replace(_doc(), text="A new first line\n\n" + _doc().text)  # same offsets, other text
    out = render_article(edited, _answer().citations[0])
    assert "changed since it was indexed" in out and "<mark>" not in out


def test_card_shows_the_parsed_date_in_one_format():
    from dataclasses import replace

    from rag.ui.render import format_date

    chunk = _answer().citations[0].chunk
    assert chunk.date == "3/19/25" and format_date(chunk.published, chunk.date) == "19 Mar 2025"
    later = replace(chunk, date="2025-03-19", published=None)
    assert format_date(later.published, later.date) == "19 Mar 2025"
    assert format_date(None, "spring 2025") == "spring 2025"  # not parsed: as written
    assert format_date(None, None) == ""


def test_searching_streaming_and_stopped_states():
    assert "Searching the articles" in render_searching()
    assert "Searched for: “How many armored vehicles did Russia produce?”" in render_searching(
        "How many armored vehicles did Russia produce?")
    assert "Searched for" not in render_streaming("x")
    out = render_stopped("Russia produced [1")
    assert "Stopped" in out and "Russia produced" in out and "▌" not in out


def test_answer_shows_the_rewritten_follow_up_and_the_filters():
    out = render_answer(_answer(unsupported=[]), searched_for="How many armored vehicles did Russia produce?")
    assert out.index("Searched for") < out.index("Russia produced around")
    from rag.types import Filters
    from rag.ui.render import describe_filters

    only = describe_filters(Filters(outlet="Substack", since="2025-04-01"))
    assert only == "outlet Substack, since 2025-04-01" and describe_filters(Filters()) == ""
    out = render_answer(_answer(unsupported=[]), only=only)
    assert '<div class="searched">Only outlet Substack, since 2025-04-01</div>' in out


def test_documents_panel_lists_articles_with_byline_date_and_passages():
    out = render_file("digest.txt", [
        {"id": "digest.txt#1", "title": "A <b>", "authors": ["Ann", "Bo"], "outlet": "Substack",
         "date": "4/4/25", "published": "2025-04-04", "passages": 5},
        {"id": "digest.txt#2", "title": "B", "authors": [], "outlet": None, "date": None, "passages": 1}])
    assert "digest.txt" in out and "(2 articles)" in out
    assert "A &lt;b&gt;" in out and "Ann and Bo, Substack" in out and "4 Apr 2025" in out and "5 passages" in out


def test_upload_progress_names_file_stage_and_time_left():
    out = render_progress("big.txt", 1, 3, "embedding passages", 12, 40, 7.4)
    assert out == ('<div class="rag-msg rag-progress">big.txt (file 2/3): embedding passages 12/40 · about 7 s left…</div>')
    assert render_progress("a.txt", 0, 1) == '<div class="rag-msg rag-progress">a.txt: indexing…</div>'


def test_filters_from_the_panel():
    from rag.ui.chat import ANY, make_filters

    f = make_filters("Substack", ANY, "", " 2025-04-01 ", None)
    assert (f.outlet, f.author, f.article, f.since, f.until) == ("Substack", None, None, "2025-04-01", None)
    assert not make_filters(ANY, ANY, ANY, "", "")


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


def test_render_message_and_streaming_escape_text():
    assert render_message("file <x> is empty", sentence=True) == '<div class="rag-msg rag-error">⚠ File &lt;x&gt; is empty</div>'
    assert render_message("done", ok=True).startswith('<div class="rag-msg rag-ok">✓ ')
    out = render_streaming("Tanks <b>1,500</b> [1]")
    assert "&lt;b&gt;" in out and '<sup class="cite">[1]</sup>' in out and out.endswith(" ▌</p></div>")


def test_report_text_names_the_added_titles():
    class Report:
        added, changed, documents, passages, seconds = ["Puffins"], [], 7, 90, 1.25

    assert report_text("p.txt", Report()) == ("p.txt: added “Puffins”. The index now holds 7 articles, "
                                              "90 passages (1.2 s).")
    Report.added = []
    assert "already indexed (unchanged)" in report_text("p.txt", Report())


def test_render_imports_no_gradio():
    code = "import sys, rag.ui.render; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
    code = "import sys, rag.ui.panels; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_pyproject_installs_ui_as_rag_ui_with_every_package():
    """ui/ installs as rag.ui (no bare `ui` on users' path); every package under rag/ is listed."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "rag").rglob("__init__.py")}
    assert set(tool["packages"]) == on_disk | {"rag.ui"}
    assert "ui" not in tool["packages"] and tool["package-dir"] == {"rag.ui": "ui"}
    data = {p.name for p in (ROOT / "ui").iterdir() if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert data and data <= set(tool["package-data"]["rag.ui"])


@pytest.mark.slow
def test_wheel_holds_rag_ui_and_no_bare_ui(tmp_path):
    from importlib.metadata import version

    # this environment's setuptools if it can build wheels itself (>= 70.1), else pip fetches one
    own = tuple(int(x) for x in version("setuptools").split(".")[:2]) >= (70, 1)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(tmp_path)]
                           + ["--no-build-isolation"] * own, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"rag"}  # no bare ui/
    assert {"rag/ui/__init__.py", "rag/ui/render.py", "rag/ui/app.py", "rag/ui/server.py",
            "rag/ui/style.css"} <= set(names)
    # installed from the wheel, the page's modules import under rag.ui and find their stylesheet
    target = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stderr[-2000:]
    code = ("import rag.ui.server as s; print(s.__file__); print(len(s.launch_kwargs()['css']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(target)})
    assert out.returncode == 0, out.stderr[-2000:]
    where, css = out.stdout.split()
    assert where == str(target / "rag" / "ui" / "server.py") and int(css) > 1000


def test_parse_auth():
    from rag.ui.server import parse_auth

    assert parse_auth("ann:s3cret:x") == ("ann", "s3cret:x")
    assert parse_auth("") is None
    with pytest.raises(RagError):
        parse_auth("no-colon")


def test_is_loopback():
    from rag.ui.server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


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
def test_api_endpoint_filters_before_ranking(client):
    res = client.predict("What did the authors say about Russia?", k=4, outlet="Substack", api_name="/ask")
    assert len(res["hits"]) == 4 and {h["outlet"] for h in res["hits"]} == {"Substack"}
    since = client.predict("What did the authors say about Russia?", since="2025-04-01", api_name="/ask")
    assert since["hits"] and all(h["date"] and h["published"] >= "2025-04-01" for h in since["hits"])


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
    from rag.ui.server import serve

    seeds = server[1]
    port = free_port()
    env = {"RAG_PORT": str(port), "RAG_AUTH": "reader:open sesame", "RAG_PAGE_SESSIONS": "2"}
    settings = Settings.from_env(env, seeds_dir=seeds, index_dir=seeds.parent / "index")  # the index is built
    app = serve(settings, block=False)
    try:
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(Exception, match="credentials|login|401"):
            Client(url, analytics_enabled=False, verbose=False)
        c = Client(url, auth=("reader", "open sesame"), analytics_enabled=False, verbose=False)
        res = c.predict("How many tanks did Russia produce in 2024?", api_name="/ask")
        assert res["citations"][0]["title"] == TITLE
        for _ in range(4):  # each a session of its own: the server keeps RAG_PAGE_SESSIONS of them
            Client(url, auth=("reader", "open sesame"), analytics_enabled=False, verbose=False).predict(
                "Who is Witkoff?", api_name="/ask")
        assert len(app.state_holder.session_data) <= 2
    finally:
        app.close()


def test_removal_is_confirmed_in_the_browser_with_the_file_name_quoted_safely():
    from rag.ui.documents import confirm_js

    js = confirm_js('it\'s "mine".txt', 2)
    assert js == ('() => confirm("Remove it\'s \\"mine\\".txt (2 articles) from the seeds folder and the index?") '
                  '? "it\'s \\"mine\\".txt" : \'\'')


def test_the_page_keeps_the_api_name_ask(fake_assistant):
    """The page's own events must not take the name of the /ask endpoint (gradio_client calls it)."""
    from rag.ui.app import build_app

    app = build_app(fake_assistant)
    names = {fn.api_name for fn in app.fns.values()}
    assert "ask" in names and not any(n and n.startswith("ask_") for n in names)
