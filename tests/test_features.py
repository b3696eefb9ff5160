"""Features: computed from the question and the candidate, the same for the same input."""

from assistant.features import NAMES, vector
from assistant.followup import Resolved


def features_of(assistant, question):
    chain = assistant.chain
    q, found = chain.candidates(Resolved(question, question), chain.retriever.search(question))
    return q, {c.text: c.features for c in found}


def test_every_candidate_has_every_feature(assistant):
    chain = assistant.chain
    _, found = chain.candidates(Resolved("Who signed this telegram?", "Who signed this telegram?"),
                                chain.retriever.search("Who signed this telegram?"))
    assert found
    for c in found:
        assert set(c.features) == set(NAMES)
        assert len(vector(c)) == len(NAMES)


def test_answer_type_features(assistant):
    _, f = features_of(assistant, "When were the expectations impressed upon the Ambassador?")
    dated = next(v for t, v in f.items() if t.startswith("On March 22 and March 23"))
    assert dated["want_date_has"] == 1.0 and dated["want_date_missing"] == 0.0
    months = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")
    undated = [v for t, v in f.items() if not any(m in t for m in months) and not any(ch.isdigit() for ch in t)]
    assert undated and all(v["want_date_missing"] == 1.0 and v["want_date_has"] == 0.0 for v in undated)


def test_coverage_and_names(assistant):
    _, f = features_of(assistant, "Who suggested the pardon of Gorin?")
    s = next(v for t, v in f.items() if t.startswith("When Oumansky some time ago suggested"))
    other = next(v for t, v in f.items() if t.startswith("It is understood that Gorin"))
    assert s["cov"] > other["cov"]
    assert s["want_name_has"] == 1.0  # Oumansky, Roszkowski: names the question does not give
    assert s["cov_rel"] <= 0.0 and s["dense_rel"] <= 0.0


def test_modality_is_seen(assistant):
    _, f = features_of(assistant, "Was Roszkowski released?")
    expect = next(v for t, v in f.items() if "this Government would expect the release of Roszkowski" in t)
    assert expect["cand_modal"] == 1.0 and expect["modal_mismatch"] == 1.0


def test_what_the_sentence_lacks_and_the_answer_type(assistant):
    _, f = features_of(assistant, "When were the expectations impressed upon the Ambassador?")
    dated = next(v for t, v in f.items() if t.startswith("On March 22 and March 23"))
    assert dated["type_ok"] == 1.0 and dated["miss_max"] == 0.0  # every question word is in it
    _, g = features_of(assistant, "When did the Ambassador visit Vladivostok?")
    assert all(0.0 <= v["miss_max"] <= 1.0 for v in g.values())
    assert max(v["miss_max"] for v in g.values()) > 0.0  # the telegram never names that city
    unretrieved = [v for v in g.values() if v["not_retrieved"] == 1.0]
    assert all(v["passage_score"] == 0.0 for v in unretrieved)
