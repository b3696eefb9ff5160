"""Features: one numeric record per candidate, what the scorer weighs.

Every feature is computed from the question (``assistant.question.Question``), the
candidate's own text and place, and the retrieval that found it; none names a word of the
documents. ``NAMES`` fixes their order (the model file stores weights by name).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from functools import lru_cache

from assistant.candidates import Candidate
from assistant.chunks import FIELD_DESCRIPTIONS
from assistant.question import TYPES, Question
from assistant.text import function_words_title, generic_stems, ordered_words, text_keys, word_keys, words

FIELD_KINDS = tuple(FIELD_DESCRIPTIONS)  # structural fields (sender, recipient, signature, dateline, …)

NAMES = (
    "dense", "dense_rel", "dense_body", "dense_body_rel", "dense_field_rel", "cov", "cov_rel", "sent_cov", "own_cov", "prox",
    "novel", "novel_names", "log_chars", "clause_share", "is_clause", "is_field", "is_notes",
    "rank_recip", "passage_score", "same_doc_as_top",
    "want_date_has", "want_date_missing", "want_num_has", "want_num_missing", "want_name_has",
    "want_name_missing", "why_reason", "cand_modal", "modal_mismatch", "cand_negation", "q_negation",
    "q_unknown", "starts_boundary", "ctx_overlap", "ctx_same_sentence", "field_x_who", "field_x_when", "field_x_other",
    "long_200", "long_400", "first_in_sentence", "last_in_sentence", "not_retrieved", "miss_max", "type_ok",
) + tuple(f"q_{t}" for t in TYPES) + tuple(
    f"f_{k}_{g}" for k in FIELD_KINDS for g in ("who", "when", "other"))


_TOKEN = re.compile(r"[A-Za-z]+|\d+")


class _Tokens:
    """A text's tokens with, per token, the question stems it matches and what kind of word it is."""

    def __init__(self, q: Question, text: str, offset: int, qkeys: dict, lists: dict):
        self.pos: list[int] = []
        self.matched: list[frozenset] = []
        self.flags: list[tuple] = []  # (content, novel, new_name, date, number, modal, negation, reason, word)
        for m in _TOKEN.finditer(text):
            w = m.group(0)
            lw = w.lower()
            self.pos.append(offset + m.start())
            if w.isalpha():
                wk = word_keys(w)
                hit = frozenset(st for st, k in qkeys.items() if k & wk)
                content = lw not in lists["fw"]
                novel = content and not hit and not (wk & lists["generic"])
                new_name = w[0].isupper() and len(w) > 1 and w not in lists["fw_title"] and lw not in q.names
                date = w in lists["months"]
                number = lw in lists["numbers"]
            else:
                hit, content, novel, new_name = frozenset(), True, True, False
                date = len(w) == 4 and w[:2] in ("16", "17", "18", "19", "20")
                number = True
            self.matched.append(hit)
            self.flags.append((content, novel, new_name, date, number, lw in lists["modal"], lw in lists["neg"],
                               lw in lists["reason"], lw))

    def range(self, start: int, end: int) -> tuple[int, int]:
        return bisect.bisect_left(self.pos, start), bisect.bisect_left(self.pos, end)


def _proximity_of(matched: list[frozenset]) -> float:
    hits = [(i, s) for i, ss in enumerate(matched) for s in ss]
    need = len({s for _, s in hits})
    if need < 2:
        return 0.0
    best: int | None = None
    have: dict[str, int] = {}
    left = 0
    for right in range(len(hits)):
        have[hits[right][1]] = have.get(hits[right][1], 0) + 1
        while len(have) == need:
            span = hits[right][0] - hits[left][0] + 1
            best = span if best is None or span < best else best
            st = hits[left][1]
            have[st] -= 1
            if not have[st]:
                del have[st]
            left += 1
    return need / best if best else 0.0


