"""Decision: the best candidate above the threshold, the shortest near it, or an abstention."""

from assistant.candidates import Candidate
from assistant.chunks import Chunk
from assistant.decision import SHORT_LIMIT, decide

TEXT = "The Judge said he would not act unless he had a letter. It was given."


def cand(start, end, score, kind="clause", sentence=(0, 55)):
    chunk = Chunk("c", "d", "s", "", None, "body", 0, 0, len(TEXT), TEXT, TEXT, ((0, 55), (56, 69)))
    c = Candidate(chunk, start, end, TEXT[start:end], kind, 0, sentence, TEXT[start:end])
    c.score = score
    return c


def test_abstains_below_the_threshold_and_keeps_related():
    d = decide([cand(0, 55, 0.3, "sentence"), cand(56, 69, 0.2, "sentence", (56, 69))], "what", threshold=0.5)
    assert d.abstained and d.chosen is None
    assert [c.text for c in d.related] == [TEXT[0:55], TEXT[56:69]]


def test_best_above_the_threshold_answers():
    d = decide([cand(0, 55, 0.9, "sentence"), cand(32, 54, 0.6)], "what", threshold=0.5)
    assert not d.abstained and d.chosen.text == TEXT[0:55]


def test_shortest_within_the_margin_of_the_same_sentence():
    sentence, clause = cand(0, 55, 0.9, "sentence"), cand(32, 54, 0.85)
    d = decide([sentence, clause], "what", threshold=0.5, margin=0.1)
    assert d.chosen is clause
    assert sentence in d.related  # the sentence stays as context
    d = decide([sentence, clause], "what", threshold=0.5, margin=0.01)
    assert d.chosen is sentence


def test_a_short_answer_type_never_quotes_a_long_span():
    long_text = "x" * (SHORT_LIMIT + 10)
    chunk = Chunk("c", "d", "s", "", None, "body", 0, 0, len(long_text), long_text, long_text, ((0, len(long_text)),))
    c = Candidate(chunk, 0, len(long_text), long_text, "sentence", 0, (0, len(long_text)), long_text)
    c.score = 0.99
    assert decide([c], "who", threshold=0.5).abstained
    assert not decide([c], "what", threshold=0.5).abstained


def test_a_question_in_words_the_documents_never_use_is_not_answered():
    d = decide([cand(0, 55, 0.99, "sentence")], "what", threshold=0.5, foreign=True)
    assert d.abstained and d.related
