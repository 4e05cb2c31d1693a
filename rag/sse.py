"""Server-sent events of an OpenAI-compatible chat-completions stream -> content deltas.

``data: {json}`` lines carry ``choices[].delta.content`` (or the legacy ``choices[].text``);
``data: [DONE]`` ends the stream; comments and ``event:``/``id:``/``retry:`` fields are skipped.
"""
from __future__ import annotations

import json
import threading
from typing import Iterable, Iterator


class StreamError(ValueError):
    """The stream is malformed, reports an error, or ended before the answer was complete."""


def sse_deltas(lines: Iterable[str], stop: threading.Event | None = None) -> Iterator[str]:
    """Content deltas of a chat-completions event stream; ``StreamError`` if malformed or cut short.

    Stops early when ``stop`` is set (the reader gave up). Messages may quote the server:
    the caller scrubs them before they go further."""
    finished = False
    for line in lines:
        if stop is not None and stop.is_set():
            return
        line = line.strip()
        if not line or line.startswith((":", "event:", "id:", "retry:")):
            continue
        if not line.startswith("data:"):
            raise StreamError("the LLM endpoint sent a malformed stream (not server-sent events)")
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            obj = json.loads(data)
        except ValueError:
            raise StreamError("the LLM endpoint sent a malformed stream (bad JSON)") from None
        if not isinstance(obj, dict):
            raise StreamError("the LLM endpoint sent a malformed stream")
        if obj.get("error"):
            err = obj["error"]
            msg = err.get("message", "") if isinstance(err, dict) else str(err)
            raise StreamError("the LLM server reported an error: " + " ".join(str(msg).split())[:200])
        for choice in obj.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if content is None:
                content = choice.get("text")  # legacy completions shape
            if isinstance(content, str) and content:
                yield content
            if choice.get("finish_reason"):
                finished = True
    if not finished:  # some servers close without [DONE], but after a finish_reason
        raise StreamError("the LLM stream ended before the answer was complete")
