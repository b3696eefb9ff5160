"""The offline answerer: the document's own sentences, a short lead, or an abstention.

For the retrieved chunks it scores every sentence (and structural field) against the
question by two signals that need no generative model:

- meaning: cosine between the question and the sentence, with the bundled embedding model;
- words: the IDF-weighted share of the question's content stems found in the sentence.

It answers only when the best sentence covers the question's content words well
enough and fits what the question asks for (a "when" wants a date, a "how many" a
number, "what year" a year); otherwise it abstains and lists the closest passages.
A who / when / how-many question gets a short lead span ("Welles", "March 22 and March
23", "three American citizens") before the quotation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from assistant.chunks import Chunk
from assistant.documents import MONTHS

# Thresholds, tuned on evals/telegram and checked on evals/frus1941 (see the eval reports).
MIN_COVERAGE = 0.55  # share of the question's IDF weight found in the answer sentence
ELSEWHERE_CREDIT = 0.5  # a question word the document has, but not in this sentence (a paraphrase is likely)
SUBJECT_BOOST = 0.15  # the question's named actor ("the Judge") is the sentence's subject
FIELD_INTENT_BOOST = 0.3  # "who signed" → the signature line, "to whom" → the recipient, …
MIN_DENSE = 0.2  # cosine floor between question and answer sentence
SECOND_SENTENCE_RATIO = 0.85  # a second sentence only if it scores this close to the first
MAX_SENTENCES = 3

_MONTH = "|".join(MONTHS)
_DATE1 = rf"(?:{_MONTH})\s+\d{{1,2}}(?:,\s+\d{{4}})?"
_TIME = r"\d{1,2}(?::\d\d)?\s+[ap]\.m\."
DATE_EXPR = re.compile(rf"{_DATE1}(?:(?:,?\s+and\s+|\s+to\s+|–|-)(?:{_DATE1}|\d{{1,2}}))?(?:,\s+{_TIME})?")
YEAR = re.compile(r"\b1[6-9]\d\d\b|\b20\d\d\b")
_NUMBER_WORDS = "one two three four five six seven eight nine ten eleven twelve twenty thirty hundred".split()
COUNT = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)}|\d+)\b(?:\s+[A-Za-z][a-z]+){{0,2}}?\s+[A-Za-z][a-z]+s\b", re.IGNORECASE)
DURATION = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)}|\d+|a|an)\s+(?:years?|months?|weeks?|days?|hours?)\b", re.I)
_NAME = re.compile(r"\b(?:(?:the|this|his|our|their)\s+)?(?:Mrs?\.\s|Messrs\.\s)?[A-Z][\w’'-]*(?:\s+(?:of\s+)?[A-Z][\w’'-]*)*")

# Capitalized words that open a clause rather than name someone.
_NOT_NAMES = set(
    "When Later Although It We You On In If Then Thus However Furthermore Therefore This That These Those "
    "He She They His Her Their Our Your My A An And But Or As At By For From Of To With Upon After Before "
    "Since While Who What Which Where Why How No Not Yes I".split()
)
FIELD_INTENTS = {
    "signature": re.compile(r"\bsign(ed|s|ature|er)?\b", re.I),
    "recipient": re.compile(r"\bto whom\b|\brecipient\b|\baddress(ed|ee)\b|\bsent to\b|\bwho received\b", re.I),
    "sender": re.compile(r"\bwho (sent|wrote|authored)\b|\bsender\b|\bauthor\b|\bfrom whom\b|\bwho is it from\b|\btitle\b|\bposition\b", re.I),
    "telegram_number": re.compile(r"\b(telegram|message) (number|no\.?)\b|\bnumber of (this|the) telegram\b|\bwhat number\b", re.I),
    "file_number": re.compile(r"\bfile\b", re.I),
    "dateline": re.compile(r"\bdated?\b|\bwhen was (it|this|the \w+) sent\b|\bsent from where\b", re.I),
}

_QUESTION_WORDS = (
    "what who whom whose which when where why how did does do was were is are be been has have had "
    "telegram telegrams document documents message say says said according mention mentioned tell told "
    "text write wrote written state stated can could would should there"
).split()


@dataclass
class Question:
    text: str
    qtype: str  # who | when | year | count | duration | where | why | number | what
    stems: list[str]
    weights: dict[str, float] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # stems the collection contains somewhere
    actors: list[str] = field(default_factory=list)  # capitalized nouns of the question ("Judge")
    fields: set[str] = field(default_factory=set)  # structural fields the question asks for


def classify(question: str) -> str:
    q = question.lower().strip()
    if re.search(r"\b(what|which)\s+year\b|\bin what year\b", q):
        return "year"
    if re.search(r"\bhow long\b|\bhow many (years|months|days)\b", q):
        return "duration"
    if re.search(r"\b(?:telegram|file|document|message|reference) (?:number|no\.?)\b|\bwhat number\b"
                 r"|\bwhat (?:is|was) the number\b", q):
        return "number"
    if re.search(r"\bhow many\b|\bhow much\b|\bnumber of\b", q):
        return "count"
    if re.search(r"^\s*(?:on\s+)?(when|what date|what day|on what date|what time)\b", q) or re.search(r"\bwhat dates?\b", q):
        return "when"
    if re.search(r"^\s*(who|whom|whose)\b|\bto whom\b|\bby whom\b|\bwhich (person|official|people|persons)\b", q):
        return "who"
    if re.search(r"^\s*where\b", q):
        return "where"
    if re.search(r"^\s*why\b", q):
        return "why"
    return "what"


@dataclass
class Candidate:
    chunk: Chunk
    start: int
    end: int
    text: str  # verbatim sentence (or field)
    match_text: str  # what the words are matched against (the field's description for fields)
    rank: int  # rank of its chunk after fusion
    dense: float = 0.0
    coverage: float = 0.0
    score: float = 0.0


@dataclass
class Decision:
    abstained: bool
    chosen: list[Candidate]
    related: list[Candidate]
    lead: str | None
    reason: str


@lru_cache(maxsize=1)
def generic_stems() -> frozenset[str]:
    from assistant.retrieval import stems

    return frozenset(stems(" ".join(_QUESTION_WORDS)))


def analyze(question: str, lexicon, stems_of) -> Question:
    generic = generic_stems()
    stems = [s for s in stems_of(question) if s not in generic]
    seen: list[str] = []
    for s in stems:
        if s not in seen:
            seen.append(s)
    known = {s for s in seen if lexicon.df.get(s, 0) > 0}
    cap = max([lexicon.idf(s) for s in known], default=1.0)
    weights = {s: min(lexicon.idf(s), cap) for s in seen}
    actors = [w for w in re.findall(r"\b[A-Z][a-z]+\b", question)[0:] if w not in _NOT_NAMES and question.find(w) > 0]
    fields = {name for name, rx in FIELD_INTENTS.items() if rx.search(question)}
    if "sender" in fields:
        fields.add("signature")  # who sent it: the office in the heading and the name signed
    return Question(question, classify(question), seen, weights, known, actors, fields)


def decide(question: Question, candidates: list[Candidate], stems_of, fetch_field=None) -> Decision:
    total = sum(question.weights.values())
    for c in candidates:
        have = set(stems_of(c.match_text))
        got = sum(
            w if s in have else (ELSEWHERE_CREDIT * w if s in question.known else 0.0)
            for s, w in question.weights.items()
        )
        c.coverage = got / total if total else 0.0
        c.score = 0.6 * c.dense + 0.4 * c.coverage + 0.02 / (1 + c.rank)
        opening = " ".join(c.text.split()[:5])
        if any(re.search(rf"\b{a}\b", opening) for a in question.actors):
            c.score += SUBJECT_BOOST
        if c.chunk.kind in question.fields:
            c.score += FIELD_INTENT_BOOST
    ranked = sorted(candidates, key=lambda c: (-c.score, c.rank, c.chunk.doc_id, c.start))
    related = _distinct(ranked)[:3]
    if not ranked:
        return Decision(True, [], [], None, "nothing retrieved")

    fitting = [c for c in ranked if _fits(question, c)]
    best = fitting[0] if fitting else None
    if best is None:
        return Decision(True, [], related, None, f"no sentence has what a {question.qtype} question asks for")
    if best.coverage < MIN_COVERAGE or best.dense < MIN_DENSE:
        return Decision(True, [], related, None, f"best sentence covers {best.coverage:.2f} of the question")

    chosen = [best]
    if best.chunk.kind in ("sender", "signature") and {"sender", "signature"} <= question.fields:
        # "Who sent it?": the office in the heading and the name signed belong together.
        other = "signature" if best.chunk.kind == "sender" else "sender"
        partner = next((c for c in ranked if c.chunk.doc_id == best.chunk.doc_id and c.chunk.kind == other), None)
        if partner is None and fetch_field is not None:
            partner = fetch_field(best.chunk.doc_id, other)
        if partner is not None:
            chosen.append(partner)
    for c in fitting[1:]:
        if len(chosen) >= MAX_SENTENCES:
            break
        if c.score < SECOND_SENTENCE_RATIO * best.score or any(_same_place(c, o) for o in chosen):
            continue
        chosen.append(c)
    chosen = sorted(chosen, key=lambda c: (c.chunk.doc_id, c.start))
    return Decision(False, chosen, related, lead_span(question, chosen, best), "answered")


def _distinct(cands: list[Candidate]) -> list[Candidate]:
    out: list[Candidate] = []
    for c in cands:
        if not any(_same_place(c, o) for o in out):
            out.append(c)
    return out


def _same_place(a: Candidate, b: Candidate) -> bool:
    return a.chunk.doc_id == b.chunk.doc_id and a.start < b.end and b.start < a.end


def _fits(question: Question, c: Candidate) -> bool:
    kind = c.chunk.kind
    if question.qtype == "year":
        return bool(YEAR.search(c.text))
    if question.qtype == "duration":
        return bool(DURATION.search(c.text))
    if question.qtype == "when":
        return bool(DATE_EXPR.search(c.text) or YEAR.search(c.text)) or kind == "dateline"
    if question.qtype == "count":
        return bool(COUNT.search(c.text)) or kind == "telegram_number"
    if question.qtype == "number":
        return bool(re.search(r"\d", c.text))
    return True


def lead_span(question: Question, chosen: list[Candidate], best: Candidate) -> str | None:
    """A short span of the best sentence that answers a who / when / how-many question."""
    kind = best.chunk.kind
    if kind not in ("body", "notes"):
        by_kind = {c.chunk.kind: c.text for c in chosen}
        if kind in ("sender", "signature") and "sender" in by_kind and "signature" in by_kind:
            sender = by_kind["sender"]
            return f"{by_kind['signature']}, {sender[:1].lower() + sender[1:] if sender.startswith('The ') else sender}"
        if question.qtype in ("who", "number", "when", "count", "what"):
            return best.text
        return None
    text = best.text
    if question.qtype == "when":
        m = DATE_EXPR.search(text)
        return m.group(0) if m else None
    if question.qtype == "count":
        spans = [m for m in COUNT.finditer(text) if not re.match(r"\d", m.group(0)) or " " in m.group(0)]
        near = _nearest(spans, text, question)
        return near.group(0) if near else None
    if question.qtype == "who":
        q_lower = question.text.lower()
        names = []
        for m in _NAME.finditer(text):
            words = m.group(0).split()
            while words and words[0] in _NOT_NAMES:
                words = words[1:]
            if words and words[-1].lower() not in q_lower and words[-1] not in MONTHS and m.start() > 0:
                names.append(_Match(" ".join(words), m.start(), m.end()))
        near = _nearest(names, text, question, before=True)
        return near.group(0) if near else None
    return None


def _nearest(matches: list, text: str, question: Question, before: bool = False):
    """The match closest to where the question's words occur in ``text`` (preceding them if ``before``)."""
    if not matches:
        return None
    lower = text.lower()
    anchors = [m.start() for s in question.stems for m in re.finditer(re.escape(s[:5]), lower)]
    if not anchors:
        return matches[0] if len(matches) == 1 else None

    def distance(m) -> int:
        ds = [(a - m.end()) if before else abs(a - m.start()) for a in anchors]
        ds = [d for d in ds if d >= 0] if before else ds
        return min(ds) if ds else 10**6

    best = min(matches, key=lambda m: (distance(m), m.start()))
    return best if distance(best) < 10**6 else None


@dataclass
class _Match:
    """A trimmed regex match (same interface as ``re.Match`` for what ``_nearest`` needs)."""

    text: str
    s: int
    e: int

    def group(self, _=0) -> str:
        return self.text

    def start(self) -> int:
        return self.s

    def end(self) -> int:
        return self.e
