"""Answers from any OpenAI-compatible chat-completions endpoint, with an extractive fallback.

Works with OpenAI, Ollama, vLLM, llama.cpp's server, llama-cpp-python and LM Studio:
``POST {llm_base_url}/chat/completions`` with ``stream: true`` (server-sent events,
``data: {...}`` lines ending with ``data: [DONE]``).

* ``llm_timeout`` bounds the whole request (connect, prompt processing and streaming).
  On refusal, timeout, HTTP errors or a malformed stream the caller gets the extractive
  answer with ``Answer.notice`` saying what went wrong. If deltas were already streamed,
  the notice says the streamed text was discarded: consumers must display the final
  ``Answer.text``, which may differ from the concatenated deltas (bad markers removed,
  or the fallback).
* Citations keep the numbers the model saw: ``[n]`` is the n-th passage of the prompt
  (highest ranked first); markers to passages not in the prompt are removed.
* The API key is sent only in the ``Authorization`` header; it is never logged and is
  scrubbed from every error message.
"""
from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from dataclasses import replace
from typing import Iterator, Sequence

import httpx

from . import ANSWERERS, final_answer, get_answerer, stream_answer
from ..config import Settings
from ..errors import AnswererError, RagError
from ..support import SupportChecker, split_sentences, strip_markers, unsupported_sentences
from ..types import Answer, Citation, Hit
from .prompt import NOT_ANSWERED, Prompt, build_prompt

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
CONNECT_TIMEOUT = 10.0

_MARKER_RE = re.compile(
    r"(?P<pre>[ \t]*)[\[【]\s*(?:(?:sources?|refs?\.?|passages?)\s*)?"
    r"(?P<body>\d{1,2}(?:\s*(?:,|;|-|–|and|&)\s*(?:(?:sources?|passages?)\s*)?\d{1,2})*)\s*[\]】]",
    re.IGNORECASE)
_REFUSAL_RE = re.compile(
    r"\b(?:articles?|sources?|passages?|texts?|context|documents?)\b[^.\n]{0,40}?"
    r"\b(?:do(?:es)?\s+not|don['’]t|doesn['’]t|did\s+not|cannot|can['’]t|fail\s+to)\b[^.\n]{0,30}?"
    r"\b(?:answer|say|mention|contain|provide|include|specify|address|state|discuss)"
    r"|\bno\s+(?:relevant\s+)?information\b|\bnot\s+(?:mentioned|stated|covered)\s+in\s+the\b",
    re.IGNORECASE)


class LLMError(AnswererError):
    """The endpoint failed; the message is safe to show (no key)."""


