"""Answers from an OpenAI-compatible chat endpoint: prompt, stream, then check the citations.

``LLMAnswerer`` builds the grounded prompt (``prompt.build_prompt``: numbered sources, fitted to
``llm_context_window``), streams the reply through ``rag.llm_client.ChatClient``, and finishes it:
markers normalised and checked (``citations``), a citation with its best supporting sentence per
passage cited, sentences no passage supports flagged (``rag.support``).

* ``[n]`` is the n-th passage of the prompt (highest ranked first); markers to passages not in the
  prompt are removed, so the final ``Answer.text`` may differ from the streamed pieces.
* Any failure (no endpoint configured, timeout, HTTP error, malformed stream, empty reply) raises
  ``AnswererError``; the registered ``llm`` answerer wraps this one in ``FallbackAnswerer``, which
  shows the extractive answer with a notice instead.
"""
from __future__ import annotations

import logging
from typing import Iterator

from ..config import Settings
from ..errors import AnswererError
from ..llm_client import ChatClient
from ..support import SupportChecker, unsupported_sentences
from ..types import Answer, Hit
from .base import StreamingAnswerer
from .citations import clean_markers, cite, is_refusal
from .prompt import NOT_ANSWERED, Prompt, build_prompt

log = logging.getLogger(__name__)


class LLMAnswerer(StreamingAnswerer):
    """Streams a cited answer from the endpoint in ``settings`` (or the ``client`` given)."""

    name = "llm"

    def __init__(self, settings: Settings, embedder=None, *, client: ChatClient | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.client = client if client is not None else ChatClient.from_settings(settings)

    def __repr__(self) -> str:  # never shows the key
        return f"LLMAnswerer({self.client!r})"

    def generate(self, question: str, hits: list[Hit]) -> Iterator[str | Answer]:
        """Yield text deltas, then the final ``Answer``; raise ``AnswererError`` on any failure."""
        if not self.client.configured:
            raise AnswererError("No LLM is configured (set RAG_LLM_BASE_URL or RAG_LLM_API_KEY).")
        if not hits:
            yield NOT_ANSWERED
            yield Answer(NOT_ANSWERED, [], [], answered=False, answerer=self.name)
            return
        prompt = build_prompt(question, hits, context_window=self.settings.llm_context_window,
                              max_tokens=self.settings.llm_max_tokens)
        if len(prompt.sources) < len(hits):
            log.info("LLM prompt: %d of %d passages fit llm_context_window=%d",
                     len(prompt.sources), len(hits), self.settings.llm_context_window)
        parts: list[str] = []
        for delta in self.client.stream(prompt.messages, max_tokens=self.settings.llm_max_tokens):
            parts.append(delta)
            yield delta
        raw = "".join(parts)
        if not raw.strip():
            raise AnswererError("the LLM returned an empty answer")
        yield self.finish(raw, prompt, hits)

    def finish(self, raw: str, prompt: Prompt, hits: list[Hit]) -> Answer:
        """Check markers, find citations and quotes, flag unsupported sentences."""
        valid = {s.n for s in prompt.sources}
        text, invalid = clean_markers(raw, valid)
        if invalid:
            log.info("removed citation markers to passages not in the prompt: %s", sorted(set(invalid)))
        answered = not is_refusal(text)
        checker = SupportChecker(self.embedder)
        citations = cite(text, prompt.sources, checker, quotes=answered)
        unsupported: list[str] = []
        if answered:
            shown = {s.n: s.chunk for s in prompt.sources}
            unsupported = unsupported_sentences(text, shown, list(shown.values()), checker)
        return Answer(text=text, citations=citations, hits=list(hits), answered=answered,
                      answerer=self.name, unsupported=unsupported)
