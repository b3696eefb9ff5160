"""Checking what an LLM wrote against the numbered passages it was given.

Every sentence of a generated answer must

1. carry at least one ``[n]`` marker, and every ``n`` must name a passage it was given;
2. bring no fact of its own: each number (digits or a number word), each capitalized name
   and each date word in the sentence must occur in the passages it cites;
3. say what a cited passage says, by two measures against the best-matching piece of the
   cited passages (one sentence, two adjacent sentences, or the whole passage):
   - meaning: cosine similarity of the bundled all-MiniLM-L6-v2 embeddings
     ``>= SIMILARITY_THRESHOLD`` (0.55), and
   - wording: at least ``OVERLAP_THRESHOLD`` (60 %) of the sentence's content words
     (stemmed, stopwords left out) occur in the cited passages;
4. speak of the source, not of the prompt ("The passage is ...", a copied "Passages:").

The thresholds were set on the seed telegram: faithful paraphrases scored 0.61-0.96
against their passage, while sentences citing the wrong passage or claiming what the
passage does not treat scored 0.28-0.54 (the cases are in tests/test_grounding.py).
Neither measure sees a contradiction that reuses the passage's words ("the Department
refused the letter" passes against "such letter was given"): the checker bounds what an
LLM may add, it does not prove entailment.

A sentence failing any test is unsupported and dropped by the caller. A supported sentence
comes with its evidence: the document span (start, end) of the best-matching piece of each
cited passage, which is what the user is shown as the citation — never the LLM's words.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from assistant.answer import Passage
from assistant.embeddings import LocalEmbeddings
from assistant.sentences import split_sentences
from assistant.text import pairs, stemmer, words

SIMILARITY_THRESHOLD = 0.55
OVERLAP_THRESHOLD = 0.6

MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*|\d+(?:[.,]\d+)*")
LEADING_MARKERS = re.compile(r"(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+[.,;:!?]*")
_MARKERS_ONLY = re.compile(r"^(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+[\s.,;:!?]*$")

NUMBER_WORDS = pairs("number_values")  # "two" → "2"
# Words that open sentences or are capitalized without naming anything.
STOPWORDS = words("grounding_stopwords")
# A sentence about the prompt ("The passage is ...", a copied "Passages:" heading) says nothing
# about the source; "According to the passage, ..." is only a lead-in.
_ACCORDING = re.compile(r"^\s*(?:according to|as stated in|as) (?:the )?passages?(?: \d+)?,?\s*", re.IGNORECASE)
_META = re.compile(r"\bpassages?\b|\b(?:question|answer)\s*:", re.IGNORECASE)
# What a structural passage is (its text is only the field, e.g. "Welles"): prefixed when it
# is matched and shown to the LLM, never quoted.
KIND_LABELS = {
    "sender": "Sent by", "recipient": "Sent to (addressed to)", "signature": "Signed by",
    "file_number": "File number", "telegram_number": "Telegram number", "reply_to": "In reply to",
    "dateline": "Dated", "kind": "Document type",
}
# Capitalized words that are not facts of their own (sentence openers, pronouns).
_NOT_NAMES = STOPWORDS | {"mr", "mrs", "ms", "dr", "sir"}


@dataclass(frozen=True)
class Evidence:
    passage: int  # 1-based number of the passage in the prompt
    start: int  # document offsets of the best-matching piece of that passage
    end: int
    quote: str
    similarity: float


@dataclass(frozen=True)
class SentenceCheck:
    text: str  # the sentence as generated, markers included
    claim: str  # the sentence without its markers
    cited: tuple[int, ...]
    supported: bool
    reason: str  # "supported" or why not, one line
    similarity: float = 0.0
    overlap: float = 0.0
    evidence: tuple[Evidence, ...] = field(default=())


def markers(sentence: str) -> tuple[int, ...]:
    """The passage numbers a sentence cites, in order, each once."""
    seen: list[int] = []
    for m in MARKER.finditer(sentence):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return tuple(seen)


def strip_markers(sentence: str) -> str:
    text = MARKER.sub("", sentence)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def answer_sentences(text: str) -> list[str]:
    """The generated text as sentences; a marker after the full stop stays with its sentence."""
    out: list[str] = []
    for span in split_sentences(text):
        piece = span.text.strip()
        if not piece:
            continue
        lead = LEADING_MARKERS.match(piece)
        if out and lead:  # "letter. [1] Welles signed": the [1] closes the sentence before
            out[-1] = f"{out[-1]} {lead.group(0).strip()}"
            piece = piece[lead.end() :].strip()
            if not piece or _MARKERS_ONLY.match(piece):
                if piece:
                    out[-1] = f"{out[-1]} {piece}"
                continue
        out.append(piece)
    return out


def content_stems(text: str) -> set[str]:
    return {_stem(w) for w in _words(text) if w not in STOPWORDS and len(w) > 2 and not w.isdigit()}


def facts(claim: str) -> list[str]:
    """Numbers, number words and capitalized names of a sentence (each a thing to find)."""
    found: list[str] = []
    for m in _WORD.finditer(claim):
        word = m.group(0).strip("'’-")
        plain = re.sub(r"['’]s$", "", word)
        lower = plain.lower()
        if plain[:1].isdigit():
            found.append(plain)
        elif lower in NUMBER_WORDS and lower not in ("once", "single", "first", "second"):
            found.append(lower)
        elif plain[:1].isupper() and lower not in _NOT_NAMES and len(plain) > 1:
            found.append(plain)
    return found


def covers(text: str, lead: str) -> bool:
    """Whether ``text`` says what ``lead`` (the extractive answer's short answer) says: all its
    numbers and names, and at least half of its content words."""
    if missing_facts(lead, text):
        return False
    terms = content_stems(lead)
    return not terms or len(terms & content_stems(text)) / len(terms) >= 0.5


def missing_facts(claim: str, cited_text: str) -> list[str]:
    words = set(_words(cited_text))
    numbers = {re.sub(r"[.,]", "", w) for w in words if w[:1].isdigit()}
    numbers |= {NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS}
    missing = []
    for fact in facts(claim):
        lower = fact.lower()
        if fact[:1].isdigit():
            if re.sub(r"[.,]", "", fact) not in numbers:
                missing.append(fact)
        elif lower in NUMBER_WORDS:
            if lower not in words and NUMBER_WORDS[lower] not in numbers:
                missing.append(fact)
        elif lower not in words:
            missing.append(fact)
    return missing


class GroundingChecker:
    """Checks generated sentences against numbered passages (see the module docstring)."""

    def __init__(
        self,
        embeddings=None,
        similarity_threshold: float = SIMILARITY_THRESHOLD,
        overlap_threshold: float = OVERLAP_THRESHOLD,
    ):
        self.embeddings = embeddings if embeddings is not None else shared_embeddings()
        self.similarity_threshold = similarity_threshold
        self.overlap_threshold = overlap_threshold
        self._vectors: dict[str, np.ndarray] = {}

    def check_answer(self, text: str, passages: list[Passage] | tuple[Passage, ...]) -> list[SentenceCheck]:
        return [self.check(sentence, passages) for sentence in answer_sentences(text)]

    def check(self, sentence: str, passages: list[Passage] | tuple[Passage, ...]) -> SentenceCheck:
        cited = markers(sentence)
        claim = strip_markers(sentence)
        if not re.search(r"[A-Za-z0-9]", claim):
            return SentenceCheck(sentence, claim, cited, False, "no words")
        if not cited:
            return SentenceCheck(sentence, claim, cited, False, "no [n] citation")
        if _META.search(_ACCORDING.sub("", claim)):
            return SentenceCheck(sentence, claim, cited, False, "speaks of the prompt, not of the source")
        wrong = [n for n in cited if not 1 <= n <= len(passages)]
        if wrong:
            return SentenceCheck(sentence, claim, cited, False,
                                 f"cites [{wrong[0]}] but only {len(passages)} passages were given")
        cited_passages = [passages[n - 1] for n in cited]
        cited_text = "\n".join(p.text for p in cited_passages)
        missing = missing_facts(claim, cited_text)
        cited_text = "\n".join(labelled(p.kind, p.text) for p in cited_passages)
        if missing:
            return SentenceCheck(sentence, claim, cited, False,
                                 f"{', '.join(repr(m) for m in missing)} not in the cited passages")
        claim_terms = content_stems(claim)
        overlap = (len(claim_terms & content_stems(cited_text)) / len(claim_terms)) if claim_terms else 0.0
        evidence = tuple(self._best_piece(claim, n, passages[n - 1]) for n in cited)
        similarity = max(e.similarity for e in evidence)
        if overlap < self.overlap_threshold:
            return SentenceCheck(sentence, claim, cited, False,
                                 f"word overlap {overlap:.2f} < {self.overlap_threshold}",
                                 similarity, overlap, evidence)
        if similarity < self.similarity_threshold:
            return SentenceCheck(sentence, claim, cited, False,
                                 f"similarity {similarity:.2f} < {self.similarity_threshold}",
                                 similarity, overlap, evidence)
        # Cite only the passages that back the sentence (a sentence may cite [1][2] where
        # [2] is beside the point); the best one always stays.
        kept = tuple(e for e in evidence if e.similarity >= self.similarity_threshold)
        return SentenceCheck(sentence, claim, tuple(e.passage for e in kept), True, "supported",
                             similarity, overlap, kept)

    # --- pieces of a passage ------------------------------------------------------------

    def _best_piece(self, claim: str, n: int, passage: Passage) -> Evidence:
        pieces = passage_pieces(passage)
        vectors = self._embed([claim] + [labelled(passage.kind, p[2]) for p in pieces])
        sims = vectors[1:] @ vectors[0]
        i = int(np.argmax(sims))
        start, end, quote = pieces[i]
        return Evidence(n, start, end, quote, float(sims[i]))

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            if len(self._vectors) > 4096:
                self._vectors.clear()
            for t, v in zip(missing, self.embeddings.embed_documents(missing)):
                v = np.asarray(v, dtype=np.float32)
                self._vectors[t] = v / (np.linalg.norm(v) or 1.0)
        return np.stack([self._vectors[t] for t in texts])


def labelled(kind: str, text: str) -> str:
    """A structural passage says what it is ("Signed by: Welles"); body text stays as it is."""
    label = KIND_LABELS.get(kind)
    return f"{label}: {text}" if label else text


def passage_pieces(passage: Passage) -> list[tuple[int, int, str]]:
    """(start, end, text) in document offsets: each sentence, each two adjacent sentences,
    and the whole passage; every text is ``passage.text[start - passage.start : ...]``."""
    spans = [
        (s, e) for s, e in passage.sentences if passage.start <= s < e <= passage.end
    ] or [(sp.start + passage.start, sp.end + passage.start) for sp in split_sentences(passage.text)]
    spans = sorted(spans)
    ranges = list(spans)
    ranges += [(a[0], b[1]) for a, b in itertools.pairwise(spans)]
    if len(spans) > 2 or not spans:
        ranges.append((passage.start, passage.end))
    out: list[tuple[int, int, str]] = []
    for s, e in dict.fromkeys(ranges):
        text = passage.text[s - passage.start : e - passage.start]
        # trim whitespace so quote == document.text[start:end] stays exact
        lead = len(text) - len(text.lstrip())
        trail = len(text) - len(text.rstrip())
        s, e = s + lead, e - trail
        if e > s:
            out.append((s, e, passage.text[s - passage.start : e - passage.start]))
    return out


@lru_cache(maxsize=1)
def shared_embeddings():
    return LocalEmbeddings()


def _words(text: str) -> list[str]:
    return [re.sub(r"['’]s$", "", m.group(0).strip("'’-")).lower() for m in _WORD.finditer(text)]


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return stemmer().stemWord(word)
