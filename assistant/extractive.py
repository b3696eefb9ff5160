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
PROXIMITY_WEIGHT = 0.15  # the question's words close together beat the same words scattered over a long sentence
SUBJECT_DISTANCE = 25  # a who-lead must stand this close before the question's verb ("Oumansky some time ago suggested")
NAMES_BOOST = 0.3  # "which prisoners": a sentence that lists names
SUBJECT_BOOST = 0.15  # the question's named actor ("the Judge") is the sentence's subject
FIELD_INTENT_BOOST = 0.3  # "who signed" → the signature line, "to whom" → the recipient, …
UNKNOWN_WEIGHT = 0.6  # weight of a question word the collection never uses, relative to its rarest word
SYNONYM_MIN = 0.6  # word-vector cosine for a missing word to count as present ("wife" ~ "wives")
RANK_WEIGHT = 0.05  # a sentence of a better-retrieved passage is preferred
DENSE_WEIGHT = 0.5  # meaning vs. words in a sentence's score
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
    "The When Later Although It We You On In If Then Thus However Furthermore Therefore This That These Those "
    "He She They His Her Their Our Your My A An And But Or As At By For From Of To With Upon After Before "
    "Since While Who What Which Where Why How No Not Yes I".split()
)
FIELD_INTENTS = {
    "signature": re.compile(r"\bsign(ed|s|ature|er)?\b", re.I),
    "recipient": re.compile(r"\bto whom\b|\brecipient\b|\baddress(ed|ee)\b|\bsent to\b|\breceived?\b", re.I),
    # "a reply to", "this one answers", "does it answer": about this telegram's own reference line
    "reply_to": re.compile(r"\b(?:reply|response|answer)\s+to\b|\b(?:this|it|one|telegram)\s+(?:answers|replies|responds|refers)\b"
                           r"|\b(?:does|did)\s+(?:it|this|this one|this telegram)\s+(?:answer|reply|respond|refer)\b", re.I),
    "sender": re.compile(r"\bwho (sent|wrote|authored)\b|\bsender\b|\bauthor\b|\bfrom whom\b|\bwho is it from\b|\btitle\b|\bposition\b", re.I),
    "telegram_number": re.compile(r"\b(telegram|message) (number|no\.?)\b|\bnumber of (this|the) telegram\b|\bwhat number\b", re.I),
    "file_number": re.compile(r"\bfile\b", re.I),
    "dateline": re.compile(r"\bdated?\b|\bwhen was (it|this|the \w+) sent\b|\bsent from where\b", re.I),
}

