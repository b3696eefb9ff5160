"""Synthetic documents for the scale bench: a distinct text per copy, and vectors for them
without running the model on every copy.

Document i (i ≥ 152) is corpus document ``i mod 152`` with its words varied by a generator
seeded by i, so every copy is a different text and the keyword index sees a collection's
statistics, not the same 152 texts again and again:

- words found in at least a quarter of the corpus documents (function words, computed from
  the corpus, not listed), month names (dates must stay dates) and what the splitters and
  the FRUS parser read as structure (words after "[", words of ≤ 4 letters before a period,
  single letters) are kept;
- of the other word types of the document, half (chosen per copy) are replaced, everywhere
  in the document, by another corpus word **of the same length and letter case**, drawn by
  its corpus frequency (frequent words stay frequent); 5 % of those replacements are new
  words (the first half of one corpus word spliced to the second half of another), so the
  vocabulary keeps growing with the collection as a real one does;
- half of the numbers above 31 get new digits (same digit count, leading digit(s) kept:
  file numbers, telegram numbers and years stay plausible; days of the month are kept).

The replacements keep every character offset, so a splitter (sentences, windows, the plain
pipeline's 1000-character chunks) cuts a copy where it cuts its original. That is what lets
``SurrogateVectors`` give each text of a copy its original's vector: a text's *key* masks
every varied position (non-kept words, numbers) with its length, so a varied passage and its
original share a key. The vector is the model's vector of the original (embedded once, before
anything is timed) plus a small perturbation seeded by the text itself (σ = 0.01 per
dimension, renormalized: cosine ≈ 0.98), so different texts are different points and the
same text always gets the same vector, as from the model. A text whose key matches no
original (a splitter cut a copy differently) gets a random unit vector; these are counted.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

TOKEN = re.compile(r"[^\W\d_]+|\d+")
KEEP_DF = 0.25  # words in at least this share of the corpus documents are kept (function words)
VARY_WORDS = 0.5  # share of a copy's other word types replaced
NEW_WORDS = 0.05  # share of those replacements that are new words (splices)
VARY_NUMBERS = 0.5  # share of a copy's numbers above 31 given new digits
NOISE_SIGMA = 0.01
_BANK = 4096  # perturbations are sums of two rows of two fixed random banks (cheap, deterministic)


def _case_of(word: str) -> str | None:
    if word.islower():
        return "lower"
    if word.isupper() and len(word) > 1:
        return "upper"
    if word[:1].isupper() and word[1:].islower():
        return "title"
    return None  # mixed case (McKinley): kept


def _cased(word: str, case: str) -> str:
    return {"lower": word, "upper": word.upper(), "title": word[:1].upper() + word[1:]}[case]


class Corpus:
    """The corpus texts and the statistics the copies are drawn from."""

    def __init__(self, files: list[Path]):
        self.stems = [f.stem for f in files]
        self.texts = [f.read_text(encoding="utf-8") for f in files]
        tf: Counter[str] = Counter()
        df: Counter[str] = Counter()
        for text in self.texts:
            words = [w.lower() for w in TOKEN.findall(text) if not w.isdigit()]
            tf.update(words)
            df.update(set(words))
        months = {m.lower() for m in calendar.month_name if m}
        # what the splitters and the FRUS parser read as structure stays: editorial words in
        # brackets ([Received, [undated]), short words before a period (abbreviations: vol., p.,
        # Mr.) and single letters (initials)
        marks = {w for w in tf if len(w) == 1}
        marks |= {w.lower() for text in self.texts for w in re.findall(r"\[([^\W\d_]+)", text)}
        marks |= {w.lower() for text in self.texts for w in re.findall(r"\b([^\W\d_]{1,4})\.", text)}
        self.keep = {w for w, n in df.items() if n >= KEEP_DF * len(self.texts)} | months | marks
        by_len: dict[int, list[str]] = {}
        for w in sorted(tf):
            if w not in self.keep and all(len(_cased(w, c)) == len(w) for c in ("upper", "title")):
                by_len.setdefault(len(w), []).append(w)
        self.pool = {n: (ws, np.cumsum([tf[w] for w in ws], dtype=np.float64)) for n, ws in by_len.items()}

    # --- the copies ---------------------------------------------------------------------

    def document(self, i: int) -> tuple[str, str]:
        """(file stem, text) of synthetic document i; i < len(corpus) is the original itself."""
        base = i % len(self.texts)
        name = f"s{i:06d}_{self.stems[base]}"
        if i < len(self.texts):
            return name, self.texts[base]
        return name, self._vary(self.texts[base], np.random.default_rng(i))

    def _draw(self, length: int, rng: np.random.Generator) -> str | None:
        words, cum = self.pool.get(length, ([], None))
        if not words:
            return None
        return words[int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))]

    def _replacement(self, lower: str, rng: np.random.Generator) -> str | None:
        new = self._draw(len(lower), rng)
        if new is not None and rng.random() < NEW_WORDS:
            other = self._draw(len(lower), rng) or new
            new = new[: len(new) // 2] + other[len(new) // 2 :]
        return new if new and new != lower and new not in self.keep else None

    def _number(self, digits: str, rng: np.random.Generator) -> str:
        if digits.startswith("0") or int(digits) <= 31 or rng.random() >= VARY_NUMBERS:
            return digits
        lead = 1 if len(digits) <= 3 else 2
        return digits[:lead] + "".join(str(d) for d in rng.integers(0, 10, len(digits) - lead))

    def _vary(self, text: str, rng: np.random.Generator) -> str:
        words: dict[str, str | None] = {}
        numbers: dict[str, str] = {}
        for tok in dict.fromkeys(TOKEN.findall(text)):
            if tok.isdigit():
                numbers[tok] = self._number(tok, rng)
            elif (low := tok.lower()) not in self.keep and low not in words:
                words[low] = self._replacement(low, rng) if rng.random() < VARY_WORDS else None

        def swap(m: re.Match) -> str:
            tok = m.group()
            if tok.isdigit():
                return numbers[tok]
            new, case = words.get(tok.lower()), _case_of(tok)
            return _cased(new, case) if new and case else tok

        return TOKEN.sub(swap, text)

    def write(self, folder: Path, start: int, stop: int, seen: set[bytes], vocabulary: set[str]) -> dict:
        """Write documents start … stop-1 into ``folder``; counts their characters, the
        distinct texts (``seen``: digests) and the collection's distinct words."""
        folder.mkdir(parents=True, exist_ok=True)
        chars = duplicates = 0
        for i in range(start, stop):
            name, text = self.document(i)
            (folder / f"{name}.txt").write_text(text, encoding="utf-8")
            chars += len(text)
            digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
            duplicates += digest in seen
            seen.add(digest)
            vocabulary.update(w.lower() for w in TOKEN.findall(text))
        return {"chars": chars, "duplicate_texts": duplicates}

    # --- the vectors ----------------------------------------------------------------------

    def key(self, text: str) -> str:
        """``text`` with every position a copy may vary masked by its length."""

        def mask(m: re.Match) -> str:
            tok = m.group()
            if tok.isdigit():
                return "\x02" * len(tok)
            return tok if tok.lower() in self.keep else "\x01" * len(tok)

        return TOKEN.sub(mask, text)


