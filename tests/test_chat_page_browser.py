"""The chat page in a real headless Chromium (Debian ``chromium``, driven by playwright).

A real Assistant over a real index of seeds/ behind a real Gradio server on a free
127.0.0.1 port; what the page shows is compared with what the Python API answers.
Screenshots go to ``artifacts/`` (git-ignored). Gradio keeps a connection open, so the
tests wait for elements, never for network idle.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
XSS = "<img src=x onerror=alert(1)>"
TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def browser_assistant(tmp_path_factory):
    from assistant import Assistant

    return Assistant.open(index=tmp_path_factory.mktemp("browser-index"))


@pytest.fixture(scope="module")
def feedback_file(tmp_path_factory):
    return tmp_path_factory.mktemp("feedback") / "feedback.jsonl"


@pytest.fixture(scope="module")
def page_url(browser_assistant, feedback_file):
    from assistant.chat_page import build_app, launch

    app = build_app(browser_assistant, feedback_path=feedback_file)  # default streaming pace
    _, url, _ = launch(app, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    yield url
    app.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or deselect with -m 'not browser')")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """A page with every request URL, console message and dialog recorded."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.requests: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("error", str(e))))

        def dismiss(dialog):
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", dismiss)
        self.page.goto(url)
        self.page.locator("#question textarea").wait_for()

    def close(self):
        self.context.close()

    def ask(self, question: str, answer_index: int):
        box = self.page.locator("#question textarea")
        box.fill(question)
        box.press("Enter")
        self.wait_for_answer(answer_index)

    def wait_for_answer(self, answer_index: int):
        # the source panel is redrawn once the final answer (with citations) is in
        self.page.locator(f'#sources .source-panel[data-answer="{answer_index}"]').wait_for()

    def bot_messages(self) -> list[str]:
        return self.page.locator('#chat [data-testid="bot"]').all_inner_texts()

    def user_messages(self) -> list[str]:
        return self.page.locator('#chat [data-testid="user"]').all_inner_texts()

    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"]


@pytest.fixture
def watched(browser, page_url):
    w = Watched(browser, page_url)
    yield w
    w.close()


def marked(page, cls: str) -> str:
    """The source panel's text highlighted for one citation (its marks, joined)."""
    return squash("".join(page.locator(f"#sources mark.{cls}").all_text_contents()))


def bubble_text(answer, asked: str) -> str:
    """What the chat bubble of ``answer`` reads (label, answer, how a follow-up was understood)."""
    parts = ["Not in the source"] if answer.abstained else []
    parts.append(answer.answer)
    if answer.resolved_question and answer.resolved_question != asked:
        parts.append(f"(understood as: {answer.resolved_question})")
    if answer.notice:
        parts.append(answer.notice)
    return squash(" ".join(parts))


def only_local(requests: list[str], url: str) -> list[str]:
    here = urlparse(url).netloc
    return [r for r in requests if not r.startswith(("data:", "blob:")) and urlparse(r).netloc != here]


def test_example_answer_citation_and_highlight_then_follow_up(watched, page_url, browser_assistant):
    page = watched.page
    first_q = "What did the Judge require?"
    expected = browser_assistant.ask(first_q)
    assert expected.citations, "the Python API should answer the example with citations"

    # the answer streams in: record the bot message's length as it grows
    page.evaluate("""() => {
        window.lengths = [];
        new MutationObserver(() => {
            const bots = document.querySelectorAll('#chat [data-testid="bot"]');
            if (bots.length) window.lengths.push(bots[bots.length - 1].innerText.length);
        }).observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true});
    }""")
    page.get_by_role("button", name=first_q).click()
    watched.wait_for_answer(0)

    lengths = page.evaluate("window.lengths")
    assert len(set(lengths)) >= 3, f"the answer did not appear progressively: {lengths}"

    assert watched.user_messages() == [first_q]
    assert squash(watched.bot_messages()[0]) == bubble_text(expected, first_q)
    assert page.locator("#chat .cite-ref").count() == len(expected.citations)

    for c in expected.citations:
        assert marked(page, f"cite-{c.n}") == squash(c.quote)
    items = page.locator("#sources ol.citations li").all_inner_texts()
    assert len(items) == len(expected.citations)
    for item, c in zip(items, expected.citations):
        assert c.title in item and squash(c.quote) in squash(item) and f"chars {c.start}–{c.end}" in item
    page.screenshot(path=str(ARTIFACTS / "chat_page_answer.png"))

    # selecting a citation brings its passage into view, marked as focused
    last = expected.citations[-1]
    page.locator(f'#sources .cite-link[data-target="src-cite-{last.n}"]').click()
    focused = page.locator(f"#sources mark.cite-{last.n}.focused").first
    focused.wait_for()
    panel_box = page.locator("#sources").bounding_box()
    mark_box = focused.bounding_box()
    assert panel_box["y"] <= mark_box["y"] <= panel_box["y"] + panel_box["height"]

    # an inline [n] marker in the chat does the same
    page.locator("#chat .cite-ref").first.click()
    page.locator(f"#sources mark.cite-{expected.citations[0].n}.focused").first.wait_for()

    follow_q = "What about the letter?"
    follow = browser_assistant.ask(follow_q, history=[expected])
    watched.ask(follow_q, 1)
    assert watched.user_messages() == [first_q, follow_q]
    assert squash(watched.bot_messages()[1]) == bubble_text(follow, follow_q)
    page.screenshot(path=str(ARTIFACTS / "chat_page_follow_up.png"))

    assert watched.errors() == []
    assert watched.dialogs == []
    assert only_local(watched.requests, page_url) == []


