"""Answer metrics computed from strings, spans and (for similarity) embeddings: no LLM judge.

Every function here is pure: it takes an eval item's reference (evidence spans, key terms,
reference answer) and an answer in its ``Answer.to_dict()`` shape, and returns numbers.
``score_item`` combines them into one item's scores and its pass/fail verdict; ``aggregate``
averages items overall and by type. Definitions (documented in ``evals/README.md``):

- a *span match*: same document and the two character ranges overlap by at least half of the
  shorter one (a citation grazing a neighbouring sentence by a few characters does not count);
- retrieval: rank of the first passage matching any supporting span; hit@k, reciprocal rank;
- citation precision: share of citations matching a supporting span (evidence or alt_evidence);
  citation recall: share of required evidence strings matched by some citation (ALCE-style);
- citation validity: the quote equals the document text at its span;
- key terms: every group has an alternative in the answer (case-, quote- and space-insensitive,
  on word boundaries);
- lead: the short answer the extractive answerer puts before its quotations ("Welles: “…”");
  *correct* when it holds every key-term group, *wrong* otherwise, *missing* when there is none;
- pass: answerable → answered, all key terms, no wrong lead, every citation valid, ≥ 1 valid
  citation on a supporting span; unanswerable → abstained;
- concise-correct: answerable → answered, all key terms, every citation valid, and the answer
  (before any "Sources" footer, citation markers removed) no longer than its type's limit
  (``CONCISE_LIMITS``); unanswerable → abstained. ``followup_accuracy`` is the concise-correct
  rate over the turns after the first of conversations.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

SpanRef = tuple[str, int, int]  # (doc_id, start, end)

MIN_OVERLAP = 0.5
HIT_KS = (1, 3, 5)
_MARKER = re.compile(r"\s*\[(\d+)\]")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "—": "-", "–": "-"})
_ARTICLES = {"a", "an", "the"}
# Concise-correct: the longest answer (characters) that still counts, by question type. Short-answer
# types get 200, summaries have no limit, every other type (follow-up turns included) 400.
SHORT_LIMIT, LONG_LIMIT = 200, 400
CONCISE_LIMITS: dict[str, int | None] = {
    **dict.fromkeys(("who", "when", "where", "count", "which"), SHORT_LIMIT),
    "summary": None,
}
_ANY_MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_SOURCES_FOOTER = re.compile(r"\n\s*Sources:.*\Z", re.DOTALL)


# --- spans --------------------------------------------------------------------------------------


def overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> int:
    return max(0, min(a_end, b_end) - max(a_start, b_start))


def span_matches(a: SpanRef, b: SpanRef, min_ratio: float = MIN_OVERLAP) -> bool:
    """Same document and an overlap of at least ``min_ratio`` of the shorter span."""
    if a[0] != b[0]:
        return False
    shared = overlap(a[1], a[2], b[1], b[2])
    shorter = min(a[2] - a[1], b[2] - b[1])
    return shared > 0 and shared >= min_ratio * max(shorter, 1)


def matches_any(span: SpanRef, targets: Iterable[SpanRef], min_ratio: float = MIN_OVERLAP) -> bool:
    return any(span_matches(span, t, min_ratio) for t in targets)


# --- retrieval ----------------------------------------------------------------------------------


def first_hit_rank(passages: Sequence[Mapping], supporting: Sequence[SpanRef]) -> int | None:
    """1-based rank of the first passage matching a supporting span; None when none does."""
    for rank, p in enumerate(passages, start=1):
        if matches_any((p["doc_id"], p["start"], p["end"]), supporting):
            return rank
    return None


def first_doc_rank(passages: Sequence[Mapping], doc_ids: Iterable[str]) -> int | None:
    """1-based rank of the first passage from one of the evidence's documents."""
    wanted = set(doc_ids)
    return next((rank for rank, p in enumerate(passages, start=1) if p["doc_id"] in wanted), None)


def hit_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


# --- answer text ------------------------------------------------------------------------------


def answer_text(answer: Mapping) -> str:
    """The answer without its citation markers ("[1]"), which are not words of the answer."""
    numbers = {str(c.get("n")) for c in answer.get("citations") or ()}
    return _MARKER.sub(lambda m: "" if m.group(1) in numbers else m.group(0), answer.get("answer") or "").strip()


