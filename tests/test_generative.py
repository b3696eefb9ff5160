"""The LLM answer step over the real pipeline (index, retrieval, extractive answer) with LLM
servers that speak the real protocols on 127.0.0.1, and the bundled local model."""

from __future__ import annotations

import re
import time

import pytest
from assistant.answer import Answer
from assistant.generative import (
    clean_rewrite,
    format_history,
    generate_answer,
    rewrite_followup,
    stream_generative,
)
from assistant.grounding import GroundingChecker
from assistant.llm import make_llm

from fake_llm_servers import OllamaServer, OpenAIServer, free_port_unused

JUDGE_Q = "What did the Judge require before he would release Gorin?"
# Fallback notices for an answer the model wrote and the checks turned down (generative.py).
CHECKED_FALLBACKS = (
    "The LLM's answer left out what the passages say",
    "The LLM found no answer in the passages",
    "No sentence of the LLM's answer was supported",
)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST", "ASSISTANT_LLM_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def checker(assistant):
    return GroundingChecker(assistant.chain.retriever.index.embeddings)


def passage_number(messages, words: str) -> int:
    """The [n] the prompt gave the passage containing ``words`` (as a server would see it)."""
    for line in messages[-1]["content"].splitlines():
        m = re.match(r"\[(\d+)\] (.*)", line)
        if m and words in m.group(2):
            return int(m.group(1))
    raise AssertionError(f"no passage with {words!r} in the prompt")


def judge_answer(invented: str | None = None, wrong_number: bool = False):
    """A recorded answer about the Judge's condition, citing the passage the prompt numbered."""

    def respond(messages):
        n = passage_number(messages, "The Judge informed the attorneys")
        cite = n + 1 if wrong_number else n
        text = (f"The Judge said he would not release Gorin unless he could place on the record a letter "
                f"from the Department of State addressed to Justice [{cite}]. ")
        if invented:
            text += invented.format(n=n)
        return text

    return respond


def openai_llm(monkeypatch, server, timeout=10):
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.url)
    return make_llm("openai:recorded", timeout=timeout)


def run(llm, assistant, checker, question=JUDGE_Q, **kw):
    extractive = assistant.ask(question)
    items = list(stream_generative(llm, question, extractive.passages, extractive, checker=checker, **kw))
    *deltas, final = items
    assert isinstance(final, Answer) and all(isinstance(d, str) for d in deltas)
    return extractive, deltas, final


def assert_checked(answer: Answer, seed_text: str):
    assert answer.citations
    for c in answer.citations:
        assert seed_text[c.start : c.end] == c.quote
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert numbers == {c.n for c in answer.citations}


def test_faithful_answer_streams_as_checked_sentences(monkeypatch, assistant, checker, seed_text):
    with OpenAIServer(judge_answer()) as server:
        extractive, deltas, final = run(openai_llm(monkeypatch, server), assistant, checker)
    assert final.mode == "llm" and not final.abstained and final.notice is None
    assert "".join(deltas) == final.answer
    assert final.answer.startswith("The Judge said he would not release Gorin")
    assert_checked(final, seed_text)
    assert "The Judge informed the attorneys" in final.citations[0].quote
    assert final.passages == extractive.passages and "llm" in final.timings_ms
    body = server.requests[0]
    assert body["stream"] is True and body["temperature"] == 0
    assert JUDGE_Q in body["messages"][-1]["content"]


def test_invented_fact_is_removed_and_said(monkeypatch, assistant, checker, seed_text):
    invented = "The Judge also required a bail of 5,000 dollars [{n}]."
    with OpenAIServer(judge_answer(invented=invented)) as server:
        _, deltas, final = run(openai_llm(monkeypatch, server), assistant, checker)
    assert final.mode == "llm"
    assert "5,000" not in final.answer and "5,000" not in "".join(deltas)
    assert "1 sentence" in final.notice
    assert_checked(final, seed_text)


def test_invented_name_alone_falls_back(monkeypatch, assistant, checker):
    def respond(messages):
        n = passage_number(messages, "The Judge informed the attorneys")
        return f"Judge Hoover required a letter from Secretary Hull [{n}]."

    with OpenAIServer(respond) as server:
        extractive, _, final = run(openai_llm(monkeypatch, server), assistant, checker)
    assert final.mode == "llm-fallback" and final.answer == extractive.answer
    assert final.citations == extractive.citations and "supported" in final.notice