class SurrogateVectors:
    """Vectors for texts of synthetic copies from the model's vectors of the originals'
    texts (``texts`` → ``matrix``): exact text → its vector; same key → the original's
    vector, perturbed by the text; no match → a random unit vector (counted in ``misses``)."""

    def __init__(self, corpus: Corpus, texts: list[str], matrix: np.ndarray):
        self.corpus = corpus
        self.matrix = np.asarray(matrix, dtype=np.float32)
        self.exact = {t: i for i, t in enumerate(texts)}
        self.by_key: dict[str, int] = {}
        for i, t in enumerate(texts):
            self.by_key.setdefault(corpus.key(t), i)
        dim = self.matrix.shape[1]
        bank = np.random.default_rng(1941).normal(0, NOISE_SIGMA / np.sqrt(2), (2, _BANK, dim))
        self.bank = bank.astype(np.float32)
        self.exact_hits = self.key_hits = self.misses = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.matrix.shape[1]), dtype=np.float32)
        for j, t in enumerate(texts):
            i = self.exact.get(t)
            if i is not None:
                out[j] = self.matrix[i]
                self.exact_hits += 1
                continue
            h = zlib.crc32(t.encode())
            i = self.by_key.get(self.corpus.key(t))
            if i is None:
                v = np.random.default_rng(h).normal(size=self.matrix.shape[1]).astype(np.float32)
                self.misses += 1
            else:
                v = self.matrix[i] + self.bank[0, h % _BANK] + self.bank[1, (h >> 12) % _BANK]
                self.key_hits += 1
            out[j] = v / np.linalg.norm(v)
        return out

    def counts(self) -> dict:
        return {"exact": self.exact_hits, "key": self.key_hits, "miss": self.misses}


def save_table(folder: Path, texts: list[str], matrix) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    np.save(folder / "vectors.npy", np.asarray(matrix, dtype=np.float32))


def load_table(folder: Path) -> tuple[list[str], np.ndarray]:
    return json.loads((folder / "texts.json").read_text(encoding="utf-8")), np.load(folder / "vectors.npy")
