"""Deterministic resolution of follow-up questions from the conversation's last turn.

A follow-up refers to what was *just said*:

- "that letter", "this request" (a demonstrative and a noun) → the noun as the previous
  answer's cited text says it: "Who was that letter addressed to?" after an answer quoting
  "… a letter from the Department of State addressed to Justice …" becomes "Who was the
  letter from the Department of State addressed to Justice addressed to?";
- he / his / she / her / they → the previous answer's lead (a name) or, failing that, the
  first name of the previous answer's quotation or question;
- it / that alone, or a question of one or two content words ("Why?", "And the date?")
  → read with the previous question: "Why? (What did the Judge require?)".

``resolve`` returns the standalone text, the user's own words and the previous answer's
cited spans (the answer step prefers candidates near them). No model is involved, so the
same conversation always resolves the same way. Word lists: ``assistant/data``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.text import capitalized, pairs, word_keys, words

WINDOW_WORDS = 8  # words of the previous quotation that stand for "that <noun>"


@dataclass(frozen=True)
class Resolved:
    text: str  # the standalone question
    own: str  # what the user typed
    followup: bool = False
    context: tuple[tuple[str, int, int], ...] = ()  # (doc_id, start, end) the previous answer cited
    context_text: str = ""


def _content_words(question: str) -> list[str]:
    fw = words("function_words") | words("question_words")
    return [w for w in re.findall(r"[A-Za-z]+", question.lower()) if w not in fw]


def antecedent(previous) -> str | None:
    """Who a personal pronoun in the next question most likely points to."""
    lead = (previous.lead or "").strip()
    named = re.search(r"\(([A-Z][^()]*)\)", lead)  # "the Ambassador in the Soviet Union (Steinhardt)"
    if named:
        return named.group(1)
    head = lead.split(",")[0].strip()  # "Welles, the Acting Secretary of State" → "Welles"
    if head and head[0].isupper() and len(head) <= 60:
        return head
    if lead and capitalized(lead):
        return capitalized(lead)[0]
    for source in [c.quote for c in previous.citations] + [previous.resolved_question or previous.question]:
        names = capitalized(source)
        if names:
            return names[0]
    return None


def _window(quote: str, noun: str) -> str | None:
    """The words of ``quote`` from the noun (or its kin) on, up to WINDOW_WORDS."""
    keys = word_keys(noun)
    toks = list(re.finditer(r"[A-Za-z][A-Za-z'’-]*", quote))
    for i, t in enumerate(toks):
        if word_keys(t.group(0)) & keys:
            end = toks[min(len(toks), i + WINDOW_WORDS) - 1].end()
            return quote[t.start() : end]
    return None


def resolve(question: str, history: list | None) -> Resolved:
    if not history:
        return Resolved(question, question)
    previous = history[-1]
    prev_q = previous.resolved_question or previous.question
    context = tuple((c.doc_id, c.start, c.end) for c in previous.citations)
    quotes = " ".join(c.quote for c in previous.citations)
    lower = question.lower()
    demo = "|".join(sorted(words("demonstratives") - {"the-same"}))
    m = re.search(rf"\b(?:{demo})\s+([a-z]+)\b", lower)
    if m and m.group(1) not in words("function_words") and m.group(1) not in words("question_words"):
        phrase = _window(quotes, m.group(1))
        if phrase:
            text = question[: m.start()] + "the " + phrase + question[m.end():]
            return Resolved(text, question, True, context, quotes)
    kinds = pairs("pronouns")
    found = [(mm, kinds[mm.group(0).lower()]) for mm in re.finditer(r"\b[A-Za-z]+\b", question)
             if mm.group(0).lower() in kinds]
    person = [(mm, k) for mm, k in found if k.startswith("person")]
    plural = [(mm, k) for mm, k in found if k.startswith("plural")]
    if person or plural:
        who = antecedent(previous)
        if who:
            def sub(mm):
                k = kinds.get(mm.group(0).lower(), "")
                if not k.startswith(("person", "plural")):
                    return mm.group(0)
                return f"{who}’s" if k.endswith("possessive") else who
            return Resolved(re.sub(r"\b[A-Za-z]+\b", sub, question), question, True, context, quotes)
    if found or len(_content_words(question)) <= 1 or re.match(r"^\s*(and|so|but|what about|how about)\b", lower):
        rest = question.strip()
        return Resolved(f"{rest} ({prev_q.strip()})", question, True, context, quotes)
    return Resolved(question, question, False, context, quotes)
