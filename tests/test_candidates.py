"""Candidates: sentences, clauses and fields, every one a verbatim span of its document."""

from assistant.candidates import clause_spans, from_hits
from assistant.followup import Resolved

QUESTIONS = ["What did the Judge require?", "Who signed this telegram?", "How many American citizens are in jail?",
             "When were the expectations impressed upon the Ambassador?"]


def test_clauses_are_spans_of_their_sentence():
    sentence = ("The Judge informed the attorneys that he would not take such steps unless he could place "
                "on the record a letter, addressed to Justice.")
    spans = clause_spans(sentence, 100)
    texts = [sentence[s - 100 : e - 100] for s, e in spans]
    assert "that he would not take such steps" in texts
    assert "unless he could place on the record a letter" in texts
    assert sentence not in texts  # the whole sentence is a sentence candidate, not a clause
    for t in texts:
        assert t == t.strip() and not t.endswith(",") and len(t) >= 12


def test_every_candidate_is_the_document_text_at_its_span(assistant, seed_text):
    chain = assistant.chain
    for question in QUESTIONS:
        hits = chain.retriever.search(question)
        found = from_hits(hits, chain.retriever.index)
        assert found
        for c in found:
            assert seed_text[c.start : c.end] == c.text
            assert c.sentence[0] <= c.start and c.end <= c.sentence[1]
        kinds = {c.kind for c in found}
        assert {"sentence", "clause", "field"} <= kinds


def test_fields_of_the_best_document_are_candidates(assistant):
    chain = assistant.chain
    hits = chain.retriever.search("What did the Judge require?")
    found = from_hits(hits, chain.retriever.index)
    assert {"Welles", "352"} <= {c.text for c in found if c.kind == "field"}


def test_each_span_once(assistant):
    chain = assistant.chain
    _, found = chain.candidates(Resolved("What did the Judge require?", "What did the Judge require?"),
                                chain.retriever.search("What did the Judge require?"))
    keys = [c.key for c in found]
    assert len(keys) == len(set(keys))


def test_passages_of_the_best_document_that_were_not_retrieved_are_candidates(assistant, seed_text):
    chain = assistant.chain
    hits = chain.retriever.search("What did the Judge require?")
    retrieved = {(chunk.start, chunk.end) for chunk, _ in hits}
    found = from_hits(hits, chain.retriever.index)
    unretrieved = [c for c in found if c.kind != "field" and c.rank == len(hits)]
    assert unretrieved  # the telegram has more passages than the five retrieved
    for c in unretrieved:
        assert seed_text[c.start : c.end] == c.text and c.passage_score == 0.0
        assert not any(s <= c.start and c.end <= e for s, e in retrieved)
    assert not from_hits(hits, None) or all(c.rank < len(hits) for c in from_hits(hits, None))
