"""The OpenAI-compatible chat client over real loopback HTTP: requests, faults, timeouts, secrets."""
from __future__ import annotations

import logging
import threading
import time

import httpx
import pytest

from llm_servers import closed_port_url, llm_settings, real_llm_settings
from rag.errors import AnswererError, RagError
from rag.llm_client import ChatClient, LLMError
from rag.sse import StreamError, sse_deltas

KEY = "sk-test-SECRET0123456789abcdefXYZ"
MESSAGES = [{"role": "user", "content": "Say hello."}]


def client(url: str, **kw) -> ChatClient:
    return ChatClient.from_settings(llm_settings(url, **kw))


def failure(c: ChatClient) -> tuple[str, float, str]:
    """(error message, seconds until the stream failed, text streamed before)."""
    t0, got = time.monotonic(), []
    with pytest.raises(LLMError) as err:
        for d in c.stream(MESSAGES):
            got.append(d)
    return str(err.value), time.monotonic() - t0, "".join(got)


def test_llm_error_is_an_answerer_error():
    assert issubclass(LLMError, AnswererError) and issubclass(LLMError, RagError)


def test_stream_yields_deltas_and_sends_the_request(fake_llm):
    fake_llm.script = ["Hel", "lo ", "[1]."]
    c = client(fake_llm.url, llm_api_key=KEY)
    assert list(c.stream(MESSAGES, max_tokens=32)) == ["Hel", "lo ", "[1]."]
    req = fake_llm.chat_requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["json"] == {"model": "fake-model", "messages": MESSAGES, "max_tokens": 32,
                           "temperature": 0, "stream": True}
    assert req["headers"]["Authorization"] == f"Bearer {KEY}"
    assert req["headers"]["Accept"] == "text/event-stream"


def test_complete_is_one_unstreamed_request(fake_llm):
    fake_llm.script = ["Hello ", "there."]
    c = client(fake_llm.url)
    assert c.complete(MESSAGES, max_tokens=8) == "Hello there."
    assert fake_llm.chat_requests[0]["json"]["stream"] is False
    assert fake_llm.chat_requests[0]["json"]["max_tokens"] == 8


def test_model_discovered_once_from_models_endpoint(fake_llm):
    fake_llm.models = ["smol", "other"]
    c = client(fake_llm.url, llm_model="")
    c.complete(MESSAGES)
    list(c.stream(MESSAGES))
    assert [r["json"]["model"] for r in fake_llm.chat_requests] == ["smol", "smol"]
    assert sum(r["method"] == "GET" for r in fake_llm.requests) == 1


def test_no_model_listed_says_set_the_model(fake_llm):
    fake_llm.models = []
    with pytest.raises(LLMError, match="lists no model at /models; set RAG_LLM_MODEL"):
        client(fake_llm.url, llm_model="").complete(MESSAGES)


def test_server_ignoring_stream_flag_still_streams_its_text(fake_llm):
    fake_llm.behaviour, fake_llm.script = "json", ["Growth was 4% [1]."]
    assert list(client(fake_llm.url).stream(MESSAGES)) == ["Growth was 4% [1]."]


def test_openai_defaults_and_unconfigured_client():
    c = ChatClient(api_key=KEY)
    assert c.base_url == "https://api.openai.com/v1" and c.model_name() == "gpt-4o-mini"
    blank = ChatClient()
    assert not blank.configured
    with pytest.raises(LLMError, match="no LLM configured"):
        blank.complete(MESSAGES)
    with pytest.raises(LLMError, match="no LLM configured"):
        list(blank.stream(MESSAGES))