def test_wrong_citation_number_falls_back_to_the_extractive_answer(monkeypatch, assistant, checker):
    with OpenAIServer(judge_answer(wrong_number=True)) as server:
        extractive, deltas, final = run(openai_llm(monkeypatch, server), assistant, checker)
    assert final.mode == "llm-fallback"
    assert final.answer == extractive.answer and deltas == []
    assert final.citations == extractive.citations
    assert final.notice.endswith("extractive answer shown.")


PARDON_Q = "Who suggested the pardon of Gorin?"


def test_an_llm_answer_that_loses_the_short_answer_is_not_shown(monkeypatch, assistant, checker):
    def respond(messages):
        n = passage_number(messages, "When Oumansky")
        return f"The pardon of Gorin was suggested in return for the release of Roszkowski [{n}]."

    with OpenAIServer(respond) as server:
        extractive, deltas, final = run(openai_llm(monkeypatch, server), assistant, checker, question=PARDON_Q)
    assert extractive.lead == "Oumansky"
    assert final.mode == "llm-fallback" and final.answer == extractive.answer and deltas == []
    assert "left out" in final.notice and "Oumansky" in final.notice


def test_an_llm_answer_with_the_short_answer_is_shown(monkeypatch, assistant, checker, seed_text):
    def respond(messages):
        n = passage_number(messages, "When Oumansky")
        return (f"The pardon was proposed in return for the release of Roszkowski [{n}]. "
                f"Oumansky suggested the pardon of Gorin [{n}].")

    with OpenAIServer(respond) as server:
        _, deltas, final = run(openai_llm(monkeypatch, server), assistant, checker, question=PARDON_Q)
    assert final.mode == "llm" and "Oumansky" in final.answer
    assert len(deltas) == 1 and deltas[0] == final.answer  # held back until the lead was said
    assert_checked(final, seed_text)


def test_sentences_about_the_prompt_are_not_answers(monkeypatch, assistant, checker):
    def respond(messages):
        n = passage_number(messages, "The Judge informed the attorneys")
        return (f"The passage is the only one that mentions a letter from the Department of State [{n}]. "
                f"Passages: The Judge informed the attorneys that he would not take such steps [{n}].")

    with OpenAIServer(respond) as server:
        extractive, _, final = run(openai_llm(monkeypatch, server), assistant, checker)
    assert final.mode == "llm-fallback" and final.answer == extractive.answer


def test_ollama_backend_answers_through_the_checker(monkeypatch, assistant, checker, seed_text):
    with OllamaServer(judge_answer()) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        _, deltas, final = run(make_llm("ollama:recorded", timeout=10), assistant, checker)
    assert final.mode == "llm" and "".join(deltas) == final.answer
    assert_checked(final, seed_text)


def test_unreachable_server_falls_back_with_a_notice(monkeypatch, assistant, checker):
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", f"http://127.0.0.1:{free_port_unused()}/v1")
    extractive, _, final = run(make_llm("openai:m", timeout=5), assistant, checker)
    assert final.mode == "llm-fallback" and final.answer == extractive.answer
    assert "unreachable" in final.notice and "\n" not in final.notice


def test_unreachable_ollama_falls_back(monkeypatch, assistant, checker):
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{free_port_unused()}")
    extractive, _, final = run(make_llm("ollama:m", timeout=5), assistant, checker)
    assert final.mode == "llm-fallback" and "unreachable" in final.notice
    assert final.answer == extractive.answer and final.citations == extractive.citations


@pytest.mark.parametrize("behaviour", ["garbage", "error"])
def test_garbage_or_server_error_falls_back(monkeypatch, assistant, checker, behaviour):
    with OpenAIServer(judge_answer(), behaviour=behaviour) as server:
        extractive, _, final = run(openai_llm(monkeypatch, server), assistant, checker)
    assert final.mode == "llm-fallback" and final.answer == extractive.answer
    assert final.notice and "\n" not in final.notice


def test_garbage_text_falls_back(monkeypatch, assistant, checker):
    with OllamaServer(lambda m: "asdf qwer zxcv. lorem ipsum dolor sit amet.") as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        extractive, _, final = run(make_llm("ollama:m", timeout=5), assistant, checker)
    assert final.mode == "llm-fallback" and final.answer == extractive.answer


