"""The chat page: rendering, and its /ask API through gradio_client against a real server.

The server tests run the real page (real Assistant over a real Chroma index of seeds/,
real Gradio server on a free 127.0.0.1 port) and compare what a client receives with
what the Python API answers for the same question and history.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant.answer import Answer, Citation, Passage
from assistant.chat_page import (
    EXAMPLES,
    FeedbackLog,
    SourceLibrary,
    answer_from_json,
    answer_to_json,
    chat_message,
    check_exposure,
    conversation_markdown,
    highlight,
    read_auth,
    restore_answers,
    retrieval_details,
    source_panel,
)
from assistant.config import SEEDS_DIR
from assistant.errors import UserError
from assistant.loaders import load_documents

XSS = "<img src=x onerror=alert(1)>"


# --- helpers --------------------------------------------------------------------------


class _Marks(HTMLParser):
    """The text inside each <mark>, the text of the page, and every tag seen."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.marks: list[dict] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "mark":
            self.depth += 1
            self.marks.append({"attrs": dict(attrs), "text": ""})

    def handle_endtag(self, tag):
        if tag == "mark":
            self.depth -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self.depth:
            self.marks[-1]["text"] += data


def parse(fragment: str) -> _Marks:
    p = _Marks()
    p.feed(fragment)
    p.close()
    return p