def test_http_client_is_made_once_under_concurrent_first_use(monkeypatch):
    made = []
    real = httpx.Client

    def counting(*a, **kw):
        time.sleep(0.05)  # widen the race window
        made.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(httpx, "Client", counting)
    c = ChatClient("http://127.0.0.1:9/v1")
    got = []
    threads = [threading.Thread(target=lambda: got.append(c._http())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len({id(x) for x in got}) == 1
    c.close()


# -- faults: one clear error, detected at once or at the timeout --------------------------------

@pytest.mark.parametrize("behaviour,status,expect", [
    ("status", 500, "the LLM server failed (HTTP 500): internal error"),
    ("status", 404, "HTTP 404; check RAG_LLM_BASE_URL"),
    ("status", 429, "rate-limiting or out of quota (HTTP 429)"),
    ("garbage", 0, "malformed stream (not server-sent events)"),
])
def test_faults_are_detected_at_once(fake_llm, behaviour, status, expect):
    fake_llm.behaviour, fake_llm.status = behaviour, status
    msg, secs, _ = failure(client(fake_llm.url, llm_timeout=10.0))
    assert expect in msg and secs < 2.0 and "\n" not in msg


def test_refused_connection_names_the_endpoint():
    url = closed_port_url()
    msg, secs, _ = failure(client(url, llm_timeout=10.0))
    assert msg.startswith(f"could not connect to the LLM at {url}") and "RAG_LLM_BASE_URL" in msg
    assert secs < 2.0


def test_stalled_server_times_out_within_llm_timeout(fake_llm):
    fake_llm.behaviour = "stall"
    msg, secs, _ = failure(client(fake_llm.url, llm_timeout=1.5))
    assert "did not finish within 1.5 s (RAG_LLM_TIMEOUT)" in msg and 1.4 <= secs < 2.5
    c = client(fake_llm.url, llm_timeout=5.0)
    t0 = time.monotonic()
    with pytest.raises(LLMError):
        c.complete(MESSAGES, timeout=1.0)  # a caller's timeout shortens the client's
    assert time.monotonic() - t0 < 2.5


@pytest.mark.parametrize("behaviour,expect", [
    ("stall_mid", "did not finish within"),
    ("garbage_mid", "malformed stream (bad JSON)"),
    ("drop", "ended before the answer was complete"),
])
def test_mid_stream_faults_come_after_the_text_so_far(fake_llm, behaviour, expect):
    fake_llm.behaviour, fake_llm.script = behaviour, ["Russia's economy ", "grew "]
    msg, secs, before = failure(client(fake_llm.url, llm_timeout=1.5))
    assert expect in msg and before == "Russia's economy grew " and secs < 2.5


def test_sse_parser_reads_events_and_rejects_bad_ones():
    ok = ['data: {"choices": [{"delta": {"content": "a"}}]}', ": keep-alive", "event: x", "",
          'data: {"choices": [{"text": "b", "finish_reason": "stop"}]}']
    assert list(sse_deltas(ok)) == ["a", "b"]  # no [DONE], but a finish_reason: complete
    assert list(sse_deltas(ok[:1] + ["data: [DONE]", "data: junk"])) == ["a"]
    with pytest.raises(StreamError, match="reported an error: overloaded"):
        list(sse_deltas(['data: {"error": {"message": "overloaded"}}']))
    with pytest.raises(StreamError, match="ended before"):
        list(sse_deltas(ok[:1]))


# -- secrets ---------------------------------------------------------------------------------------

def test_repr_hides_the_key_and_the_password():
    c = ChatClient(f"http://alice:pw-SECRET-9@127.0.0.1:9/v1", api_key=KEY)
    assert KEY not in repr(c) and "pw-SECRET-9" not in repr(c) and "127.0.0.1:9/v1" in repr(c)


def test_server_echoing_the_key_is_scrubbed_everywhere(fake_llm, caplog):
    caplog.set_level(logging.DEBUG)
    fake_llm.behaviour, fake_llm.status = "status", 401
    fake_llm.body = (f'{{"error": {{"message": "Incorrect API key provided: {KEY}. '
                     f'Also {KEY[:6]}***{KEY[-4:]}"}}}}').encode()
    c = client(fake_llm.url, llm_api_key=KEY)
    msg401, _, _ = failure(c)
    fake_llm.status = 500  # a 500 whose body echoes the key and the Authorization header
    fake_llm.body = f'{{"error": "bad request, headers: Authorization: Bearer {KEY}, key={KEY}"}}'.encode()
    msg500, _, _ = failure(c)
    with pytest.raises(LLMError) as err:
        c.complete(MESSAGES)
    assert "check RAG_LLM_API_KEY" in msg401
    assert "HTTP 500" in msg500 and "Authorization: Bearer ***" in msg500
    for text in (msg401, msg500, str(err.value), repr(c), caplog.text):
        assert KEY not in text and KEY[-10:] not in text


def test_error_event_echoing_the_key_is_scrubbed(fake_llm):
    fake_llm.behaviour, fake_llm.script = "error_event", ["Partial "]
    fake_llm.body = f"key {KEY} is over quota".encode()
    msg, _, before = failure(client(fake_llm.url, llm_api_key=KEY))
    assert before == "Partial " and msg == "the LLM server reported an error: key *** is over quota"


def test_redirect_carrying_the_key_is_reported_without_it(fake_llm, caplog):
    caplog.set_level(logging.DEBUG)
    fake_llm.behaviour = "redirect"
    fake_llm.location = f"http://127.0.0.1:9/v2/chat/completions?api_key={KEY}&user={KEY}"
    c = client(fake_llm.url, llm_api_key=KEY)
    msg, secs, _ = failure(c)
    with pytest.raises(LLMError) as err:
        c.complete(MESSAGES)
    assert "redirected (HTTP 307) to http://127.0.0.1:9/v2/chat/completions" in msg and secs < 2.0
    assert "set RAG_LLM_BASE_URL" in str(err.value)
    for text in (msg, str(err.value), caplog.text):
        assert KEY not in text and KEY[-10:] not in text
    assert len(fake_llm.chat_requests) == 2  # redirects are not followed (the key stays here)


def test_credentials_in_the_endpoint_url_are_basic_auth_and_never_shown(fake_llm, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "tok3n-SECRET-42"
    down = ChatClient(closed_port_url().replace("http://", f"http://alice:{secret}@"), model="m")
    msg_down, _, _ = failure(down)
    fake_llm.behaviour, fake_llm.status = "status", 500
    fake_llm.body = f'{{"error": "no such user alice:{secret} (password {secret})"}}'.encode()
    up = ChatClient(fake_llm.url.replace("http://", f"http://alice:{secret}@"), model="m")
    msg500, _, _ = failure(up)
    assert msg_down.startswith("could not connect to the LLM at http://127.0.0.1:")
    assert "HTTP 500" in msg500 and "password ***" in msg500
    assert fake_llm.chat_requests[0]["headers"]["Authorization"].startswith("Basic ")
    assert fake_llm.chat_requests[0]["path"] == "/v1/chat/completions"
    for text in (msg_down, msg500, repr(down), repr(up), caplog.text):
        assert secret not in text


@pytest.mark.slow
def test_real_model_complete_and_stream(llama_server):
    c = ChatClient.from_settings(real_llm_settings(llama_server.url))
    out = c.complete([{"role": "user", "content": "Say hello."}], max_tokens=8)
    assert isinstance(out, str) and out.strip()
    pieces = list(c.stream([{"role": "user", "content": "Count to five."}], max_tokens=16))
    assert len(pieces) >= 3 and "".join(pieces).strip()  # token by token
