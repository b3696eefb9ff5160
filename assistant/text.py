"""Text utilities, the package's bottom layer: word lists, the stemmer, tokenizers, word keys.

Every module that reads words goes through here, so BM25, question analysis, follow-up
resolution, features, lead spans and the grounding check stem and split words alike.

- ``words(name)`` / ``ordered_words(name)``: the linguistic word lists of
  ``assistant/data/<name>.txt`` (function words, question words, months, number words, …);
  ``pairs(name)``: the lists of two columns (pronoun → kind, number word → value);
- ``stemmer()``: the one Snowball (English) stemmer;
- ``tokenize`` / ``stems``: BM25's tokenizer (bm25s, stop words ``en_plus``, Snowball stems).
  ``keyword_store.TOKENIZER`` names it in the keyword index: change the name when this changes;
- ``word_keys`` / ``text_keys``: a word's stem and its lemmas' stems ("wives" meets "wife");
- ``generic_stems``: stems of question words ("what", "telegram", "say"), which carry no content;
- ``capitalized`` / ``function_words_title``: capitalized words that may be names, and the
  capitalized function words that are not.

Nothing here imports another module of the package.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path

import Stemmer

DATA = Path(__file__).resolve().parent / "data"


def _lines(name: str) -> list[list[str]]:
    """The words of each line of ``data/<name>.txt``, ``#`` comments left out."""
    return [line.split("#", 1)[0].split() for line in (DATA / f"{name}.txt").read_text(encoding="utf-8").splitlines()]


@cache
def words(name: str) -> frozenset[str]:
    """A word list of ``assistant/data/<name>.txt`` (whitespace-separated, ``#`` comments)."""
    return frozenset(w for line in _lines(name) for w in line)


@cache
def ordered_words(name: str) -> tuple[str, ...]:
    """A word list in its file's order (month names: January first)."""
    return tuple(w for line in _lines(name) for w in line)


@cache
def pairs(name: str) -> dict[str, str]:
    """A two-column list (``word value`` per line) as a mapping; other lines are ignored."""
    return {line[0]: line[1] for line in _lines(name) if len(line) == 2}


@lru_cache(maxsize=1)
def stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """BM25's tokens of each text: stop words (``en_plus``) out, Snowball stems."""
    import bm25s  # ~0.25 s (scipy): only retrieval and question analysis tokenize

    return bm25s.tokenize(texts, stopwords="en_plus", stemmer=stemmer(), show_progress=False, return_ids=False)


def stems(text: str) -> list[str]:
    """Content stems of a text (BM25's tokenizer: stop words out, Snowball stems)."""
    return tokenize([text])[0]


@lru_cache(maxsize=50000)
def word_keys(word: str) -> frozenset[str]:
    """A word's stem and its lemmas' stems, so "wives" meets "wife" and "left" meets "leaving"."""
    from lemminflect import getAllLemmas  # ~0.1 s: only the answer step needs lemmas

    w = word.lower()
    keys = {stemmer().stemWord(w)}
    for lemmas in getAllLemmas(w).values():
        keys.update(stemmer().stemWord(lemma.lower()) for lemma in lemmas)
    return frozenset(keys)


def text_keys(text: str) -> frozenset[str]:
    """The word keys of every word of a text."""
    keys: set[str] = set()
    for w in re.findall(r"[A-Za-z]+", text):
        keys |= word_keys(w)
    return frozenset(keys)


@lru_cache(maxsize=1)
def generic_stems() -> frozenset[str]:
    """Stems of the question words (``data/question_words.txt``): they match every passage alike."""
    return frozenset(stemmer().stemWord(w.lower()) for w in words("question_words"))


@lru_cache(maxsize=1)
def function_words_title() -> frozenset[str]:
    """Function and question words as they open a sentence ("The", "When"): not names."""
    return frozenset(w.capitalize() for w in words("function_words") | words("question_words")
                     | words("clause_boundaries"))


def capitalized(text: str) -> list[str]:
    """Capitalized words that are not sentence-initial function words ("The", "When")."""
    fw = function_words_title()
    return [w for w in re.findall(r"\b[A-Z][a-zà-ÿ’'-]*[a-z]\b|\b[A-Z]{2,}\b", text) if w not in fw]
