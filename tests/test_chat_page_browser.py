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
DESKTOP = {"width": 1366, "height": 768}  # a classroom projector
PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


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

    def __init__(self, browser, url: str, viewport: dict | None = None, **options):
        self.context = browser.new_context(viewport=viewport or DESKTOP, accept_downloads=True, **options)
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
        # the source panel is redrawn once the final answer (with citations) is in, and
        # the Ask button is enabled again once the page is ready for the next question
        self.page.locator(f'#sources .source-panel[data-answer="{answer_index}"]').wait_for()
        self.page.locator("button#ask:not([disabled])").wait_for()

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
    """What the chat bubble of ``answer`` reads (label, answer, notice)."""
    parts = ["Not in the source"] if answer.abstained else []
    parts.append(answer.answer)
    if answer.notice:
        parts.append(answer.notice)
    return squash(" ".join(parts))


def question_text(answer, asked: str) -> str:
    """What the question's bubble reads: the question, and how a follow-up was understood."""
    parts = [asked]
    if answer.resolved_question and answer.resolved_question.strip() != asked.strip():
        parts.append(f"understood as: {answer.resolved_question}")
    return squash(" ".join(parts))


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["x"] >= 0 and \
        box["y"] + box["height"] <= size["height"] + 0.5 and box["x"] + box["width"] <= size["width"] + 0.5


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
        assert c.title in item and squash(c.quote) in squash(item) and ".txt" not in item
        tip = page.locator(f'#sources .cite-link[data-target="src-cite-{c.n}"]').get_attribute("title")
        assert f"chars {c.start}–{c.end}" in tip  # the exact span stays in a tooltip
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
    assert follow.resolved_question != follow_q, "precondition: the follow-up is rewritten"
    watched.ask(follow_q, 1)
    assert [squash(t) for t in watched.user_messages()] == [first_q, question_text(follow, follow_q)]
    assert "understood as:" in page.locator('#chat [data-testid="user"]').nth(1).inner_text()
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

    # taking the thumbs-up back records an undo, never a down-vote
    page.locator('#chat button[aria-label="Liked"], #chat button[title="Liked"]').first.click()
    page.get_by_text("vote was taken back").first.wait_for()
    undone = feedback_file.read_text().splitlines()
    assert len(undone) == len(after) + 1
    assert json.loads(undone[-1])["vote"] == "undo"
    assert all(json.loads(line)["vote"] != "down" for line in undone[len(before):])

    page.locator("#new-conversation").click()
    page.locator('#sources .source-panel[data-answer="none"]').wait_for()
    assert watched.user_messages() == []
    # the history is gone too: a follow-up is answered as a first question
    follow_q = "And his title?"
    watched.ask(follow_q, 0)
    assert squash(watched.bot_messages()[0]) == bubble_text(browser_assistant.ask(follow_q), follow_q)
    # ... and the conversation kept in the browser was forgotten too
    watched.page.reload()
    watched.page.locator('#sources .source-panel[data-answer="0"]').wait_for()
    assert watched.user_messages() == [follow_q]


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


# --- issue 11: a classroom projector, a phone, no lost question, readable citations ----------