_QUESTION_WORDS = (
    "what who whom whose which when where why how did does do was were is are be been has have had "
    "telegram telegrams document documents message say says said according mention mentioned tell told "
    "text write wrote written state stated can could would should there one also us any "
    "official person people someone anyone many much cable cables dates want wanted need needed ask asked "
    "let get happen happened circumstances"
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
    surface: dict[str, str] = field(default_factory=dict)  # stem → the word as asked ("wife")
    keys: dict[str, frozenset] = field(default_factory=dict)  # stem → stems of its lemmas too
    focus: str | None = None  # the noun a what/which question asks for ("crime" in "What crime …")
    wants_names: bool = False  # "which prisoners", "who were the …": people, several
    own: frozenset = frozenset()  # a follow-up's own words the collection has ("given" in "Was it given?")


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
    has_focus: bool = True
    matched: frozenset = frozenset()  # the question's stems this sentence has
    strict: float = 0.0  # coverage by this sentence's own words only


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


@lru_cache(maxsize=20000)
def word_keys(word: str) -> frozenset[str]:
    """A word's stem and its lemmas' stems, so "wives" meets "wife" and "left" meets "leaving"."""
    from lemminflect import getAllLemmas

    from assistant.retrieval import stemmer

    w = word.lower()
    keys = {stemmer().stemWord(w)}
    for lemmas in getAllLemmas(w).values():
        keys.update(stemmer().stemWord(lemma.lower()) for lemma in lemmas)
    return frozenset(keys)


def text_keys(text: str) -> set[str]:
    keys: set[str] = set()
    for w in re.findall(r"[A-Za-z]+", text):
        keys |= word_keys(w)
    return keys


_AUX = r"(?:is|was|were|are|did|does|do|has|had|have|can|could|would|should|will|be)"
_FOCUS = re.compile(rf"^(?:\w+\s+)?(?:what|which|whose)\s+(?!{_AUX}\b)([a-z]+)")
_NAME_QUESTION = re.compile(r"\bname of\b|['’]s (?:first |last |full |given )?name\b|\b(?:first|last|full|given) name\b"
                            r"|\bwhat was \w+ called\b", re.I)


_TOPIC = re.compile(r"\bwhat is (?:this|the) (?:\w+ )?about\b|\bsummar(?:y|ize|ise)\b|\bmain (?:point|subject|topic)s?\b"
                    r"|\bwhat (?:is|was) (?:this|the) (?:\w+ )?(?:subject|topic)\b", re.I)
_CONSEQUENCE = re.compile(r"\b(?:therefore|thus|consequently|hence|accordingly|for this reason)\b", re.I)


def analyze(question: str, lexicon, stems_of, primary: str | None = None) -> Question:
    """``primary``: the words the user typed when ``question`` was completed from the
    conversation; they weigh double, the borrowed context single."""
    generic = generic_stems()
    seen: list[str] = []
    surface: dict[str, str] = {}
    keys: dict[str, frozenset[str]] = {}
    for word in re.findall(r"[A-Za-z]+", question):
        raw = stems_of(word)
        if not raw:
            continue
        stem = lexicon.correct(raw)[0]
        if stem in generic or stem in seen:
            continue
        seen.append(stem)
        surface[stem] = word.lower()
        keys[stem] = frozenset({stem}) if stem != raw[0] else word_keys(word) | {stem}
    known = {s for s in seen if keys[s] & lexicon.vocab}
    cap = max([lexicon.idf(s) for s in known], default=1.0)
    # A word no document has is as likely a paraphrase ("freed") as a missing fact ("crime").
    weights = {s: min(lexicon.idf(s), cap) * (1.0 if s in known else UNKNOWN_WEIGHT) for s in seen}
    if primary and primary != question:
        own = {lexicon.correct([t])[0] for w in re.findall(r"[A-Za-z]+", primary) for t in stems_of(w)}
        weights = {s: w * (2.0 if s in own else 1.0) for s, w in weights.items()}
    else:
        own = set()
    actors = [w for w in re.findall(r"\b[A-Z][a-z]+\b", question)[0:] if w not in _NOT_NAMES and question.find(w) > 0]
    corrected = " ".join(lexicon.correct(stems_of(question)))  # "who signd" → "sign": intents survive typos
    fields = {name for name, rx in FIELD_INTENTS.items() if rx.search(question) or rx.search(corrected)}
    if "sender" in fields:
        fields.add("signature")  # who sent it: the office in the heading and the name signed
    if "file_number" in fields:
        fields.discard("telegram_number")  # "the file number of the telegram" asks for the file number
    q = Question(question, classify(question), seen, weights, known, actors, fields, surface)
    q.keys = keys
    q.own = frozenset(own & known)
    m = _FOCUS.search(question.lower())
    q.wants_names = bool(m and _singular(m.group(1)) in _PEOPLE) or bool(
        re.match(r"^\s*who (?:were|are)\b|^\s*(?:is|are|was|were) (?:any|there any)\b.*\bnamed?\b", question, re.I))
    if m:
        focus = lexicon.correct(stems_of(m.group(1)))
        q.focus = focus[0] if focus and focus[0] in seen else None
    else:
        q.focus = _verb_focus(question, stems_of, seen)
    if _NAME_QUESTION.search(question):
        q.qtype = "name"
    if _TOPIC.search(primary or question):
        q.qtype = "topic"
    return q


_LIGHT_VERBS = set("make makes made do does did take takes took have has had get gets got give gives gave go goes went "
                   "come comes came put say says said be is was were are become became".split())


_PEOPLE = {"prisoner", "citizen", "person", "official", "minister", "ambassador", "people", "man", "woman",
           "wife", "member", "diplomat", "envoy", "president", "child", "official", "detainee"}


def _singular(word: str) -> str:
    from lemminflect import getLemma

    return (getLemma(word, upos="NOUN") or (word,))[0]


# People named in a sentence: a list ("Roszkowski, Pyk, and Devenis") or a title ("Mrs. Habicht").
_PEOPLE_MENTION = re.compile(r"\b[A-Z][a-z]+(?:, [A-Z][a-z]+)+,? and [A-Z][a-z]+\b|\b(?:Mr|Mrs|Messrs|Dr|Señor|Sr)\.? [A-Z][a-z]+")


def _verb_focus(question: str, stems_of, seen: list[str]) -> str | None:
    """The verb of "What did the Soviet Government reply?" ("reply"): what is asked for."""
    from lemminflect import getAllLemmas

    m = re.match(rf"^\s*what\s+{_AUX}\s+(.*)$", question, re.I)
    if not m:
        return None
    for word in re.findall(r"[A-Za-z]+", m.group(1)):
        if word[0].isupper() or word.lower() in ("the", "a", "an", "this", "that", "he", "she", "they", "it", "his"):
            continue
        if word.lower() in _LIGHT_VERBS:  # "make difficult", "take up": the rest carries the meaning
            return None
        lemmas = getAllLemmas(word.lower())
        stem = (stems_of(word) or [None])[0]
        if "VERB" in lemmas and stem in seen:
            return stem
    return None


def decide(question: Question, candidates: list[Candidate], stems_of, fetch_field=None, similar=None,
           previous=None, central=None) -> Decision:
    """Callbacks into the index: ``similar(word, text) -> float``, how close the nearest word of
    ``text`` is to ``word`` in meaning (0..1), so a word the documents lack ("wife") can match
    its kin ("wives"); ``fetch_field(doc_id, kind)``, a header field that was not retrieved;
    ``previous(candidate)``, the sentence before it; ``central(doc_id, n)``, the n sentences
    nearest the document's mean vector (its gist)."""
    if question.qtype == "topic" and central is not None and candidates:
        doc_id = sorted(candidates, key=lambda c: (c.rank, c.start))[0].chunk.doc_id
        gist = central(doc_id, 2)
        if gist:
            gist = sorted(gist, key=lambda c: c.start)
            return Decision(False, gist, [], None, "the document's gist")
    total = sum(question.weights.values())
    for c in candidates:
        have = text_keys(c.match_text)
        matched = {s for s in question.weights if question.keys.get(s, {s}) & have}
        if question.wants_names and question.focus and _PEOPLE_MENTION.search(c.text):
            matched.add(question.focus)  # "which prisoners": the names are the prisoners
        # A word missing here may be paraphrased here ("prisoners" ~ "jail", "wife" ~ "wives").
        soft = ({s: similar(question.surface.get(s, s), c.match_text) for s in question.weights if s not in matched}
                if similar else {})
        c.matched = frozenset(matched)
        got = sum(
            w if s in matched
            else max(ELSEWHERE_CREDIT if s in question.known else 0.0,
                     soft[s] if soft.get(s, 0.0) >= SYNONYM_MIN else 0.0) * w
            for s, w in question.weights.items()
        )
        c.coverage = got / total if total else 0.0
        # A reason answers a why-question only in the sentence that states the event asked about.
        c.strict = sum(w for s, w in question.weights.items() if s in matched) / total if total else 0.0
        # "What crime …": the thing asked for must be there (or its kin), not just the rest.
        # A focus the documents use elsewhere may be paraphrased here ("require"); one they never use must
        # have its kin here ("wife" ~ "wives"), or the documents do not say.
        c.has_focus = (question.focus is None or question.focus in matched or question.focus in question.known
                       or soft.get(question.focus, 0.0) >= SYNONYM_MIN)
        c.score = DENSE_WEIGHT * c.dense + (1 - DENSE_WEIGHT) * c.coverage + RANK_WEIGHT / (1 + c.rank)
        c.score += PROXIMITY_WEIGHT * _proximity(c.text, matched, question.keys)
        opening = " ".join(c.text.split()[:5])
        if any(re.search(rf"\b{a}\b", opening) for a in question.actors):
            c.score += SUBJECT_BOOST
        if question.wants_names and _PEOPLE_MENTION.search(c.text):
            c.score += NAMES_BOOST
        if c.chunk.kind in question.fields:
            c.score += FIELD_INTENT_BOOST
        elif c.chunk.kind not in ("body", "notes") and question.qtype not in ("who", "number", "when"):
            c.score -= FIELD_INTENT_BOOST  # a header field answers only questions about it
    ranked = sorted(candidates, key=lambda c: (-c.score, c.rank, c.chunk.doc_id, c.start))
    related = _distinct(ranked)[:3]
    if not ranked:
        return Decision(True, [], [], None, "nothing retrieved")

    fitting = [c for c in ranked if _fits(question, c)]
    if not fitting:
        return Decision(True, [], related, None, f"no sentence has what a {question.qtype} question asks for")
    # Coverage is a gate per sentence, the score ranks what passes it.
    # A header field answers only a question about it, and such a question needs no more words.
    fitting = [c for c in fitting if c.chunk.kind in question.fields or (
        c.chunk.kind in ("body", "notes") and c.coverage >= MIN_COVERAGE and c.dense >= MIN_DENSE and c.has_focus
        and (question.qtype != "why" or c.strict >= MIN_COVERAGE)
        # A follow-up completed from the conversation ("Was it given?") asks about its own words,
        # not about what the last question already asked.
        and (not question.own or c.matched & question.own))]
    if not fitting:
        top = max(c.coverage for c in ranked)
        return Decision(True, [], related, None, f"no sentence covers the question (best {top:.2f})")
    named = [c for c in fitting if question.wants_names and (
        c.chunk.kind in question.fields or _PEOPLE_MENTION.search(c.text))]
    if named:  # "Which prisoners …?": the sentences (or header fields) naming them answer it; others only mention them
        fitting = named
    best = fitting[0]

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
        # Another sentence only for what the chosen ones lack (ALCE: every citation must earn its place).
        if not (c.matched - frozenset().union(*(o.matched for o in chosen))):
            continue
        chosen.append(c)
    if question.qtype == "why" and previous is not None and _CONSEQUENCE.search(best.text):
        # "We were therefore not in a position …": the reason is what comes before.
        before = previous(best)
        while before is not None and len(chosen) < MAX_SENTENCES:
            if not any(_same_place(before, o) for o in chosen):
                chosen.append(before)
            before = previous(before) if re.match(r"^\S+\s+(?:furthermore|also|moreover)\b", before.text) else None
    chosen = sorted(chosen, key=lambda c: (c.chunk.doc_id, c.start))
    return Decision(False, chosen, related, lead_span(question, chosen, best, similar), "answered")


def _proximity(text: str, matched: set[str], keys: dict) -> float:
    """Matched question words ÷ the fewest consecutive words of ``text`` that hold them all."""
    if len(matched) < 2:
        return 0.0
    hits: list[tuple[int, str]] = []
    for i, w in enumerate(re.findall(r"[A-Za-z]+", text)):
        wk = word_keys(w)
        for s in matched:
            if keys.get(s, {s}) & wk:
                hits.append((i, s))
    need, best, have, left = len(matched), None, {}, 0
    for right in range(len(hits)):
        have[hits[right][1]] = have.get(hits[right][1], 0) + 1
        while len(have) == need:
            span = hits[right][0] - hits[left][0] + 1
            best = span if best is None or span < best else best
            s = hits[left][1]
            have[s] -= 1
            if not have[s]:
                del have[s]
            left += 1
    return need / best if best else 0.0


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
    if question.qtype == "name":  # "the Judge's name": a name must stand next to him ("Judge Smith")
        return any(m.group(1) not in _NOT_NAMES and m.group(1).lower() not in question.text.lower()
                   for a in question.actors for m in re.finditer(rf"\b([A-Z][a-z]+)\s+{re.escape(a)}\b", c.text))
    if question.qtype == "where":  # a place: a name the question does not already give
        return any(w.lower() not in question.text.lower() for w in re.findall(r"\b[A-Z][a-z]+\b", c.text)
                   if w not in _NOT_NAMES)
    return True


def lead_span(question: Question, chosen: list[Candidate], best: Candidate, similar=None) -> str | None:
    """A short span of the best sentence that answers a who / when / how-many question.
    ``similar(word, text)``: the verb may be paraphrased ("Who proposed …" → "Oumansky … suggested")."""
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
    if question.qtype == "when":  # a date the question does not already give
        dates = [m for m in DATE_EXPR.finditer(text) if m.group(0) not in question.text]
        return dates[0].group(0) if dates else None
    if question.qtype == "count":
        spans = [m for m in COUNT.finditer(text) if not re.match(r"\d", m.group(0)) or " " in m.group(0)]
        near = _nearest(spans, text, question)
        return near.group(0) if near else None
    if question.qtype == "who":
        # Only "Who <verb>ed …?" with a name right before that verb, active voice: "Oumansky … suggested".
        verb = re.match(r"^\s*who\s+(?:(?:would|could|will|did|had|has|was|were)\s+)?([a-z]+)", question.text, re.I)
        if not verb or verb.group(1).lower() in ("is", "are", "was", "were", "be"):
            return None
        verb_keys = word_keys(verb.group(1))
        def same_verb(word: str) -> bool:
            if word_keys(word) & verb_keys:
                return True
            return (similar is not None and len(word) > 3 and word.islower()
                    and similar(verb.group(1).lower(), word) >= SYNONYM_MIN)

        anchors = [m.start() for m in re.finditer(r"[A-Za-z]+", text)
                   if same_verb(m.group(0)) and not re.search(r"\b(?:be|been|being|was|were|is|are)\s+$", text[: m.start()])]
        if not anchors:
            return None
        q_lower = question.text.lower()
        names: list[_Match] = []
        for m in _NAME.finditer(text):
            words = m.group(0).split()
            while words and words[0] in _NOT_NAMES:
                words = words[1:]
            if words and words[-1].lower() not in q_lower and words[-1] not in MONTHS and m.start() > 0:
                names.append(_Match(" ".join(words), m.start(), m.end()))
        before = [(a - n.end(), n) for a in anchors for n in names if 0 <= a - n.end() <= SUBJECT_DISTANCE]
        return min(before, key=lambda dn: (dn[0], dn[1].start()))[1].group(0) if before else None
    return None


def _nearest(matches: list, text: str, question: Question, before: bool = False, within: int = 10**6):
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
    return best if distance(best) < min(within, 10**6) else None


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
