"""Start the real chat page on a free loopback port over a temporary seeds/index folder."""
from __future__ import annotations

import os
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "seeds" / "000_2dc09e9634033631.txt"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp: Path, **settings_overrides) -> Iterator[tuple[str, Path]]:
    """Serve the page over a copy of the seed file; yields (url, seeds_dir)."""
    from rag import Assistant, Settings
    from ui.app import build_app, launch_kwargs

    seeds, index = tmp / "seeds", tmp / "index"
    seeds.mkdir(parents=True)
    shutil.copy(SEED_FILE, seeds / SEED_FILE.name)
    # defaults, not the caller's RAG_* environment
    settings = Settings.from_env({}, seeds_dir=seeds, index_dir=index, **settings_overrides)
    assistant = Assistant.open(settings=settings)
    app = build_app(assistant)
    app.queue()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        yield f"http://127.0.0.1:{port}/", seeds
    finally:
        app.close()
