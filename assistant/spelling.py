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
import sqlite3
from functools import lru_cache
from pathlib import Path

MIN_RATIO = 85
MIN_LENGTH = 5


def _english_forms():
    """Every English word form of lemminflect's lemma dictionary, lower-cased, letters only."""
    from lemminflect import Lemmatizer

    for form in Lemmatizer()._getLemmaDict():  # {form: {upos: (lemma, …)}}
        w = form.lower()
        if w.isalpha():
            yield w


@lru_cache(maxsize=1)
def _word_table() -> sqlite3.Connection | None:
    """The English word forms as an SQLite table in the user cache, made once per version of
    lemminflect's dictionary (as ``text.lemma_table``): loading the dictionary into Python
    costs every process that corrects a question ~0.5 s and ~60 MB; a look-up here,
    microseconds. None when the cache cannot be written (the dictionary is loaded then)."""
    import hashlib
    import importlib.util
    import os
    import tempfile

    from assistant.text import cache_dir

    spec = importlib.util.find_spec("lemminflect")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        data = (Path(next(iter(spec.submodule_search_locations))) / "resources" / "lemma_lu.csv.gz").read_bytes()
    except OSError:
        return None
    path = cache_dir() / f"english-{hashlib.sha256(data).hexdigest()[:16]}.sqlite"
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".english-", suffix=".sqlite", dir=path.parent)
            os.close(fd)
            try:
                db = sqlite3.connect(tmp)
                try:
                    db.execute("CREATE TABLE words(word TEXT PRIMARY KEY, first TEXT NOT NULL, length INTEGER NOT NULL)"
                               " WITHOUT ROWID")
                    db.executemany("INSERT OR IGNORE INTO words VALUES (?, ?, ?)",
                                   ((w, w[:1], len(w)) for w in _english_forms()))
                    db.execute("CREATE INDEX words_by_key ON words(first, length, word)")
                    db.commit()
                finally:
                    db.close()
                os.replace(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
        except (OSError, sqlite3.Error):
            return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error:
        return None


@lru_cache(maxsize=1)
def _english() -> dict[tuple[str, int], frozenset[str]]:
    """English word forms ("prisoners", "freed") by (first letter, length), in memory: only
    when the user cache cannot hold ``_word_table``."""
    by_key: dict[tuple[str, int], set[str]] = {}
    for w in _english_forms():
        by_key.setdefault((w[0], len(w)), set()).add(w)
    return {k: frozenset(v) for k, v in by_key.items()}


def is_english(word: str) -> bool:
    w = word.lower()
    table = _word_table()
    if table is None:
        return w in _english().get((w[:1], len(w)), ())
    return table.execute("SELECT 1 FROM words WHERE word = ?", (w,)).fetchone() is not None


def _similar_length(w: str) -> list[str]:
    """The English words with ``w``'s first letter and its length ±2, sorted."""
    table = _word_table()
    if table is None:
        return sorted(c for n in range(len(w) - 2, len(w) + 3) for c in _english().get((w[:1], n), ()))
    return [c for (c,) in table.execute("SELECT word FROM words WHERE first = ? AND length BETWEEN ? AND ? "
                                        "ORDER BY word", (w[:1], len(w) - 2, len(w) + 2))]


def correct_word(word: str) -> str:
    """The closest English word to an unknown ``word`` (same first letter, ±2 letters), or ``word``."""
    from rapidfuzz import fuzz, process

    w = word.lower()
    best = process.extractOne(w, _similar_length(w), scorer=fuzz.ratio, score_cutoff=MIN_RATIO)
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