@lru_cache(maxsize=1)
def _lists() -> dict:
    return {"fw": words("function_words"), "generic": generic_stems(), "fw_title": function_words_title(),
            "months": frozenset(ordered_words("months")), "numbers": words("number_words"),
            "modal": words("modal_verbs"), "neg": words("negations"), "reason": words("reason_words"),
            "boundary": words("clause_boundaries")}


def _sentence_key(c: Candidate) -> tuple[str, int, int]:
    """(doc_id, start, end) of the candidate's sentence: what candidates of one sentence share."""
    return (c.doc_id, *c.sentence)


def compute(q: Question, candidates: list[Candidate], context_spans: Sequence[tuple[str, int, int]] = ()) -> None:
    """Fill ``candidate.features`` for every candidate (relative features need them all)."""
    if not candidates:
        return
    lists = _lists()
    qkeys = {st: q.keys.get(st, frozenset({st})) for st in q.weights}
    total = sum(q.weights.values()) or 0.0
    own_total = sum(q.weights[st] for st in q.own) if q.own else 0.0
    q_lower = {w.lower() for w in re.findall(r"[A-Za-z']+", q.text)}
    q_modal = bool(q_lower & lists["modal"])
    q_neg = bool(q_lower & lists["neg"]) or "n't" in q.text
    top_doc = min(candidates, key=lambda c: (c.rank, c.start)).doc_id
    group = q.qtype if q.qtype in ("who", "when") else "other"
    top_weight = max(q.weights.values(), default=0.0) or 1.0
    tokens: dict[tuple[str, int, int], _Tokens] = {}
    sentence_cov: dict[tuple[str, int, int], float] = {}
    rows = []
    for c in candidates:
        if c.kind == "field":
            tk = _Tokens(q, c.match_text, 0, qkeys, lists)
            lo, hi = 0, len(tk.pos)
            text_tk = _Tokens(q, c.text, c.start, qkeys, lists)
            tlo, thi = 0, len(text_tk.pos)
        else:
            skey = _sentence_key(c)
            if skey not in tokens:
                sent = c.chunk.text[c.sentence[0] - c.chunk.start : c.sentence[1] - c.chunk.start]
                tokens[skey] = _Tokens(q, sent, c.sentence[0], qkeys, lists)
            tk = tokens[skey]
            lo, hi = tk.range(c.start, c.end)
            text_tk, tlo, thi = tk, lo, hi
        matched = frozenset().union(*tk.matched[lo:hi]) if hi > lo else frozenset()
        heading: frozenset = frozenset()
        if c.match_text != c.text and c.kind != "field":  # the document's heading counts for a corpus
            heading = frozenset(st for st, k in qkeys.items() if k & _heading_keys(c.match_text[: len(c.match_text) - len(c.text)]))
            matched |= heading
        # The weightiest question word the whole sentence (or field) leaves unmatched, relative to
        # the weightiest of all: an unanswerable question's candidate often lacks the asked-for thing.
        in_sentence = (frozenset().union(*tk.matched) if tk.matched else frozenset()) | heading | matched
        miss_max = max((q.weights[st] for st in q.weights if st not in in_sentence), default=0.0) / top_weight
        cov = sum(q.weights[st] for st in matched) / total if total else 0.0
        own_cov = (sum(q.weights[st] for st in matched if st in q.own) / own_total) if own_total else cov
        if c.kind != "clause":
            sentence_cov[_sentence_key(c)] = cov
        flags = text_tk.flags[tlo:thi]
        content = sum(1 for f in flags if f[0])
        novel = sum(1 for f in flags if f[1])
        names_new = sum(1 for f in flags if f[2])
        has_date = any(f[3] for f in flags)
        has_num = any(f[4] for f in flags)
        modal = any(f[5] for f in flags)
        first = flags[0][8] if flags else ""
        rows.append((c, {
            "dense": c.dense,
            "cov": cov,
            "own_cov": own_cov,
            "prox": _proximity_of(text_tk.matched[tlo:thi]) if c.kind != "field" else 0.0,
            "novel": novel / max(1, content),
            "novel_names": min(3, names_new) / 3,
            "log_chars": math.log(1 + len(c.text)),
            "is_clause": float(c.kind == "clause"),
            "is_field": float(c.kind == "field"),
            "is_notes": float(c.chunk.kind == "notes"),
            "rank_recip": 1.0 / (1 + c.rank),
            "passage_score": c.passage_score,
            "same_doc_as_top": float(c.doc_id == top_doc),
            "want_date_has": float(q.qtype == "when" and has_date),
            "want_date_missing": float(q.qtype == "when" and not has_date),
            "want_num_has": float(q.qtype == "count" and has_num),
            "want_num_missing": float(q.qtype == "count" and not has_num),
            "want_name_has": float(q.qtype in ("who", "where") and names_new > 0),
            "want_name_missing": float(q.qtype in ("who", "where") and names_new == 0),
            "why_reason": float(q.qtype == "why" and any(f[7] for f in flags)),
            "cand_modal": float(modal),
            "modal_mismatch": float(modal and not q_modal),
            "cand_negation": float(any(f[6] for f in flags)),
            "q_negation": float(q_neg),
            "q_unknown": q.unknown,
            "starts_boundary": float(first in lists["boundary"]),
            "ctx_overlap": float(any(d == c.doc_id and s < c.end and c.start < e for d, s, e in context_spans)),
            "ctx_same_sentence": float(any(d == c.doc_id and s < c.sentence[1] and c.sentence[0] < e
                                           for d, s, e in context_spans)),
            "field_x_who": float(c.kind == "field" and q.qtype == "who"),
            "field_x_when": float(c.kind == "field" and q.qtype == "when"),
            "field_x_other": float(c.kind == "field" and q.qtype not in ("who", "when")),
            "long_200": float(len(c.text) > 200),
            "long_400": float(len(c.text) > 400),
            "first_in_sentence": float(c.start == c.sentence[0]),
            "last_in_sentence": float(c.end == c.sentence[1]),
            "not_retrieved": float(c.kind != "field" and c.passage_score == 0.0),
            "miss_max": miss_max,
            "type_ok": float(has_date if q.qtype == "when" else has_num if q.qtype == "count"
                             else names_new > 0 if q.qtype in ("who", "where") else True),
            **{f"q_{t}": float(q.qtype == t) for t in TYPES},
            **{f"f_{k}_{g}": float(c.kind == "field" and c.field_kind == k and group == g)
               for k in FIELD_KINDS for g in ("who", "when", "other")},
        }))
    max_dense = max(f["dense"] for _, f in rows)
    max_cov = max(f["cov"] for _, f in rows)
    # A field's vector is of its description ("Sent by … (the sender, author …)"), close to any
    # question about the document: sentences are compared with sentences, fields with fields.
    max_body = max((f["dense"] for c, f in rows if c.kind != "field"), default=0.0)
    max_field = max((f["dense"] for c, f in rows if c.kind == "field"), default=0.0)
    for c, f in rows:
        f["dense_rel"] = f["dense"] - max_dense
        f["dense_body"] = f["dense"] if c.kind != "field" else 0.0
        f["dense_body_rel"] = f["dense"] - max_body if c.kind != "field" else 0.0
        f["dense_field_rel"] = f["dense"] - max_field if c.kind == "field" else 0.0
        f["cov_rel"] = f["cov"] - max_cov
        f["sent_cov"] = sentence_cov.get(_sentence_key(c), f["cov"])
        f["clause_share"] = (c.end - c.start) / max(1, c.sentence[1] - c.sentence[0])
        c.features = f


@lru_cache(maxsize=4096)
def _heading_keys(text: str) -> frozenset:
    return text_keys(text)


def matrix(candidates: list[Candidate], names=NAMES):
    import numpy as np

    return np.asarray([[c.features.get(n, 0.0) for n in names] for c in candidates], dtype=np.float64)


def vector(c: Candidate) -> list[float]:
    return [float(c.features.get(n, 0.0)) for n in NAMES]