def _expand(body: str) -> list[int]:
    nums: list[int] = []
    for part in re.split(r"\s*(?:,|;|and|&)\s*", body, flags=re.IGNORECASE):
        part = re.sub(r"(?i)sources?|passages?", "", part).strip()
        m = re.fullmatch(r"(\d+)\s*[-–]\s*(\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            nums.extend(range(a, b + 1) if 0 <= b - a <= 20 else (a, b))
        elif part.isdigit():
            nums.append(int(part))
    return nums


def clean_markers(text: str, valid: set[int]) -> tuple[str, list[int]]:
    """Normalise citation markers to ``[n]`` and drop those not in ``valid``.

    ``[1, 2]``, ``[1-2]`` and ``[Source 1]`` become ``[1][2]`` / ``[1]``; a marker whose
    numbers are all invalid is removed with the space before it. Returns the text and
    the invalid numbers seen.
    """
    invalid: list[int] = []

    def sub(m: re.Match) -> str:
        keep: list[int] = []
        for n in _expand(m.group("body")):
            if n in valid:
                if n not in keep:
                    keep.append(n)
            else:
                invalid.append(n)
        return m.group("pre") + "".join(f"[{n}]" for n in keep) if keep else ""

    out = _MARKER_RE.sub(sub, text)
    return out.strip(), invalid


def cited_numbers(text: str, valid: set[int] | None = None) -> list[int]:
    """Numbers of ``[n]`` markers (only those in ``valid`` if given), in order of first appearance."""
    seen: list[int] = []
    for m in re.finditer(r"\[(\d{1,2})\]", text):
        n = int(m.group(1))
        if (valid is None or n in valid) and n not in seen:
            seen.append(n)
    return seen


def is_refusal(text: str) -> bool:
    """Does the text say the articles do not answer?

    Yes when it is empty, when it opens with such a sentence, or when it contains the
    prescribed reply and cites nothing; a caveat after an answer does not count.
    """
    plain = strip_markers(text)
    if not plain:
        return True
    sents = split_sentences(plain)
    if sents and _REFUSAL_RE.search(sents[0].text):
        return True
    return NOT_ANSWERED.lower().rstrip(".") in plain.lower() and not cited_numbers(text)


def _split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``https://user:pw@host/v1`` -> (``https://host/v1``, ("user", "pw")); other URLs unchanged."""
    m = re.match(r"(?P<scheme>\w+://)(?P<user>[^/\s@:]*)(?::(?P<pw>[^/\s@]*))?@(?P<rest>.*)", url or "")
    if not m:
        return url or "", None
    from urllib.parse import unquote

    return m["scheme"] + m["rest"], (unquote(m["user"]), unquote(m["pw"] or ""))


@ANSWERERS.register("llm")
class LLMAnswerer:
    """Streams a cited answer from an OpenAI-compatible endpoint; falls back to "extractive"."""

    name = "llm"

    def __init__(self, settings: Settings | None = None, embedder=None, *,
                 transport: httpx.BaseTransport | None = None, **_: object) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.embedder = embedder
        self._transport = transport
        self._client: httpx.Client | None = None
        self._model: str | None = self.settings.llm_model or None
        self._fallback = None

    def __repr__(self) -> str:  # never shows the key
        return f"LLMAnswerer(base_url={self.base_url!r}, model={self.settings.llm_model!r})"

    # -- configuration -------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return self.settings.llm_configured

    @property
    def base_url(self) -> str:
        """The endpoint without any ``user:password@`` (those go to the client as basic auth, so
        they never appear in URLs that httpx or we log)."""
        url = self.settings.llm_base_url or (OPENAI_BASE_URL if self.settings.llm_api_key else "")
        return _split_userinfo(url)[0].rstrip("/")

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.settings.llm_api_key:
            h["Authorization"] = f"Bearer {self.settings.llm_api_key}"
        return h

    def _http(self) -> httpx.Client:
        if self._client is None:
            kw = {"transport": self._transport} if self._transport is not None else {}
            auth = _split_userinfo(self.settings.llm_base_url)[1]
            self._client = httpx.Client(follow_redirects=False, auth=auth, **kw)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _scrub(self, text: str) -> str:
        key = self.settings.llm_api_key
        if key:
            text = text.replace(key, "***")
        text = re.sub(r"(\w+://)[^/\s@]+@", r"\1***@", text)  # user:password@ in any URL
        text = re.sub(r"\S*\*{3,}\S*", "***", text)  # masked keys servers echo, like "sk-abc***wxyz"
        return re.sub(r"\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-]{6,}", r"\1***", text)

    def _timeout(self, deadline: float) -> httpx.Timeout:
        left = max(0.01, deadline - time.monotonic())
        return httpx.Timeout(left, connect=min(left, CONNECT_TIMEOUT))

    # -- errors --------------------------------------------------------------------
    def _http_error(self, status: int, body: bytes) -> LLMError:
        detail = ""
        try:
            obj = json.loads(body.decode("utf-8", "replace"))
            err = obj.get("error", obj) if isinstance(obj, dict) else obj
            detail = str(err.get("message", "") if isinstance(err, dict) else err)
        except (ValueError, AttributeError):
            detail = body.decode("utf-8", "replace")
        detail = self._scrub(" ".join(detail.split()))[:200]
        where = f"{self.base_url}/chat/completions"
        if status == 401:
            return LLMError(f"the LLM endpoint rejected the API key (HTTP 401); check RAG_LLM_API_KEY")
        if status == 403:
            return LLMError("the LLM endpoint refused access (HTTP 403); check RAG_LLM_API_KEY "
                            "and RAG_LLM_MODEL")
        if status == 404:
            msg = f"the LLM endpoint {where} answered HTTP 404; check RAG_LLM_BASE_URL (usually ends in /v1) and RAG_LLM_MODEL"
        elif status == 429:
            msg = "the LLM endpoint is rate-limiting or out of quota (HTTP 429)"
        elif status >= 500:
            msg = f"the LLM server failed (HTTP {status})"
        else:
            msg = f"the LLM endpoint rejected the request (HTTP {status})"
        return LLMError(msg + (f": {detail}" if detail else ""))

    def _transport_error(self, exc: Exception) -> LLMError:
        if isinstance(exc, httpx.ConnectTimeout):
            return LLMError(f"could not connect to the LLM at {self.base_url} in time")
        if isinstance(exc, httpx.ConnectError):
            return LLMError(f"could not connect to the LLM at {self.base_url} "
                            f"(is the server running? check RAG_LLM_BASE_URL)")
        if isinstance(exc, httpx.TimeoutException):
            return LLMError(f"the LLM did not finish within {self.settings.llm_timeout:g} s (RAG_LLM_TIMEOUT)")
        if isinstance(exc, httpx.HTTPError):
            return LLMError(f"talking to the LLM at {self.base_url} failed: "
                            f"{self._scrub(type(exc).__name__ + ': ' + str(exc))[:200]}")
        return LLMError(f"the LLM call failed: {self._scrub(type(exc).__name__ + ': ' + str(exc))[:200]}")

    # -- HTTP ----------------------------------------------------------------------
    def model_name(self, deadline: float | None = None) -> str:
        """``llm_model``, else OpenAI's default, else the first model the server lists."""
        if self._model:
            return self._model
        if self.base_url == OPENAI_BASE_URL:
            self._model = OPENAI_DEFAULT_MODEL
            return self._model
        deadline = deadline or time.monotonic() + self.settings.llm_timeout
        try:
            r = self._http().get(f"{self.base_url}/models", headers=self._headers(),
                                 timeout=self._timeout(deadline))
        except Exception as exc:
            raise self._transport_error(exc) from None
        if r.status_code >= 400:
            raise self._http_error(r.status_code, r.content[:4000])
        try:
            self._model = str(r.json()["data"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError("the LLM server lists no model at /models; set RAG_LLM_MODEL") from None
        log.info("LLM model not set; using %s from %s/models", self._model, self.base_url)
        return self._model

    def _payload(self, messages: list[dict], max_tokens: int, stream: bool, deadline: float) -> dict:
        return {"model": self.model_name(deadline), "messages": messages, "max_tokens": max_tokens,
                "temperature": 0, "stream": stream}

    def complete(self, messages: list[dict], *, max_tokens: int = 96,
                 timeout: float | None = None) -> str:
        """One non-streamed chat completion (used e.g. to condense follow-up questions)."""
        if not self.configured:
            raise LLMError("no LLM configured (set RAG_LLM_BASE_URL or RAG_LLM_API_KEY)")
        limit = self.settings.llm_timeout if timeout is None else min(timeout, self.settings.llm_timeout)
        deadline = time.monotonic() + limit  # a caller's timeout can only shorten RAG_LLM_TIMEOUT
        payload = self._payload(messages, max_tokens, False, deadline)
        try:
            r = self._http().post(f"{self.base_url}/chat/completions", json=payload,
                                  headers=self._headers(), timeout=self._timeout(deadline))
        except Exception as exc:
            raise self._transport_error(exc) from None
        if r.status_code >= 400:
            raise self._http_error(r.status_code, r.content[:4000])
        try:
            return str(r.json()["choices"][0]["message"]["content"] or "")
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError("the LLM endpoint sent a malformed completion") from None

    def _read_stream(self, payload: dict, deadline: float, out: queue.Queue,
                     stop: threading.Event) -> None:
        """Worker thread: POST, parse SSE, put ("delta", str) / ("done", None) / ("error", exc)."""
        try:
            with self._http().stream("POST", f"{self.base_url}/chat/completions", json=payload,
                                     headers={**self._headers(), "Accept": "text/event-stream"},
                                     timeout=self._timeout(deadline)) as resp:
                if resp.status_code >= 400:
                    body = b""
                    for part in resp.iter_bytes():
                        body += part
                        if len(body) > 4000:
                            break
                    out.put(("error", self._http_error(resp.status_code, body[:4000])))
                    return
                ctype = resp.headers.get("content-type", "")
                if "application/json" in ctype:  # server ignored stream=true
                    body = resp.read()
                    try:
                        text = json.loads(body)["choices"][0]["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError):
                        out.put(("error", LLMError("the LLM endpoint sent a malformed reply")))
                        return
                    out.put(("delta", text))
                    out.put(("done", None))
                    return
                finished = False
                for line in resp.iter_lines():
                    if stop.is_set():
                        return
                    line = line.strip()
                    if not line or line.startswith(":") or line.startswith(("event:", "id:", "retry:")):
                        continue
                    if not line.startswith("data:"):
                        out.put(("error", LLMError("the LLM endpoint sent a malformed stream "
                                                   "(not server-sent events)")))
                        return
                    data = line[5:].strip()
                    if data == "[DONE]":
                        out.put(("done", None))
                        return
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        out.put(("error", LLMError("the LLM endpoint sent a malformed stream (bad JSON)")))
                        return
                    if not isinstance(obj, dict):
                        out.put(("error", LLMError("the LLM endpoint sent a malformed stream")))
                        return
                    if obj.get("error"):
                        err = obj["error"]
                        msg = err.get("message", "") if isinstance(err, dict) else str(err)
                        out.put(("error", LLMError("the LLM server reported an error: "
                                                   + self._scrub(str(msg))[:200])))
                        return
                    for choice in obj.get("choices") or []:
                        if not isinstance(choice, dict):
                            continue
                        delta = choice.get("delta") or {}
                        content = delta.get("content") if isinstance(delta, dict) else None
                        if content is None:
                            content = choice.get("text")  # legacy completions shape
                        if isinstance(content, str) and content:
                            out.put(("delta", content))
                        if choice.get("finish_reason"):
                            finished = True
                if finished:  # some servers close without [DONE]
                    out.put(("done", None))
                else:
                    out.put(("error", LLMError("the LLM stream ended before the answer was complete")))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a fallback notice
            out.put(("error", self._transport_error(exc)))

    def chat_stream(self, messages: list[dict], *, max_tokens: int | None = None,
                    timeout: float | None = None) -> Iterator[str]:
        """Yield content deltas; raise ``LLMError`` on any failure or after ``timeout`` seconds."""
        if not self.configured:
            raise LLMError("no LLM configured (set RAG_LLM_BASE_URL or RAG_LLM_API_KEY)")
        timeout = timeout if timeout is not None else self.settings.llm_timeout
        deadline = time.monotonic() + timeout
        payload = self._payload(messages, max_tokens or self.settings.llm_max_tokens, True, deadline)
        out: queue.Queue = queue.Queue()
        stop = threading.Event()
        worker = threading.Thread(target=self._read_stream, args=(payload, deadline, out, stop),
                                  name="llm-stream", daemon=True)
        worker.start()
        try:
            while True:
                left = deadline - time.monotonic()
                try:
                    kind, value = out.get(timeout=max(0.0, left))
                except queue.Empty:
                    raise LLMError(f"the LLM did not finish within {timeout:g} s "
                                   f"(RAG_LLM_TIMEOUT)") from None
                if kind == "delta":
                    yield value
                elif kind == "done":
                    return
                else:
                    raise value
        finally:
            stop.set()

    # -- answering -----------------------------------------------------------------
    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        return final_answer(self.stream(question, hits))

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str | Answer]:
        """Yield text deltas, then the final ``Answer`` (see the module doc)."""
        hits = list(hits)
        if not self.configured:
            yield from self._fall_back(question, hits, "No LLM is configured (set RAG_LLM_BASE_URL "
                                       "or RAG_LLM_API_KEY).", streamed=False)
            return
        if not hits:
            yield NOT_ANSWERED
            yield Answer(NOT_ANSWERED, [], [], answered=False, answerer=self.name)
            return
        try:
            prompt = build_prompt(question, hits, context_window=self.settings.llm_context_window,
                                  max_tokens=self.settings.llm_max_tokens)
        except RagError as exc:
            yield from self._fall_back(question, hits, str(exc), streamed=False)
            return
        if len(prompt.sources) < len(hits):
            log.info("LLM prompt: %d of %d passages fit llm_context_window=%d",
                     len(prompt.sources), len(hits), self.settings.llm_context_window)
        parts: list[str] = []
        try:
            for delta in self.chat_stream(prompt.messages):
                parts.append(delta)
                yield delta
        except LLMError as exc:
            yield from self._fall_back(question, hits, str(exc), streamed=bool(parts))
            return
        raw = "".join(parts)
        if not raw.strip():
            yield from self._fall_back(question, hits, "the LLM returned an empty answer", streamed=False)
            return
        yield self.finish(raw, prompt, hits)

    def finish(self, raw: str, prompt: Prompt, hits: Sequence[Hit]) -> Answer:
        """Check markers, find citations and quotes, flag unsupported sentences."""
        valid = {s.n for s in prompt.sources}
        text, invalid = clean_markers(raw, valid)
        if invalid:
            log.info("removed citation markers to passages not in the prompt: %s", sorted(set(invalid)))
        answered = not is_refusal(text)
        checker = SupportChecker(self.embedder)
        citations: list[Citation] = []
        for n in cited_numbers(text, valid):
            src = prompt.source(n)
            claims = " ".join(strip_markers(s.text) for s in split_sentences(text) if f"[{n}]" in s.text)
            span = checker.best_sentence(claims or text, src.chunk) if answered else None
            chunk = src.hit.chunk
            if span is None:
                citations.append(Citation(n=n, chunk=chunk))
            else:
                citations.append(Citation(n=n, chunk=chunk, quote=span.text,
                                          quote_start=chunk.start + span.start,
                                          quote_end=chunk.start + span.end))
        unsupported: list[str] = []
        if answered:
            shown = {s.n: s.chunk for s in prompt.sources}
            unsupported = unsupported_sentences(text, shown, list(shown.values()), checker)
        return Answer(text=text, citations=citations, hits=list(hits), answered=answered,
                      answerer=self.name, unsupported=unsupported)

    # -- fallback ------------------------------------------------------------------
    def _fall_back(self, question: str, hits: list[Hit], reason: str,
                   streamed: bool) -> Iterator[str | Answer]:
        reason = self._scrub(reason).rstrip(".")
        notice = f"LLM unavailable: {reason}. Showing the extractive answer instead."
        if streamed:
            notice = (f"The LLM answer was interrupted: {reason}. The partial text was discarded; "
                      f"showing the extractive answer instead.")
        log.warning("LLM answerer falling back to extractive: %s", reason)
        try:
            if self._fallback is None:
                self._fallback = get_answerer("extractive", settings=self.settings, embedder=self.embedder)
            final = None
            for item in stream_answer(self._fallback, question, hits):
                if isinstance(item, Answer):
                    final = item
                elif not streamed:
                    yield item
        except Exception as exc:  # noqa: BLE001 - the user still gets a notice
            log.error("extractive fallback failed: %s", exc)
            yield Answer("", [], list(hits), answered=False, answerer=self.name,
                         notice=f"{notice} (The extractive answerer failed too: {exc})")
            return
        extra = f" {final.notice}" if final.notice else ""
        yield replace(final, notice=notice + extra)
