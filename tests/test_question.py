"""Question analysis: answer types from the wording, weights from the collection."""

import pytest
from assistant.question import analyze, classify
from assistant.text import words


@pytest.mark.parametrize("text,kind", [
    ("Who signed this telegram?", "who"),
    ("who's it from", "who"),
    ("To whom was the telegram addressed?", "who"),
    ("When were the expectations impressed upon the Ambassador?", "when"),
    ("On what day did they meet?", "when"),
    ("How many American citizens are in jail?", "count"),
    ("Where was the letter sent?", "where"),
    ("Why could the Department not negotiate?", "why"),
    ("What was the reason the Department refused?", "why"),
    ("Which prisoners did the Government expect?", "which"),
    ("Has Gorin left the United States?", "yesno"),
    ("Summarize the telegram.", "summary"),
    ("What did the Judge require?", "what"),
])
def test_answer_type_from_the_wording(text, kind):
    assert classify(text) == kind


def test_word_lists_are_data_files():
    assert "March" in words("months") and "would" in words("modal_verbs")
    assert "because" in words("clause_boundaries") and "the" in words("function_words")


def test_question_words_carry_no_weight(assistant):
    lexicon = assistant.chain.retriever.lexicon()
    q = analyze("What did the telegram say the Judge required?", lexicon)
    assert "telegram" not in q.stems and "what" not in q.stems and "say" not in q.stems
    assert "judg" in q.stems and q.weights["judg"] > 0
    assert "judge" in q.names


def test_rare_words_weigh_more(assistant):
    lexicon = assistant.chain.retriever.lexicon()
    q = analyze("Did Roszkowski leave the Soviet Union?", lexicon)
    assert q.weights["roszkowski"] > q.weights["soviet"]


def test_a_followup_keeps_its_own_words_apart(assistant):
    lexicon = assistant.chain.retriever.lexicon()
    q = analyze("Why? (What did the Judge require?)", lexicon, own="Why?")
    assert q.qtype == "why" and q.followup
    assert "judg" in q.stems and "judg" not in q.own