def concise_length(answer: Mapping | str) -> int:
    """Characters of the answer itself: before any "Sources" footer, citation markers ("[1]",
    "[1, 2]") removed, outer spaces stripped."""
    text = answer if isinstance(answer, str) else (answer.get("answer") or "")
    text = _SOURCES_FOOTER.sub("", text)
    return len(_ANY_MARKER.sub("", text).strip())


def concise_limit(qtype: str) -> int | None:
    """The length limit of ``concise_correct`` for a question type (None: no limit)."""
    return CONCISE_LIMITS.get(qtype, LONG_LIMIT)


def fold(text: str) -> str:
    """Lower case, straight quotes and dashes, accents removed, single spaces."""
    text = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.lower().split())


def term_present(text: str, term: str) -> bool:
    """``term`` occurs in ``text`` (both folded) and is not glued to letters or digits around it."""
    folded, needle = fold(text), fold(term)
    if not needle:
        return False
    pattern = r"(?<![0-9a-z])" + re.escape(needle) + r"(?![0-9a-z])"
    return re.search(pattern, folded) is not None


def key_terms_score(text: str, groups: Sequence[Sequence[str]]) -> tuple[bool, float, list[str]]:
    """(all groups present, share of groups present, first alternative of each missing group)."""
    if not groups:
        return True, 1.0, []
    missing = [g[0] for g in groups if not any(term_present(text, alt) for alt in g)]
    return not missing, 1 - len(missing) / len(groups), missing


def tokens(text: str) -> list[str]:
    """SQuAD-style normalization: folded, punctuation removed, articles dropped."""
    folded = fold(text)
    folded = "".join(" " if ch in string.punctuation else ch for ch in folded)
    return [t for t in folded.split() if t not in _ARTICLES]


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    dot = sum(a * b for a, b in zip(u, v))
    nu, nv = math.sqrt(sum(a * a for a in u)), math.sqrt(sum(b * b for b in v))
    return dot / (nu * nv) if nu and nv else 0.0


def length(text: str) -> tuple[int, int]:
    """(characters, words)."""
    return len(text), len(text.split())


# --- citations ------------------------------------------------------------------------------------


def citation_refs(answer: Mapping, key: str = "citations") -> list[SpanRef]:
    return [(c["doc_id"], c["start"], c["end"]) for c in answer.get(key) or ()]


def citation_precision(citations: Sequence[SpanRef], supporting: Sequence[SpanRef]) -> float | None:
    """Share of citations on a supporting span; None without citations (nothing to be precise about)."""
    if not citations:
        return None
    return sum(matches_any(c, supporting) for c in citations) / len(citations)


def citation_recall(citations: Sequence[SpanRef], evidence: Sequence[Sequence[SpanRef]]) -> float | None:
    """Share of evidence strings (each: all places it occurs) matched by some citation."""
    if not evidence:
        return None
    covered = sum(any(matches_any(c, places) for c in citations) for places in evidence)
    return covered / len(evidence)


def citation_valid(citation: Mapping, documents: Mapping) -> bool:
    """The quote is the document's text at the citation's span."""
    doc = documents.get(citation.get("doc_id"))
    if doc is None:
        return False
    text = doc.text if hasattr(doc, "text") else str(doc)
    start, end = citation.get("start"), citation.get("end")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
        return False
    return text[start:end] == citation.get("quote")


# --- one item -------------------------------------------------------------------------------------


