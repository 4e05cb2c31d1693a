"""Keeping secrets (API keys, URL passwords) out of messages, reprs and logs.

``Redactor(key, password)`` replaces every occurrence of its secrets (raw and URL-encoded) with
``***``, plus ``user:password@`` in any URL and key-looking strings a server may echo masked or
whole (``sk-abc***wxyz``, ``sk-...``). Live redactors also scrub the records of the HTTP
libraries' loggers: httpcore logs response headers at DEBUG, and a server may put a key there
(a redirect ``Location``, an echo header).
"""
from __future__ import annotations

import logging
import re
import weakref
from urllib.parse import quote, unquote

MIN_SECRET_CHARS = 4  # shorter passwords are not searched for in text (they would garble it)
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None, str]:
    """``https://user:pw@host/v1`` -> (``https://host/v1``, ("user", "pw"), raw ``pw``); others unchanged."""
    m = re.match(r"(?P<scheme>\w+://)(?P<user>[^/\s@:]*)(?::(?P<pw>[^/\s@]*))?@(?P<rest>.*)", url or "")
    if not m:
        return url or "", None, ""
    return m["scheme"] + m["rest"], (unquote(m["user"]), unquote(m["pw"] or "")), m["pw"] or ""


class Redactor:
    """Scrubs the given secrets from text; while alive, from the HTTP loggers' records too."""

    def __init__(self, *secrets: str) -> None:
        forms = {f for s in secrets if s for f in (s, quote(s, safe=""), unquote(s))}
        self._secrets = sorted((f for f in forms if len(f) >= MIN_SECRET_CHARS), key=len, reverse=True)
        _LOG_FILTER.redactors.add(self)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = re.sub(r"(\w+://)[^/\s@]+@", r"\1***@", text)  # user:password@ in any URL
        text = re.sub(r"\S*\*{3,}\S*", "***", text)  # masked keys servers echo, like "sk-abc***wxyz"
        return re.sub(r"\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-]{6,}", r"\1***", text)


class _LogFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = list(self.redactors)
        if redactors:
            msg = clean = record.getMessage()
            for r in redactors:
                clean = r(clean)
            if clean != msg:
                record.msg, record.args = clean, ()
        return True


_LOG_FILTER = _LogFilter()
for _name in HTTP_LOGGERS:
    logging.getLogger(_name).addFilter(_LOG_FILTER)
