"""The page's collection side in a real browser over a real server and model: the documents panel
(remove), duplicate and bad uploads, and the filter panel."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ui_helpers import (INDEX_TIMEOUT, SEED_FILE, ask, choose, last_answer, running_app)

pytestmark = pytest.mark.slow

LIGHTHOUSE = """The Last Keeper of Skerryvore

By Morag Lindsay, Hebridean Gazette, 5/2/25

The lighthouse of Skerryvore stands on a reef eleven miles south-west of Tiree.
Its last resident keeper, Angus MacPhail, left the tower in 1954 after a fire destroyed the lantern room.
Angus MacPhail kept a logbook of 2,117 ships that passed the reef during his eleven years at the light.
"""
LIGHTHOUSE_QUESTION = "How many ships did Angus MacPhail record passing the Skerryvore reef?"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("ui_docs")) as (url, seeds):
        yield url, seeds



def upload(page, name: str, data: bytes, mime: str = "text/plain") -> None:
    page.set_input_files("#upload input[type=file]", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.wait_for_function(
        "name => [...document.querySelectorAll('#upload-message .rag-ok, #upload-message .rag-error')]"
        ".some(e => e.innerText.includes(name))", arg=name, timeout=INDEX_TIMEOUT)


def test_remove_an_article_from_the_documents_panel(page, server, tmp_path):
    _, seeds = server
    upload(page, "skerryvore.txt", LIGHTHOUSE.encode())
    panel = page.locator("#doc-list")
    page.wait_for_function("document.querySelector('#doc-list').innerText.includes('The Last Keeper')")
    assert "Morag Lindsay, Hebridean Gazette" in panel.inner_text() and "passages" in panel.inner_text()
    ask(page, LIGHTHOUSE_QUESTION)
    assert "2,117" in last_answer(page).locator("p").first.inner_text()
    page.screenshot(path=str(tmp_path / "before_remove.png"), full_page=True)

    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))  # a second thought: nothing happens
    page.get_by_role("button", name="Remove skerryvore.txt").click()
    page.wait_for_timeout(1_000)
    assert asked == ["Remove skerryvore.txt (1 article) from the seeds folder and the index?"]
    assert (seeds / "skerryvore.txt").exists() and "The Last Keeper" in panel.inner_text()
    assert page.inner_text("#doc-message").strip() == ""
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Remove skerryvore.txt").click()
    page.wait_for_selector("#doc-message .rag-ok")
    assert "skerryvore.txt" in page.inner_text("#doc-message")
    page.wait_for_function("!document.querySelector('#doc-list').innerText.includes('The Last Keeper')")
    assert "Europe’s Fighting Talk" in panel.inner_text()  # the other articles stay
    assert not (seeds / "skerryvore.txt").exists()
    page.screenshot(path=str(tmp_path / "after_remove.png"), full_page=True)

    ask(page, LIGHTHOUSE_QUESTION)
    answer = last_answer(page)
    assert "2,117" not in answer.inner_text() and "The Last Keeper" not in answer.inner_text()


def big_article(paragraphs: int = 1200) -> str:
    """A ~300 KB article of distinct paragraphs (it takes a while to embed)."""
    towns = ["Tromsø", "Bodø", "Alta", "Kirkenes", "Narvik", "Hammerfest", "Vadsø", "Harstad"]
    body = "\n\n".join(
        f"In {1900 + i % 120} the harbour of {towns[i % 8]} recorded {37 * i + 11:,} tonnes of cod, "
        f"{i * 13 % 997} boats and {i % 41} storms; the harbour master, a person of habit, wrote each figure "
        f"twice in ledger number {i}, once in ink and once in pencil, and kept them in separate drawers."
        for i in range(paragraphs))
    return f"The Cod Ledgers of the North\n\nBy Siri Nygaard, Fisheries Quarterly, 1/15/25\n\n{body}\n"


def test_a_big_upload_says_what_is_happening(page, tmp_path):
    data = big_article().encode()
    assert len(data) > 250_000
    page.set_input_files("#upload input[type=file]", files=[
        {"name": "cod_ledgers.txt", "mimeType": "text/plain", "buffer": data}])
    page.wait_for_function("""() => /^cod_ledgers.txt: embedding passages [0-9]+\\/[0-9]+/
        .test(document.querySelector('#upload-message').innerText)""", timeout=120_000)
    page.wait_for_timeout(3_000)  # into the embedding
    page.screenshot(path=str(tmp_path / "big_upload_progress.png"))
    page.wait_for_selector("#upload-message .rag-ok", timeout=INDEX_TIMEOUT)
    assert "“The Cod Ledgers of the North”" in page.inner_text("#upload-message")


def test_a_duplicate_upload_is_reported_not_indexed_twice(page, server, tmp_path):
    _, seeds = server
    before = page.locator("#doc-list li.doc").count()
    upload(page, "copy_of_digest.txt", SEED_FILE.read_bytes())
    message = page.inner_text("#upload-message")
    assert page.locator("#upload-message .rag-error").count() == 1 and "copy_of_digest.txt" in message
    assert SEED_FILE.name in message  # says which file already holds it
    page.screenshot(path=str(tmp_path / "duplicate.png"), full_page=True)
    assert not (seeds / "copy_of_digest.txt").exists()
    page.reload()
    page.wait_for_selector("#doc-list li.doc")
    assert page.locator("#doc-list li.doc").count() == before


def test_filter_by_outlet_shows_only_that_outlets_sources(page, tmp_path):
    page.click("#filters > button, #filters .label-wrap")  # open the filter panel
    choose(page, "f-outlet", "Substack")
    ask(page, "What did the authors say about Russia and the United States?")
    bylines = last_answer(page).locator(".rag-source .byline").all_inner_texts()
    assert bylines and all(b.endswith("Substack") for b in bylines), bylines
    assert "Only outlet Substack" in last_answer(page).locator(".searched").inner_text()
    page.screenshot(path=str(tmp_path / "filtered.png"), full_page=True)
    choose(page, "f-outlet", "(any)")
    ask(page, "What did the authors say about Russia and the United States?")
    assert any(not b.endswith("Substack") for b in last_answer(page).locator(".rag-source .byline").all_inner_texts())


def test_a_bad_date_in_the_filter_panel_says_how_to_write_it(page):
    page.click("#filters > button, #filters .label-wrap")
    page.fill("#f-since textarea, #f-since input", "sometime in April")
    page.fill("#question textarea", "What did Lee Fang say?")
    page.click("#ask-button")
    page.wait_for_selector("#ask-message .rag-error")
    assert "sometime in April" in page.inner_text("#ask-message") and "YYYY-MM-DD" in page.inner_text("#ask-message")


def test_binary_and_empty_uploads_show_a_message(page, server, tmp_path):
    _, seeds = server
    upload(page, "blob.txt", bytes(range(256)) * 40)
    assert "blob.txt" in page.inner_text("#upload-message .rag-error")
    page.screenshot(path=str(tmp_path / "binary_upload.png"), full_page=True)
    assert not (seeds / "blob.txt").exists()
    upload(page, "empty.md", b"", "text/markdown")
    assert "empty" in page.inner_text("#upload-message")
    assert not (seeds / "empty.md").exists()
    ask(page, "How many tanks did Russia produce in 2024?")  # still serving


def test_oversized_upload_is_refused_with_a_message(page, server):
    _, seeds = server
    page.set_input_files("#upload input[type=file]", files=[
        {"name": "huge.txt", "mimeType": "text/plain", "buffer": b"words " * (1024 * 1024)}])  # 6 MB
    toast = page.locator(".toast-body", has_text="maximum allowed size")
    toast.first.wait_for(state="visible")
    assert "huge.txt" in toast.first.inner_text()
    assert not (seeds / "huge.txt").exists()