def score_item(item, answer: Mapping, documents: Mapping, *, similarity: float | None = None,
               latency_ms: float | None = None) -> dict:
    """Every metric of one item, and its pass/fail verdict with the reasons it failed.

    ``item`` is an ``evalsets.EvalItem`` (evidence located); ``answer`` an ``Answer.to_dict()``;
    ``documents`` maps doc_id to a ``Document`` (or its text); ``similarity`` is the cosine of the
    answer's and the reference's embeddings, computed by the caller in one batch.
    """
    text = answer_text(answer)
    abstained = bool(answer.get("abstained"))
    supporting = [(ev.doc_id, s, e) for ev in item.supporting for s, e in ev.spans]
    evidence = [[(ev.doc_id, s, e) for s, e in ev.spans] for ev in item.evidence]
    cites = citation_refs(answer)
    valid = [citation_valid(c, documents) for c in answer.get("citations") or ()]
    related_valid = [citation_valid(c, documents) for c in answer.get("related") or ()]
    chars, words = length(text)
    if latency_ms is None:
        latency_ms = (answer.get("timings_ms") or {}).get("total")

    concise_chars = concise_length(answer)
    scores: dict = {
        "answerable": item.answerable,
        "follow_up": item.turn > 1,
        "abstained": abstained,
        "answer_chars": chars,
        "answer_words": words,
        "concise_chars": concise_chars,
        "n_citations": len(cites),
        "citations_valid": sum(valid),
        "citation_validity": (sum(valid) / len(valid)) if valid else None,
        "related_invalid": len(related_valid) - sum(related_valid),
        "token_f1": token_f1(text, item.answer),
        "similarity": similarity,
        "latency_ms": latency_ms,
    }
    reasons: list[str] = []
    if item.answerable:
        rank = first_hit_rank(answer.get("passages") or (), supporting)
        doc_rank = first_doc_rank(answer.get("passages") or (), (ev.doc_id for ev in item.supporting))
        miss = "" if rank else " (retrieval miss: right document, other passages)" if doc_rank else " (retrieval miss)"
        all_terms, share, missing = key_terms_score(text, item.key_terms) if not abstained else (
            False, 0.0, [g[0] for g in item.key_terms])
        lead = answer.get("lead")
        lead_state = None if abstained else (
            "missing" if not lead else "correct" if key_terms_score(lead, item.key_terms)[0] else "wrong")
        precision = citation_precision(cites, supporting)
        on_evidence = sum(matches_any(c, supporting) for c, ok in zip(cites, valid) if ok)
        scores.update({
            "rank": rank,
            **{f"hit@{k}": hit_at(rank, k) for k in HIT_KS},
            "rr": reciprocal_rank(rank),
            "doc_rank": doc_rank,
            "doc_hit@5": hit_at(doc_rank, 5),
            "key_terms": all_terms,
            "key_term_share": share,
            "missing_terms": missing,
            "lead": lead_state,
            "citation_precision": precision,
            "citation_recall": citation_recall(cites, evidence) if not abstained else 0.0,
        })
        if abstained:
            reasons.append("false abstention" + ("" if rank else " (evidence not retrieved)"))
        else:
            if missing:
                reasons.append("missing key terms: " + ", ".join(missing))
            if lead_state == "wrong":
                reasons.append(f"wrong lead span: {lead!r}")
            if on_evidence == 0:
                reasons.append("no valid citation on the evidence" + miss)
        if not all(valid):
            reasons.append(f"{len(valid) - sum(valid)} invalid citation(s)")
    else:
        scores.update({"rank": None, **{f"hit@{k}": None for k in HIT_KS}, "rr": None, "doc_rank": None,
                       "doc_hit@5": None, "key_terms": None,
                       "key_term_share": None, "missing_terms": [], "lead": None, "citation_precision": None,
                       "citation_recall": None})
        if not abstained:
            reasons.append("answered an unanswerable question")
    scores["concise_correct"] = concise_correct(item, scores, valid)
    scores["pass"] = not reasons
    scores["fail_reasons"] = reasons
    return scores


def concise_correct(item, scores: Mapping, valid: Sequence[bool]) -> bool:
    """Answerable: answered, every key-term group present, every citation valid, and no longer than
    the type's limit. Unanswerable: abstained."""
    if not item.answerable:
        return bool(scores["abstained"])
    limit = concise_limit(item.type)
    return (not scores["abstained"] and bool(scores["key_terms"]) and all(valid)
            and (limit is None or scores["concise_chars"] <= limit))


