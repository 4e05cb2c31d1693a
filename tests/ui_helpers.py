"""Start the real chat page on a free loopback port over a temporary seeds/index folder."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

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


ANSWER_TIMEOUT = 120_000  # ms; the first question also warms the model up
INDEX_TIMEOUT = 300_000


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(server, browser):
    """A fresh page on the module's ``server`` (a ``(url, seeds)`` pair or an object with ``.url``)."""
    pg = open_page(browser, server.url if hasattr(server, "url") else server[0])
    yield pg
    pg.close()


def launch_chromium(playwright):
    """Debian's chromium, headless (never a downloaded browser)."""
    assert Path(CHROMIUM).exists(), "needs Debian's chromium: apt-get install chromium (or make install-test)"
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def open_page(browser, url: str, width: int = 1400, height: int = 1000):
    """A fresh page (its own browser storage) on the chat, once the index status has loaded."""
    pg = browser.new_page(viewport={"width": width, "height": height})
    pg.set_default_timeout(60_000)
    pg.goto(url)
    pg.wait_for_selector("#question textarea")
    pg.wait_for_selector("#doc-list li.doc")  # the documents panel has loaded from the index
    return pg


def ask(page, question: str) -> None:
    """Ask and wait until one more finished answer (sources or 'closest passages') is in the chat."""
    before = page.locator("#chat .rag-answer .rag-sources").count()
    page.fill("#question textarea", question)
    page.click("#ask-button")
    wait_for_answers(page, before + 1)


def wait_for_answers(page, n: int) -> None:
    """Until the chat holds ``n`` finished answers and the Ask button is back."""
    page.wait_for_function("n => document.querySelectorAll('#chat .rag-answer .rag-sources').length >= n",
                           arg=n, timeout=ANSWER_TIMEOUT)
    page.wait_for_selector("#ask-button:not([disabled])")  # the answer's event has finished


def last_answer(page):
    return page.locator("#chat .rag-answer").last


def choose(page, elem_id: str, option: str) -> None:
    """Pick ``option`` in the dropdown ``#elem_id``."""
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()
    assert page.input_value(f"#{elem_id} input") == option
