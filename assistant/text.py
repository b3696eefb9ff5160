"""Text utilities, the package's bottom layer: word lists, the stemmer, tokenizers, word keys.

Every module that reads words goes through here, so BM25, question analysis, follow-up
resolution, features, lead spans and the grounding check stem and split words alike.

- ``words(name)`` / ``ordered_words(name)``: the linguistic word lists of
  ``assistant/data/<name>.txt`` (function words, question words, months, number words, …);
  ``pairs(name)``: the lists of two columns (pronoun → kind, number word → value);
- ``stemmer()``: the one Snowball (English) stemmer;
- ``tokenize`` / ``stems``: BM25's tokenizer (bm25s's: stop words ``en_plus``, Snowball stems).
  ``keyword_store.TOKENIZER`` names it in the keyword index: change the name when this changes;
- ``word_keys`` / ``text_keys``: a word's stem and its lemmas' stems ("wives" meets "wife"),
  the lemmas (lemminflect's) read from a table made once in the user cache (``lemma_table``);
- ``generic_stems``: stems of question words ("what", "telegram", "say"), which carry no content;
- ``capitalized`` / ``function_words_title``: capitalized words that may be names, and the
  capitalized function words that are not.

Nothing here imports another module of the package.
"""

from __future__ import annotations

import os
import re
import sqlite3
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
def word_sets(name: str) -> tuple[frozenset[str], ...]:
    """A list of word sets, one per line (pronouns of one person: "he him his")."""
    return tuple(frozenset(line) for line in _lines(name) if line)


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


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's CountVectorizer pattern, as bm25s splits


@lru_cache(maxsize=100_000)
def _stem(token: str) -> str:
    return stemmer().stemWord(token)


def tokenize(texts: list[str]) -> list[list[str]]:
    """BM25's tokens of each text: lower-cased words of 2+ word characters, stop words
    (``data/bm25_stopwords.txt``, bm25s's ``en_plus``) out, Snowball stems. The tokens
    bm25s.tokenize gave (tests/test_text_equivalence.py compares them), without importing
    bm25s and scipy."""
    stop = words("bm25_stopwords")
    return [[_stem(t) for t in _TOKEN.findall(text.lower()) if t not in stop] for text in texts]


def stems(text: str) -> list[str]:
    """Content stems of a text (BM25's tokenizer: stop words out, Snowball stems)."""
    return tokenize([text])[0]


@lru_cache(maxsize=50000)
def word_keys(word: str) -> frozenset[str]:
    """A word's stem and its lemmas' stems, so "wives" meets "wife" and "left" meets "leaving"."""
    w = word.lower()
    keys = {stemmer().stemWord(w)}
    keys.update(stemmer().stemWord(lemma.lower()) for lemma in lemmas(w))
    return frozenset(keys)


def lemmas(word: str) -> tuple[str, ...]:
    """lemminflect's lemmas of a lower-case word (``getAllLemmas``: its dictionary and
    overrides, every part of speech), read from the lemma table (``lemma_table``)."""
    table = lemma_table()
    if table is None:  # no cache to write to: lemminflect itself
        from lemminflect import getAllLemmas

        return tuple(lemma for forms in getAllLemmas(word).values() for lemma in forms)
    row = table.execute("SELECT lemmas FROM lemmas WHERE word = ?", (word,)).fetchone()
    return tuple(row[0].split("\t")) if row else ()


def cache_dir() -> Path:
    """The user cache shared by indexes: ``ASSISTANT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/telegram-assistant`` (``~/.cache/…``); as onnx_embed.shared_cache_dir."""
    env = os.environ.get("ASSISTANT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "telegram-assistant"


@lru_cache(maxsize=1)
def lemma_table() -> sqlite3.Connection | None:
    """lemminflect's lemma dictionary as an SQLite table in the user cache, made once per
    version of its data files: loading the dictionary itself (a gzipped CSV parsed into
    Python dicts) costs ~0.5 s in every process; a look-up here costs microseconds.
    None when the cache cannot be written (``lemmas`` then asks lemminflect)."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("lemminflect")
    if spec is None or not spec.submodule_search_locations:
        return None
    resources = Path(next(iter(spec.submodule_search_locations))) / "resources"
    digest = hashlib.sha256()
    for name in ("lemma_lu.csv.gz", "lemma_overrides.csv"):
        try:
            digest.update((resources / name).read_bytes())
        except OSError:
            return None
    path = cache_dir() / f"lemmas-{digest.hexdigest()[:16]}.sqlite"
    if not path.exists():
        try:
            _write_lemma_table(path)
        except (OSError, sqlite3.Error):
            return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error:
        return None


def _write_lemma_table(path: Path) -> None:
    """Every lower-case word of lemminflect's dictionary and overrides → its ``getAllLemmas``
    (a word it lacks has none: no row), written to a temporary file then moved in place."""
    import tempfile

    from lemminflect import getAllLemmas
    from lemminflect.core.Lemmatizer import Lemmatizer

    lemmatizer = Lemmatizer()
    known = set(lemmatizer._getLemmaDict()) | set(lemmatizer._getOverridesDict())
    rows = []
    for w in sorted(k for k in known if k == k.lower()):
        found = [lemma for forms in getAllLemmas(w).values() for lemma in forms]
        if found:
            rows.append((w, "\t".join(found)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".lemmas-", suffix=".sqlite", dir=path.parent)
    os.close(fd)
    try:
        db = sqlite3.connect(tmp)
        try:
            db.execute("CREATE TABLE lemmas(word TEXT PRIMARY KEY, lemmas TEXT NOT NULL) WITHOUT ROWID")
            db.executemany("INSERT INTO lemmas VALUES (?, ?)", rows)
            db.commit()
        finally:
            db.close()
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


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
