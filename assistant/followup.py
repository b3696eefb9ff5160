"""Deterministic resolution of follow-up questions from the conversation's last turn.

A follow-up refers to what was *just said* — the last question and the last answer:

- "that letter", "this request" (a demonstrative and a noun) → the noun phrase as the previous
  answer's quotation (else the previous question) says it: "Who was that letter addressed
  to?" after an answer quoting "… a letter from the Department of State addressed to Justice …"
  becomes "Who was the letter from the Department of State addressed to?";
- he / him / his / she / her → a name: the previous answer's lead when the previous question
  asked who; else the previous question's subject (the name after its auxiliary: "What did
  Aranha say …?"), else its first name, else the first name of the previous answer;
- they / them / their → the previous question's plural noun ("Which prisoners …?" → "the
  prisoners"), when it has one;
- it / they / that alone, or a question of one or two content words ("Why?", "And the date?")
  → read with the previous question: "Why? (What did the Judge require?)" — over a
  collection, with the previous answer's documents instead (see below).

A later turn that names nothing the previous turn did not already show (no new proper name)
continues the conversation: ``documents`` holds the documents the previous answer cited, and
the chain retrieves from them only. ``resolve`` also returns the user's own words and the
previous answer's cited spans (the answer step prefers candidates near them). No model is
involved, so the same conversation always resolves the same way. Word lists: ``assistant/data``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from assistant.text import function_words_title, pairs, word_keys, word_sets, words

MAX_PHRASE_WORDS = 8  # words of a noun phrase that stand for "that <noun>"
_TOKEN = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'’-]*\.?")
_PAREN_TAIL = re.compile(r"\s*\((?:[^()]|\([^()]*\))*\)\s*$")


@dataclass(frozen=True)
class Resolved:
    text: str  # the standalone question
    own: str  # what the user typed
    followup: bool = False
    context: tuple[tuple[str, int, int], ...] = ()  # (doc_id, start, end) the previous answer cited
    context_text: str = ""
    documents: tuple[str, ...] = ()  # the conversation's documents: retrieve from these only


def _content_words(question: str) -> list[str]:
    fw = words("function_words") | words("question_words")
    return [w for w in re.findall(r"[A-Za-z]+", question.lower()) if w not in fw]


def core(question: str) -> str:
    """A resolved question without the previous question appended to it in parentheses."""
    return _PAREN_TAIL.sub("", question).strip() or question.strip()


def names(text: str) -> list[tuple[int, str]]:
    """Proper-name phrases of ``text`` with their offsets, in order: runs of capitalized words,
    joined by a name connector ("Committee of Experts") or an abbreviation ("Mrs. Habicht");
    a possessive ending is dropped; opening function words ("When", "The"), month names and a
    lone dictionary word capitalized only because it opens the sentence ("Besides") are not names."""
    skip = function_words_title() | {w.title() for w in words("months")}
    connectors = words("name_connectors")
    runs: list[list[re.Match]] = []
    prev_end = -1
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        joined = bool(runs) and runs[-1] != [] and prev_end >= 0 and not text[prev_end : m.start()].strip()
        prev_end = m.end()
        if tok[0].isupper() and tok.rstrip(".") not in skip:
            if not joined:
                runs.append([])
            runs[-1].append(m)
            if tok.endswith(".") and len(tok) > 4:  # a full stop ends the sentence, not an abbreviation
                runs.append([])
        elif joined and tok.lower() in connectors:
            runs[-1].append(m)
        elif runs and runs[-1]:
            runs.append([])
    return [found for run in runs if (found := _name_of(text, run, connectors))]


def _name_of(text: str, run: list[re.Match], connectors: frozenset[str]) -> tuple[int, str] | None:
    while run and run[-1].group(0).lower() in connectors:
        run = run[:-1]
    if not run:
        return None
    s = run[0].start()
    initial = not text[:s].strip() or text[:s].rstrip()[-1] in ".?!"
    if len(run) == 1 and initial and _dictionary_word(run[0].group(0)):
        return None
    phrase = re.sub(r"['’]s?$", "", text[s : run[-1].end()].rstrip("."))
    return (s, phrase) if len(phrase) > 1 else None


def _lead_name(previous) -> str | None:
    lead = (previous.lead or "").strip()
    named = re.search(r"\(([A-Z][^()]*)\)", lead)  # "the Ambassador in the Soviet Union (Steinhardt)"
    if named:
        return named.group(1)
    found = names(lead.split(",")[0])  # "Welles, the Acting Secretary of State" → "Welles"
    return found[0][1] if found else None


def antecedent(previous, question: str = "") -> str | None:
    """Who a personal pronoun (he, his, she, her) in the next question most likely points to:
    whom the previous question's own pronoun of the same person meant ("which country was she
    …?" read as "… Mrs. Habicht …", then "did she …?"); else the person a who-question's answer
    named; else the previous question's subject; else the first name with a surname (a word no
    dictionary has) in the previous question or answer; else the previous question's first
    name; else the previous answer's lead or first name."""
    kept = _kept_referent(previous, question)
    if kept:
        return kept
    prev_q = previous.resolved_question or previous.question  # its own words, then what it was read with
    found = names(prev_q)
    quoted = [n for c in ([] if previous.abstained else previous.citations) for _, n in names(c.quote)]
    answered = None if previous.abstained else _lead_name(previous)
    return (_answered_who(previous, found, quoted, answered) or _subject(prev_q, found)
            or next((n for n in [n for _, n in found] + quoted if _has_surname(n)), None)
            or (found[0][1] if found else None) or answered or (quoted[0] if quoted else None))


