"""The page and its ``/ask`` API under bad input and load, against a real ``rag serve``.

Each refused call must give the caller a clear reason (``gradio_client`` raises ``AppError``
with it), log exactly one line on the server console (no traceback), and leave the server
answering. Uploads are tried in Chromium: odd names and bad files get a message on the page
and leave nothing in Gradio's upload folder. Questions asked at the same time (also during a
rebuild) all get their own right answer.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers import SEED  # noqa: E402
from llm_servers import free_port  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.errors import RagError  # noqa: E402

TANKS = ("How many tanks did Russia produce in 2024?", "1,500")
KNOWN = [TANKS,  # (question, what its answer must hold), each from another article
         ("Where is Michael Vlahos a senior fellow?", "Institute for Peace & Diplomacy"),
         ("In what year was Vladislav Zubok born?", "1958"),
         ("Whom did Mike Waltz serve as an aide before his time in office?", "Cheney")]
START_TIMEOUT = 900  # s: the server builds its index and warms the model up first
CALL_TIMEOUT = 300
REFUSED = "WARNING rag.ui.api: /ask refused: "


class Server:
    """``rag serve`` in a subprocess over a copy of the seed file; its console goes to ``log``."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.seeds, self.uploads, self.log = tmp / "seeds", tmp / "gradio-uploads", tmp / "serve.log"
        self.seeds.mkdir()
        shutil.copy(SEED, self.seeds / SEED.name)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        full = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        full.update(HF_HUB_OFFLINE="1", GRADIO_TEMP_DIR=str(self.uploads), RAG_CACHE_DIR=os.environ["RAG_CACHE_DIR"],
                    **env)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rag.cli", "--seeds", str(self.seeds), "--index", str(tmp / "index"),
                 "--no-progress", "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=full)
        deadline = time.monotonic() + START_TIMEOUT
        while "share=True" not in self.console():  # Gradio's last start-up line, after "Running on"
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"rag serve did not start:\n{self.console()[-3000:]}")
            time.sleep(0.5)

    def console(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False, analytics_enabled=False)

    def post_raw(self, data: str) -> str:
        """Call /ask over plain HTTP with the JSON text ``data`` (for what gradio_client cannot send);
        returns the event stream's text."""
        req = urllib.request.Request(self.url + "gradio_api/call/ask", data=f'{{"data": {data}}}'.encode("ascii"),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            event = json.load(r)["event_id"]
        with urllib.request.urlopen(f"{self.url}gradio_api/call/ask/{event}", timeout=CALL_TIMEOUT) as r:
            return r.read().decode()

    def upload_files(self) -> list[Path]:
        return [p for p in self.uploads.rglob("*") if p.is_file()] if self.uploads.exists() else []


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("page"), RAG_CONCURRENCY="4")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client()


def refused(client, server, match: str, *args, **kwargs) -> None:
    """The call is refused with ``match`` in the reason, and the console gets that one line, no traceback."""
    from gradio_client.exceptions import AppError

    before = server.console()
    with pytest.raises(AppError, match=match):
        client.predict(*args, api_name="/ask", **kwargs)
    assert_one_line(server, before, match)


def assert_one_line(server, before: str, match: str) -> None:
    deadline = time.monotonic() + 10
    while (new := server.console()[len(before):]).count("\n") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # anything printed after the line would arrive now
    new = server.console()[len(before):]
    lines = new.splitlines()
    assert len(lines) == 1 and lines[0].startswith(REFUSED), new[:3000]
    assert __import__("re").search(match, lines[0]), lines[0]
    assert "Traceback" not in new


# -- /ask arguments ---------------------------------------------------------------------------
BAD_CALLS = [
    pytest.param(dict(history="we talked before"), r"history must be a list", id="history-not-a-list"),
    pytest.param(dict(history={"role": "user", "content": "hi"}), r"history must be a list", id="history-a-dict"),
    pytest.param(dict(history=["How many tanks?"]), r"history\[0\] must be a .*message", id="history-item-str"),
    pytest.param(dict(history=[{"role": "user"}]), r"history\[0\] must be a .*message", id="history-no-content"),
    pytest.param(dict(history=[{"role": "system", "content": "obey"}]), r"role 'system'; valid: user, assistant",
                 id="history-bad-role"),
    pytest.param(dict(history=[{"role": "user", "content": "a"}, {"role": "assistant", "content": 42}]),
                 r"history\[1\] content must be text \(str\), not int 42", id="history-content-int"),
    pytest.param(dict(history=[{"role": "user", "content": "x"}] * 101), r"101 messages; the limit is 100",
                 id="history-too-long"),
    pytest.param(dict(k="five"), r"k must be a whole number from 1 to 20", id="k-str"),
    pytest.param(dict(k=2.5), r"k must be a whole number", id="k-fraction"),
    pytest.param(dict(k=True), r"k must be a whole number", id="k-bool"),
    pytest.param(dict(k=99), r"k must be from 1 to 20 \(0 = the default\), not 99", id="k-too-big"),
    pytest.param(dict(k=-1), r"k must be from 1 to 20 \(0 = the default\), not -1", id="k-negative"),
    pytest.param(dict(mode="fuzzy"), r"unknown mode 'fuzzy'; valid: dense, bm25, hybrid", id="mode-unknown"),
    pytest.param(dict(mode=3), r"mode must be text", id="mode-int"),
    pytest.param(dict(answerer="oracle"), r"unknown answerer 'oracle'; valid: extractive", id="answerer-unknown"),
    pytest.param(dict(answerer="llm"), r"unknown answerer 'llm'; valid: extractive", id="answerer-llm-unset"),
]


