"""Start the real chat page on a free loopback port over a temporary seeds/index folder."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from helpers import SEED as SEED_FILE
from llm_servers import free_port
TITLE = "Europe’s Fighting Talk is no Substitute for Hard Power"  # the article of the tank questions
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def running_app(tmp: Path, **settings_overrides) -> Iterator[tuple[str, Path]]:
    """Serve the page over a copy of the seed file; yields (url, seeds_dir)."""
    from rag import Assistant, Settings
    from rag.ui.app import build_app
    from rag.ui.server import launch_kwargs

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
