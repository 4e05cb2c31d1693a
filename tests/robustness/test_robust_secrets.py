"""The LLM key and URL credentials appear in no output at any log level (``-vv`` with the HTTP
libraries' DEBUG logs included), in no notice or error, and in no repr, including what a
misbehaving server sends back. Real loopback servers (tests/llm_servers.py ``fake_llm``)."""
from __future__ import annotations

import base64
import json
import logging

import pytest

from robust_helpers import TANKS, rag_process
from llm_servers import closed_port_url
from rag import Assistant, Settings
from rag.errors import RagError

KEY = "sk-test-Zq8VtR2mLkP4wX9sY7uB"
PASSWORD = "hunter2-secret-pw"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()  # what the Authorization header carries
SECRETS = (KEY, PASSWORD, KEY[8:], "hunter2", BASIC)


def _clean(*texts: str) -> None:
    for text in texts:
        for s in SECRETS:
            assert s not in text, f"{s!r} leaked in: ...{text[max(0, text.find(s) - 80):text.find(s) + 40]}..."


def _with_userinfo(url: str) -> str:
    return url.replace("http://", f"http://alice:{PASSWORD}@")


def _env(url: str) -> dict:
    return {"RAG_LLM_BASE_URL": _with_userinfo(url), "RAG_LLM_API_KEY": KEY, "RAG_LLM_MODEL": "fake-model"}


@pytest.fixture
def opts(seeds, tmp_path):
    index = tmp_path / "index"
    out = rag_process("--backend", "fake", "--seeds", str(seeds), "--index", str(index), "index")
    assert out.returncode == 0, out.stderr
    return ["--backend", "fake", "--seeds", str(seeds), "--index", str(index)]


@pytest.mark.slow
@pytest.mark.parametrize("secret", ["key", "url password"])
def test_vv_ask_with_the_llm_prints_no_key_or_password(fake_llm, opts, secret):
    fake_llm.script = ["Russia produced 1,500 tanks [1]."]
    env = {"RAG_LLM_BASE_URL": fake_llm.url, "RAG_LLM_API_KEY": KEY} if secret == "key" else \
        {"RAG_LLM_BASE_URL": _with_userinfo(fake_llm.url)}
    out = rag_process("-vv", *opts, "ask", "-a", "llm", TANKS, env=env)
    assert out.returncode == 0, out.stderr
    assert "1,500 tanks" in out.stdout
    assert "DEBUG httpcore" in out.stderr  # the HTTP libraries' debug logs were on
    _clean(out.stdout, out.stderr)
    sent = fake_llm.chat_requests[-1]["headers"]["Authorization"]
    assert sent == (f"Bearer {KEY}" if secret == "key" else f"Basic {BASIC}")  # used, never shown


@pytest.mark.slow
def test_vv_a_redirect_whose_location_carries_the_key_is_not_shown(fake_llm, opts):
    fake_llm.behaviour = "redirect"
    fake_llm.location = f"http://127.0.0.1:9/v1/chat?api_key={KEY}&password={PASSWORD}"
    out = rag_process("-vv", *opts, "ask", "-a", "llm", TANKS, env=_env(fake_llm.url))
    assert out.returncode == 0 and "b'Location'" in out.stderr  # the response's headers were logged...
    _clean(out.stdout, out.stderr)  # ...without the secrets in them
    assert "redirected (HTTP 307)" in out.stdout and "1,500 tanks" in out.stdout  # said, and answered anyway


@pytest.mark.slow
def test_vv_an_error_body_echoing_the_authorization_header_is_not_shown(fake_llm, opts):
    fake_llm.behaviour, fake_llm.status = "status", 401
    fake_llm.body = json.dumps({"error": {"message": f"Invalid credentials: Authorization: Bearer {KEY} "
                                                     f"(basic alice:{PASSWORD})"}}).encode()
    out = rag_process("-vv", *opts, "ask", "-a", "llm", "--json", TANKS, env=_env(fake_llm.url))
    _clean(out.stdout, out.stderr)
    assert out.returncode == 0, out.stderr
    assert "rejected the API key (HTTP 401)" in json.loads(out.stdout)["notice"]  # told what happened


def test_an_error_body_echoing_the_key_is_masked_in_the_notice_and_logs(fake_llm, fake_assistant, caplog):
    fake_llm.behaviour, fake_llm.status = "status", 403
    fake_llm.body = json.dumps({"error": {"message": f"key {KEY} is not allowed; masked: sk-tes***uB"}}).encode()
    settings = fake_assistant.settings.with_(llm_base_url=_with_userinfo(fake_llm.url), llm_api_key=KEY,
                                              llm_model="fake-model")
    a = Assistant(settings, embedder=fake_assistant.embedder)
    a.load()
    with caplog.at_level(logging.DEBUG):
        try:
            ans = a.ask(TANKS, answerer="llm")
            shown = json.dumps(ans.to_dict())
        except RagError as exc:
            shown = str(exc)
    _clean(shown, caplog.text, repr(a.answerer("llm")))
    assert "403" in shown


def test_an_unreachable_endpoint_with_credentials_is_reported_without_them(fake_assistant, caplog):
    settings = fake_assistant.settings.with_(llm_base_url=_with_userinfo(closed_port_url()), llm_api_key=KEY)
    a = Assistant(settings, embedder=fake_assistant.embedder)
    a.load()
    with caplog.at_level(logging.DEBUG):
        try:
            shown = json.dumps(a.ask(TANKS, answerer="llm").to_dict())
        except RagError as exc:
            shown = str(exc)
    _clean(shown, caplog.text)
    assert "127.0.0.1" in shown or "connect" in shown.lower()


def test_repr_of_settings_hides_the_key_the_login_and_url_passwords():
    s = Settings(llm_base_url=f"https://alice:{PASSWORD}@llm.example/v1", llm_api_key=KEY,
                 auth=f"admin:{PASSWORD}", store=f"postgresql://rag:{PASSWORD}@db.example/rag")
    _clean(repr(s), str(s))
    assert "https://***@llm.example/v1" in repr(s)


def test_an_unusable_store_url_is_one_line_without_its_password(rag):
    out = rag("status", env={"RAG_STORE": f"postgresql://rag:{PASSWORD}@127.0.0.1:1/rag"})
    assert out.exit_code == 1 and len(out.stderr.splitlines()) == 1 and out.stderr.startswith("error: ")
    _clean(out.stderr, out.stdout)


def test_settings_from_the_environment_in_an_error_show_no_secret(rag):
    out = rag("status", env={"RAG_LLM_API_KEY": KEY, "RAG_LLM_TIMEOUT": f"soon-{KEY}"})
    assert out.exit_code == 1 and "RAG_LLM_TIMEOUT must be a number" in out.stderr
    assert len(out.stderr.splitlines()) == 1
