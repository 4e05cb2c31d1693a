"""Checks of the Python API's arguments: a wrong type or value is an ``ArgumentError`` (a RagError)
saying what is expected, never a TypeError from deep inside (``ask(123)``, ``k="5"``, ``mode=3``,
``history="x"``, ``filters=[...]``). The page's ``/ask`` and user code get the same messages."""
from __future__ import annotations

import numbers
from dataclasses import fields
from pathlib import Path
from typing import Any, Sequence

from .config import MODES
from .errors import ArgumentError, ModelPathError, QuestionError
from .types import Filters

MAX_K = 1000  # passages one call may ask for
ROLES = ("user", "assistant", "system")


def check_text(question: Any, max_chars: int) -> str:
    """``question`` with its whitespace collapsed; QuestionError if it is not usable text."""
    if question is not None and not isinstance(question, str):
        raise QuestionError(f"the question must be text (str), not {type(question).__name__}")
    if question is None or not question.strip():
        raise QuestionError("the question is empty: type a question about the articles")
    bad = _lone_surrogate(question)
    if bad is not None:
        raise QuestionError(f"the question holds an invalid character at position {bad + 1} (a lone surrogate, "
                            "e.g. from bytes that are not UTF-8): retype it")
    q = " ".join(question.split())
    if len(q) > max_chars:
        raise QuestionError(f"the question is too long ({len(q):,} characters; the limit is "
                            f"{max_chars:,}): shorten it")
    return q


def _lone_surrogate(text: str) -> int | None:
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as exc:
        return exc.start


def check_str(value: Any, what: str) -> str:
    """``value`` if it is text of valid Unicode (no lone surrogate), else an ArgumentError."""
    if not isinstance(value, str):
        raise ArgumentError(f"{what} must be text (str), not {_shown(value)}")
    bad = _lone_surrogate(value)
    if bad is not None:
        raise ArgumentError(f"{what} holds an invalid character at position {bad + 1} (a lone surrogate): "
                            "remove it")
    return value


def check_k(k: Any, max_k: int = MAX_K, zero_is_default: bool = False) -> int | None:
    """None (the default; also 0 when ``zero_is_default``, as JSON callers send) or a whole
    number from 1 to ``max_k`` (5.0 counts as 5)."""
    default = " (0 = the default)" if zero_is_default else ""
    if k is None or (zero_is_default and k == 0 and not isinstance(k, bool)):
        return None
    if isinstance(k, float) and k.is_integer():
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ArgumentError(f"k must be a whole number from 1 to {max_k}{default}, not {_shown(k)}")
    if not 1 <= int(k) <= max_k:
        raise ArgumentError(f"k must be from 1 to {max_k}{default}, not {int(k)}")
    return int(k)


def check_choice(value: Any, valid: Sequence[str], what: str, blank_is_default: bool = False) -> str | None:
    """None (the default; also "" when ``blank_is_default``) or one of ``valid``; else an
    ArgumentError listing them."""
    if value is None or (blank_is_default and value == ""):
        return None
    value = check_str(value, what)
    if value not in valid:
        raise ArgumentError(f"unknown {what} {value[:60]!r}; valid: {', '.join(valid)}")
    return value


def check_mode_arg(mode: Any) -> str | None:
    """None (the default) or one of the retrieval modes."""
    return check_choice(mode, MODES, "mode")


def check_name(value: Any, what: str) -> str | None:
    """None (the default) or a non-empty name (the registry then says whether it knows it)."""
    if value is None or (isinstance(value, str) and value):
        return value
    raise ArgumentError(f"{what} must be a name (str), not {_shown(value)}")


def check_history(history: Any, roles: Sequence[str] = ROLES, max_messages: int | None = None,
                  max_chars: int | None = None) -> list[dict] | None:
    """None, or the conversation so far: a list of ``{"role": ..., "content": str}`` (the two
    keys of each are kept), at most ``max_messages`` of at most ``max_chars`` each when given."""
    if history is None:
        return None
    if isinstance(history, (str, bytes, dict)) or not isinstance(history, (list, tuple)):
        raise ArgumentError(f"history must be a list of {{'role': ..., 'content': ...}} messages, "
                            f"not {_shown(history)}")
    if max_messages is not None and len(history) > max_messages:
        raise ArgumentError(f"history holds {len(history)} messages; the limit is {max_messages}")
    clean = []
    for i, turn in enumerate(history):
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            raise ArgumentError(f"history[{i}] must be a {{'role': ..., 'content': ...}} message, "
                                f"not {_shown(turn)}")
        if turn["role"] not in roles:
            raise ArgumentError(f"history[{i}] has role {str(turn['role'])[:40]!r}; valid: {', '.join(roles)}")
        content = check_str(turn["content"], f"history[{i}] content")
        if max_chars is not None and len(content) > max_chars:
            raise ArgumentError(f"history[{i}] content is too long ({len(content):,} characters; "
                                f"the limit is {max_chars:,})")
        clean.append({"role": turn["role"], "content": content})
    return clean or None


_FILTER_FIELDS = tuple(f.name for f in fields(Filters))


def check_filters(filters: Any) -> Filters | None:
    """None, a ``Filters``, or a dict of its fields (outlet, author, article, since, until), each text;
    then normalised by the stores' own check (blanks dropped, dates read in any byline form)."""
    from .store.filters import check_filters as normalise

    if filters is None:
        return None
    if isinstance(filters, dict):
        values = list(filters.items())  # unknown fields: the stores' check names them
    elif isinstance(filters, Filters):
        values = [(name, getattr(filters, name)) for name in _FILTER_FIELDS]
    else:
        raise ArgumentError(f"filters must be a rag.Filters or a dict of {', '.join(_FILTER_FIELDS)}, "
                            f"not {_shown(filters)}")
    for name, value in values:
        if value is not None and not isinstance(value, str):
            raise ArgumentError(f"the filter {name} must be text (str), not {_shown(value)}")
    return normalise(filters)


def _shown(value: Any) -> str:
    """A short description of a bad value: its type and a clipped repr."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def check_model_path(model: str) -> None:
    """A ModelPathError if ``model`` (``RAG_EMBED_MODEL``, ``--model``) is written as a path that
    does not exist; model names (``org/name``) are left to the backend."""
    if not isinstance(model, str):
        raise ModelPathError(f"the embedding model must be a name or a path (str), not {type(model).__name__}")
    looks_like_path = model.startswith(("/", "~", "./", "../", ".\\")) or model.count("/") > 1 or "\\" in model
    if model and looks_like_path and not Path(model).expanduser().exists():
        raise ModelPathError(f"the embedding model {model} does not exist (set by RAG_EMBED_MODEL or --model): "
                             "give an existing model folder, or leave it empty for the bundled model")