@pytest.fixture(scope="module")
def slow_url(browser_assistant, tmp_path_factory):
    """The page with a slow reveal, so a test can act while an answer is still being written."""
    from assistant.chat_page import build_app, launch

    app = build_app(browser_assistant, feedback_path=tmp_path_factory.mktemp("slow") / "f.jsonl", stream_delay=0.25)
    _, url, _ = launch(app, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    yield url
    app.close()


def record_panel_states(page):
    """Every state the source panel passes through, with whether it showed highlights then."""
    page.evaluate("""() => {
        window.panelStates = [];
        const note = () => {
            const p = document.querySelector('#sources .source-panel');
            if (!p) return;
            const last = window.panelStates[window.panelStates.length - 1];
            const state = [p.dataset.answer, p.querySelectorAll('mark, ol.citations li').length];
            if (!last || last[0] !== state[0] || last[1] !== state[1]) window.panelStates.push(state);
        };
        note();
        new MutationObserver(note).observe(document.querySelector('#sources'), {subtree: true, childList: true, attributes: true});
    }""")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366x768", "390x844"])
def test_everything_needed_to_ask_is_on_screen_at_load(browser, page_url, viewport):
    w = Watched(browser, page_url, viewport)
    try:
        page = w.page
        assert in_viewport(page, page.locator("#question textarea"))
        assert in_viewport(page, page.locator("#ask"))
        examples = page.locator("#examples button")
        assert sum(in_viewport(page, examples.nth(i)) for i in range(examples.count())) >= 2
        assert page.evaluate("window.scrollY") == 0
        if viewport is DESKTOP:  # on the projector, the whole page fits: nothing below the fold to ask
            assert all(in_viewport(page, examples.nth(i)) for i in range(examples.count()))
            assert in_viewport(page, page.locator("#new-conversation"))
            assert in_viewport(page, page.locator("#export"))
            page.get_by_role("button", name=EXAMPLE).click()
            w.wait_for_answer(0)
            assert page.evaluate("window.scrollY") == 0
            assert in_viewport(page, page.locator("#sources .status"))
            assert in_viewport(page, page.locator("#question textarea"))
        page.screenshot(path=str(ARTIFACTS / f"chat_page_{viewport['width']}_load.png"))
    finally:
        w.close()


EXAMPLE = "What did the Judge require?"


def test_a_question_sent_while_answering_is_asked_next_and_the_panel_clears_at_once(browser, slow_url):
    w = Watched(browser, slow_url)
    try:
        page = w.page
        record_panel_states(page)
        page.get_by_role("button", name=EXAMPLE).click()
        page.locator("#ask[disabled], #ask button[disabled]").first.wait_for()  # visibly busy
        assert "Answering" in page.locator("#ask").inner_text()
        w.wait_for_answer(0)
        states = page.evaluate("window.panelStates")
        assert states[0][0] == "none" and ["pending", 0] in states and states[-1][0] == "0"

        # the next question is sent; a third is typed while the second answer is being written
        record_panel_states(page)
        second, third = "What did the Department expect in return for Gorin's release?", "Who signed this telegram?"
        box = page.locator("#question textarea")
        box.fill(second)
        box.press("Enter")
        page.locator("#ask[disabled]", has_text="Answering").wait_for()
        box.fill(third)  # typed while the answer streams: kept, and asked next
        box.press("Enter")
        page.locator("#queued-note", has_text="will be asked").wait_for()
        # the queued question is sent the moment answer 1 is in, so the panel may show
        # answer 1 for less than a frame: the recorded states see it, a locator may not
        page.wait_for_function("() => window.panelStates.some(s => s[0] === '1')")
        w.wait_for_answer(2)
        # a follow-up may carry "understood as: …" under it; the question asked is what was typed
        assert [squash(t).split(" understood as:")[0] for t in w.user_messages()] == [EXAMPLE, second, third]
        states = page.evaluate("window.panelStates")
        # the panel dropped the old citations the moment each question was sent
        assert [s[0] for s in states if s[0] != "0"][:1] == ["pending"]
        assert all(count == 0 for state, count in states if state == "pending")
        assert [s[0] for s in states].index("1") < [s[0] for s in states].index("2")

        # Enter then a click on Ask at once: one question, no false "empty question"
        box.fill("Who was Mrs. Habicht?")
        box.press("Enter")
        page.evaluate("() => { const b = document.querySelector('button#ask, #ask button'); if (b) b.click(); }")
        w.wait_for_answer(3)
        page.locator("#ask:not([disabled])").wait_for()
        assert len(w.user_messages()) == 4
        assert page.get_by_text("empty question").count() == 0
        assert w.errors() == []
    finally:
        w.close()


def test_phone_tap_on_a_citation_shows_its_sentence_in_place(browser, page_url, browser_assistant):
    expected = browser_assistant.ask(EXAMPLE)
    w = Watched(browser, page_url, PHONE, has_touch=True, is_mobile=True)
    try:
        page = w.page
        page.get_by_role("button", name=EXAMPLE).click()
        w.wait_for_answer(0)
        for c in expected.citations:
            ref = page.locator(f'#chat a.cite-ref[href$="-cite-{c.n}"]')
            ref.scroll_into_view_if_needed()
            ref.tap()
            quote = page.locator(f"#chat .cite-quote.cq-{c.n}")
            quote.wait_for(state="visible")
            assert squash(c.quote) in squash(quote.inner_text())
            assert c.title in quote.inner_text()
            page.wait_for_function(
                """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                              return r.top >= 0 && r.bottom <= window.innerHeight; }""",
                arg=f"#chat .cite-quote.cq-{c.n}")
        page.screenshot(path=str(ARTIFACTS / "chat_page_phone_citation.png"))
    finally:
        w.close()


def test_copy_gives_plain_text_with_numbered_quotes(browser, page_url, browser_assistant):
    question = "What did the Department expect in return for Gorin's release?"
    expected = browser_assistant.ask(question)
    assert expected.citations
    w = Watched(browser, page_url)
    try:
        page = w.page
        w.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.get_by_role("button", name=question).click()
        w.wait_for_answer(0)

        copied = []
        buttons = page.locator("#chat button[aria-label^='Copy']")
        assert buttons.count() == 2  # the question's and the answer's
        for i in range(2):
            page.evaluate("() => navigator.clipboard.writeText('-')")
            buttons.nth(i).click()
            page.wait_for_function("async () => (await navigator.clipboard.readText()) !== '-'")
            copied.append(page.evaluate("() => navigator.clipboard.readText()"))
        assert question in copied  # the question as typed: no "&#x27;"
        (answer_text,) = [t for t in copied if t != question]
        assert "<" not in answer_text and "&#" not in answer_text
        head, _, tail = answer_text.partition("\n\n")
        assert squash(head) == squash(expected.answer)
        for c in expected.citations:
            assert f"[{c.n}] “{squash(c.quote)}” — {c.title}" in squash(tail)
    finally:
        w.close()


def test_reload_after_a_server_restart_restores_the_conversation(browser, browser_assistant, tmp_path):
    from assistant.chat_page import build_app, launch

    port = free_port()
    feedback = tmp_path / "feedback.jsonl"

    def start():
        app = build_app(browser_assistant, feedback_path=feedback, stream_delay=0)
        _, url, _ = launch(app, host="127.0.0.1", port=port, block=False, quiet=True)
        return app, url

    app, url = start()
    w = Watched(browser, url)
    try:
        w.ask(EXAMPLE, 0)
        w.ask("What about the letter?", 1)
        before = [squash(t) for t in w.user_messages()], [squash(t) for t in w.bot_messages()]
        app.close()
        app, url = start()  # same port, a new server process state
        w.page.reload()
        w.page.locator('#sources .source-panel[data-answer="1"]').wait_for()
        assert ([squash(t) for t in w.user_messages()], [squash(t) for t in w.bot_messages()]) == before
        assert w.page.locator("#sources mark").count() > 0
    finally:
        w.close()
        app.close()


# --- issue 14: accessibility -------------------------------------------------------------


def axe_violations(page) -> list[dict]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test does)")
    page.add_script_tag(path=str(AXE))
    # The page at rest: a finite CSS transition still running (a colour fading in) is read
    # by axe at an in-between colour. Infinite animations (a spinner) are not waited for.
    page.wait_for_function("""() => document.getAnimations().every(
        a => a.playState !== 'running' || a.effect.getComputedTiming().iterations === Infinity)""")
    return page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))}));
        }""",
        AXE_TAGS,
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366x768", "390x844"])
def test_no_axe_violations(browser, page_url, viewport):
    w = Watched(browser, page_url, viewport)
    try:
        page = w.page
        found = {"load": axe_violations(page)}
        page.get_by_role("button", name=EXAMPLE).click()
        w.wait_for_answer(0)
        found["answer"] = axe_violations(page)
        w.ask("What is the capital of Australia?", 1)
        page.locator("#sources .status.abstained").wait_for()
        found["abstention"] = axe_violations(page)
        page.get_by_text("Retrieval details").click()
        page.locator("#retrieval-table table").wait_for(state="visible")
        found["retrieval details"] = axe_violations(page)
        page.locator("#large-text-toggle").click()
        page.locator("html.large-text").wait_for(state="attached")
        found["large text"] = axe_violations(page)
        assert {k: v for k, v in found.items() if v} == {}
    finally:
        w.close()


def test_large_text_is_remembered_per_browser(browser, page_url):
    w = Watched(browser, page_url)
    try:
        page = w.page
        toggle = page.locator("#large-text-toggle")
        assert toggle.get_attribute("aria-pressed") == "false"
        size = page.locator("#ask").bounding_box()["height"]
        toggle.click()
        page.locator("#large-text-toggle[aria-pressed='true']").wait_for()
        assert page.locator("#ask").bounding_box()["height"] > size * 1.1
        page.reload()
        page.locator("#large-text-toggle[aria-pressed='true']").wait_for()
        assert page.evaluate("document.documentElement.classList.contains('large-text')")
    finally:
        w.close()


def test_keyboard_only_path(browser, page_url, browser_assistant):
    expected = browser_assistant.ask(EXAMPLE)
    assert expected.citations  # at least one [n] to walk to
    w = Watched(browser, page_url)
    try:
        page = w.page
        page.evaluate("""() => {
            window.announced = [];
            const watch = () => {
                const live = document.getElementById('answer-announcer');
                if (!live) return requestAnimationFrame(watch);
                new MutationObserver(() => window.announced.push(live.textContent))
                    .observe(live, {childList: true, characterData: true, subtree: true});
            };
            watch();
        }""")
        page.evaluate("() => document.activeElement && document.activeElement.blur()")

        def active(js: str):
            return page.evaluate(f"() => {{ const a = document.activeElement; return {js}; }}")

        for _ in range(15):  # Tab reaches the question box
            page.keyboard.press("Tab")
            if active("a.matches('#question textarea')"):
                break
        assert active("a.matches('#question textarea')")
        page.keyboard.type(EXAMPLE)
        page.keyboard.press("Enter")
        w.wait_for_answer(0)
        assert page.get_attribute("#answer-announcer", "aria-live") == "polite"
        page.wait_for_function("() => window.announced.length > 0")
        assert page.evaluate("window.announced") == [f"Answer: {expected.answer}"]  # once, when complete

        # Shift+Tab from the box walks back through the answer: every [n] is reached
        seen = []
        for _ in range(30):
            page.keyboard.press("Shift+Tab")
            href = active("a.matches('#chat a.cite-ref') ? a.getAttribute('href') : null")
            if href:
                seen.append(href)
            if len(set(seen)) == len(expected.citations):
                break
        assert sorted(set(seen)) == sorted(f"#answer-0-cite-{c.n}" for c in expected.citations)
        # focus shows the passage in a popover, without looking away from the answer
        n = int(seen[-1].rsplit("-", 1)[1])
        quote = next(c.quote for c in expected.citations if c.n == n)
        page.locator("#cite-tip").wait_for(state="visible")
        assert squash(quote) in squash(page.locator("#cite-tip").inner_text())

        page.keyboard.press("Enter")  # to the cited sentence in the source panel
        page.wait_for_function(f"() => document.activeElement.matches('#sources mark.cite-{n}')")
        assert squash(quote).startswith(squash(active("a.textContent")))
        ring = active("getComputedStyle(a).outlineStyle + ' ' + getComputedStyle(a).outlineWidth")
        assert not ring.startswith("none") and not ring.endswith(" 0px")
        page.keyboard.press("Escape")  # and back to the answer
        page.wait_for_function(f"() => document.activeElement.matches('#chat a.cite-ref[href$=\"-cite-{n}\"]')")
        assert page.evaluate("window.announced.length") == 1
    finally:
        w.close()
