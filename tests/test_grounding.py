"""The citation checker on the seed telegram, with the real embedding model."""

from __future__ import annotations

import pytest
from assistant.answer import Passage
from assistant.chunks import chunk_document
from assistant.grounding import (
    OVERLAP_THRESHOLD,
    SIMILARITY_THRESHOLD,
    GroundingChecker,
    answer_sentences,
    markers,
    missing_facts,
)
from assistant.loaders import load_documents

from conftest import SEED_FILE


@pytest.fixture(scope="module")
def document():
    return load_documents([SEED_FILE])[0]


@pytest.fixture(scope="module")
def passages(document):
    """[1] the Judge's condition, [2] Oumansky's suggestion, [3] the expectations,
    [4] March 22/23, [5] the sender, [6] the signature, [7] Gorin has left."""
    chunks = {c.kind: c for c in chunk_document(document) if c.kind != "body"}
    body = [c for c in chunk_document(document) if c.kind == "body"]

    def find(words):
        return next(c for c in body if words in c.text)

    picked = [find("The Judge informed"), find("When Oumansky"), find("would expect the release"),
              find("On March 22"), chunks["sender"], chunks["signature"], find("already left")]
    return [Passage(id=c.id, doc_id=c.doc_id, source=c.source, title=c.title, date=c.date, kind=c.kind,
                    start=c.start, end=c.end, text=c.text, score=0.0, sentences=c.sentences) for c in picked]


@pytest.fixture(scope="module")
def checker():
    return GroundingChecker()


SUPPORTED = [
    "The Judge required a letter from the Department of State saying that the release of Gorin "
    "would be in the interests of the United States [1].",
    "The Judge wanted a letter from the State Department to Justice before he would release Gorin [1].",
    "Oumansky suggested the pardon of Gorin in return for the release of Roszkowski [2].",
    "This Government would expect the release of Roszkowski, Pyk, and Devenis [3].",
    "The Ambassador promised to bring the expectations to the attention of his Government [4].",
    "The telegram was sent by the Acting Secretary of State [5].",
    "The telegram was signed by Welles [6].",
    "Gorin has already left the United States [7].",
]


@pytest.mark.parametrize("sentence", SUPPORTED)
def test_faithful_sentences_are_supported(checker, passages, document, sentence):
    result = checker.check(sentence, passages)
    assert result.supported, result.reason
    assert result.similarity >= SIMILARITY_THRESHOLD and result.overlap >= OVERLAP_THRESHOLD
    assert result.evidence
    for ev in result.evidence:  # evidence is the document's own text at its span
        assert document.text[ev.start : ev.end] == ev.quote
        p = passages[ev.passage - 1]
        assert p.start <= ev.start < ev.end <= p.end


INVENTED = [
    # a number the passage does not have
    ("The Ambassador promised on March 24 to bring the expectations to his Government [4].", "'24'"),
    ("The Judge required the attorneys to pay 500 dollars [1].", "'500'"),
    # a name the passage does not have
    ("The Judge required a letter from Secretary Hull to Justice [1].", "'Hull'"),
    ("It is understood that Gorin has already left for Moscow [7].", "'Moscow'"),
    # a count the passage does not state
    ("This Government would expect the release of four prisoners, Roszkowski, Pyk and Devenis [3].", "'four'"),
]


@pytest.mark.parametrize("sentence,fact", INVENTED)
def test_invented_facts_are_caught(checker, passages, sentence, fact):
    result = checker.check(sentence, passages)
    assert not result.supported
    assert fact in result.reason


WRONG_CITATION = [
    # true of the telegram, but not of the passage cited
    "Oumansky suggested the pardon of Gorin in return for the release of Roszkowski [1].",
    "The telegram was signed by Welles [5].",
    "Gorin has already left the United States [1].",
    "The Judge informed the attorneys that he needed a letter from the Department [7].",
]


@pytest.mark.parametrize("sentence", WRONG_CITATION)
def test_a_wrong_citation_number_is_caught(checker, passages, sentence):
    assert not checker.check(sentence, passages).supported


def test_unsupported_claims_on_the_right_passage_are_caught(checker, passages):
    for sentence in ["Gorin was convicted of murder [1].", "Gorin was convicted of espionage [2]."]:
        result = checker.check(sentence, passages)
        assert not result.supported, sentence


def test_a_sentence_without_markers_is_unsupported(checker, passages):
    result = checker.check("Gorin has already left the United States.", passages)
    assert not result.supported and "no [n]" in result.reason


def test_a_marker_beyond_the_passages_is_unsupported(checker, passages):
    result = checker.check("Gorin has already left the United States [9].", passages)
    assert not result.supported and "[9]" in result.reason


def test_of_several_markers_only_the_backing_passages_are_kept(checker, passages):
    result = checker.check("Gorin has already left the United States [2][7].", passages)
    assert result.supported
    assert result.cited == (7,)


def test_answer_is_split_into_sentences_with_trailing_markers_kept():
    text = "The Judge wanted a letter. [1] Welles signed it [6]. Mrs. Habicht is named [3]."
    assert answer_sentences(text) == ["The Judge wanted a letter. [1]", "Welles signed it [6].",
                                      "Mrs. Habicht is named [3]."]
    assert markers("A [1, 3] b [2][1].") == (1, 3, 2)


def test_number_words_match_digits_and_back():
    assert missing_facts("three citizens were held", "all 3 American citizens") == []
    assert missing_facts("3 citizens were held", "all three American citizens") == []
    assert missing_facts("two citizens were held", "all three American citizens") == ["two"]


def test_sentences_about_the_prompt_are_unsupported(checker, passages):
    for sentence in ["The passage is the only one that says Gorin has already left the United States [7].",
                     "Passages: It is understood that Gorin has already left the United States [7]."]:
        result = checker.check(sentence, passages)
        assert not result.supported and "prompt" in result.reason
    # a lead-in naming the passage is not itself a claim
    assert checker.check("According to the passage, Gorin has already left the United States [7].",
                         passages).supported


def test_covers_needs_the_short_answers_facts():
    from assistant.grounding import covers

    assert covers("The law needs three readings [1].", "Three readings")
    assert not covers("The law needs a reading [1].", "Three readings")
    assert covers("Welles signed it [1].", "Welles")
