"""The chat page in a real browser (Debian chromium via Playwright) over a real server and model:
asking, citations that lead to their sources, Stop, reload, follow-ups, uploads, a failing LLM.

The LLM endpoint is a ``FakeLLMServer`` failing with HTTP 503 unless a test makes it stall."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from llm_servers import FakeLLMServer
from ui_helpers import (INDEX_TIMEOUT, TITLE, ask, choose, last_answer, open_page, running_app, wait_for_answers)

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
TANKS = "How many tanks did Russia produce in 2024?"


@pytest.fixture(scope="module")
def llm():
    with FakeLLMServer() as srv:
        srv.behaviour, srv.status = "status", 503  # down until a test says otherwise
        yield srv


@pytest.fixture(scope="module")
def server(tmp_path_factory, llm):
    with running_app(tmp_path_factory.mktemp("ui_browser"), llm_base_url=llm.url, llm_model="fake-model",
                     llm_timeout=5.0) as (url, seeds):
        yield url, seeds



def test_ask_shows_answer_with_sources(page, tmp_path):
    ask(page, TANKS)
    answer = last_answer(page)
    assert "1,500" in answer.locator("p").first.inner_text()
    source = answer.locator(".rag-source").first
    assert source.locator(".title").inner_text() == TITLE
    assert "Matthew Blackburn" in source.locator(".byline").inner_text()
    quote = source.locator(".quote mark").inner_text()
    assert "1,500 tanks in 2024" in quote
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
    # open the source: the whole passage, the supporting sentence highlighted in it
    source.locator("summary").first.click()
    passage = source.locator(".passage")
    passage.wait_for(state="visible")
    assert passage.locator("mark").inner_text() == quote
    assert len(passage.inner_text()) > len(quote)
    page.screenshot(path=str(tmp_path / "answer_open_source.png"), full_page=True)


def test_clicking_a_citation_opens_its_card_and_the_whole_article(page, tmp_path):
    ask(page, TANKS)
    answer = last_answer(page)
    link = answer.locator("p a.cite").first
    card_id = link.get_attribute("href").lstrip("#")
    card = page.locator(f"[id='{card_id}']")
    assert TITLE in link.get_attribute("title") and "1,500 tanks" in link.get_attribute("title")  # on hover
    assert card.get_attribute("open") is None and not card.locator(".passage").is_visible()
    link.click()
    card.locator(".passage").wait_for(state="visible")  # the card is open, its passage shown
    assert card.get_attribute("open") is not None and card.locator(".passage").is_visible()
    assert card.locator(".n").inner_text() == link.inner_text().join("[]")
    where = card.locator(".where").inner_text()  # file, position, date
    assert "000_2dc09e9634033631.txt · characters " in where and "19 Mar 2025" in where
    page.screenshot(path=str(tmp_path / "citation_opened.png"))
    card.locator(".rag-article > summary").click()
    article = card.locator(".article-text")
    article.wait_for(state="visible")
    text = article.inner_text()
    assert text.startswith(TITLE) and len(text) > 5 * len(card.locator(".passage").inner_text())
    assert article.locator(".in-passage mark").inner_text() == card.locator(".quote mark").inner_text()
    page.screenshot(path=str(tmp_path / "whole_article.png"))


def test_follow_up_shows_what_was_searched_and_rewriting_can_be_turned_off(page, tmp_path):
    ask(page, TANKS)
    ask(page, "And how many armored vehicles?")
    searched = last_answer(page).locator(".searched")
    assert "Searched for:" in searched.inner_text() and "armored vehicles" in searched.inner_text()
    assert searched.inner_text() != "Searched for: “And how many armored vehicles?”"
    assert "5,700" in last_answer(page).inner_text()
    page.screenshot(path=str(tmp_path / "follow_up.png"), full_page=True)
    page.uncheck("#rewrite input")
    ask(page, "And how many armored vehicles?")
    assert last_answer(page).locator(".searched").count() == 0  # asked as typed
    page.click("#clear")
    page.wait_for_function("document.querySelectorAll('#chat .rag-answer').length == 0")


def test_examples_ask_when_clicked_and_a_search_state_shows_first(page):
    page.locator("#examples button, #examples td, #examples .gallery-item").filter(
        has_text="Where is Michael Vlahos a senior fellow?").first.click()
    page.wait_for_selector("#chat .rag-searching", timeout=30_000)  # before the first word arrives
    wait_for_answers(page, 1)
    assert "Where is Michael Vlahos a senior fellow?" in page.locator("#chat").inner_text()
    assert "Institute for Peace" in last_answer(page).inner_text()


def test_the_conversation_survives_a_reload(page, tmp_path):
    ask(page, TANKS)
    ask(page, "Where is Michael Vlahos a senior fellow?")
    page.reload()
    page.wait_for_function("document.querySelectorAll('#chat .rag-answer .rag-sources').length == 2")
    chat = page.locator("#chat").inner_text()
    assert TANKS in chat and "1,500" in chat and "Institute for Peace" in chat
    page.screenshot(path=str(tmp_path / "after_reload.png"), full_page=True)
    link = page.locator("#chat .rag-answer").first.locator("p a.cite").first  # still leads somewhere
    page.wait_for_function("window.__ragCites === true")  # the reloaded page's click handler (CITE_JS)
    link.click()
    page.locator(f"[id='{link.get_attribute('href').lstrip('#')}'] .passage").wait_for(state="visible")
    ask(page, "And how many armored vehicles?")  # the follow-up still knows the conversation
    assert "armored vehicles" in last_answer(page).locator(".searched").inner_text()


def test_stop_ends_a_streaming_answer(page, llm, tmp_path):
    llm.behaviour, llm.script = "stall_mid", ["Russia produced ", "around 1,500 tanks ", "in 2024 [1]"]
    try:
        choose(page, "answerer", "llm")
        page.fill("#question textarea", TANKS)
        page.click("#ask-button")
        page.wait_for_function("document.querySelector('#chat').innerText.includes('around 1,500 tanks')",
                               timeout=60_000)  # the LLM stalls after this
        assert page.locator("#stop-button").is_visible() and page.locator("#ask-button").is_disabled()
        page.screenshot(path=str(tmp_path / "streaming.png"))
        page.click("#stop-button")
        page.wait_for_selector("#chat .rag-stopped")
        page.wait_for_selector("#ask-button:not([disabled])")
        assert not page.locator("#stop-button").is_visible()
        assert "around 1,500 tanks" in last_answer(page).inner_text()
        page.wait_for_timeout(7_000)  # past the LLM timeout: no fallback answer replaces the stopped one
        assert last_answer(page).locator(".rag-sources").count() == 0
        assert "Stopped" in last_answer(page).inner_text()
        page.screenshot(path=str(tmp_path / "stopped.png"))
    finally:
        llm.behaviour = "status"
    choose(page, "answerer", "extractive")
    ask(page, TANKS)  # the page answers again
    assert "1,500" in last_answer(page).inner_text()


def test_upload_new_article_then_ask_it(page, server, tmp_path):
    _, seeds = server
    page.set_input_files("#upload input[type=file]", files=[
        {"name": "puffin_census.txt", "mimeType": "text/plain", "buffer": NEW_ARTICLE.encode()}])
    page.wait_for_selector("#upload-message .rag-ok", timeout=INDEX_TIMEOUT)
    assert NEW_TITLE in page.inner_text("#upload-message")
    assert (seeds / "puffin_census.txt").read_text(encoding="utf-8") == NEW_ARTICLE
    page.wait_for_function("document.querySelector('#doc-list').textContent.includes('The Puffin Census')")
    assert "Ingrid Solberg, Arctic Ledger" in page.inner_text("#doc-list")
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
    ask(page, TANKS)
    assert page.inner_text("#ask-message").strip() == ""


def test_llm_down_shows_notice_and_fallback_answer(page, tmp_path):
    choose(page, "answerer", "llm")
    ask(page, TANKS)
    answer = last_answer(page)
    assert answer.locator(".notice").is_visible()
    assert "HTTP 503" in answer.locator(".notice").inner_text()  # the LLM's failure, named
    assert "1,500" in answer.inner_text()  # the extractive fallback still answers, with its sources
    assert answer.locator(".rag-source .title").first.inner_text() == TITLE
    page.screenshot(path=str(tmp_path / "llm_down.png"), full_page=True)


def test_phone_width(server, browser, tmp_path):
    pg = open_page(browser, server[0], width=390, height=844)
    try:
        ask(pg, TANKS)
        pg.locator("#chat .rag-answer p a.cite").first.click()
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
        pg.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    finally:
        pg.close()
