"""Condensing follow-up questions: heuristic, and via an LLM over real loopback HTTP."""
from __future__ import annotations

import logging
import time

import pytest

from llm_servers import closed_port_url, real_llm_settings
from rag.config import Settings
from rag.conversation import condense, entities, heuristic_condense
from rag.llm_client import ChatClient

HISTORY = [
    {"role": "user", "content": "What did Kirill Dmitriev say about the Russian economy?"},
    {"role": "assistant", "content": "He said it grew 4% last year [1]."},
]


def test_no_history_leaves_question_alone():
    assert condense("  When was Zubok born? ", []) == "When was Zubok born?"
    assert condense("When was Zubok born?", None) == "When was Zubok born?"
    assert condense("When?", [{"role": "assistant", "content": "Hi"}]) == "When?"


def test_pronoun_follow_up_gets_the_entity():
    assert condense("and what did he say about sanctions?", HISTORY) == \
        "What did Kirill Dmitriev say about sanctions?"
    assert heuristic_condense("Who did he meet in Washington?", HISTORY) == \
        "Who did Kirill Dmitriev meet in Washington?"
    assert heuristic_condense("and his title?", HISTORY) == "Kirill Dmitriev's title?"


def test_what_about_ellipsis_reuses_the_previous_question():
    assert heuristic_condense("What about sanctions?", HISTORY) == \
        "What did Kirill Dmitriev say about sanctions?"


def test_standalone_follow_up_is_kept():
    q = "How many tanks did Russia produce in 2024?"
    assert heuristic_condense(q, HISTORY) == q


def test_entities_carry_through_a_chain_of_follow_ups():
    history = HISTORY + [{"role": "user", "content": "and what did he say about sanctions?"},
                         {"role": "assistant", "content": "That they were good for Russia [2]."}]
    assert "Kirill Dmitriev" in heuristic_condense("Who did he meet?", history)


def test_entities_skip_question_words():
    assert entities("What did Kirill Dmitriev tell RT in 2025?") == ["Kirill Dmitriev", "RT", "2025"]


def test_llm_rewrite_is_used_when_configured(fake_llm):
    fake_llm.script = ["Standalone question: What did Kirill Dmitriev say about sanctions?\n"]
    llm = ChatClient(fake_llm.url, model="m", timeout=5)
    out = condense("and what did he say about sanctions?", HISTORY, llm=llm)
    req = fake_llm.chat_requests[0]["json"]
    assert out == "What did Kirill Dmitriev say about sanctions?"
    assert req["stream"] is False and req["max_tokens"] <= 96
    assert "Kirill Dmitriev" in req["messages"][-1]["content"]


def test_settings_with_endpoint_give_an_llm(fake_llm):
    fake_llm.script = ["What did Dmitriev say about sanctions?"]
    out = condense("and on sanctions?", HISTORY, settings=Settings(llm_base_url=fake_llm.url, llm_model="m"))
    assert len(fake_llm.chat_requests) == 1
    assert out == "What did Dmitriev say about sanctions?"


def test_failing_llm_falls_back_to_heuristic_quickly(fake_llm):
    llm = ChatClient(closed_port_url(), model="m", timeout=3)
    t0 = time.monotonic()
    out = condense("and what did he say about sanctions?", HISTORY, llm=llm)
    assert out == "What did Kirill Dmitriev say about sanctions?"
    assert time.monotonic() - t0 < 3.0
    fake_llm.script = ["word " * 400]  # an answer that is not a question rewrite: too long
    llm = ChatClient(fake_llm.url, model="m")
    assert condense("and what did he say about sanctions?", HISTORY, llm=llm) == \
        "What did Kirill Dmitriev say about sanctions?"
    assert len(fake_llm.chat_requests) == 1  # the LLM was asked; its rewrite was refused


def test_unconfigured_client_is_not_asked():
    assert condense("and his title?", HISTORY, llm=ChatClient()) == "Kirill Dmitriev's title?"


def test_assistant_rewrites_follow_ups_with_the_llm(fake_llm, seeds, tmp_path, fake_embedder):
    from rag import Assistant

    settings = Settings(seeds_dir=seeds, index_dir=tmp_path / "index", llm_base_url=fake_llm.url, llm_model="m")
    a = Assistant.open(settings=settings, embedder=fake_embedder)
    fake_llm.script = ["How many tanks did Russia produce in 2024?"]
    for _ in range(2):
        assert a.condense("and tanks?", HISTORY) == "How many tanks did Russia produce in 2024?"
    assert len(fake_llm.chat_requests) == 2 and all(not r["json"]["stream"] for r in fake_llm.chat_requests)


def test_callable_llm():
    seen = []

    def fake(prompt: str) -> str:
        seen.append(prompt)
        return "What did Kirill Dmitriev say about sanctions?"

    assert condense("and sanctions?", HISTORY, llm=fake) == "What did Kirill Dmitriev say about sanctions?"
    assert "Rewrite" in seen[0] and "and sanctions?" in seen[0]


@pytest.mark.slow
def test_real_model_condenses_a_follow_up(llama_server, caplog):
    llm = ChatClient.from_settings(real_llm_settings(llama_server.url))
    with caplog.at_level(logging.INFO, logger="rag.conversation"):
        q = condense("and what did he say about sanctions?", HISTORY, llm=llm)
    assert isinstance(q, str) and 3 <= len(q) <= 300
    assert "LLM condense" not in caplog.text, caplog.text  # the model's rewrite, not the heuristic fallback
