"""Answers over the seed telegram: a short verbatim answer cited at its span, abstention,
follow-ups.

Expectations are written from the telegram itself (the words that answer), not from what the
pipeline printed. Answers are judged as the eval judges them: the answer text holds the key
words, a citation overlaps the place that says it, and a who/when/how-many answer is short.
"""

import re

import pytest
from assistant.citations import source_text

# Known misses of the fitted model (measured, see the eval reports): kept as expectations, marked
# so a model that gets them right shows up as XPASS.
MISS = pytest.mark.xfail(reason="the fitted ranker prefers another candidate (known miss)", strict=False)

# question, words the answer must hold, words of the place a citation must overlap
CITES = [
    pytest.param("What did the Judge require?", "letter", "a letter from the Department of State addressed to Justice",
                 marks=MISS),
    ("Who signed this telegram?", "Welles", "Welles"),
    pytest.param("Who sent this telegram?", "Acting Secretary of State", "The Acting Secretary of State", marks=MISS),
    ("To whom was the telegram addressed?", "Steinhardt", "the Ambassador in the Soviet Union (Steinhardt)"),
    pytest.param("What is the telegram number?", "352", "352", marks=MISS),
    ("When were the expectations impressed upon the Ambassador?", "March 22 and March 23", "On March 22 and March 23"),
    ("How many American citizens are in jail?", "three", "three American citizens now in jail"),
    ("Who suggested the pardon of Gorin?", "Oumansky", "When Oumansky some time ago suggested the pardon of Gorin"),
    ("Has Gorin left the United States?", "already left", "Gorin has already left the United States"),
    pytest.param("Whose release would this Government expect if Gorin were released?", "Roszkowski, Pyk, and Devenis",
                 "this Government would expect the release of Roszkowski, Pyk, and Devenis", marks=MISS),
    ("Why did the Department refuse Oumansky's suggestion?", "traffic in justice",
     "we refused on the ground that we could not traffic in justice"),
    ("Could the Department control the timing of the Judge's actions?", "no way",
     "It furthermore had no way of controlling the timing of the Judge’s actions"),
]

ABSTAIN_MISS = pytest.mark.xfail(reason="the fitted answerer's confidence is above the dev-calibrated threshold "
                                 "(abstention recall is the weakest part of the model)", strict=False)
UNANSWERABLE = [
    "In what year was this sent?",
    pytest.param("What crime was Gorin convicted of?", marks=ABSTAIN_MISS),
    "What is the capital of Australia?",
    pytest.param("What was Gorin's first name?", marks=ABSTAIN_MISS),
    "How long was Gorin's prison sentence?",
]

SHORT = ("Who", "When", "How many", "To whom")


def overlaps(citation, text, needle):
    start = text.index(needle)
    end = start + len(needle)
    return citation.start < end and start < citation.end


@pytest.mark.parametrize("question,words,place", CITES)
def test_answers_with_the_words_and_cites_their_place(assistant, seed_text, question, words, place):
    answer = assistant.ask(question)
    assert not answer.abstained, answer.answer
    assert words.lower() in answer.answer.lower(), answer.answer
    assert any(overlaps(c, seed_text, place) for c in answer.citations), [c.quote for c in answer.citations]
    limit = 200 if question.startswith(SHORT) else 400
    assert len(answer.answer) <= limit, answer.answer


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_abstains_when_the_telegram_does_not_say(assistant, question):
    answer = assistant.ask(question)
    assert answer.abstained, answer.answer
    assert answer.answer.startswith("The telegram does not say")
    assert not answer.citations
    assert answer.related  # the closest passages are still shown


def _plain(params):
    return [p.values if hasattr(p, "values") else p for p in params]


def test_every_citation_is_the_source_text_at_its_span(assistant):
    for question, _, _ in _plain(CITES):
        answer = assistant.ask(question)
        assert answer.citations, question
        for c in answer.citations + answer.related:
            text = source_text(c.source)
            assert text[c.start : c.end] == c.quote
        for c in answer.citations:
            assert f"[{c.n}]" in answer.answer


def test_the_lead_is_a_short_span_of_the_cited_text(assistant):
    answer = assistant.ask("How many American citizens are in jail?")
    assert answer.lead and len(answer.lead) < 40 and "three" in answer.lead
    assert any(answer.lead in c.quote for c in answer.citations)


@pytest.mark.xfail(reason="'Who sent this telegram?' is answered with the recipient field (known miss), so "
                          "'his' resolves to Steinhardt", strict=False)
def test_follow_up_uses_the_conversation(assistant):
    first = assistant.ask("Who sent this telegram?")
    second = assistant.ask("What was his title?", history=[first])
    assert "Welles" in second.resolved_question
    assert any("Acting Secretary of State" in c.quote for c in second.citations)
    # Without the history the same words are not about Welles.
    alone = assistant.ask("What was his title?")
    assert "Welles" not in alone.resolved_question


