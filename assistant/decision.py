"""Decision: answer with the best-scored candidate, or abstain.

The best-ranked candidate answers when the fitted answerer's probability for it reaches the
model's threshold (calibrated on the bank's ``dev`` split to a chosen false-refusal rate); otherwise the question is one
the documents do not answer, and the closest sentences are offered as related passages.
Among candidates scoring within the model's margin of the best and inside the same
sentence, the shortest is quoted: the answer is the clause, not the whole sentence.
A quotation must fit the length a question type allows (``limit``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assistant.candidates import Candidate

log = logging.getLogger(__name__)
SHORT_TYPES = ("who", "when", "where", "count", "which")
SHORT_LIMIT = 200  # characters of a who/when/where/how-many/which answer
LIMIT = 400  # of any other answer (a summary excepted)
MAX_RELATED = 3


def limit(qtype: str) -> int:
    return SHORT_LIMIT if qtype in SHORT_TYPES else 10**6 if qtype == "summary" else LIMIT


@dataclass
class Decision:
    abstained: bool
    chosen: Candidate | None
    related: list[Candidate]
    score: float
    reason: str


def _same_place(a: Candidate, b: Candidate) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end


def distinct(cands: list[Candidate]) -> list[Candidate]:
    out: list[Candidate] = []
    for c in cands:
        if not any(_same_place(c, o) for o in out):
            out.append(c)
    return out


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c.score, c.rank, c.doc_id, c.start, c.end))


def decide(candidates: list[Candidate], qtype: str, threshold: float, margin: float = 0.0,
           confidence=None, foreign: bool = False) -> Decision:
    """``confidence(best, candidates) -> float``: the probability that ``best`` answers (the
    fitted answerer); without it, the best candidate's own score is compared to ``threshold``.
    ``foreign``: the question has content words, the documents use none of them and no candidate
    (nor a field's description) covers any ("What is the capital of Australia?" over the
    telegram): nothing here can answer it."""
    if not candidates:
        return Decision(True, None, [], 0.0, "nothing retrieved")
    order = ranked(candidates)
    sentences = [c for c in order if c.kind != "clause"]
    related = distinct(sentences)[:MAX_RELATED]
    if foreign:
        return Decision(True, None, related, 0.0, "the documents use none of the question's words")
    fits = [c for c in order if len(c.text) <= limit(qtype)]
    if not fits:
        return Decision(True, None, related, order[0].score, "no candidate short enough")
    best = fits[0]
    p = confidence(best, candidates) if confidence is not None else best.score
    if p < threshold:
        return Decision(True, None, related, p, f"best candidate {p:.2f} < {threshold:.2f}")
    if margin > 0:
        near = [c for c in fits if c.score >= best.score - margin and c.doc_id == best.doc_id
                and c.sentence == best.sentence]
        best = min(near, key=lambda c: (c.end - c.start, -c.score, c.start))
        log.debug("quoting the shortest of %d candidates within %.2f of the best: %s:%d-%d", len(near), margin,
                  best.doc_id, best.start, best.end)
    context = [c for c in sentences if c.doc_id == best.doc_id and c.sentence == best.sentence and c.kind == "sentence"
               and (c.start, c.end) != (best.start, best.end)]
    related = distinct(context + [c for c in related if not _same_place(c, best)])[:MAX_RELATED]
    return Decision(False, best, related, p, "answered")
