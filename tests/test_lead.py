"""Lead span: a date, a number, a name — verbatim, at its exact place."""

from assistant.candidates import Candidate
from assistant.chunks import Chunk
from assistant.lead import lead_span
from assistant.question import Question, classify
from assistant.text import capitalized, word_keys


def question(text, stems=()):
    return Question(text=text, qtype=classify(text), stems=list(stems), weights=dict.fromkeys(stems, 1.0),
                    keys={s: word_keys(s) for s in stems}, names=frozenset(w.lower() for w in capitalized(text)))


def cand(doc, start, end, kind="sentence", field="body"):
    chunk = Chunk("c", "d", "s", "", None, field, 0, 0, len(doc), doc, doc, ((start, end),))
    return Candidate(chunk, start, end, doc[start:end], kind, 0, (start, end), doc[start:end])


def test_when_leads_with_the_date(seed_text):
    s = seed_text.index("On March 22 and March 23")
    e = seed_text.index("Government.", s) + len("Government.")
    lead = lead_span(question("When were the expectations impressed?", ["expect", "impress"]), cand(seed_text, s, e))
    assert lead.text == "March 22 and March 23"
    assert seed_text[lead.start : lead.end] == lead.text


def test_count_leads_with_the_number_and_what_it_counts(seed_text):
    s = seed_text.index("In view of the conversations")
    e = seed_text.index("the country.", s) + len("the country.")
    lead = lead_span(question("How many American citizens are in jail?", ["american", "citizen", "jail"]),
                     cand(seed_text, s, e))
    assert lead.text == "three American citizens"
    assert seed_text[lead.start : lead.end] == lead.text


def test_who_leads_with_a_name_the_question_does_not_give(seed_text):
    s = seed_text.index("When Oumansky")
    e = seed_text.index("justice.", s) + len("justice.")
    lead = lead_span(question("Who suggested the pardon of Gorin?", ["suggest", "pardon", "gorin"]),
                     cand(seed_text, s, e))
    assert lead.text == "Oumansky"
    assert seed_text[lead.start : lead.end] == "Oumansky"


def test_a_field_is_its_own_lead(seed_text):
    s = seed_text.rindex("Welles")
    lead = lead_span(question("Who signed it?", ["sign"]), cand(seed_text, s, s + 6, "field", "signature"))
    assert lead.text == "Welles"


def test_no_lead_for_what_questions(seed_text):
    assert lead_span(question("What did the Judge require?", ["judg", "requir"]), cand(seed_text, 0, 20)) is None