def comparable(d: dict) -> dict:
    """An answer's JSON without its timings (the only part allowed to differ per run)."""
    return {k: v for k, v in d.items() if k != "timings_ms"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def telegram():
    (doc,) = load_documents([SEEDS_DIR])
    return doc


def _citation(doc, n: int, sentence_index: int) -> Citation:
    s = doc.sentences[sentence_index]
    return Citation(n=n, doc_id=doc.doc_id, source=doc.source, start=s.start, end=s.end, quote=s.text,
                    title=doc.title, date=doc.date)


# --- rendering (no server) -------------------------------------------------------------


def test_highlight_marks_exactly_the_cited_spans(telegram):
    cites = [_citation(telegram, 1, 2), _citation(telegram, 2, 4)]
    page = parse(highlight(telegram.text, [(c.start, c.end, c.n, "cite") for c in cites]))
    assert [m["text"] for m in page.marks] == [telegram.text[c.start:c.end] for c in cites]
    assert "".join(page.text) == telegram.text  # nothing lost or added around the marks


def test_highlight_handles_overlapping_spans(telegram):
    s = telegram.sentences[3]
    spans = [(s.start, s.end, 1, "cite"), (s.start + 10, s.end + 40, 2, "cite")]
    page = parse(highlight(telegram.text, spans))
    assert "".join(m["text"] for m in page.marks) == telegram.text[s.start : s.end + 40]
    assert "".join(page.text) == telegram.text
    both = [m for m in page.marks if m["attrs"]["data-cites"] == "1 2"]
    assert both and both[0]["text"] == telegram.text[s.start + 10 : s.end]


def test_document_text_and_questions_are_escaped(telegram):
    text = f"Before {XSS} & after."
    html = highlight(text, [(7, 7 + len(XSS), 1, "cite")])
    assert "<img" not in html and "&lt;img" in html
    assert parse(html).marks[0]["text"] == XSS

    answer = Answer(question=XSS, answer=f"The telegram does not say {XSS}.", abstained=True,
                    resolved_question=XSS)
    message = chat_message(answer)
    assert "<img" not in message and "&lt;img" in message
    assert "<img" not in retrieval_details(answer)


def test_inline_markers_link_to_their_citations(telegram):
    c = _citation(telegram, 1, 2)
    answer = Answer(question="q", answer=f"“{c.quote}” [1] and [7]", abstained=False, citations=(c,))
    message = chat_message(answer, index=3)
    assert 'href="#answer-3-cite-1"' in message
    assert "[7]" in message.replace("\\[", "[").replace("\\]", "]")  # no citation 7: left as text
    assert "answer-3-cite-7" not in message


def test_source_panel_lists_each_citation_and_highlights_it(telegram):
    cites = (_citation(telegram, 1, 2), _citation(telegram, 2, 5))
    answer = Answer(question="q", answer="…", abstained=False, citations=cites)
    html = source_panel(answer, {telegram.doc_id: telegram}, 0)
    page = parse(html)
    assert [m["text"] for m in page.marks] == [c.quote for c in cites]
    for c in cites:
        assert f'id="src-cite-{c.n}"' in html
        assert f'chars {c.start}–{c.end}"' in html  # the exact span: in the card's tooltip
    assert "status answered" in html and "status abstained" not in html
    # cards name the document by its title, not its file; the title is printed once
    card_text = "".join(parse(html.split('<div class="documents"')[0]).text)
    assert telegram.title in card_text and ".txt" not in card_text and "chars" not in card_text
    assert "".join(page.text).count(telegram.title) == len(cites) + 1  # each card, and the document text


def test_answers_carry_their_quotes_and_follow_ups_show_how_they_were_understood(telegram):
    from assistant.chat_page import chat_messages

    c = _citation(telegram, 1, 2)
    first = Answer(question="Who?", answer=f"“{c.quote}” [1]", abstained=False, citations=(c,),
                   resolved_question="Who?")
    follow = Answer(question="And why?", answer="The telegram does not say.", abstained=True,
                    resolved_question="Why did Welles send it?")
    user1, bot1, user2, bot2 = (m["content"] for m in chat_messages([first, follow]))
    assert "understood as" not in user1
    assert "understood as: Why did Welles send it?" in "".join(parse(user2).text)
    assert "understood as" not in bot2
    quotes = [m for m in parse(bot1).text if c.quote in m]
    assert quotes and 'class="cite-quote cq-1"' in bot1


def test_abstention_looks_different_and_shows_related_passages(telegram):
    related = (_citation(telegram, 1, 1),)
    answer = Answer(question="q", answer="The telegram does not say.", abstained=True, related=related)
    html = source_panel(answer, {telegram.doc_id: telegram}, 0)
    page = parse(html)
    assert "status abstained" in html and "status answered" not in html
    assert [m["text"] for m in page.marks] == [related[0].quote]
    assert "related" in page.marks[0]["attrs"]["class"].split()
    assert "Not in the source" in chat_message(answer)


def test_a_quote_that_no_longer_matches_is_not_highlighted(telegram):
    c = _citation(telegram, 1, 2)
    moved = Citation(**{**c.__dict__, "start": c.start + 1, "end": c.end + 1})
    answer = Answer(question="q", answer="…", abstained=False, citations=(moved,))
    assert parse(source_panel(answer, {telegram.doc_id: telegram}, 0)).marks == []


def test_export_lists_answers_with_their_citations(telegram):
    from assistant.chat_page import export_text

    c = _citation(telegram, 1, 2)
    a1 = Answer(question="First?", answer=f"“{c.quote}” [1]", abstained=False, citations=(c,))
    a2 = Answer(question="Second?", answer="The telegram does not say.", abstained=True, related=(c,))
    md = conversation_markdown([a1, a2])
    assert md.index("## 1. First?") < md.index("## 2. Second?")
    assert md.count(f"“{export_text(c.quote)}”") == 3  # the answer and both citation lists
    assert f"chars {c.start}–{c.end}" in md and "Closest passages:" in md
    assert f"“{export_text(c.quote)}” [1]" in md  # the answer keeps its plain [n]


def test_export_disarms_markup_in_questions_and_answers():
    from markdown_it import MarkdownIt

    hostile = [XSS, "[click me](javascript:alert(1))", "<javascript:alert(1)>", "![x](javascript:alert(2))",
               "line one\n<script>alert(3)</script>"]
    answers = [Answer(question=q, answer=f"Echo: {q}", abstained=True, resolved_question=q + " again")
               for q in hostile]
    rendered = MarkdownIt("commonmark").render(conversation_markdown(answers))
    assert "<img" not in rendered and "<script" not in rendered
    assert "javascript:" not in "".join(re.findall(r'(?:href|src)="([^"]*)"', rendered))
    assert "<a " not in rendered
    text = "".join(parse(rendered).text)
    for q in hostile:  # shown as text, word for word
        assert " ".join(q.split()) in text


def test_feedback_is_appended_as_json_lines(tmp_path, telegram):
    log = FeedbackLog(tmp_path / "sub" / "feedback.jsonl")
    a = Answer(question="Who?", answer="Welles [1]", abstained=False, citations=(_citation(telegram, 1, 2),))
    log.append(a, "up")
    log.append(a, "down")
    records = [json.loads(line) for line in (tmp_path / "sub" / "feedback.jsonl").read_text().splitlines()]
    assert [r["vote"] for r in records] == ["up", "down"]
    assert all(r["question"] == "Who?" and r["answer"] == "Welles [1]" and r["timestamp"] for r in records)


def test_feedback_is_bounded_per_session_and_per_record(tmp_path, telegram):
    path = tmp_path / "feedback.jsonl"
    log = FeedbackLog(path)
    huge = Answer(question="Who?", answer="x" * 50_000, abstained=False,
                  citations=tuple(_citation(telegram, i, 2) for i in range(1, 200)))
    written = [log.append(huge, "up", session="s1") for _ in range(FeedbackLog.MAX_PER_SESSION + 25)]
    assert sum(r is not None for r in written) == FeedbackLog.MAX_PER_SESSION
    assert log.append(huge, "undo", session="s2") is not None  # another session has its own share
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == FeedbackLog.MAX_PER_SESSION + 1
    assert max(len(line) for line in lines) <= FeedbackLog.MAX_RECORD_CHARS
    with pytest.raises(ValueError):
        log.append(huge, "sideways")


def test_a_conversation_survives_the_trip_through_browser_storage(telegram):
    c = _citation(telegram, 1, 2)
    a = Answer(question="Who?", answer=f"“{c.quote}” [1]", abstained=False, citations=(c,), related=(c,),
               resolved_question="Who signed?", lead="Welles")
    stored = json.loads(json.dumps([answer_to_json(a)]))
    (back,) = restore_answers(stored)
    assert back == answer_from_json(stored[0])
    assert comparable(back.to_dict()) == comparable(a.to_dict())
    assert restore_answers([{"question": "no answer"}]) == []
    assert restore_answers("garbage") == [] and restore_answers(None) == []
    assert restore_answers([{**stored[0], "question": "x" * 5000}]) == []  # too long to have been asked


def test_retrieval_details_show_every_passage_with_its_score():
    passages = tuple(
        Passage(id=f"p{i}", doc_id="d", source="s", title="t", date=None, kind="body", start=i, end=i + 5,
                text=f"passage {i}", score=0.5 / (i + 1), dense_rank=i + 1, bm25_rank=None)
        for i in range(3)
    )
    html = retrieval_details(Answer(question="q", answer="a", abstained=False, passages=passages))
    for p in passages:
        assert p.text in html and f"{p.score:.4f}" in html


def test_source_library_reads_only_manifest_documents(telegram):
    library = SourceLibrary({telegram.doc_id: {"source": telegram.source, "title": telegram.title, "date": ""}})
    assert library[telegram.doc_id].text == telegram.text
    assert library.get("../../etc/passwd") is None
    gone = SourceLibrary({"x": {"source": "/nonexistent/x.txt"}})
    assert gone.get("x") is None


def test_auth_and_exposure_rules(tmp_path):
    check_exposure("127.0.0.1", None, False)  # local: fine without a password
    with pytest.raises(UserError, match="ASSISTANT_AUTH"):
        check_exposure("0.0.0.0", None, False)
    check_exposure("0.0.0.0", [("u", "p")], False)
    assert read_auth({}) is None
    assert read_auth({"ASSISTANT_AUTH": "teacher:s3cret:x"}) == [("teacher", "s3cret:x")]
    with pytest.raises(UserError, match="user:password"):
        read_auth({"ASSISTANT_AUTH": "nocolon"})
    f = tmp_path / "auth"
    f.write_text("# class\na:1\nb:2\n")
    assert read_auth({"ASSISTANT_AUTH_FILE": str(f)}) == [("a", "1"), ("b", "2")]
    with pytest.raises(UserError, match="cannot read"):
        read_auth({"ASSISTANT_AUTH_FILE": str(tmp_path / "missing")})


def test_insecure_logs_a_warning(caplog):
    check_exposure("0.0.0.0", None, True)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "warning: serving on 0.0.0.0 without a password (--insecure): anyone who can reach it can use it")]


