"""Sentence splitting with exact character offsets.

NLTK's Punkt tokenizer gives spans (``span_tokenize``) without any downloaded data
when it is handed its abbreviation list. The list holds what FRUS telegrams use:
initials ("M. N./44"), times ("9 p.m. When" stays one sentence, as the telegram's
reference line is one), titles ("Mrs. Habicht") and numbers ("No. 573").
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

from assistant.spans import Span

ABBREVIATIONS = frozenset(string.ascii_lowercase) | {
    "p.m", "a.m", "mrs", "mr", "messrs", "ms", "dr", "no", "nos", "gen", "st", "jr", "sr",
    "u.s", "u.s.a", "u.s.s.r", "col", "lt", "capt", "adm", "gov", "govt", "dept", "sra",
    "sres", "ltd", "co", "inc", "art", "arts", "par", "sec", "vol", "cf", "ibid", "op",
    "viz", "vs", "ca", "approx", "feb", "jan", "aug", "sept", "oct", "nov", "dec",
}

# A "sentence" that is only a telegram or list number ("352.", "2.") belongs to what follows.
_NUMBER_ONLY = re.compile(r"^(?:\d+[a-z]?|[ivxlc]+|\(\w+\))\.?$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _tokenizer():
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of ``text[start:end]`` as spans into ``text`` itself."""
    end = len(text) if end is None else end
    piece = text[start:end]
    spans: list[list[int]] = []
    for s, e in _tokenizer().span_tokenize(piece):
        if spans and _NUMBER_ONLY.match(piece[spans[-1][0] : spans[-1][1]]):
            spans[-1][1] = e  # glue "352." to its sentence
        else:
            spans.append([s, e])
    return [Span(start + s, start + e, text[start + s : start + e]) for s, e in spans]