# --- aggregates -----------------------------------------------------------------------------------


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default) of the values that are not None, without numpy."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(values: Iterable) -> float | None:
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def aggregate(scores: Sequence[Mapping]) -> dict:
    """Aggregates of item scores (all items given; answerable-only metrics skip the others).

    Rates are shares in [0, 1]; ``None`` where no item qualifies (e.g. no unanswerable items).
    Scores written before a metric existed (an older baseline) give ``None`` for it.
    """
    answerable = [s for s in scores if s["answerable"]]
    unanswerable = [s for s in scores if not s["answerable"]]
    answered = [s for s in answerable if not s["abstained"]]
    abstained = [s for s in scores if s["abstained"]]
    n_cites = sum(s["n_citations"] for s in scores)
    out = {
        "items": len(scores),
        "pass_rate": _mean(s["pass"] for s in scores),
        "key_term_accuracy": _mean(s["key_terms"] for s in answerable),
        "token_f1": _mean(s["token_f1"] for s in answerable),
        "similarity": _mean(s["similarity"] for s in answerable),
        **{f"hit@{k}": _mean(s[f"hit@{k}"] for s in answerable) for k in HIT_KS},
        "mrr": _mean(s["rr"] for s in answerable),
        "doc_hit@5": _mean(s["doc_hit@5"] for s in answerable),  # the right document, any passage of it
        # Precision over answers that cite; recall over answers given (false refusals are their own rate).
        "citation_precision": _mean(s["citation_precision"] for s in answered),
        "citation_recall": _mean(s["citation_recall"] for s in answered),
        "citation_validity": (sum(s["citations_valid"] for s in scores) / n_cites) if n_cites else None,
        "abstention_precision": (sum(not s["answerable"] for s in abstained) / len(abstained)) if abstained else None,
        "abstention_recall": _mean(s["abstained"] for s in unanswerable),
        "false_refusal_rate": _mean(s["abstained"] for s in answerable),
        # Leads: how often an answer opens with a short answer, and how often that lead is wrong.
        "lead_rate": _mean(s["lead"] != "missing" for s in answered),
        "wrong_lead_rate": _mean(s["lead"] == "wrong" for s in answered),
        # Concise-correct: right, cited validly, and short enough for its type (see CONCISE_LIMITS).
        "concise_correct_rate": _mean(s.get("concise_correct") for s in answerable),
        "followup_accuracy": _mean(s.get("concise_correct") for s in scores if s.get("follow_up")),
        "answer_chars_median": percentile([s.get("concise_chars") for s in answered], 50),
        "answer_words_mean": _mean(s["answer_words"] for s in answered),
        "answer_chars_mean": _mean(s["answer_chars"] for s in answered),
        "latency_p50_ms": percentile([s.get("latency_ms") for s in scores], 50),
        "latency_p95_ms": percentile([s.get("latency_ms") for s in scores], 95),
    }
    return out


# The metrics whose train/test gap reports show: what a reader checks first for over-fitting.
HEADLINE = ("pass_rate", "concise_correct_rate", "followup_accuracy", "key_term_accuracy", "citation_precision",
            "citation_validity", "abstention_recall", "abstention_precision", "false_refusal_rate", "hit@5")


def split_gap(by_split: Mapping[str, Mapping], names: Sequence[str] = HEADLINE) -> dict[str, dict] | None:
    """``{metric: {"train", "test", "gap"}}`` with gap = train − test (positive: better on train for
    a higher-is-better rate); None unless both train and test have aggregates."""
    train, test = by_split.get("train"), by_split.get("test")
    if not train or not test:
        return None
    out = {}
    for name in names:
        a, b = train.get(name), test.get(name)
        out[name] = {"train": a, "test": b, "gap": (a - b) if a is not None and b is not None else None}
    return out


def aggregate_by_split(scores: Sequence[Mapping], splits: Sequence[str],
                       order: Sequence[str] = ("train", "dev", "test")) -> dict[str, dict]:
    """Aggregates per split (``splits[i]`` is the split of ``scores[i]``), in ``order``; only the
    splits that have items."""
    groups: dict[str, list] = {}
    for s, name in zip(scores, splits):
        groups.setdefault(name, []).append(s)
    return {name: aggregate(groups[name]) for name in order if name in groups}


def aggregate_by_type(scores: Sequence[Mapping], types: Sequence[str]) -> dict[str, dict]:
    """Aggregates per question type (``types[i]`` is the type of ``scores[i]``), in type order."""
    groups: dict[str, list] = {}
    for s, t in zip(scores, types):
        groups.setdefault(t, []).append(s)
    return {t: aggregate(groups[t]) for t in sorted(groups)}
