"""Where the chat page may listen, checked before the index is built and Gradio imported."""
from __future__ import annotations

import errno
import socket

from .errors import ServeError


def check_listen(host: str, port: int) -> None:
    """A ServeError (one line) if the page could not listen on ``host``:``port``: a busy port,
    an unknown host, an address that is not this machine's."""
    if not 0 < port < 65536:
        raise ServeError(f"port {port} is not a port number (1-65535): choose one with --port or RAG_PORT")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(f"cannot listen on {host!r}: unknown host ({getattr(exc, 'strerror', None) or exc}): "
                         "give an address such as 127.0.0.1 with --host or RAG_HOST") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server does
        try:
            sock.bind(addr)
        except OSError as exc:
            hint = "choose another with --port or RAG_PORT" if exc.errno == errno.EADDRINUSE else \
                "check --host / --port (RAG_HOST, RAG_PORT)"
            raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): {hint}") from None
