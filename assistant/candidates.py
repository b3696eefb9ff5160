"""Candidates: every span of the retrieved passages that could be quoted as the answer.

- each sentence of each retrieved passage (once, at its best-ranked passage);
- the clauses of each sentence: runs of one to ``MAX_SEGMENTS`` consecutive segments, where
  a segment ends at a comma, semicolon, colon, dash or parenthesis, or before a word that
  opens a clause (``data/clause_boundaries.txt``: "that", "because", "unless", …);
- the structural fields (sender, recipient, signature, dateline, numbers) of the retrieved
  passages' best document, retrieved or not.

Every candidate is a verbatim span: ``document.text[start:end] == candidate.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from assistant.chunks import Chunk
from assistant.text import words

MAX_SEGMENTS = 3
MIN_CLAUSE_CHARS = 12
BODY_KINDS = ("body", "notes")
# The passages of the best-ranked documents that were not retrieved are candidates too (ranked
# after every retrieved one): a short document's answer is often in the passage retrieval missed.
EXPAND_DOCUMENTS = 2


@dataclass
class Candidate:
    chunk: Chunk  # the passage it was found in (its document's source, title, date)
    start: int  # document offsets
    end: int
    text: str
    kind: str  # "sentence" | "clause" | "field"
    rank: int  # rank of its passage after fusion (k for a field that was not retrieved)
    sentence: tuple[int, int]  # the enclosing sentence (the field itself for a field)
    match_text: str  # what question words are matched against (a field's description)
    dense: float = 0.0  # cosine of question and enclosing sentence (or field description)
    passage_score: float = 0.0
    features: dict = field(default_factory=dict)
    score: float = 0.0

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.chunk.doc_id, self.start, self.end)

    @property
    def field_kind(self) -> str:
        return self.chunk.kind


_PUNCT_BREAK = re.compile(r"[,;:—–()]\s*|\s+-\s+")


def _boundary_words() -> re.Pattern:
    ws = sorted(words("clause_boundaries"), key=len, reverse=True)
    return re.compile(r"\s(?=(?:" + "|".join(map(re.escape, ws)) + r")\b)", re.IGNORECASE)


_BOUNDARY: re.Pattern | None = None


def clause_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sub-sentence spans of ``text`` (document offsets), whole sentence excluded, trimmed of
    surrounding spaces and punctuation, in order of (start, end)."""
    global _BOUNDARY
    if _BOUNDARY is None:
        _BOUNDARY = _boundary_words()
    cuts = {0, len(text)}
    for m in _PUNCT_BREAK.finditer(text):
        cuts.add(m.start())
        cuts.add(m.end())
    for m in _BOUNDARY.finditer(text):
        cuts.add(m.end())
    points = sorted(cuts)
    segments = [(a, b) for a, b in pairwise(points) if text[a:b].strip(" ,;:—–()-\n")]
    out: set[tuple[int, int]] = set()
    for i in range(len(segments)):
        for j in range(i, min(i + MAX_SEGMENTS, len(segments))):
            s, e = _trim(text, segments[i][0], segments[j][1])
            if e - s >= MIN_CLAUSE_CHARS and (s, e) != _trim(text, 0, len(text)):
                out.add((offset + s, offset + e))
    return sorted(out)


_LEADING_CONJUNCTION = re.compile(r"(?:and|or|but|nor)\s+", re.IGNORECASE)


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s] in " \n\t,;:—–-":
        s += 1
    m = _LEADING_CONJUNCTION.match(text, s, e)
    if m and m.end() < e:
        s = m.end()
    while e > s and text[e - 1] in " \n\t,;:—–-":
        e -= 1
    # a parenthesis belongs in the span only with its partner
    while s < e and text[s] in "()" and text.count(")" if text[s] == "(" else "(", s, e) == 0:
        s += 1
    while e > s and text[e - 1] in "()" and text.count("(" if text[e - 1] == ")" else ")", s, e) == 0:
        e -= 1
    while s < e and text[s] in " \n\t":
        s += 1
    while e > s and text[e - 1] in " \n\t":
        e -= 1
    return s, e


