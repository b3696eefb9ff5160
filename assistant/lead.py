"""Lead span: the shortest verbatim span that answers a who / when / where / how-many question.

Inside the chosen candidate: a date for "when", a number and the words it counts for "how
many", a name the question does not already give for "who" / "where" (the one closest to
the question's own words). A structural field (a signature, a dateline) is its own lead.
The span is returned with its document offsets, so it can be cited exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from assistant.candidates import Candidate
from assistant.question import Question
from assistant.text import function_words_title, ordered_words, word_keys, words

LEAD_TYPES = ("who", "when", "where", "count")
NAME_DISTANCE = 30  # characters between a leading name and the nearest of the question's words


@dataclass(frozen=True)
class Lead:
    start: int  # document offsets
    end: int
    text: str


@lru_cache(maxsize=1)
def _date_rx() -> re.Pattern:
    m = "|".join(ordered_words("months"))
    one = rf"(?:{m})\s+\d{{1,2}}(?:,\s+\d{{4}})?"
    return re.compile(rf"{one}(?:(?:,?\s+and\s+|\s+to\s+|–|-)(?:{one}|\d{{1,2}}))?|(?:{m}),?\s+\d{{4}}|\b1[6-9]\d\d\b")


@lru_cache(maxsize=1)
def _count_rx() -> re.Pattern:
    nums = "|".join(sorted(words("number_words"), key=len, reverse=True))
    return re.compile(rf"\b(?:\d[\d,.]*|{nums})\b(?:\s+[A-Za-z][a-z-]+){{0,3}}", re.I)


_NAME = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:of\s+|de\s+|von\s+)?[A-Z][\w’'.-]*)*")


def _anchors(q: Question, text: str) -> list[int]:
    out = []
    for m in re.finditer(r"[A-Za-z]+", text):
        wk = word_keys(m.group(0))
        if any(q.keys.get(s, {s}) & wk for s in q.weights):
            out.append(m.start())
    return out


def _closest(matches: list[tuple[int, int, str]], anchors: list[int]) -> tuple[int, int, str] | None:
    if not matches:
        return None
    if not anchors:
        return matches[0]
    return min(matches, key=lambda m: (min(abs(a - m[0]) for a in anchors), m[0]))


def _count_phrase(text: str, s: int, e: int) -> tuple[int, int]:
    """"three American citizens who …" → "three American citizens": stop at a function word."""
    fw = words("function_words") | words("clause_boundaries")
    toks = list(re.finditer(r"\S+", text[s:e]))
    end = s + toks[0].end()
    for t in toks[1:]:
        w = t.group(0).strip(".,;:").lower()
        if w in fw or not w.isalpha():
            break
        end = s + t.start() + len(t.group(0).rstrip(".,;:"))
    return s, end


def lead_span(q: Question, c: Candidate) -> Lead | None:
    if q.qtype not in LEAD_TYPES:
        return None
    if c.kind == "field":
        return Lead(c.start, c.end, c.text) if len(c.text) <= 120 else None
    # Look in the whole sentence (a clause may cut "March 22 and March 23"), prefer what the clause holds.
    s0, s1 = c.sentence
    text = c.chunk.text[s0 - c.chunk.start : s1 - c.chunk.start]
    inside = (c.start - s0, c.end - s0)
    anchors = _anchors(q, text)
    found = _matches(q, text)
    held = [m for m in found if m[0] < inside[1] and inside[0] < m[1]]
    if q.qtype in ("who", "where"):
        # A name leads only when the quoted span holds exactly one the question does not give, or
        # one stands right by the question's words ("Oumansky some time ago suggested"); otherwise
        # the quotation answers on its own.
        near = [m for m in held if anchors and min(abs(a - m[0]) for a in anchors) <= NAME_DISTANCE]
        if len({m[2] for m in held}) != 1 and not near:
            return None
        found = held = near or held
    best = _closest(held or found, anchors)
    if best is None:
        return None
    s, e, t = best
    return Lead(s0 + s, s0 + e, t)


def _matches(q: Question, text: str) -> list[tuple[int, int, str]]:
    """What could lead in ``text`` (sentence offsets): dates, counted phrases or names, by question type."""
    if q.qtype == "when":
        return [(m.start(), m.end(), m.group(0)) for m in _date_rx().finditer(text)
                if m.group(0).lower() not in q.text.lower()]
    if q.qtype == "count":
        phrases = (_count_phrase(text, m.start(), m.end()) for m in _count_rx().finditer(text))
        return [(s, e, text[s:e]) for s, e in phrases]
    return _names(q, text)


def _names(q: Question, text: str) -> list[tuple[int, int, str]]:
    """Capitalized names the question does not already give, without a leading function word or month.

    A capitalized first word of the sentence may be an ordinary word; it is kept, the anchors decide.
    """
    skip = function_words_title() | {w.capitalize() for w in ordered_words("months")}
    found = []
    for m in _NAME.finditer(text):
        words_ = m.group(0).split()
        start = m.start()
        while words_ and words_[0].strip(".,") in skip:
            start = text.index(words_[1], start + len(words_[0])) if len(words_) > 1 else m.end()
            words_ = words_[1:]
        if not words_:
            continue
        name = " ".join(words_).rstrip(".,")
        if name.lower() in q.names or any(w.lower().strip(".,") in q.names for w in words_):
            continue
        end = start + len(name)
        if text[start:end] == name:
            found.append((start, end, name))
    return found
