"""English spelling of a question's words, before retrieval ("prisonners" → "prisoners").

The collection's own words are corrected later, stem by stem (``Lexicon.correct``: "signd"
→ "sign", "Roskowski" → "Roszkowski"). That cannot help a misspelled word the documents
never use in that form: "prisonners" is too far from the telegram's "imprisoned". Here such
a word is matched against an English word list (lemminflect's lemma dictionary, ~70,000
words, shipped in its wheel), so the stem-level step then sees "prisoners". Only lowercase
words of 5+ letters that are neither English nor in the collection are touched, and only by
a close match (Levenshtein ratio ≥ 85), so names and rare real words stay as typed.
"""

from __future__ import annotations

import re
from functools import lru_cache

MIN_RATIO = 85
MIN_LENGTH = 5


@lru_cache(maxsize=1)
def _english() -> dict[tuple[str, int], frozenset[str]]:
    """English word forms ("prisoners", "freed") by (first letter, length); loaded only when a
    question has a word the collection does not use (~0.2 s)."""
    from lemminflect import Lemmatizer

    by_key: dict[tuple[str, int], set[str]] = {}
    for form in Lemmatizer()._getLemmaDict():  # {form: {upos: (lemma, …)}}
        w = form.lower()
        if w.isalpha():
            by_key.setdefault((w[0], len(w)), set()).add(w)
    return {k: frozenset(v) for k, v in by_key.items()}


def is_english(word: str) -> bool:
    w = word.lower()
    return w in _english().get((w[:1], len(w)), ())


def correct_word(word: str) -> str:
    """The closest English word to an unknown ``word`` (same first letter, ±2 letters), or ``word``."""
    from rapidfuzz import fuzz, process

    w = word.lower()
    pool = sorted(c for n in range(len(w) - 2, len(w) + 3) for c in _english().get((w[:1], n), ()))
    best = process.extractOne(w, pool, scorer=fuzz.ratio, score_cutoff=MIN_RATIO)
    return best[0] if best else word


def respell(question: str, known) -> str:
    """``question`` with its misspelled lowercase words corrected; ``known(word)`` says whether
    the collection uses the word (then it is left alone)."""

    def fix(m: re.Match) -> str:
        word = m.group(0)
        if len(word) < MIN_LENGTH or not word.islower() or known(word) or is_english(word):
            return word
        return correct_word(word)

    return re.sub(r"[A-Za-z]+", fix, question)
