"""Question analysis: what a question asks for and which of its words carry meaning.

``analyze(text, lexicon)`` returns a ``Question``: its answer type (who, when, where,
count, why, how, which, yesno, summary, what — from the patterns in
``assistant/data/wh_types.txt``), its content stems with IDF weights from the collection
(question words such as "what", "telegram", "say" carry none: ``data/question_words.txt``),
the names it already gives (an answer must add something), and, for a follow-up, which
stems are the user's own words and which came from the conversation.

Linguistic word lists live in ``assistant/data/*.txt`` (read through ``assistant.text``);
nothing here names a word of the documents or of the eval questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from assistant.text import DATA, capitalized, generic_stems, stems, word_keys


@lru_cache(maxsize=1)
def type_rules() -> tuple[tuple[str, re.Pattern], ...]:
    rules = []
    for line in (DATA / "wh_types.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, _, pattern = line.partition("\t")
        rules.append((kind.strip(), re.compile(pattern.strip(), re.IGNORECASE)))
    return tuple(rules)


TYPES = ("who", "when", "where", "count", "why", "how", "which", "yesno", "summary", "what")


def classify(text: str) -> str:
    for kind, rx in type_rules():
        if rx.search(text):
            return kind
    return "what"


@dataclass
class Question:
    text: str
    qtype: str
    stems: list[str]  # content stems, in order, corrected to the collection's spelling
    weights: dict[str, float] = field(default_factory=dict)  # stem → IDF weight
    keys: dict[str, frozenset] = field(default_factory=dict)  # stem → stems of its lemmas too
    known: frozenset = frozenset()  # stems the collection uses somewhere
    own: frozenset = frozenset()  # a follow-up's own stems (the rest came from the conversation)
    names: frozenset = frozenset()  # capitalized words the question gives (lower case)
    context: str = ""  # the previous answer's cited text, for a follow-up
    followup: bool = False
    unknown: float = 0.0  # share of the question's weight on words the collection never uses

    @property
    def total(self) -> float:
        return sum(self.weights.values()) or 1.0


def analyze(text: str, lexicon, own: str | None = None, context: str = "") -> Question:
    """``own``: the words the user typed when ``text`` was completed from the conversation."""
    generic = generic_stems()
    seen: list[str] = []
    keys: dict[str, frozenset] = {}
    for word in re.findall(r"[A-Za-z]+", text):
        raw = stems(word)
        if not raw:
            continue
        stem = lexicon.correct(raw)[0]
        if stem in generic or stem in seen:
            continue
        seen.append(stem)
        keys[stem] = frozenset({stem}) if stem != raw[0] else word_keys(word) | {stem}
    known = frozenset(s for s in seen if keys[s] & lexicon.vocab)
    cap = max([lexicon.idf(s) for s in known], default=1.0)
    weights = {s: min(lexicon.idf(s), cap) for s in seen}
    unknown_weight = {s: weights[s] for s in seen if s not in known}
    own_stems: frozenset = frozenset(seen)
    if own is not None and own != text:
        own_stems = frozenset(lexicon.correct([t])[0] for w in re.findall(r"[A-Za-z]+", own) for t in stems(w))
        own_stems = frozenset(s for s in seen if s in own_stems)
    return Question(
        text=text, qtype=classify(own or text), stems=seen, weights=weights, keys=keys, known=known,
        own=own_stems, names=frozenset(w.lower() for w in capitalized(text)), context=context,
        followup=own is not None,
        unknown=sum(unknown_weight.values()) / (sum(weights.values()) or 1.0),
    )