def test_slow_server_falls_back_at_the_timeout(monkeypatch, assistant, checker):
    with OpenAIServer(judge_answer(), behaviour="slow", delay=4) as server:
        t0 = time.perf_counter()
        extractive, _, final = run(openai_llm(monkeypatch, server, timeout=1), assistant, checker)
        waited = time.perf_counter() - t0
    assert final.mode == "llm-fallback" and "in time" in final.notice
    assert final.answer == extractive.answer and final.citations == extractive.citations
    assert waited < 4  # it gave up before the server answered


def test_slow_ollama_falls_back_at_the_timeout(monkeypatch, assistant, checker):
    with OllamaServer(judge_answer(), behaviour="slow", delay=4) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        t0 = time.perf_counter()
        extractive, _, final = run(make_llm("ollama:m", timeout=1), assistant, checker)
        waited = time.perf_counter() - t0
    assert final.mode == "llm-fallback" and final.answer == extractive.answer
    assert "in time" in final.notice and waited < 4


def test_an_abstention_is_not_overruled(monkeypatch, assistant, checker):
    question = "What is the capital of Australia?"
    with OpenAIServer(lambda m: "The capital of Australia is Canberra [1].") as server:
        extractive, _, final = run(openai_llm(monkeypatch, server), assistant, checker, question=question)
    assert extractive.abstained and final.abstained and final.answer == extractive.answer
    assert server.requests == []


def test_follow_up_is_rewritten_through_the_prompt(monkeypatch, assistant):
    first = assistant.ask("Who signed the telegram?")
    with OpenAIServer(lambda m: "What was the title of Welles?\n") as server:
        llm = openai_llm(monkeypatch, server)
        assert rewrite_followup(llm, "What was his title?", [first]) == "What was the title of Welles?"
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "Who signed the telegram?" in prompt and "What was his title?" in prompt


def test_unusable_rewrite_gives_none(monkeypatch, assistant):
    first = assistant.ask("Who signed the telegram?")
    with OpenAIServer(lambda m: "Welles was the Acting Secretary of State.") as server:
        assert rewrite_followup(openai_llm(monkeypatch, server), "What was his title?", [first]) is None
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", f"http://127.0.0.1:{free_port_unused()}/v1")
    assert rewrite_followup(make_llm("openai:m", timeout=3), "What was his title?", [first]) is None


def test_rewrite_cleaning():
    assert clean_rewrite('Standalone question: "Who was Gorin?"', "Who was he?") == "Who was Gorin?"
    assert clean_rewrite("The follow-up question is: What did Oumansky promise?", "What did he promise?") \
        == "What did Oumansky promise?"
    assert clean_rewrite("The telegram does not say?", "x?") is None
    assert clean_rewrite("", "x?") is None
    # what the small local model wrote in the eval: kept pronouns, two questions, no change
    assert clean_rewrite("The follow-up question is: What did he promise?", "What did he promise?") is None
    assert clean_rewrite("How did the US respond to him? (What did he ask?)", "How did the US respond to him?") is None
    assert clean_rewrite("Was it given?", "Was it given?") is None


def test_history_is_shown_without_markers(assistant):
    first = assistant.ask("Who signed the telegram?")
    text = format_history([first])
    assert "Q: Who signed the telegram?" in text and "[1]" not in text and "Welles" in text


