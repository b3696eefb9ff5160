"""Character spans: the unit every sentence, chunk and citation is made of.

As in chonkie, a span carries ``start`` and ``end`` into the original text and the
invariant ``original[start:end] == span.text`` holds everywhere; ``verify`` is how
the rest of the package checks it before anything is shown.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str

    def verify(self, original: str) -> bool:
        return 0 <= self.start <= self.end <= len(original) and original[self.start : self.end] == self.text

    def overlaps(self, start: int, end: int) -> bool:
        return self.start < end and start < self.end


def span_of(original: str, start: int, end: int) -> Span:
    """The span ``original[start:end]``, trimmed of surrounding white space."""
    while start < end and original[start].isspace():
        start += 1
    while end > start and original[end - 1].isspace():
        end -= 1
    return Span(start, end, original[start:end])
