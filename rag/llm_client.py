"""A client for any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp,
llama-cpp-python, LM Studio), shared by the LLM answerer and follow-up rewriting.

* ``stream`` posts ``{base_url}/chat/completions`` with ``stream: true`` and yields the content
  deltas of the server-sent events (``data: {...}`` lines ending with ``data: [DONE]``), read on a
  worker thread so the timeout bounds the whole request (connect, prompt processing, streaming);
  ``complete`` is one non-streamed completion.
* Every failure is an ``LLMError``: one line saying what to check.
* Secrets: the API key is sent only in the ``Authorization`` header; ``user:password@`` in the base
  URL goes to httpx as basic auth and is stripped from the URL. Neither appears in a message, a
  log line or a repr, including text a server sends back (error bodies, redirect targets, headers
  in httpcore's DEBUG log): see ``rag.redact``. Redirects are not followed (the key would go along).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx

from .config import Settings
from .errors import AnswererError
from .redact import Redactor, split_userinfo
from .sse import StreamError, sse_deltas

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
CONNECT_TIMEOUT = 10.0
NOT_CONFIGURED = "no LLM configured (set RAG_LLM_BASE_URL or RAG_LLM_API_KEY)"


class LLMError(AnswererError):
    """The endpoint failed; the message is one line and safe to show (no secrets)."""


class ChatClient:
    """Chat completions from one endpoint; the HTTP connection pool is made on first use."""

    def __init__(self, base_url: str = "", api_key: str = "", model: str = "", timeout: float = 60.0,
                 *, transport: httpx.BaseTransport | None = None) -> None:
        url, self._auth, raw_pw = split_userinfo(base_url)
        self.configured = bool(base_url or api_key)
        self.base_url = (url or (OPENAI_BASE_URL if api_key else "")).rstrip("/")
        self.timeout = timeout
        self._api_key = api_key
        self.scrub = Redactor(api_key, self._auth[1] if self._auth else "", raw_pw)
        self._model = model or (OPENAI_DEFAULT_MODEL if self.base_url == OPENAI_BASE_URL else "")
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> "ChatClient":
        return cls(settings.llm_base_url, settings.llm_api_key, settings.llm_model, settings.llm_timeout,
                   transport=transport)

    def __repr__(self) -> str:  # never shows the key or the password
        return f"ChatClient(base_url={self.base_url!r}, model={self._model!r})"

    def _http(self) -> httpx.Client:
        with self._lock:  # the streaming worker threads and callers may race to make it
            if self._client is None:
                kw = {"transport": self._transport} if self._transport is not None else {}
                self._client = httpx.Client(follow_redirects=False, auth=self._auth, **kw)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _headers(self, **extra: str) -> dict[str, str]:
        h = {"Content-Type": "application/json", **extra}
        if self._api_key:
            h["Authorization"] = f"Bearer {self._api_key}"
        return h

    def _error(self, message: str) -> LLMError:
        return LLMError(self.scrub(" ".join(message.split())))

    @staticmethod
    def _timeout(deadline: float) -> httpx.Timeout:
        left = max(0.01, deadline - time.monotonic())
        return httpx.Timeout(left, connect=min(left, CONNECT_TIMEOUT))

    # -- errors --------------------------------------------------------------------
    def _http_error(self, resp: httpx.Response, body: bytes) -> LLMError:
        status = resp.status_code
        if 300 <= status < 400:
            loc = urlsplit(resp.headers.get("location", ""))
            target = urlunsplit((loc.scheme, loc.netloc, loc.path, "", ""))  # no query: tokens live there
            return self._error(f"the LLM endpoint redirected (HTTP {status}) to {target or 'elsewhere'}; "
                               f"set RAG_LLM_BASE_URL to the final address")
        try:
            obj = json.loads(body.decode("utf-8", "replace"))
            err = obj.get("error", obj) if isinstance(obj, dict) else obj
            detail = str(err.get("message", "") if isinstance(err, dict) else err)
        except (ValueError, AttributeError):
            detail = body.decode("utf-8", "replace")
        detail = self.scrub(" ".join(detail.split()))[:200]
        if status == 401:
            return self._error("the LLM endpoint rejected the API key (HTTP 401); check RAG_LLM_API_KEY")
        if status == 403:
            return self._error("the LLM endpoint refused access (HTTP 403); check RAG_LLM_API_KEY "
                               "and RAG_LLM_MODEL")
        if status == 404:
            msg = (f"the LLM endpoint {self.base_url}/chat/completions answered HTTP 404; "
                   f"check RAG_LLM_BASE_URL (usually ends in /v1) and RAG_LLM_MODEL")
        elif status == 429:
            msg = "the LLM endpoint is rate-limiting or out of quota (HTTP 429)"
        elif status >= 500:
            msg = f"the LLM server failed (HTTP {status})"
        else:
            msg = f"the LLM endpoint rejected the request (HTTP {status})"
        return self._error(msg + (f": {detail}" if detail else ""))

    def _transport_error(self, exc: Exception) -> LLMError:
        if isinstance(exc, LLMError):  # ours, maybe quoting the server: scrubbed again
            return self._error(str(exc))
        if isinstance(exc, httpx.ConnectTimeout):
            return self._error(f"could not connect to the LLM at {self.base_url} in time")
        if isinstance(exc, httpx.ConnectError):
            return self._error(f"could not connect to the LLM at {self.base_url} "
                               f"(is the server running? check RAG_LLM_BASE_URL)")
        if isinstance(exc, httpx.TimeoutException):
            return self._error(f"the LLM did not finish within {self.timeout:g} s (RAG_LLM_TIMEOUT)")
        what = self.scrub(f"{type(exc).__name__}: {exc}")[:200]
        if isinstance(exc, httpx.HTTPError):
            return self._error(f"talking to the LLM at {self.base_url} failed: {what}")
        return self._error(f"the LLM call failed: {what}")

    # -- requests ------------------------------------------------------------------
    def model_name(self, deadline: float | None = None) -> str:
        """The configured model, else OpenAI's default, else the first one the server lists."""
        if self._model:
            return self._model
        deadline = deadline or time.monotonic() + self.timeout
        try:
            r = self._http().get(f"{self.base_url}/models", headers=self._headers(),
                                 timeout=self._timeout(deadline))
        except Exception as exc:
            raise self._transport_error(exc) from None
        if r.status_code >= 300:
            raise self._http_error(r, r.content[:4000])
        try:
            self._model = str(r.json()["data"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError("the LLM server lists no model at /models; set RAG_LLM_MODEL") from None
        log.info("LLM model not set; using %s from %s/models", self._model, self.base_url)
        return self._model

    def _payload(self, messages: list[dict], max_tokens: int, stream: bool, deadline: float) -> dict:
        return {"model": self.model_name(deadline), "messages": messages, "max_tokens": max_tokens,
                "temperature": 0, "stream": stream}

    def complete(self, messages: list[dict], *, max_tokens: int = 96, timeout: float | None = None) -> str:
        """One non-streamed completion; a ``timeout`` can only shorten the client's own."""
        if not self.configured:
            raise LLMError(NOT_CONFIGURED)
        deadline = time.monotonic() + (self.timeout if timeout is None else min(timeout, self.timeout))
        try:
            payload = self._payload(messages, max_tokens, False, deadline)
            r = self._http().post(f"{self.base_url}/chat/completions", json=payload,
                                  headers=self._headers(), timeout=self._timeout(deadline))
        except Exception as exc:
            raise self._transport_error(exc) from None
        if r.status_code >= 300:
            raise self._http_error(r, r.content[:4000])
        try:
            return str(r.json()["choices"][0]["message"]["content"] or "")
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError("the LLM endpoint sent a malformed completion") from None

    def stream(self, messages: list[dict], *, max_tokens: int = 512,
               timeout: float | None = None) -> Iterator[str]:
        """Yield content deltas; raise ``LLMError`` on any failure or after ``timeout`` seconds."""
        if not self.configured:
            raise LLMError(NOT_CONFIGURED)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        out: queue.Queue = queue.Queue()
        stop = threading.Event()
        threading.Thread(target=self._read_stream, args=(messages, max_tokens, deadline, out, stop),
                         name="llm-stream", daemon=True).start()
        try:
            while True:
                try:
                    kind, value = out.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise LLMError(f"the LLM did not finish within {timeout:g} s (RAG_LLM_TIMEOUT)") from None
                if kind == "done":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            stop.set()

    def _read_stream(self, messages: list[dict], max_tokens: int, deadline: float, out: queue.Queue,
                     stop: threading.Event) -> None:
        """Worker thread: POST, parse the events, put ("delta", str) / ("done", None) / ("error", exc)."""
        try:
            payload = self._payload(messages, max_tokens, True, deadline)
            with self._http().stream("POST", f"{self.base_url}/chat/completions", json=payload,
                                     headers=self._headers(Accept="text/event-stream"),
                                     timeout=self._timeout(deadline)) as resp:
                if resp.status_code >= 300:
                    body = b""
                    for part in resp.iter_bytes():
                        body += part
                        if len(body) > 4000:
                            break
                    out.put(("error", self._http_error(resp, body[:4000])))
                    return
                if "application/json" in resp.headers.get("content-type", ""):  # ignored stream=true
                    try:
                        text = json.loads(resp.read())["choices"][0]["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError):
                        raise LLMError("the LLM endpoint sent a malformed reply") from None
                    out.put(("delta", text))
                else:
                    for delta in sse_deltas(resp.iter_lines(), stop):
                        out.put(("delta", delta))
                out.put(("done", None))
        except StreamError as exc:
            out.put(("error", self._error(str(exc))))
        except Exception as exc:  # noqa: BLE001 - every failure becomes one LLMError
            out.put(("error", self._transport_error(exc)))