_WORD = re.compile(r"[\w’']+|[^\w\s]")


def _kept_referent(previous, question: str) -> str | None:
    """What the previous question's pronoun was replaced by when it was resolved, if ``question``
    uses a pronoun of the same person: a repeated pronoun keeps pointing to the same person."""
    typed, read = previous.question, previous.resolved_question
    if not question or not read or read == typed:
        return None
    asked = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
    same = [s for s in word_sets("pronoun_sets") if s & asked]
    a, b = list(_WORD.finditer(typed)), list(_WORD.finditer(read))
    matcher = difflib.SequenceMatcher(a=[m.group(0) for m in a], b=[m.group(0) for m in b], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace" and i2 == i1 + 1 and any(a[i1].group(0).lower() in s for s in same):
            referent = re.sub(r"['’]s?$", "", read[b[j1].start() : b[j2 - 1].end()])
            return referent or None
    return None


def _answered_who(previous, found, quoted: list[str], answered: str | None) -> str | None:
    """The person the answer to "who …?" or "which …?" named: its lead, else the first name of
    its quotation that the question did not give."""
    asked = {w.lower() for w in re.findall(r"[A-Za-z'’]+", previous.question)}
    if previous.abstained or not asked & words("identity_questions"):
        return None
    if answered:
        return answered
    given = {k for _, n in found for w in n.split() for k in word_keys(w)}
    return next((n for n in quoted if not {k for w in n.split() for k in word_keys(w)} <= given), None)


def _subject(question: str, found: list[tuple[int, str]]) -> str | None:
    """The name right after the question's auxiliary ("What did [the] Aranha say …?")."""
    aux = words("auxiliaries")
    for start, name in found:
        before = [w.lower() for w in re.findall(r"[A-Za-z]+", question[:start])][-2:]
        if before and (before[-1] in aux or (len(before) == 2 and before[0] in aux and before[1] in words("articles"))):
            return name
    return None


def _has_surname(name: str) -> bool:
    return any(not _dictionary_word(w) for w in re.findall(r"[A-Za-zÀ-ÿ]+", name))


def noun_phrase(text: str, noun: str) -> str | None:
    """The noun phrase of ``text`` around the first word sharing a key with ``noun``: the
    capitalized words before it and, after it, prepositional phrases ("of State", "from the
    Department of State") up to the first verb or clause word, at most MAX_PHRASE_WORDS."""
    keys = word_keys(noun)
    toks = list(_TOKEN.finditer(text))
    fw = words("function_words")
    preps = words("name_connectors") | words("phrase_links")
    for i, t in enumerate(toks):
        if not word_keys(t.group(0).rstrip(".")) & keys:
            continue
        lo = i
        while lo > 0 and toks[lo - 1].group(0)[0].isupper() and toks[lo - 1].group(0) not in function_words_title() \
                and text[toks[lo - 1].end() : toks[lo].start()].strip() == "":
            lo -= 1
        hi = i + 1
        while hi < len(toks) and hi - lo < MAX_PHRASE_WORDS:
            w = toks[hi].group(0)
            if text[toks[hi - 1].end() : toks[hi].start()].strip():  # punctuation ends the phrase
                break
            if w.lower() in preps or w[0].isupper():
                hi += 1
                continue
            if w.lower() in fw or _verb_form(w):
                break
            hi += 1
        while hi - 1 > i and (toks[hi - 1].group(0).lower() in preps):
            hi -= 1
        return text[toks[lo].start() : toks[hi - 1].end()].rstrip(".")
    return None


def _dictionary_word(word: str) -> bool:
    """An English word (it has lemmas): as a sentence's first word, capitalized only by position."""
    from lemminflect import getAllLemmas

    return bool(getAllLemmas(word.rstrip(".").lower()))


def plural_referent(previous) -> str | None:
    """What "they"/"them" points to: the first plural noun of the previous question ("Which
    prisoners …?" → "the prisoners")."""
    from lemminflect import getAllLemmas

    skip = words("function_words") | words("question_words")
    for m in re.finditer(r"[A-Za-z]+", core(previous.resolved_question or previous.question)):
        w = m.group(0)
        if w.lower() in skip or w[0].isupper():
            continue
        lemmas = getAllLemmas(w.lower())
        if set(lemmas) == {"NOUN"} and lemmas["NOUN"][0] != w.lower():
            return f"the {w}"
    return None


def _verb_form(word: str) -> bool:
    from lemminflect import getAllLemmas

    kinds = set(getAllLemmas(word.lower()))
    return bool(kinds) and kinds <= {"VERB", "AUX"}


def _documents(history: list) -> tuple[str, ...]:
    """The conversation's documents, most recent first: those each turn since the conversation's
    topic last changed cited, showed as related or retrieved."""
    docs: list[str] = []
    for i in range(len(history) - 1, -1, -1):
        turn = history[i]
        docs += [c.doc_id for c in turn.citations] + [c.doc_id for c in turn.related] + [p.doc_id for p in turn.passages]
        if i == 0 or not _continues(turn.question, history[i - 1]):
            break
    return tuple(dict.fromkeys(docs))


def _continues(question: str, previous) -> bool:
    """No proper name of ``question`` is new to the previous turn (its question, answer and passages)."""
    seen = " ".join([previous.resolved_question or previous.question, previous.answer]
                    + [p.text for p in previous.passages])
    seen_keys = {k for w in re.findall(r"[A-Za-zÀ-ÿ]+", seen) if w[:1].isupper() for k in word_keys(w)}
    for _, name in names(question):
        for w in re.findall(r"[A-Za-zÀ-ÿ]+", name):
            if w[:1].isupper() and not word_keys(w) & seen_keys:
                return False
    return True


def resolve(question: str, history: list | None, collection: bool = False) -> Resolved:
    """``collection``: the conversation is over several documents, so a continuing turn is
    retrieved from the last turn's documents, and that restriction (not the last question's
    words, which would draw the last answer back) is what an elliptical question is read with."""
    if not history:
        return Resolved(question, question)
    previous = history[-1]
    prev_q = core(previous.resolved_question or previous.question)
    context = tuple((c.doc_id, c.start, c.end) for c in previous.citations)
    quotes = " ".join(c.quote for c in previous.citations)
    docs = _documents(history) if _continues(question, previous) else ()
    text = _substituted(question, previous, quotes, prev_q)
    if text is not None:
        return Resolved(text, question, True, context, quotes, docs)
    kinds = pairs("pronouns")
    pronoun = any(w.lower() in kinds for w in re.findall(r"[A-Za-z]+", question))
    opening = "|".join(w.replace("-", r"\s+") for w in sorted(words("continuations")))
    if pronoun or len(_content_words(question)) <= 1 or re.match(rf"^\s*(?:{opening})\b", question.lower()):
        text = question if collection and docs else f"{question.strip()} ({prev_q})"
        return Resolved(text, question, True, context, quotes, docs)
    return Resolved(question, question, False, context, quotes, docs)


def _substituted(question: str, previous, quotes: str, prev_q: str) -> str | None:
    """The question with "that <noun>", he/his/she/her or them/their replaced by what they
    refer to, or None when none of them is in it (or their referent is not found)."""
    demo = "|".join(sorted(words("demonstratives") - {"the-same"}))
    m = re.search(rf"\b(?:{demo})\s+([a-z]+)\b", question.lower())
    if m and m.group(1) not in words("function_words") | words("question_words"):
        phrase = noun_phrase(quotes, m.group(1)) or noun_phrase(prev_q, m.group(1))
        if phrase:  # "the letter from …"; a possessive needs no article ("Colombia's Foreign Minister")
            rest = _after_phrase(question[m.end():], phrase, m.group(1))
            return question[: m.start()] + ("" if re.search(r"['’]s\b", phrase) else "the ") + phrase + rest
    kinds = pairs("pronouns")
    found = {mm.start(): kinds[mm.group(0).lower()] for mm in re.finditer(r"\b[A-Za-z]+\b", question)
             if mm.group(0).lower() in kinds}
    # A possessive after a name of the question itself is that name's ("Where did Lane repeat
    # his telegram?"): it is left as it is.
    own = [at for at, _ in names(question)]
    person = {s: k for s, k in found.items() if k.startswith("person")
              and not (k.endswith("possessive") and any(at < s for at in own))}
    who = antecedent(previous, question) if person else None
    if who:
        return _replace(question, person, who)
    plural = {s: k for s, k in found.items() if k.startswith("plural") and question[s : s + 4].lower() != "they"}
    them = plural_referent(previous) if plural else None
    return _replace(question, plural, them) if them else None


def _after_phrase(rest: str, phrase: str, noun: str) -> str:
    """What follows "that <noun>" in the question, less the words the phrase already gives after
    its noun ("those staff conversations" → "the staff conversations", not "… conversations conversations")."""
    said = [w.lower() for w in re.findall(r"[A-Za-zÀ-ÿ'’-]+", phrase)]
    keys = word_keys(noun)
    at = next((i for i, w in enumerate(said) if word_keys(w) & keys), len(said))
    for w in said[at + 1 :]:
        m = re.match(r"\s*([A-Za-zÀ-ÿ'’-]+)", rest)
        if not m or m.group(1).lower() != w:
            break
        rest = rest[m.end() :]
    return rest


def _replace(question: str, at: dict[int, str], referent: str) -> str:
    """``question`` with the pronouns starting at ``at`` (offset → kind) replaced by ``referent``."""
    def sub(mm: re.Match) -> str:
        kind = at.get(mm.start())
        if kind is None:
            return mm.group(0)
        if kind.endswith("possessive"):
            return f"{referent}’" if referent.endswith("s") and not referent[:1].isupper() else f"{referent}’s"
        return referent
    return re.sub(r"\b[A-Za-z]+\b", sub, question)