def test_xss_question_is_shown_as_text_and_runs_nothing(watched, page_url, browser_assistant):
    page = watched.page
    watched.ask(XSS, 0)
    assert watched.user_messages() == [XSS]
    assert page.locator('#chat img[src="x"]').count() == 0
    assert page.locator('#sources img[src="x"]').count() == 0
    page.get_by_text("Retrieval details").click()
    assert XSS in page.locator("#retrieval-table").inner_text()
    page.wait_for_timeout(500)  # an onerror handler would have fired by now
    assert watched.dialogs == []
    assert watched.errors() == []
    assert only_local(watched.requests, page_url) == []


def test_abstention_looks_different_and_shows_related_passages(watched, browser_assistant):
    question = "What is the capital of Australia?"
    expected = browser_assistant.ask(question)
    assert expected.abstained, "precondition: the telegram does not answer this"
    watched.ask(question, 0)
    page = watched.page
    assert page.locator("#chat .abstained-label").count() == 1
    assert page.locator("#sources .status.abstained").count() == 1
    assert page.locator("#sources .status.answered").count() == 0
    assert expected.related
    for c in expected.related:
        assert marked(page, f"related-{c.n}") == squash(c.quote)
    page.screenshot(path=str(ARTIFACTS / "chat_page_abstention.png"))


def test_too_long_question_gets_a_clear_message(watched):
    page = watched.page
    box = page.locator("#question textarea")
    box.fill("x" * 2001)
    box.press("Enter")
    page.get_by_text("question too long").first.wait_for()
    assert watched.user_messages() == []
    assert box.input_value() == "x" * 2001  # kept, so it can be shortened


def test_export_feedback_and_new_conversation(watched, feedback_file, browser_assistant):
    page = watched.page
    question = "Who signed this telegram?"
    expected = browser_assistant.ask(question)
    page.get_by_role("button", name=question).click()
    watched.wait_for_answer(0)

    with page.expect_download() as info:
        page.locator("#export").click()
    exported = Path(info.value.path()).read_text(encoding="utf-8")
    assert f"## 1. {question}" in exported
    for c in expected.citations:
        assert c.quote in exported and f"chars {c.start}–{c.end}" in exported

    before = feedback_file.read_text().splitlines() if feedback_file.exists() else []
    page.locator('#chat button[aria-label="Like"], #chat button[title="Like"]').first.click()
    page.get_by_text("vote was recorded").first.wait_for()
    after = feedback_file.read_text().splitlines()
    record = json.loads(after[-1])
    assert len(after) == len(before) + 1
    assert (record["question"], record["answer"], record["vote"]) == (question, expected.answer, "up")

    page.locator("#new-conversation").click()
    page.locator('#sources .source-panel[data-answer="none"]').wait_for()
    assert watched.user_messages() == []
    # the history is gone too: a follow-up is answered as a first question
    follow_q = "And his title?"
    watched.ask(follow_q, 0)
    assert squash(watched.bot_messages()[0]) == bubble_text(browser_assistant.ask(follow_q), follow_q)


def test_each_tab_has_its_own_conversation(browser, page_url):
    tabs = [Watched(browser, page_url) for _ in range(2)]
    try:
        questions = ["What did the Judge require?", "Who signed this telegram?"]
        for tab, q in zip(tabs, questions):
            tab.page.get_by_role("button", name=q).click()
        for tab in tabs:
            tab.wait_for_answer(0)
        assert [tab.user_messages() for tab in tabs] == [[q] for q in questions]
    finally:
        for tab in tabs:
            tab.close()
