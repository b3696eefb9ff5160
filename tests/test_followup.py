"""Follow-up resolution (assistant/followup.py): what a pronoun, "that <noun>" or an elliptical
question refers to, taken from the conversation's last question and answer, and the documents a
continuing turn is restricted to. Pure functions: no index needed, except the last test."""

from __future__ import annotations

import pytest
from assistant.answer import Answer, Citation, Passage
from assistant.followup import antecedent, core, names, noun_phrase, resolve


def _turn(question: str, quote: str = "", lead: str | None = None, doc: str = "d", resolved: str | None = None,
          passages: tuple[Passage, ...] = ()) -> Answer:
    cits = (Citation(1, doc, "s", 100, 100 + len(quote), quote),) if quote else ()
    return Answer(question=question, answer=f"“{quote}” [1]" if quote else "The telegram does not say.",
                  abstained=not quote, citations=cits, lead=lead, resolved_question=resolved or question,
                  passages=passages)


def _passage(doc: str, text: str) -> Passage:
    return Passage(id=f"{doc}:body:0", doc_id=doc, source="s", title="t", date=None, kind="body", start=0,
                   end=len(text), text=text, score=1.0)


def test_names_are_runs_of_capitalized_words_with_connectors_and_abbreviations():
    got = [n for _, n in names("Mrs. Habicht met Luis López de Mesa of the Committee of Experts in March.")]
    assert got == ["Mrs. Habicht", "Luis López de Mesa", "Committee of Experts"]  # a month is not a name
    # A dictionary word capitalized only because it opens the sentence is not a name.
    assert [n for _, n in names("Besides that, what did Welles say?")] == ["Welles"]


def test_he_is_the_subject_of_the_last_question():
    # Not the first name: the one right after the auxiliary ("did Aranha").
    previous = _turn("In Caffery's telegram, what did Aranha tell him about the meeting?",
                     "Rio would suit him, Aranha said.")
    assert antecedent(previous) == "Aranha"
    assert resolve("Where was he going?", [previous]).text == "Where was Aranha going?"
    assert resolve("What was his title?", [previous]).text == "What was Aranha’s title?"


def test_he_after_a_who_question_is_the_person_the_answer_named():
    # The question names Fenwick; the answer names Labougle: "he" is who was just named.
    previous = _turn("Which member did Fenwick praise as helpful?", "Ambassador Labougle, of Argentina, is helpful")
    assert antecedent(previous) == "Ambassador Labougle"
    led = _turn("Who signed the telegram?", "Welles", lead="Welles, the Acting Secretary of State")
    assert resolve("What was his title?", [led]).text == "What was Welles’s title?"


def test_that_noun_is_the_noun_phrase_of_the_last_quote():
    quote = "he could place on the record a letter from the Department of State addressed to Justice"
    previous = _turn("What did the Judge require?", quote)
    assert noun_phrase(quote, "letter") == "letter from the Department of State"  # stops before the verb
    resolved = resolve("Who was that letter addressed to?", [previous])
    assert resolved.followup and resolved.text == "Who was the letter from the Department of State addressed to?"
    assert resolved.context == (("d", 100, 100 + len(quote)),)
    # Not in the quote: the noun is looked up in the last question.
    q = _turn("Which body had the Committee of Experts reported to?", "to the Lima Conference in 1938")
    assert resolve("who chaired that committee?", [q]).text == "who chaired the Committee of Experts?"


def test_them_is_the_plural_noun_of_the_last_question():
    previous = _turn("Which prisoners did the United States expect the Soviets to release?",
                     "Roszkowski, Pyk, and Devenis")
    assert resolve("How many of them are there?", [previous]).text == "How many of the prisoners are there?"
    assert resolve("What were their names?", [previous]).text == "What were the prisoners’ names?"


def test_an_elliptical_question_is_read_with_the_last_question_once():
    first = _turn("What did the Judge require?", "a letter")
    second = resolve("Why?", [first])
    assert second.text == "Why? (What did the Judge require?)"
    # The next ellipsis is read with the last question's own words, not a nest of parentheses.
    answered = _turn("Why?", "because", resolved=second.text)
    assert resolve("when?", [answered]).text == "when? (Why?)"
    assert core("when? (Why? (What did the Judge require?))") == "when?"


def test_no_history_no_resolution():
    alone = resolve("What was his title?", None)
    assert alone.text == "What was his title?" and not alone.followup and not alone.documents


def test_a_continuing_turn_keeps_to_the_documents_just_used_a_new_name_does_not():
    previous = _turn("What did Armour report about the state of siege?", "the Chief of Police warned all newspapers",
                     doc="d64", passages=(_passage("d64", "the Chief of Police warned all newspapers"),
                                          _passage("d66", "The provisions of the Constitution")))
    cont = resolve("what did he tell them to do?", [previous])
    assert cont.documents == ("d64", "d66")  # the cited document first
    same_names = resolve("And what did Armour say next?", [previous])
    assert same_names.documents == ("d64", "d66")
    shift = resolve("What did Roosevelt tell Churchill?", [previous])  # names the last turn never showed
    assert shift.documents == () and shift.text == "What did Roosevelt tell Churchill?"


def test_resolution_is_deterministic():
    previous = _turn("What did Aranha tell Caffery?", "Aranha said he would approve Rio.")
    assert len({resolve("and what did he want?", [previous]) for _ in range(5)}) == 1


