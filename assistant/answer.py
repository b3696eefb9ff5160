"""The answer and what it cites: typed, with ``to_dict()`` as the ``--json`` object."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

# source → its path relative to the folder it was ingested from ("dupA/report.txt"), from
# the manifest of each index opened for answering (``index.open_for_query``).
_INGEST_RELATIVE: dict[str, str] = {}


def register_ingest_paths(paths: dict[str, str]) -> None:
    _INGEST_RELATIVE.update(paths)


def display_source(source: str) -> str:
    """A source path relative to the current directory when it lies inside it, else
    relative to the folder it was ingested from (so a server never shows its own paths)."""
    if "#" in source:  # "volume.xml#d12": a document inside a file
        path, _, frag = source.partition("#")
        return f"{display_source(path)}#{frag}"
    try:
        return str(Path(source).resolve().relative_to(Path(os.getcwd()).resolve()))
    except (ValueError, OSError):
        return _INGEST_RELATIVE.get(source, source)


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    source: str
    start: int
    end: int
    quote: str
    title: str = ""
    date: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["source"] = display_source(self.source)
        return d


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores (for "retrieval details" and the LLM prompt)."""

    id: str
    doc_id: str
    source: str
    title: str
    date: str | None
    kind: str
    start: int
    end: int
    text: str
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    sentences: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["source"] = display_source(self.source)
        d["sentences"] = [list(s) for s in self.sentences]
        return d


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    related: tuple[Citation, ...] = ()
    lead: str | None = None
    resolved_question: str = ""
    mode: str = "extractive"  # "extractive" | "llm" | "llm-fallback"
    passages: tuple[Passage, ...] = ()
    timings_ms: dict = field(default_factory=dict)
    notice: str | None = None  # one line for the user, e.g. "LLM unreachable; extractive answer"

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "related": [c.to_dict() for c in self.related],
            "lead": self.lead,
            "resolved_question": self.resolved_question,
            "notice": self.notice,
            "passages": [p.to_dict() for p in self.passages],
            "timings_ms": dict(self.timings_ms),
        }

    def __add__(self, later: Answer) -> Answer:
        # Streamed Answers are snapshots, not deltas: the later one supersedes.
        return later

    def replace(self, **changes) -> Answer:
        return replace(self, **changes)