def test_that_letter_resolves_to_the_last_quote(assistant):
    from assistant.answer import Answer, Citation
    from assistant.followup import resolve

    quote = "a letter from the Department of State addressed to Justice"
    previous = Answer(question="What did the Judge require?", answer=f"“{quote}” [1]", abstained=False,
                      citations=(Citation(1, "d", "s", 10, 10 + len(quote), quote),),
                      resolved_question="What did the Judge require?")
    resolved = resolve("Who was that letter addressed to?", [previous])
    assert resolved.followup and resolved.text.startswith("Who was the letter from the Department of State")
    assert resolved.context == (("d", 10, 10 + len(quote)),)
    alone = resolve("Who was that letter addressed to?", None)
    assert alone.text == "Who was that letter addressed to?" and not alone.followup


@pytest.mark.xfail(reason="needs the first answer to quote the Judge's sentence (known miss of the ranker)",
                   strict=False)
def test_that_letter_is_the_letter_just_quoted(assistant, seed_text):
    first = assistant.ask("What did the Judge require?")
    second = assistant.ask("Who was that letter addressed to?", history=[first])
    assert "letter" in second.resolved_question and "that letter" not in second.resolved_question
    assert "Justice" in second.answer and "Steinhardt" not in second.answer


def test_same_input_same_answer(assistant, telegram_index):
    from assistant import Assistant

    other = Assistant.open(index=telegram_index)  # a fresh process-state, same index
    for question, _, _ in _plain(CITES)[:6]:
        a, b = assistant.ask(question).to_dict(), other.ask(question).to_dict()
        a.pop("timings_ms"), b.pop("timings_ms")
        assert a == b


def test_runnable_invoke_stream_batch(assistant):
    from assistant.answer import Answer

    runnable = assistant.runnable
    inputs = {"question": "Who signed this telegram?", "history": []}
    final = runnable.invoke(inputs)
    assert isinstance(final, Answer) and any(c.quote == "Welles" for c in final.citations)
    parts = list(runnable.stream({"question": "What did the Judge require?", "history": []}))
    assert len(parts) > 3
    texts = [p.answer for p in parts]
    assert all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))  # grows
    assert parts[-1].citations and not parts[0].citations
    batch = runnable.batch([inputs, {"question": "What is the capital of Australia?", "history": []}])
    assert [b.abstained for b in batch] == [False, True]


def test_stream_yields_what_the_runnable_streams(assistant):
    """``Assistant.stream`` (the chat page's) runs the chain's generator without LangChain;
    the Runnable wraps the same generator: the same partial answers, history included."""
    first = assistant.ask("Who signed this telegram?")
    for question, history in (("What did the Judge require?", []), ("When did he send it?", [first])):
        direct = [p.to_dict() for p in assistant.stream(question, history=history)]
        wrapped = [p.to_dict() for p in assistant.runnable.stream({"question": question, "history": history})]
        for d in (*direct, *wrapped):
            d.pop("timings_ms")
        assert len(direct) > 3 and direct == wrapped


def test_langchain_retriever_returns_the_searched_chunks_in_order(assistant):
    """``as_retriever()`` (a LangChain BaseRetriever) gives the chunks the answer is built
    from: the plain hybrid search's, in its order, with their ranks."""
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    retriever = assistant.as_retriever()
    assert isinstance(retriever, BaseRetriever)
    for question in ("What did the Judge require?", "Who signed this telegram?", "What is the telegram number?"):
        searched = assistant.chain.retriever.search(question)
        docs = retriever.invoke(question)
        assert len(searched) > 1 and all(isinstance(d, Document) for d in docs)
        assert [(d.id, d.page_content) for d in docs] == [(c.id, c.text) for c, _ in searched]
        assert [d.metadata for d in docs] == [{"chunk": c, **info} for c, info in searched]


def test_json_shape(assistant):
    d = assistant.ask("What did the Judge require?").to_dict()
    assert {"question", "answer", "abstained", "citations", "related", "lead", "resolved_question",
            "passages", "timings_ms"} <= set(d)
    assert isinstance(d["abstained"], bool) and isinstance(d["timings_ms"], dict)
    assert d["citations"]
    for c in d["citations"]:
        assert set(c) >= {"n", "doc_id", "source", "start", "end", "quote"}
        assert isinstance(c["n"], int) and isinstance(c["start"], int) and isinstance(c["end"], int)
        assert c["source"].endswith("seeds/000_fa8f81718d3b4c51.txt")  # the seed, relative or absolute


def test_threshold_abstention_is_logged_with_its_numbers(assistant, monkeypatch, caplog):
    import dataclasses
    import logging

    from assistant import scoring

    fitted = scoring.load
    monkeypatch.setattr(scoring, "load", lambda path=None: dataclasses.replace(fitted(path), threshold=1.0))
    with caplog.at_level(logging.INFO, logger="assistant"):
        answer = assistant.ask("Who signed this telegram?")
    assert answer.abstained
    (line,) = [r.getMessage() for r in caplog.records if r.name == "assistant.chain" and "abstained" in r.getMessage()]
    assert re.fullmatch(r"abstained: best candidate 0\.\d\d < 1\.00 \(confidence 0\.\d{3}, threshold 1\.000, "
                        r"margin \d\.\d\d\)", line), line