@pytest.fixture(scope="module")
def three_documents(tmp_path_factory):
    """A real three-document collection (real embeddings, a real Chroma)."""
    from assistant.config import Settings
    from assistant.index import Index

    root = tmp_path_factory.mktemp("fu")
    docs = root / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The Minister of Peru, Solf, said the meeting would be held in Lima in May. "
                                "Solf asked for a copy of the agenda.\n", encoding="utf-8")
    (docs / "b.txt").write_text("The Minister of Chile said the meeting would be held in Santiago in June. "
                                "He asked for a copy of the treaty.\n", encoding="utf-8")
    (docs / "c.txt").write_text("The Minister of Ecuador said the meeting would be held in Quito in July. "
                                "He asked for a copy of the declaration.\n", encoding="utf-8")
    settings = Settings(index_dir=root / "idx", collection="followups", chroma_url=None)
    Index(settings).ingest(sorted(docs.iterdir()), progress=False)
    return root / "idx"


def test_a_continuing_turn_over_a_collection_retrieves_from_the_conversations_documents(three_documents):
    from assistant import Assistant
    from assistant.followup import Resolved

    assistant = Assistant.open(index=three_documents, collection="followups")
    first = assistant.ask("Where did Solf say the meeting would be held?")
    assert first.citations and "Lima" in first.answer
    doc = first.citations[0].doc_id
    question = "What did the Minister ask for a copy of?"
    everywhere = {chunk.doc_id for chunk, _ in assistant.chain._search(Resolved(question, question))}
    assert len(everywhere) == 3  # unrestricted, the question matches every document
    kept = {chunk.doc_id for chunk, _ in assistant.chain._search(Resolved(question, question, documents=(doc,)))}
    assert kept == {doc}
    second = assistant.ask("And what did he ask for a copy of?", history=[first])
    assert "Solf" in second.resolved_question
    assert second.citations and {c.doc_id for c in second.citations} == {doc} and "agenda" in second.answer
    # A user's own document filter wins: a conversation's document outside it is not searched.
    others = tuple(sorted(everywhere - {doc}))
    filtered = Assistant.open(index=three_documents, collection="followups", doc_ids=others)
    hits = filtered.chain._search(Resolved(question, question, documents=(doc,)))
    assert hits and {chunk.doc_id for chunk, _ in hits} <= set(others)


def test_that_noun_is_not_repeated_when_the_phrase_already_gives_the_next_words():
    previous = _turn("Could it be dated earlier?", "provided it is not prior to the date of the staff conversations.")
    assert resolve("When did those staff conversations take place?", [previous]).text \
        == "When did the staff conversations take place?"


def test_over_a_collection_an_elliptical_question_keeps_to_the_conversations_documents():
    first = _turn("What did Armour report?", "the Chief of Police warned all newspapers", doc="d64",
                  passages=(_passage("d64", "the Chief of Police warned all newspapers"), _passage("d66", "Decree")))
    assert resolve("Why?", [first]).text == "Why? (What did Armour report?)"  # one document: read with it
    alone = resolve("Why?", [first], collection=True)
    assert alone.text == "Why?" and alone.followup and alone.documents == ("d64", "d66")
    # The next turn retrieved from d64 only: the conversation still holds d66 (since its topic began).
    second = _turn("Why?", "because it was ordered", doc="d64", passages=(_passage("d64", "because it was ordered"),))
    assert resolve("When?", [first, second], collection=True).documents == ("d64", "d66")
    # A turn naming what the conversation never showed starts a new topic: earlier documents drop out.
    shift = _turn("What did Roosevelt say?", "a speech", doc="d9", passages=(_passage("d9", "Roosevelt gave a speech"),))
    assert resolve("When?", [first, second, shift], collection=True).documents == ("d9",)


def test_a_repeated_pronoun_keeps_pointing_to_the_same_person():
    # "she" was read as Mrs. Habicht; the answer quotes another capitalized word ("American"),
    # which a "which …?" answer would otherwise hand to the next "she".
    previous = _turn("which country was she trying to get out of?",
                     "the wives of American citizens, in particular Mrs. Habicht, to leave the Soviet Union",
                     resolved="which country was Mrs. Habicht trying to get out of?")
    assert resolve("did she make it out?", [previous]).text == "did Mrs. Habicht make it out?"
    assert resolve("what was her husband's name?", [previous]).text == "what was Mrs. Habicht’s husband's name?"
    # Another person's pronoun does not inherit it.
    assert "Mrs. Habicht" not in resolve("did he get out?", [previous]).text
    # A possessive read as "Welles’s" gives "Welles".
    titled = _turn("What was his title?", "The Acting Secretary of State", resolved="What was Welles’s title?")
    assert resolve("Where was he posted?", [titled]).text == "Where was Welles posted?"


def test_a_possessive_after_a_name_of_the_question_is_that_names():
    previous = _turn("Who was the Guatemalan foreign minister?", "the Guatemalan Minister for Foreign Affairs",
                     lead="Foreign Affairs")
    resolved = resolve("Where did Lane repeat his telegram?", [previous])
    assert resolved.followup and resolved.text.startswith("Where did Lane repeat his telegram?")
    # Without a name of its own, the possessive is still the last answer's person.
    assert resolve("Where did he repeat his telegram?", [previous]).text != "Where did he repeat his telegram?"
