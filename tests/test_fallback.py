"""Falling back to the extractive answer, with a notice, when the LLM fails before or during streaming."""
from __future__ import annotations

import logging
import time

import pytest

from llm_servers import SNIPPETS, closed_port_url, llm_settings, seed_hits
from rag.answer import StreamingAnswerer, WholeAnswerer, get_answerer
from rag.answer.fallback import FallbackAnswerer
from rag.config import Settings
from rag.errors import AnswererError
from rag.types import Answer

KEY = "sk-test-SECRET0123456789abcdefXYZ"
GROWTH = "How much did Russia's economy grow last year?"
# the LLM's own failure times are checked in test_llm_client.py; here the whole answer also runs
# the extractive answerer, whose time is a benchmark matter: only "not before the timeout" is checked


def llm(url: str, **kw):
    return get_answerer("llm", settings=llm_settings(url, **kw), embedder=None)


def run(answerer, question=GROWTH, hits=None):
    hits = seed_hits(*SNIPPETS) if hits is None else hits
    t0 = time.monotonic()
    stream = answerer.stream(question, hits)
    deltas = list(stream)
    return deltas, stream.answer, time.monotonic() - t0


def extractive_text(question=GROWTH, hits=None):
    hits = seed_hits(*SNIPPETS) if hits is None else hits
    return get_answerer("extractive", settings=Settings(), embedder=None).answer(question, hits).text


# -- over real loopback HTTP -------------------------------------------------------------------

@pytest.mark.parametrize("behaviour,expect", [("status", "HTTP 500"), ("garbage", "malformed stream")])
def test_http_faults_fall_back_with_notice(fake_llm, behaviour, expect):
    fake_llm.behaviour = behaviour
    deltas, ans, _ = run(llm(fake_llm.url, llm_timeout=10.0))
    ref = extractive_text()
    assert ans.notice.startswith("LLM unavailable: ") and expect in ans.notice
    assert ans.notice.endswith("Showing the extractive answer instead.")
    assert ans.answerer == "extractive" and ans.text == ref
    assert "".join(deltas) == ref  # nothing from the LLM was streamed, the fallback was


def test_refused_connection_falls_back():
    _, ans, _ = run(llm(closed_port_url(), llm_timeout=10.0))
    assert "could not connect" in ans.notice and "RAG_LLM_BASE_URL" in ans.notice
    assert ans.answerer == "extractive"


def test_stalled_server_falls_back_after_llm_timeout(fake_llm):
    fake_llm.behaviour = "stall"
    _, ans, secs = run(llm(fake_llm.url, llm_timeout=1.5))
    assert "did not finish within 1.5 s" in ans.notice and "RAG_LLM_TIMEOUT" in ans.notice
    assert secs >= 1.4  # waited for the timeout (its upper bound: test_llm_client.py)


@pytest.mark.parametrize("behaviour,expect", [
    ("stall_mid", "did not finish within"),
    ("garbage_mid", "malformed stream"),
    ("drop", "ended before the answer was complete"),
])
def test_mid_stream_failure_says_the_partial_text_was_replaced(fake_llm, behaviour, expect):
    fake_llm.behaviour, fake_llm.script = behaviour, ["Russia's economy ", "grew "]
    deltas, ans, _ = run(llm(fake_llm.url, llm_timeout=1.5))
    assert "".join(deltas) == "Russia's economy grew "  # the fallback's text is not streamed after it
    assert ans.notice.startswith("The LLM answer was interrupted") and expect in ans.notice
    assert "partial text was discarded; showing the extractive answer instead." in ans.notice
    assert ans.text == extractive_text() and ans.answerer == "extractive"


def test_unconfigured_llm_falls_back():
    _, ans, _ = run(get_answerer("llm", settings=Settings(), embedder=None), "Growth?", seed_hits(SNIPPETS[0]))
    assert ans.notice.startswith("LLM unavailable: No LLM is configured (set RAG_LLM_BASE_URL")
    assert ans.answerer == "extractive"


def test_notices_and_logs_never_show_the_key(fake_llm, caplog):
    caplog.set_level(logging.DEBUG)
    fake_llm.behaviour, fake_llm.status = "status", 401
    fake_llm.body = f'{{"error": {{"message": "Incorrect API key provided: {KEY}"}}}}'.encode()
    _, ans, _ = run(llm(fake_llm.url, llm_api_key=KEY), "Growth?", seed_hits(SNIPPETS[0]))
    assert "check RAG_LLM_API_KEY" in ans.notice
    assert KEY not in ans.notice and KEY not in caplog.text and KEY[-10:] not in caplog.text
    assert any("falling back" in r.getMessage() for r in caplog.records)


# -- the wrapper's rules, on scripted answerers ----------------------------------------------------

class Scripted(StreamingAnswerer):
    def __init__(self, name, pieces, fail=None):
        self.name, self.pieces, self.fail, self.closed = name, pieces, fail, False

    def generate(self, question, hits):
        try:
            yield from self.pieces
            if self.fail:
                raise self.fail
            yield Answer("".join(self.pieces), [], hits, answerer=self.name, notice="own notice")
        finally:
            self.closed = True


class Broken(WholeAnswerer):
    name = "backup"

    def answer(self, question, hits):
        raise RuntimeError("backup is broken")


def test_primary_answer_passes_through_untouched():
    fb = FallbackAnswerer(Scripted("main", ["a ", "b"]), Scripted("backup", ["x"]))
    deltas, ans, _ = run(fb)
    assert deltas == ["a ", "b"] and ans.text == "a b" and ans.notice == "own notice" and ans.answerer == "main"


def test_failure_before_text_streams_the_fallback_and_keeps_its_notice():
    fb = FallbackAnswerer(Scripted("main", [], AnswererError("down.")), Scripted("backup", ["x ", "y"]),
                          label="Main")
    deltas, ans, _ = run(fb)
    assert deltas == ["x ", "y"] and ans.answerer == "backup"
    assert ans.notice == "Main unavailable: down. Showing the backup answer instead. own notice"


def test_only_answerer_errors_fall_back():
    fb = FallbackAnswerer(Scripted("main", ["a"], ValueError("a bug")), Scripted("backup", ["x"]))
    with pytest.raises(ValueError, match="a bug"):
        run(fb)


def test_fallback_failing_too_still_gives_an_answer_with_a_notice():
    fb = FallbackAnswerer(Scripted("main", ["half "], AnswererError("cut")), Broken())
    deltas, ans, _ = run(fb)
    assert deltas == ["half "] and ans.text == "" and not ans.answered and ans.answerer == "main"
    assert ans.notice.startswith("The main answer was interrupted: cut.")
    assert ans.notice.endswith("(The backup answerer failed too: backup is broken)")


def test_closing_the_stream_closes_the_primary():
    primary = Scripted("main", ["a ", "b ", "c"])
    stream = FallbackAnswerer(primary, Scripted("backup", ["x"])).stream("q?", [])
    it = iter(stream)
    assert next(it) == "a "
    stream.close()
    assert primary.closed
