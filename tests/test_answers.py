"""Answers over the seed telegram: the right sentence cited, abstention, follow-ups.

Expected sentences are written from the telegram itself (by their opening words),
not from what the pipeline printed.
"""

import pytest

from assistant.citations import source_text

CITES = [
    ("What did the Judge require?", "The Judge informed the attorneys", None),
    ("Who signed this telegram?", "Welles", "Welles"),
    ("Who sent this telegram?", "The Acting Secretary of State", "Acting Secretary of State"),
    ("To whom was the telegram addressed?", "the Ambassador in the Soviet Union (Steinhardt)", "Steinhardt"),
    ("What is the telegram number?", "352", "352"),
    ("What is the file number of this document?", "311.6121 Gorin, M. N./44", "311.6121"),
    ("When were the expectations impressed upon the Ambassador?", "On March 22 and March 23", "March 22 and March 23"),
    ("How many American citizens are in jail?", "In view of the conversations", "three American citizens"),
    ("Who suggested the pardon of Gorin?", "352. Your 573 [574]", "Oumansky"),
    ("Has Gorin left the United States?", "It is understood that Gorin has already left", None),
    ("Why could the Department not negotiate an exchange of detained persons?", "We were therefore not in a position", None),
    ("Whose release would this Government expect if Gorin were released?", "It was pointed out on a number of occasions", None),
    ("Why did the Department refuse Oumansky's suggestion?", "352. Your 573 [574]", None),
    ("What does the constitutional organization of this Government make difficult?", "You undoubtedly realize", None),
    ("Could the Department control the timing of the Judge's actions?", "It furthermore had no way", None),
]

UNANSWERABLE = [
    "In what year was this sent?",
    "What crime was Gorin convicted of?",
    "What is the capital of Australia?",
    "What was Gorin's first name?",
    "How long was Gorin's prison sentence?",
    "What did the Soviet Government reply?",
]


@pytest.mark.parametrize("question,opening,lead", CITES)
def test_cites_the_sentence_that_answers(assistant, question, opening, lead):
    answer = assistant.ask(question)
    assert not answer.abstained, answer.answer
    assert any(c.quote.startswith(opening) for c in answer.citations), [c.quote[:40] for c in answer.citations]
    assert len(answer.citations) <= 3  # concise: one to three sentences
    if lead:  # the short span leads, or is itself the (short) quotation
        prefix = answer.answer.split("“")[0].lower()
        assert lead.lower() in prefix or any(lead in c.quote and len(c.quote) < 60 for c in answer.citations)


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_abstains_when_the_telegram_does_not_say(assistant, question):
    answer = assistant.ask(question)
    assert answer.abstained, answer.answer
    assert answer.answer.startswith("The telegram does not say")
    assert not answer.citations
    assert answer.related  # the closest passages are still shown


def test_every_citation_is_the_source_text_at_its_span(assistant):
    for question, _, _ in CITES:
        answer = assistant.ask(question)
        for c in answer.citations + answer.related:
            text = source_text(c.source)
            assert text[c.start : c.end] == c.quote
            assert f"[{c.n}]" in answer.answer or answer.abstained


def test_follow_up_uses_the_conversation(assistant):
    first = assistant.ask("Who sent this telegram?")
    second = assistant.ask("What was his title?", history=[first])
    assert "Welles" in second.resolved_question
    assert any(c.quote == "The Acting Secretary of State" for c in second.citations)
    # Without the history the same words are not about Welles.
    alone = assistant.ask("What was his title?")
    assert "Welles" not in alone.resolved_question


def test_same_input_same_answer(assistant, telegram_index):
    from assistant import Assistant

    other = Assistant.open(index=telegram_index)  # a fresh process-state, same index
    for question, _, _ in CITES[:6]:
        a, b = assistant.ask(question).to_dict(), other.ask(question).to_dict()
        a.pop("timings_ms"), b.pop("timings_ms")
        assert a == b


def test_runnable_invoke_stream_batch(assistant):
    from assistant.answer import Answer

    runnable = assistant.runnable
    inputs = {"question": "Who signed this telegram?", "history": []}
    final = runnable.invoke(inputs)
    assert isinstance(final, Answer) and final.citations[0].quote == "Welles"
    parts = list(runnable.stream({"question": "What did the Judge require?", "history": []}))
    assert len(parts) > 3
    texts = [p.answer for p in parts]
    assert all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))  # grows
    assert parts[-1].citations and not parts[0].citations
    batch = runnable.batch([inputs, {"question": "What is the capital of Australia?", "history": []}])
    assert [b.abstained for b in batch] == [False, True]


def test_json_shape(assistant):
    d = assistant.ask("What did the Judge require?").to_dict()
    assert {"question", "answer", "abstained", "citations", "timings_ms"} <= set(d)
    assert isinstance(d["abstained"], bool) and isinstance(d["timings_ms"], dict)
    for c in d["citations"]:
        assert set(c) >= {"n", "doc_id", "source", "start", "end", "quote"}
        assert isinstance(c["n"], int) and isinstance(c["start"], int) and isinstance(c["end"], int)
        assert c["source"] == "seeds/000_fa8f81718d3b4c51.txt" or c["source"].endswith("000_fa8f81718d3b4c51.txt")
