"""Question analysis: what a question asks for and which of its words carry meaning.

``analyze(text, lexicon)`` returns a ``Question``: its answer type (who, when, where,
count, why, how, which, yesno, summary, what — from the patterns in
``assistant/data/wh_types.txt``), its content stems with IDF weights from the collection
(question words such as "what", "telegram", "say" carry none: ``data/question_words.txt``),
the names it already gives (an answer must add something), and, for a follow-up, which
stems are the user's own words and which came from the conversation.

Linguistic word lists live in ``assistant/data/*.txt``; nothing here names a word of the
documents or of the eval questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=None)
def words(name: str) -> frozenset[str]:
    """A word list of ``assistant/data/<name>.txt`` (whitespace-separated, ``#`` comments)."""
    out: set[str] = set()
    for line in (DATA / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0]
        out.update(w for w in line.split())
    return frozenset(out)


@lru_cache(maxsize=None)
def ordered_words(name: str) -> tuple[str, ...]:
    out: list[str] = []
    for line in (DATA / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        out += line.split("#", 1)[0].split()
    return tuple(out)


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


@lru_cache(maxsize=1)
def generic_stems() -> frozenset[str]:
    from assistant.retrieval import stemmer

    return frozenset(stemmer().stemWord(w.lower()) for w in words("question_words"))


@lru_cache(maxsize=50000)
def word_keys(word: str) -> frozenset[str]:
    """A word's stem and its lemmas' stems, so "wives" meets "wife" and "left" meets "leaving"."""
    from lemminflect import getAllLemmas

    from assistant.retrieval import stemmer

    w = word.lower()
    keys = {stemmer().stemWord(w)}
    for lemmas in getAllLemmas(w).values():
        keys.update(stemmer().stemWord(lemma.lower()) for lemma in lemmas)
    return frozenset(keys)


WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")


def text_keys(text: str) -> frozenset[str]:
    keys: set[str] = set()
    for w in re.findall(r"[A-Za-z]+", text):
        keys |= word_keys(w)
    return frozenset(keys)


def capitalized(text: str) -> list[str]:
    """Capitalized words that are not sentence-initial function words ("The", "When")."""
    fw = function_words_title()
    return [w for w in re.findall(r"\b[A-Z][a-zà-ÿ’'-]*[a-z]\b|\b[A-Z]{2,}\b", text) if w not in fw]


@lru_cache(maxsize=1)
def function_words_title() -> frozenset[str]:
    return frozenset(w.capitalize() for w in words("function_words") | words("question_words")
                     | words("clause_boundaries"))


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
    from assistant.retrieval import stems as stems_of

    generic = generic_stems()
    seen: list[str] = []
    keys: dict[str, frozenset] = {}
    for word in re.findall(r"[A-Za-z]+", text):
        raw = stems_of(word)
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
        own_stems = frozenset(lexicon.correct([t])[0] for w in re.findall(r"[A-Za-z]+", own) for t in stems_of(w))
        own_stems = frozenset(s for s in seen if s in own_stems)
    return Question(
        text=text, qtype=classify(own or text), stems=seen, weights=weights, keys=keys, known=known,
        own=own_stems, names=frozenset(w.lower() for w in capitalized(text)), context=context,
        followup=own is not None,
        unknown=sum(unknown_weight.values()) / (sum(weights.values()) or 1.0),
    )