# --- the real page over gradio_client --------------------------------------------------


@pytest.fixture(scope="module")
def chat_page_assistant(tmp_path_factory):
    """A real Assistant over a fresh index of seeds/ (ingested on first open)."""
    from assistant import Assistant

    return Assistant.open(index=tmp_path_factory.mktemp("chat-index"))


@pytest.fixture(scope="module")
def chat_server(chat_page_assistant, tmp_path_factory):
    """The chat page served on a free 127.0.0.1 port; yields its URL."""
    from assistant.chat_page import build_app, launch

    feedback = tmp_path_factory.mktemp("feedback") / "feedback.jsonl"
    app = build_app(chat_page_assistant, feedback_path=feedback, stream_delay=0)
    _, url, _ = launch(app, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    assert url.startswith("http://127.0.0.1:")
    _FEEDBACK_FILES[url] = str(feedback)
    yield url
    app.close()


def client_for(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


@pytest.mark.slow
def test_ask_endpoint_returns_what_the_python_api_answers(chat_server, chat_page_assistant):
    client = client_for(chat_server)
    for question in EXAMPLES:
        client.predict(api_name="/new_conversation")
        got = client.predict(question, api_name="/ask")
        expected = chat_page_assistant.ask(question).to_dict()
        assert comparable(got) == comparable(expected)
        for c in got["citations"]:
            assert c["quote"] and c["end"] > c["start"]


@pytest.mark.slow
def test_follow_up_uses_this_sessions_history(chat_server, chat_page_assistant):
    client = client_for(chat_server)
    first, follow_up = EXAMPLES[1], "And his title?"
    client.predict(first, api_name="/ask")
    got = client.predict(follow_up, api_name="/ask")
    expected = chat_page_assistant.ask(follow_up, history=[chat_page_assistant.ask(first)])
    assert comparable(got) == comparable(expected.to_dict())
    assert got["resolved_question"] != follow_up  # the history was really used

    client.predict(api_name="/new_conversation")  # a new conversation forgets it
    fresh = client.predict(follow_up, api_name="/ask")
    assert comparable(fresh) == comparable(chat_page_assistant.ask(follow_up).to_dict())


FIRST_QUESTIONS = (
    "What did the Judge require?",
    "Who signed this telegram?",
    "What did the Department expect in return for Gorin's release?",
    "In what year was this sent?",
    "Who suggested the pardon of Gorin?",
    "Why did the United States refuse the first proposal?",
    "Who was the Ambassador in the Soviet Union?",
    "What did the Soviet Ambassador promise on March 22 and March 23?",
    "Has Gorin left the United States?",
    "Which American citizens were in jail?",
    "What would make this Government feel misled?",
    "What is the telegram number?",
    "What was the file number?",
    "Who was Mrs. Habicht?",
    "Could the Department control the timing of the Judge's actions?",
    "What makes hard and fast bargains difficult?",
    "What did the letter to Justice say?",
    "Who is Roszkowski?",
    "On what condition would Gorin be released on probation?",
    "Were negotiations for the exchange of detained persons authorized?",
)


@pytest.mark.slow
def test_twenty_concurrent_clients_keep_their_own_histories(chat_server, chat_page_assistant):
    follow_up = "And why?"
    expected = {}
    for q in FIRST_QUESTIONS:
        first = chat_page_assistant.ask(q)
        expected[q] = (comparable(first.to_dict()),
                       comparable(chat_page_assistant.ask(follow_up, history=[first]).to_dict()))
    # the follow-ups resolve differently per history, so a crossed history would show
    assert len({e[1]["resolved_question"] for e in expected.values()}) == len(FIRST_QUESTIONS)

    def conversation(question: str):
        client = client_for(chat_server)
        return question, client.predict(question, api_name="/ask"), client.predict(follow_up, api_name="/ask")

    with ThreadPoolExecutor(max_workers=len(FIRST_QUESTIONS)) as pool:
        results = list(pool.map(conversation, FIRST_QUESTIONS))
    for question, first, second in results:
        assert (comparable(first), comparable(second)) == expected[question], question


@pytest.mark.slow
def test_bad_questions_get_a_clear_message(chat_server):
    from gradio_client.exceptions import AppError

    client = client_for(chat_server)
    with pytest.raises(AppError, match=re.escape("question too long: 2001 characters")):
        client.predict("x" * 2001, api_name="/ask")
    with pytest.raises(AppError, match="empty question"):
        client.predict("   ", api_name="/ask")
    ok = client.predict("y" * 1990 + " telegram?", api_name="/ask")  # at the limit: answered
    assert ok["question"].endswith("telegram?")


@pytest.mark.slow
def test_votes_sent_straight_to_the_queue_are_capped_per_session(chat_server):
    """The like handler is reachable through the queue API (not only the page): bounded."""
    import time

    import httpx

    client = client_for(chat_server)
    answer = client.predict(EXAMPLES[1], api_name="/ask")  # this session now has one answer
    like = next(i for i, d in enumerate(client.config["dependencies"])
                if any(t[1] == "like" for t in d.get("targets", [])))
    feedback = Path(chat_server_feedback(chat_server))
    before = len(feedback.read_text(encoding="utf-8").splitlines()) if feedback.exists() else 0
    attempts = FeedbackLog.MAX_PER_SESSION + 30
    events = set()
    for k in range(attempts):
        payload = {"data": [None], "fn_index": like, "trigger_id": None,
                   "event_data": {"index": [1, 0], "value": answer["answer"], "liked": k % 2 == 0}}
        events.add(client.send_data(payload, {"fn_index": like, "session_hash": client.session_hash},
                                    "sse_v3", None))
    assert len(events) == attempts  # every call was accepted by the queue

    def written() -> int:
        return len(feedback.read_text(encoding="utf-8").splitlines()) - before if feedback.exists() else 0

    def queue_size() -> int:
        return httpx.get(f"{chat_server.rstrip('/')}/gradio_api/queue/status", timeout=10).json()["queue_size"]

    deadline = time.monotonic() + 120  # wait for a condition, never a fixed time
    while (written() < FeedbackLog.MAX_PER_SESSION or queue_size() > 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = feedback.read_text(encoding="utf-8").splitlines()
    assert len(lines) - before == FeedbackLog.MAX_PER_SESSION
    assert {json.loads(line)["vote"] for line in lines[before:]} == {"up", "down"}


def chat_server_feedback(url: str) -> str:
    return _FEEDBACK_FILES[url]


_FEEDBACK_FILES: dict[str, str] = {}


@pytest.mark.slow
def test_xss_question_comes_back_as_plain_data(chat_server):
    got = client_for(chat_server).predict(XSS, api_name="/ask")
    assert got["question"] == XSS  # JSON data, not markup: escaping is the page's job


# --- the `assistant serve` command ------------------------------------------------------


def _assistant_command() -> list[str]:
    import shutil
    import sys

    exe = Path(sys.executable).with_name("assistant")
    return [str(exe)] if exe.exists() else [shutil.which("assistant") or "assistant"]


@pytest.mark.slow
def test_serve_refuses_a_network_address_without_a_password():
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_AUTH")}
    done = subprocess.run(_assistant_command() + ["serve", "--host", "0.0.0.0", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line, no traceback
    assert "ASSISTANT_AUTH" in done.stderr and "--insecure" in done.stderr


@pytest.mark.slow
def test_serve_command_answers_like_the_python_api(chat_page_assistant, tmp_path):
    import subprocess

    from conftest import read_until

    port = free_port()
    index_dir = chat_page_assistant.index.settings.index_dir
    proc = subprocess.Popen(
        _assistant_command() + ["serve", "--index", str(index_dir), "--port", str(port),
                                "--feedback", str(tmp_path / "votes.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # The URL is printed once the server is up; a server that prints nothing fails at the deadline.
        seen = read_until(proc.stdout, lambda seen: re.search(rb"Running on local URL:.*\n", seen) is not None, 180)
        found = re.search(r"Running on local URL:\s*(\S+)", seen.decode(errors="replace"))
        url = found.group(1) if found else None
        assert url == f"http://127.0.0.1:{port}", seen[-500:]
        got = client_for(url).predict(EXAMPLES[0], api_name="/ask")
        assert comparable(got) == comparable(chat_page_assistant.ask(EXAMPLES[0]).to_dict())
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
    assert "share=True" not in rest and "public link" not in rest  # no share hint, ever


@pytest.mark.slow
def test_streamed_answer_grows_and_ends_with_the_final_answer(chat_page_assistant):
    from assistant.chat_page import _Answerer

    question = EXAMPLES[0]
    partials = list(_Answerer(chat_page_assistant, stream_delay=0).stream(question, []))
    final = chat_page_assistant.ask(question)
    assert len(partials) >= 3
    texts = [p.answer for p in partials]
    assert all(a != b and b.startswith(a.rstrip()) for a, b in itertools.pairwise(texts))
    assert all(not p.citations for p in partials[:-1])
    assert comparable(partials[-1].to_dict()) == comparable(final.to_dict())


@pytest.mark.slow
def test_auth_is_required_when_configured(chat_page_assistant, tmp_path):
    from assistant.chat_page import build_app, launch
    from gradio_client import Client

    app = build_app(chat_page_assistant, feedback_path=tmp_path / "f.jsonl", stream_delay=0)
    _, url, _ = launch(app, host="127.0.0.1", port=free_port(), auth=[("teacher", "pw")], block=False, quiet=True)
    try:
        from gradio_client.exceptions import AuthenticationError

        with pytest.raises(AuthenticationError):
            Client(url, verbose=False).predict(EXAMPLES[1], api_name="/ask")
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, verbose=False, auth=("teacher", "wrong"))
        got = Client(url, verbose=False, auth=("teacher", "pw")).predict(EXAMPLES[1], api_name="/ask")
        assert comparable(got) == comparable(chat_page_assistant.ask(EXAMPLES[1]).to_dict())
    finally:
        app.close()


def test_a_busy_port_is_a_user_error(tmp_path):
    import gradio as gr
    from assistant.chat_page import launch

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with gr.Blocks() as app:
            gr.Markdown("x")
        with pytest.raises(UserError, match=f"127.0.0.1:{port}"):
            launch(app, host="127.0.0.1", port=port, block=False, quiet=True)


def test_warm_up_failure_is_logged_not_swallowed(caplog):
    import logging

    from assistant.chat_page import _warm_up
    from assistant.errors import UserError

    class Failing:
        def __init__(self, exc: BaseException):
            self.exc = exc

        def ask(self, question, history):
            raise self.exc

    with caplog.at_level(logging.WARNING, logger="assistant.chat_page"):
        _warm_up(Failing(UserError("no collection 'x' in the index")))
        _warm_up(Failing(RuntimeError("boom")))
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]
    assert "no collection 'x' in the index" in caplog.records[0].getMessage()
    assert caplog.records[1].exc_info[0] is RuntimeError