def from_hits(hits, index=None, heading_context: bool = False) -> list[Candidate]:
    """Candidates of retrieved ``(chunk, info)`` pairs; with ``index``, the best document's
    fields and the body passages of the ``EXPAND_DOCUMENTS`` best documents that were not
    retrieved are added too (at rank ``len(hits)``, passage score 0)."""
    out: dict[tuple[str, int, int], Candidate] = {}
    top = max((info.get("score", 0.0) for _, info in hits), default=0.0) or 1.0
    passages = [(rank, chunk, info.get("score", 0.0) / top) for rank, (chunk, info) in enumerate(hits)]
    if index is not None and hits:
        seen = {chunk.id for chunk, _ in hits}
        docs = list(dict.fromkeys(chunk.doc_id for chunk, _ in hits))[:EXPAND_DOCUMENTS]
        passages += [(len(hits), chunk, 0.0) for chunk in body_chunks(index, docs) if chunk.id not in seen]
    for rank, chunk, pscore in passages:
        if chunk.kind not in BODY_KINDS:
            key = (chunk.doc_id, chunk.start, chunk.end)
            out.setdefault(key, Candidate(chunk, chunk.start, chunk.end, chunk.text, "field", rank,
                                          (chunk.start, chunk.end), chunk.search_text, passage_score=pscore))
            continue
        prefix = chunk.search_text[: len(chunk.search_text) - len(chunk.text)] if heading_context else ""
        for s, e in chunk.sentences:
            text = chunk.text[s - chunk.start : e - chunk.start]
            key = (chunk.doc_id, s, e)
            if key in out:
                continue
            out[key] = Candidate(chunk, s, e, text, "sentence", rank, (s, e), prefix + text, passage_score=pscore)
            for cs, ce in clause_spans(text, s):
                ckey = (chunk.doc_id, cs, ce)
                if ckey not in out:
                    ctext = chunk.text[cs - chunk.start : ce - chunk.start]
                    out[ckey] = Candidate(chunk, cs, ce, ctext, "clause", rank, (s, e), prefix + ctext,
                                          passage_score=pscore)
    if index is not None and hits:
        best_doc = hits[0][0].doc_id
        for chunk in field_chunks(index, best_doc):
            key = (chunk.doc_id, chunk.start, chunk.end)
            out.setdefault(key, Candidate(chunk, chunk.start, chunk.end, chunk.text, "field", len(hits),
                                          (chunk.start, chunk.end), chunk.search_text, passage_score=0.0))
    return sorted(out.values(), key=lambda c: (c.rank, c.doc_id, c.start, c.end))


def body_chunks(index, doc_ids: list[str]) -> list[Chunk]:
    """The body and notes passages of some documents (one look-up), in document order."""
    chunks = [c for c in index.doc_chunks(doc_ids) if c.kind in BODY_KINDS]
    order = {d: i for i, d in enumerate(doc_ids)}
    return sorted(chunks, key=lambda c: (order.get(c.doc_id, len(order)), c.start, c.id))


def field_chunks(index, doc_id: str) -> list[Chunk]:
    """Every structural passage of a document (one look-up)."""
    return sorted((c for c in index.doc_chunks([doc_id]) if c.kind not in BODY_KINDS), key=lambda c: (c.start, c.id))


def attach_dense(candidates: list[Candidate], index, question_vector) -> None:
    """Each candidate's cosine with the question: its sentence's (or field's) stored unit vector."""
    import numpy as np

    keys = sorted({(c.doc_id, *c.sentence) for c in candidates})
    vectors = index.unit_vectors(keys)
    q = np.asarray(question_vector, dtype=np.float32)
    cos = {k: float(np.dot(q, np.asarray(v, dtype=np.float32))) for k, v in vectors.items()}
    for c in candidates:
        c.dense = cos.get((c.doc_id, *c.sentence), 0.0)
