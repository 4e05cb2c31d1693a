"""The LLM answerer: prompt -> stream -> checked citations, over real loopback HTTP and a real model."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_servers import SNIPPETS, llm_settings, real_llm_settings, seed_hits, seed_text
from rag.answer import ANSWERERS, Answerer, answerer_names, get_answerer
from rag.answer.fallback import FallbackAnswerer
from rag.answer.llm import LLMAnswerer
from rag.answer.prompt import NOT_ANSWERED
from rag.config import Settings
from rag.errors import AnswererError
from rag.types import AnswerStream

KEY = "sk-test-SECRET0123456789abcdefXYZ"
ROOT = Path(__file__).resolve().parent.parent


def test_every_answerer_streams_and_answers():
    for name in answerer_names():
        a = get_answerer(name, settings=Settings(), embedder=None)
        assert isinstance(a, Answerer) and a.name == name
        stream = a.stream("How much did Russia's economy grow?", seed_hits(*SNIPPETS))
        assert isinstance(stream, AnswerStream)
        assert "".join(stream).strip() and stream.answer.text  # text pieces (join fails on anything else)


def test_registered_llm_answerer_wraps_the_llm_one_with_the_extractive_fallback():
    a = get_answerer("llm", settings=llm_settings("http://127.0.0.1:9/v1", llm_api_key=KEY), embedder=None)
    assert "llm" in ANSWERERS.names()
    assert isinstance(a, FallbackAnswerer) and isinstance(a.primary, LLMAnswerer)
    assert a.fallback.name == "extractive" and a.name == "llm"
    assert KEY not in repr(a) and KEY not in repr(a.primary.settings)


def test_streamed_answer_checks_markers_and_builds_citations(fake_llm):
    hits = seed_hits(*SNIPPETS)
    fake_llm.script = ["Russia's economy ", "grew 4% last year [1]. ", "Waltz was an aide to ",
                       "Dick Cheney [2][9]. ", "Putin is 3 metres tall [12]."]
    stream = get_answerer("llm", settings=llm_settings(fake_llm.url), embedder=None).stream(
        "How much did the economy grow?", hits)
    deltas = list(stream)
    ans = stream.answer
    req = fake_llm.chat_requests[0]["json"]
    assert deltas == fake_llm.script  # piece by piece, as the server sent them
    assert req["stream"] is True and req["model"] == "fake-model" and req["max_tokens"] == 64
    assert ans.answerer == "llm" and ans.notice is None and ans.answered
    assert "[9]" not in ans.text and "[12]" not in ans.text
    assert ans.text.startswith("Russia's economy grew 4% last year [1]. Waltz was an aide to Dick Cheney [2].")
    assert [c.n for c in ans.citations] == [1, 2]
    text = seed_text()
    for c in ans.citations:
        assert c.chunk == hits[c.n - 1].chunk
        assert c.quote and text[c.quote_start:c.quote_end] == c.quote
    assert "grew 4% last year" in ans.citations[0].quote
    assert "Dick Cheney" in ans.citations[1].quote
    # the invented sentence cites nothing left, is checked against all passages, and is flagged
    assert ans.unsupported == ["Putin is 3 metres tall."]


def test_not_answered_when_model_says_so(fake_llm):
    fake_llm.script = [NOT_ANSWERED]
    ans = LLMAnswerer(llm_settings(fake_llm.url)).answer("What price for gas?", seed_hits(SNIPPETS[0]))
    assert ans.answered is False and ans.citations == [] and ans.notice is None


def test_no_passages_means_not_answered_without_a_request(fake_llm):
    stream = LLMAnswerer(llm_settings(fake_llm.url)).stream("What price for gas?", [])
    assert list(stream) == [NOT_ANSWERED] and stream.answer.answered is False
    assert fake_llm.requests == []


def test_only_the_passages_that_fit_the_window_are_cited(fake_llm, caplog):
    hits = seed_hits("Zubok and Radchenko are both", "Born in 1958 into a family", *SNIPPETS[:2])
    fake_llm.script = ["Zubok and Radchenko are historians [1]. He was born in 1958 [2][4]."]
    a = LLMAnswerer(llm_settings(fake_llm.url, llm_context_window=900, llm_max_tokens=200))
    with caplog.at_level(logging.INFO, logger="rag.answer.llm"):
        ans = a.answer("When was Zubok born?", hits)
    assert "passages fit llm_context_window=900" in caplog.text
    shown = fake_llm.chat_requests[0]["json"]["messages"][-1]["content"].count("<source n=")
    assert shown < 4 and all(c.n <= shown for c in ans.citations)
    assert "[4]" not in ans.text


def test_bare_llm_answerer_raises_on_failure_instead_of_falling_back(fake_llm):
    with pytest.raises(AnswererError, match="No LLM is configured"):
        LLMAnswerer(Settings()).answer("Growth?", seed_hits(SNIPPETS[0]))
    fake_llm.behaviour = "status"
    with pytest.raises(AnswererError, match="HTTP 500"):
        LLMAnswerer(llm_settings(fake_llm.url)).answer("Growth?", seed_hits(SNIPPETS[0]))
    fake_llm.behaviour, fake_llm.script = "ok", [" ", "\n"]
    with pytest.raises(AnswererError, match="empty answer"):
        LLMAnswerer(llm_settings(fake_llm.url)).answer("Growth?", seed_hits(SNIPPETS[0]))


def test_stopping_a_stream_ends_it_at_once(fake_llm):
    fake_llm.behaviour, fake_llm.script = "stall_mid", ["Russia's ", "economy "]
    stream = get_answerer("llm", settings=llm_settings(fake_llm.url, llm_timeout=30), embedder=None).stream(
        "Growth?", seed_hits(SNIPPETS[0]))
    it = iter(stream)
    assert next(it) == "Russia's "
    t0 = time.monotonic()
    stream.close()  # the user pressed Stop: no fallback, no waiting for the 30 s timeout
    assert list(it) == [] and time.monotonic() - t0 < 1.0


# -- real model: SmolLM2-135M served by llama-cpp-python ----------------------------------------

@pytest.mark.slow
def test_real_model_streams_a_checked_answer(llama_server):
    hits = seed_hits(*SNIPPETS)
    stream = get_answerer("llm", settings=real_llm_settings(llama_server.url), embedder=None).stream(
        "How much did Russia's economy grow last year?", hits)
    deltas = list(stream)
    ans = stream.answer
    assert len(deltas) >= 3, "the server should stream token by token"
    assert ans.notice is None and ans.answerer == "llm", ans.notice
    assert ans.text and ans.hits == hits
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", ans.text)]
    assert all(1 <= n <= len(hits) for n in cited)
    assert sorted({c.n for c in ans.citations}) == sorted(set(cited))
    text = seed_text()
    for c in ans.citations:
        assert text[c.quote_start:c.quote_end] == c.quote


@pytest.mark.slow
def test_real_model_through_assistant_and_cli(llama_server, tmp_path, seeds):
    from rag import Assistant

    env = {**os.environ, "RAG_LLM_BASE_URL": llama_server.url, "RAG_LLM_TIMEOUT": "120",
           "RAG_LLM_MAX_TOKENS": "64", "RAG_LLM_CONTEXT_WINDOW": "2048", "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_SEEDS_DIR": str(seeds), "HF_HUB_OFFLINE": "1"}
    a = Assistant.open(settings=Settings.from_env(env))
    ans = a.ask("How much did Russia's economy grow last year?", answerer="llm")
    assert ans.answerer == "llm" and ans.notice is None, ans.notice
    assert all(1 <= c.n <= len(ans.hits) for c in ans.citations)
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "--answerer", "llm", "--json",
                           "How much did Russia's economy grow last year?"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["answerer"] == "llm" and not out.get("notice"), out.get("notice")  # no extractive fallback
    assert out["text"].strip()
