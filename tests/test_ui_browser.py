"""The chat page in a real browser (Debian chromium via Playwright) over a real server and model."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    from tests.ui_helpers import CHROMIUM, CHROMIUM_ARGS, TITLE, free_port, running_app
except ImportError:
    from ui_helpers import CHROMIUM, CHROMIUM_ARGS, TITLE, free_port, running_app

pytestmark = pytest.mark.slow

NEW_TITLE = "The Puffin Census of Hornøya"
NEW_ARTICLE = f"""{NEW_TITLE}

By Ingrid Solberg, Arctic Ledger, 2/14/25

Every June the volunteers of the Vardø bird society row out to the island of Hornøya to count its seabirds.
This year the count was led by the retired ferry captain Torvald Ekerholm, who has joined the census since 1998.
Torvald Ekerholm and his team counted 4,312 nesting puffins on Hornøya in June 2024, the highest number on record.
The society plans to publish the full tally, including razorbills and guillemots, in its spring newsletter.
"""
NEW_QUESTION = "How many nesting puffins did Torvald Ekerholm's team count on Hornøya?"
ANSWER_TIMEOUT = 120_000  # ms; the first question also warms the model up
INDEX_TIMEOUT = 300_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # an LLM endpoint is configured but nothing listens there: the page must say so and fall back
    dead_llm = f"http://127.0.0.1:{free_port()}/v1"
    with running_app(tmp_path_factory.mktemp("ui_browser"), llm_base_url=dead_llm, llm_model="none",
                     llm_timeout=5.0) as (url, seeds):
        yield url, seeds


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "needs Debian's chromium: apt-get install chromium (or make install-test)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(server, browser):
    url, _ = server
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.set_default_timeout(30_000)
    pg.goto(url)
    pg.wait_for_selector("#question textarea")
    pg.wait_for_selector("#index-status table")
    yield pg
    pg.close()


def ask(page, question: str) -> None:
    """Ask and wait until one more finished answer (sources or 'closest passages') is in the chat."""
    before = page.locator("#chat .rag-answer .rag-sources").count()
    page.fill("#question textarea", question)
    page.click("#ask-button")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .rag-answer .rag-sources').length > n",
        arg=before, timeout=ANSWER_TIMEOUT)
    page.wait_for_selector("#ask-button:not([disabled])")  # the answer's event has finished


def last_answer(page):
    return page.locator("#chat .rag-answer").last


def test_ask_shows_answer_with_sources(page, tmp_path):
    ask(page, "How many tanks did Russia produce in 2024?")
    answer = last_answer(page)
    assert "1,500" in answer.locator("p").first.inner_text()
    source = answer.locator(".rag-source").first
    assert source.locator(".title").inner_text() == TITLE
    assert "Matthew Blackburn" in source.locator(".byline").inner_text()
    quote = source.locator(".quote mark").inner_text()
    assert "1,500 tanks in 2024" in quote
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
    # open the source: the whole passage, the supporting sentence highlighted in it
    source.locator("summary").click()
    passage = source.locator(".passage")
    passage.wait_for(state="visible")
    assert passage.locator("mark").inner_text() == quote
    assert len(passage.inner_text()) > len(quote)
    page.screenshot(path=str(tmp_path / "answer_open_source.png"), full_page=True)


def test_follow_up_and_clear(page):
    ask(page, "How many tanks did Russia produce in 2024?")
    ask(page, "And how many armored vehicles?")
    assert page.locator("#chat .rag-answer").count() == 2
    assert "5,700" in last_answer(page).inner_text()
    page.click("#clear")
    page.wait_for_function("document.querySelectorAll('#chat .rag-answer').length == 0")


def test_upload_new_article_then_ask_it(page, server, tmp_path):
    _, seeds = server
    assert "Articles6" in page.inner_text("#index-status").replace("\t", "").replace(" ", "")
    page.set_input_files("#upload input[type=file]", files=[
        {"name": "puffin_census.txt", "mimeType": "text/plain", "buffer": NEW_ARTICLE.encode()}])
    page.wait_for_selector("#upload-message .rag-ok", timeout=INDEX_TIMEOUT)
    assert NEW_TITLE in page.inner_text("#upload-message")
    assert (seeds / "puffin_census.txt").read_text(encoding="utf-8") == NEW_ARTICLE
    page.wait_for_function("document.querySelector('#index-status').textContent.includes('The Puffin Census')")
    assert "Articles7" in page.inner_text("#index-status").replace("\t", "").replace(" ", "")
    page.screenshot(path=str(tmp_path / "uploaded.png"), full_page=True)

    ask(page, NEW_QUESTION)
    answer = last_answer(page)
    assert "4,312" in answer.locator("p").first.inner_text()
    source = answer.locator(".rag-source").first
    assert source.locator(".title").inner_text() == NEW_TITLE
    assert "4,312 nesting puffins" in source.locator(".quote mark").inner_text()
    page.screenshot(path=str(tmp_path / "new_answer.png"), full_page=True)


def test_empty_and_too_long_question_show_a_message(page, tmp_path):
    page.click("#ask-button")
    page.wait_for_selector("#ask-message .rag-error")
    assert "type a question" in page.inner_text("#ask-message")
    assert page.locator("#chat .rag-answer").count() == 0

    page.fill("#question textarea", "why " * 1000)
    page.click("#ask-button")
    page.wait_for_function("document.querySelector('#ask-message').innerText.includes('too long')")
    assert page.locator("#chat .rag-answer").count() == 0
    page.screenshot(path=str(tmp_path / "too_long.png"), full_page=True)
    # the page still answers afterwards, and the message goes away
    ask(page, "How many tanks did Russia produce in 2024?")
    assert page.inner_text("#ask-message").strip() == ""


def test_binary_and_empty_uploads_show_a_message(page, server, tmp_path):
    _, seeds = server
    page.set_input_files("#upload input[type=file]", files=[
        {"name": "blob.txt", "mimeType": "text/plain", "buffer": bytes(range(256)) * 40}])
    page.wait_for_selector("#upload-message .rag-error", timeout=INDEX_TIMEOUT)
    assert "blob.txt" in page.inner_text("#upload-message")
    page.screenshot(path=str(tmp_path / "binary_upload.png"), full_page=True)
    assert not (seeds / "blob.txt").exists()

    page.set_input_files("#upload input[type=file]", files=[
        {"name": "empty.md", "mimeType": "text/markdown", "buffer": b""}])
    page.wait_for_function(
        "document.querySelector('#upload-message').innerText.includes('empty.md')", timeout=INDEX_TIMEOUT)
    assert "empty" in page.inner_text("#upload-message")
    assert not (seeds / "empty.md").exists()
    ask(page, "How many tanks did Russia produce in 2024?")  # still serving


def test_llm_down_shows_notice_and_fallback_answer(page, tmp_path):
    page.click("#answerer input")
    page.get_by_role("option", name="llm", exact=True).click()
    assert page.input_value("#answerer input") == "llm"
    ask(page, "How many tanks did Russia produce in 2024?")
    answer = last_answer(page)
    assert answer.locator(".notice").is_visible()
    assert "could not connect" in answer.locator(".notice").inner_text()  # the LLM's failure, named
    assert "1,500" in answer.inner_text()  # the extractive fallback still answers, with its sources
    assert answer.locator(".rag-source .title").first.inner_text() == TITLE
    page.screenshot(path=str(tmp_path / "llm_down.png"), full_page=True)


def test_oversized_upload_is_refused_with_a_message(page, server):
    _, seeds = server
    page.set_input_files("#upload input[type=file]", files=[
        {"name": "huge.txt", "mimeType": "text/plain", "buffer": b"words " * (1024 * 1024)}])  # 6 MB
    toast = page.locator(".toast-body", has_text="maximum allowed size")
    toast.first.wait_for(state="visible")
    assert "huge.txt" in toast.first.inner_text()
    assert not (seeds / "huge.txt").exists()