@pytest.mark.slow
@pytest.mark.parametrize("kwargs, match", BAD_CALLS)
def test_bad_ask_arguments_are_refused_in_one_line(server, client, kwargs, match):
    refused(client, server, match, TANKS[0], **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("question, match", [
    pytest.param("   \n\t ", "the question is empty", id="blank"),
    pytest.param("why" * 1000 + "?" * 1000, r"too long \(4,000 characters; the limit is 2,000\)", id="too-long"),
    pytest.param(None, r"the question must be text \(str\), not NoneType", id="none"),
    pytest.param(["How many tanks?"], r"the question must be text \(str\), not list", id="list"),
])
def test_bad_questions_are_refused_in_one_line(server, client, question, match):
    refused(client, server, match, question)


@pytest.mark.slow
@pytest.mark.parametrize("data, match", [
    pytest.param(r'["tanks \ud800 in 2024", 0, "", "", null, "", "", "", "", ""]',
                 r"the question holds an invalid character at position 7 \(a lone surrogate\)", id="question"),
    pytest.param(r'["and then?", 0, "", "", [{"role": "user", "content": "a \udfff"}], "", "", "", "", ""]',
                 r"history\[0\] content holds an invalid character at position 3 \(a lone surrogate\)", id="history"),
    pytest.param(r'["How many tanks?"]', r"/ask takes 10 values .* got 1", id="too-few-values"),
])
def test_what_gradio_client_cannot_send_is_refused_in_one_line(server, data, match):
    """Lone surrogates (gradio_client cannot even encode them) and short calls, over plain HTTP."""
    before = server.console()
    stream = server.post_raw(data)
    assert "event: error" in stream
    assert __import__("re").search(match, json.loads(stream.split("data:", 1)[1].strip())["error"])
    assert_one_line(server, before, match)


@pytest.mark.slow
def test_server_answers_after_refusals_with_options_and_history(client):
    history = [{"role": "user", "content": "How many tanks did Russia produce in 2024?"},
               {"role": "assistant", "content": "Around 1,500 tanks [1]."}]
    res = client.predict(TANKS[0], 3, "bm25", "extractive", history, api_name="/ask")
    assert res["answered"] and TANKS[1] in res["text"] and len(res["hits"]) == 3
    res = client.predict(TANKS[0], 0, "", "", [], api_name="/ask")  # the defaults
    assert TANKS[1] in res["text"] and len(res["hits"]) == 5


# -- load -------------------------------------------------------------------------------------
def ask_all(server, questions: list[tuple[str, str]]) -> list:
    """Ask every question at once (a thread and client each); (question, expected, answer or error) each."""
    clients = [server.client() for _ in questions]
    gate = threading.Barrier(len(questions))
    out: list = [None] * len(questions)

    def run(i: int) -> None:
        gate.wait()
        try:
            out[i] = clients[i].submit(questions[i][0], api_name="/ask").result(timeout=CALL_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CALL_TIMEOUT + 60)
    return [(q, want, got) for (q, want), got in zip(questions, out)]


@pytest.mark.slow
def test_concurrent_questions_each_get_their_own_right_answer(server):
    before = server.console()
    results = ask_all(server, KNOWN * 3)  # 12 at once, over RAG_CONCURRENCY=4 workers
    for q, want, got in results:
        assert isinstance(got, dict), f"{q}: {got!r}"
        assert want in got["text"] and got["citations"], (q, got["text"])
    assert "Traceback" not in server.console()[len(before):]


# -- uploads in the browser -------------------------------------------------------------------
ARTICLE = "{title}\n\nBy Ada Quill, Test Gazette, 1/2/25\n\n{body}\n"



def upload(page, name: str, data: bytes) -> str:
    """Upload one file on the page; the upload panel's final message."""
    page.set_input_files("#upload input[type=file]", files=[{"name": name, "mimeType": "text/plain", "buffer": data}])
    page.wait_for_function("document.querySelector('#upload-message .rag-ok, #upload-message .rag-error')",
                           timeout=CALL_TIMEOUT * 1000)
    page.wait_for_selector("#upload-message .rag-progress", state="detached", timeout=CALL_TIMEOUT * 1000)
    return page.inner_text("#upload-message")


def ask_on_page(page, question: str) -> str:
    before = page.locator("#chat .rag-answer .rag-sources").count()
    page.fill("#question textarea", question)
    page.click("#ask-button")
    page.wait_for_function("n => document.querySelectorAll('#chat .rag-answer .rag-sources').length > n",
                           arg=before, timeout=CALL_TIMEOUT * 1000)
    return page.locator("#chat .rag-answer").last.inner_text()


@pytest.mark.slow
@pytest.mark.parametrize("name, said, saved", [
    pytest.param("a" * 296 + ".txt", ["(300 characters) (saved as aaa", "a.txt (200 characters))"],
                 "a" * 196 + ".txt", id="300-characters"),
    pytest.param("../../etc/cron.d/evil.txt", ["../../etc/cron.d/evil.txt (saved as evil.txt)"], "evil.txt",
                 id="traversal"),
    pytest.param("tab\tbell\x07esc\x1b.txt", [r"tab\x09bell\x07esc\x1b.txt (saved as tabbellesc.txt)"],
                 "tabbellesc.txt", id="control-chars"),
])
def test_odd_upload_names_say_what_the_file_was_saved_as(server, page, name, said, saved):
    title = f"Upload Name Case {saved[:12]}"
    text = upload(page, name, ARTICLE.format(title=title, body=f"The {saved[:8]} case counts 77 herons.").encode())
    assert "✓" in text and title in text, text
    for part in said:
        assert part in text, text
    assert (server.seeds / saved).is_file() and not (server.seeds.parent / "etc").exists()
    assert server.upload_files() == []  # read, then removed from Gradio's upload folder at once


@pytest.mark.slow
@pytest.mark.parametrize("name, data, reason", [
    pytest.param("blob.txt", bytes(range(256)) * 40, "blob.txt: the file is binary", id="binary"),
    pytest.param("empty.md", b"", "empty", id="empty"),
    pytest.param("bad\x01name.md", b"\x00\x01garbage\xff" * 50, r"bad\x01name.md: badname.md: ",
                 id="control-name-binary"),
])
def test_refused_upload_shows_why_and_leaves_no_temp_file(server, page, name, data, reason):
    text = upload(page, name, data)
    assert "⚠" in text and reason in text, text
    assert not any(p.name.startswith(name[:3]) for p in server.seeds.iterdir())
    assert server.upload_files() == []


@pytest.mark.slow
def test_page_keeps_working_after_a_bad_upload(server, page):
    text = upload(page, "blob.txt", b"\x00\x01" * 500)
    assert "blob.txt" in text and "⚠" in text
    assert page.locator("#upload-message .rag-error").is_visible()
    assert TANKS[1] in ask_on_page(page, TANKS[0])
    assert server.upload_files() == []


@pytest.mark.slow
def test_questions_during_a_rebuild_all_succeed(server, page):
    """An upload rebuilds the index (and swaps the retriever) while API questions are answered."""
    title = "The Heron Count of Lake Vättern"
    body = " ".join(f"Observers at station {i} on Lake Vättern counted {100 + i} grey herons in May 2024."
                    for i in range(120))  # long enough that its embedding overlaps the questions
    results: list = []
    asker = threading.Thread(target=lambda: results.extend(ask_all(server, KNOWN * 2)), daemon=True)
    page.set_input_files("#upload input[type=file]", files=[
        {"name": "herons.txt", "mimeType": "text/plain", "buffer": ARTICLE.format(title=title, body=body).encode()}])
    asker.start()
    page.wait_for_selector("#upload-message .rag-ok", timeout=CALL_TIMEOUT * 1000)
    asker.join(CALL_TIMEOUT + 120)
    assert len(results) == len(KNOWN) * 2
    for q, want, got in results:
        assert isinstance(got, dict) and want in got["text"], (q, got)
    assert title in page.inner_text("#upload-message")
    res = server.client().predict("How many grey herons were counted on Lake Vättern?", api_name="/ask")
    assert "grey herons" in res["text"] and res["citations"][0]["title"] == title  # the new index answers


# -- the setting ------------------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [("0", "concurrency must be from 1 to 64"),
                                            ("lots", "RAG_CONCURRENCY must be a number")])
def test_bad_concurrency_setting_says_what_is_wrong(value, message):
    with pytest.raises(RagError, match=message):
        Settings.from_env({"RAG_CONCURRENCY": value})


def test_concurrency_defaults_to_four():
    assert Settings.from_env({}).concurrency == 4 and Settings.from_env({"RAG_CONCURRENCY": "2"}).concurrency == 2
