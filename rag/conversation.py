"""Turn a follow-up question into a standalone one before retrieval.

``condense("and what did he say about sanctions?", history)`` uses the LLM when one is
given (a short rewrite prompt) and a heuristic otherwise, or when the LLM fails:

* no history, or a question that already names what it is about -> unchanged;
* "what about X?" after "What did Dmitriev say about the economy?" -> the previous
  question with its "about ..." part replaced by X;
* pronouns (he, his, they, it, ...) -> the main entity of the previous user question
  substituted for the first one ("what did Kirill Dmitriev say about sanctions?"), or the
  entities appended when no single one stands out.

Earlier user turns are condensed in turn, so entities carry through a chain of follow-ups.
"""
from __future__ import annotations

import logging
import re
from typing import Callable, Protocol, Sequence

from .llm_client import ChatClient

log = logging.getLogger(__name__)

MAX_TURNS = 6
MAX_TURN_CHARS = 600
CONDENSE_TIMEOUT = 20.0  # seconds; a rewrite is short

CONDENSE_SYSTEM = (
    "Rewrite the user's last question as one standalone question that can be understood "
    "without the conversation: replace pronouns and vague references with the names they "
    "refer to. Do not answer it. Reply with the question only."
)

_PRONOUNS = {"he", "him", "his", "she", "her", "hers", "they", "them", "their", "theirs", "it", "its",
             "this", "that", "these", "those", "there", "the latter", "the former"}
_POSSESSIVE = {"his", "her", "their", "its"}
_LEAD_RE = re.compile(r"^\s*(?:and|but|so|also|ok(?:ay)?|then|well|now)\b[\s,]*", re.IGNORECASE)
_WHAT_ABOUT_RE = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<x>.+?)\s*\??\s*$", re.IGNORECASE)
_ABOUT_RE = re.compile(r"\babout\s+(?P<z>[^?.,;]+)", re.IGNORECASE)
_ENTITY_RE = re.compile(
    r"[\"“‘'](?P<q>[^\"”’']{3,60})[\"”’']"
    r"|(?P<e>(?:[A-Z][\w’'.\-]*|[A-Z]{2,})(?:\s+(?:of|the|de|von|van|al|for|and|&)?\s*[A-Z][\w’'.\-]*)*)"
    r"|(?P<n>\b\d{4}\b)")
_QUESTION_WORDS = {"what", "who", "whom", "whose", "when", "where", "why", "how", "which", "did", "does",
                   "do", "is", "are", "was", "were", "can", "could", "would", "should", "has", "have",
                   "according", "in", "on", "and", "the", "a", "an", "tell", "give", "list", "name"}


class ChatModel(Protocol):
    """What rewriting needs of a chat model (``ChatClient`` has it)."""

    def complete(self, messages: list[dict], *, max_tokens: int = ..., timeout: float | None = ...) -> str:
        ...


def entities(text: str) -> list[str]:
    """Capitalised names, quoted phrases and years, in order, without question words."""
    found: list[str] = []
    for m in _ENTITY_RE.finditer(text):
        ent = (m.group("q") or m.group("e") or m.group("n") or "").strip(" .’'")
        words = ent.split()
        while words and words[0].lower() in _QUESTION_WORDS:
            words = words[1:]
        ent = " ".join(words)
        if ent and ent.lower() not in _QUESTION_WORDS and ent.lower() not in _PRONOUNS and ent not in found:
            found.append(ent)
    return found


def _has_pronoun(q: str) -> bool:
    low = f" {q.lower()} "
    return any(re.search(rf"\b{re.escape(p)}\b", low) for p in _PRONOUNS)


def _user_turns(history: Sequence[dict]) -> list[str]:
    return [str(t.get("content", ""))[:MAX_TURN_CHARS] for t in history
            if t.get("role") == "user" and str(t.get("content", "")).strip()]


def heuristic_condense(question: str, history: Sequence[dict]) -> str:
    """Rewrite without a model (see the module doc)."""
    users = _user_turns(history)[-MAX_TURNS:]  # the recent turns carry the subject; bounded recursion
    if not users:
        return question.strip()
    prev = heuristic_condense(users[-1], [{"role": "user", "content": u} for u in users[:-1]])
    q = question.strip()
    ents = entities(prev)
    own = entities(q)
    m = _WHAT_ABOUT_RE.match(q)
    if m:
        x = m.group("x")
        about = _ABOUT_RE.search(prev)
        if about:
            return (prev[: about.start("z")] + x + prev[about.end("z"):]).strip()
        return f"{x} ({', '.join(ents)})" if ents else q
    body = _LEAD_RE.sub("", q)
    body = body[:1].upper() + body[1:] if body else q
    if not _has_pronoun(body) and own and len(body.split()) > 3:
        return body  # names its own subject: already standalone
    if not ents:
        return body
    main = ents[0]
    for p in ("he", "him", "she", "they", "them", "his", "her", "their", "its", "it"):
        pat = re.compile(rf"\b{p}\b", re.IGNORECASE)
        if pat.search(body):
            if len(ents) == 1 or p in ("he", "him", "she", "his", "her"):
                repl = f"{main}'s" if p in _POSSESSIVE else main
                return pat.sub(repl, body, count=1)
            break
    extra = [e for e in ents if e.lower() not in body.lower()]
    return f"{body.rstrip('?').rstrip()} ({', '.join(extra)})?" if extra else body


def _llm_condense(question: str, history: Sequence[dict], llm: ChatModel | Callable[[str], str]) -> str:
    turns = [t for t in history if t.get("role") in ("user", "assistant")][-MAX_TURNS:]
    convo = "\n".join(f"{t['role']}: {' '.join(str(t.get('content', '')).split())[:MAX_TURN_CHARS]}"
                      for t in turns)
    user = f"Conversation:\n{convo}\n\nLast question: {question.strip()}\n\nStandalone question:"
    if hasattr(llm, "complete"):
        out = llm.complete([{"role": "system", "content": CONDENSE_SYSTEM},
                            {"role": "user", "content": user}], max_tokens=96, timeout=CONDENSE_TIMEOUT)
    else:
        out = llm(f"{CONDENSE_SYSTEM}\n\n{user}")
    line = next((ln.strip() for ln in str(out).splitlines() if ln.strip()), "")
    line = re.sub(r"^(?:standalone question|question)\s*:\s*", "", line, flags=re.IGNORECASE)
    return line.strip().strip('"“”')


def condense(question: str, history: Sequence[dict] | None, llm=None, *, settings=None) -> str:
    """A standalone version of ``question`` given the chat ``history`` (list of role/content dicts).

    ``llm``: an object with ``complete(messages, max_tokens=..., timeout=...) -> str`` (e.g.
    ``rag.llm_client.ChatClient``) or a callable ``prompt -> str``. Without one, ``settings`` with a
    configured endpoint (``llm_base_url`` / ``llm_api_key``) give a client for this call. None, an
    unconfigured LLM, or a failure -> the heuristic.
    """
    if not history or not _user_turns(history):
        return question.strip()
    if llm is None and settings is not None and settings.llm_configured:
        owned = ChatClient.from_settings(settings)
        try:
            return condense(question, history, llm=owned)
        finally:
            owned.close()
    if llm is not None and getattr(llm, "configured", True):
        try:
            out = _llm_condense(question, history, llm)
            if 3 <= len(out) <= max(300, 2 * len(question)):
                return out
            log.info("LLM condense gave an unusable rewrite; using the heuristic")
        except Exception as exc:  # noqa: BLE001 - condensing is best effort
            log.warning("LLM condense failed (%s); using the heuristic", exc)
    return heuristic_condense(question, history)