@pytest.mark.slow
def test_local_model_end_to_end_on_telegram_questions(monkeypatch, assistant, checker, seed_text):
    """The real SmolLM2-135M: whatever it writes, only checked sentences reach the user."""
    from assistant.llm import LocalChatModel

    written: list[str] = []  # what the model itself generated, one entry per answer
    generate = LocalChatModel._iter_text

    def recording(self, messages, stop):
        text = ""
        for piece in generate(self, messages, stop):
            text += piece
            yield piece
        written.append(text)

    monkeypatch.setattr(LocalChatModel, "_iter_text", recording)
    llm = make_llm("local", timeout=60)
    llm.max_new_tokens = 96  # one to three sentences; keeps the test near a minute
    questions = [JUDGE_Q, "Who suggested the pardon of Gorin?", "Has Gorin left the United States?"]
    for k, question in enumerate(questions, 1):
        extractive, deltas, final = run(llm, assistant, checker, question=question)
        assert len(written) == k and written[-1].strip(), f"the local model wrote nothing for {question!r}"
        assert final.mode in ("llm", "llm-fallback")
        if final.mode == "llm":
            assert "".join(deltas) == final.answer
            assert_checked(final, seed_text)
            for sentence in re.split(r"(?<=[.!?])\s+", final.answer):
                assert re.search(r"\[\d+\]", sentence), sentence
        else:
            # a fallback only because the checks rejected what it wrote, never because it failed
            assert final.answer == extractive.answer and deltas == []
            assert final.notice.startswith(CHECKED_FALLBACKS), final.notice
    judge = assistant.ask(JUDGE_Q)
    first = generate_answer(llm, JUDGE_Q, judge.passages, judge, checker=checker)
    again = generate_answer(llm, JUDGE_Q, judge.passages, judge, checker=checker)
    assert again.answer == first.answer and again.mode == first.mode  # greedy: deterministic


# --- through Assistant.open(llm=...) and the CLI ------------------------------------------


def test_assistant_open_with_an_llm_spec(monkeypatch, telegram_index, seed_text):
    from assistant import Assistant

    with OpenAIServer(judge_answer()) as server:
        monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.url)
        bot = Assistant.open(index=telegram_index, llm="openai:recorded")
        answer = bot.ask(JUDGE_Q)
        partials = list(bot.stream(JUDGE_Q))
    assert answer.mode == "llm" and answer.to_dict()["mode"] == "llm"
    assert_checked(answer, seed_text)
    assert partials[-1].answer == answer.answer and partials[-1].citations == answer.citations
    assert len(partials) >= 2 and all(p.mode == "llm" for p in partials)
    assert all(answer.answer.startswith(p.answer) for p in partials)


def test_assistant_follow_up_goes_through_the_rewrite_prompt(monkeypatch, telegram_index):
    from assistant import Assistant

    def respond(messages):
        if "Follow-up question:" in messages[-1]["content"]:
            return "What was the title of Welles?"
        return "The telegram does not say."

    with OpenAIServer(respond) as server:
        monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.url)
        bot = Assistant.open(index=telegram_index, llm="openai:recorded")
        first = bot.ask("Who signed the telegram?")
        second = bot.ask("What was his title?", [first])
    assert second.resolved_question == "What was the title of Welles?"
    assert first.mode == second.mode == "llm-fallback"  # the recorded LLM found nothing: extractive
    assert second.citations and not second.abstained


def test_assistant_without_llm_keeps_the_deterministic_follow_up(assistant):
    first = assistant.ask("Who signed the telegram?")
    second = assistant.ask("What was his title?", [first])
    assert first.mode == second.mode == "extractive"
    assert "his" not in second.resolved_question.split()


@pytest.mark.slow
def test_cli_ask_streams_the_llm_answer(monkeypatch, telegram_index, seed_text):
    import os
    import subprocess

    from conftest import CLI

    with OpenAIServer(judge_answer()) as server:
        env = {**os.environ, "ASSISTANT_OPENAI_BASE_URL": server.url, "NO_PROXY": "127.0.0.1"}
        out = subprocess.run([*CLI, "ask", "--index", str(telegram_index), "--llm", "openai:recorded", JUDGE_Q],
                             capture_output=True, text=True, env=env, timeout=120)
        as_json = subprocess.run([*CLI, "ask", "--json", "--index", str(telegram_index), "--llm",
                                  "openai:recorded", JUDGE_Q], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("The Judge said he would not release Gorin")
    assert "[1] seeds/" in out.stdout
    import json

    data = json.loads(as_json.stdout)
    assert data["mode"] == "llm" and data["citations"]
    for c in data["citations"]:
        assert seed_text[c["start"] : c["end"]] == c["quote"]


def test_cli_rejects_a_bad_llm_spec(telegram_index):
    import subprocess

    from conftest import CLI

    out = subprocess.run([*CLI, "ask", "--index", str(telegram_index), "--llm", "gpt4", "Who signed?"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: --llm 'gpt4': unknown LLM backend; use none, local, "
                                               "local:FILE.gguf, ollama:MODEL or openai:MODEL"]
