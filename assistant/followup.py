"""Deterministic resolution of follow-up questions from the conversation.

"What was his title?" after "Who sent this telegram?" becomes "What was Welles's title?":
third-person pronouns are replaced by the previous answer's lead (a name, a title, a
list of names) or, failing that, by the proper names of the previous question.
Elliptical follow-ups ("And Pyk?", "What about the wives?") are joined to the previous
question. No model is involved, so the same conversation always resolves the same way.
"""

from __future__ import annotations

import re

_PERSON = {"he": "{a}", "him": "{a}", "she": "{a}", "his": "{a}’s", "hers": "{a}’s", "her": "{a}’s",
           "they": "{a}", "them": "{a}", "their": "{a}’s"}
_PRONOUN = re.compile(r"\b(" + "|".join(_PERSON) + r")\b", re.IGNORECASE)
_ELLIPTIC = re.compile(r"^\s*(?:and|what about|how about|and what about|what of)\b", re.IGNORECASE)
_NAME = re.compile(r"\b(?:Mrs?\.\s)?[A-Z][a-zà-ÿ’']+(?:\s(?:[A-Z][a-zà-ÿ’']+|[A-Z]\.))*")
_NOT_NAMES = {"What", "Who", "Whom", "Whose", "When", "Where", "Why", "How", "Which", "Did", "Does", "Do",
              "Was", "Were", "Is", "Are", "The", "This", "That", "In", "On", "And", "According", "Can"}


def antecedent(previous) -> str | None:
    """What a pronoun in the next question most likely points to."""
    lead = (previous.lead or "").split(",")[0].strip()  # "Welles, the Acting Secretary" → "Welles"
    if lead and not lead[0].isdigit():
        return lead
    names = [n for n in _NAME.findall(previous.resolved_question or previous.question) if n not in _NOT_NAMES]
    if names:
        return names[-1]
    return None


def resolve(question: str, history: list | None) -> str:
    """A standalone form of ``question`` given earlier ``Answer``s (newest last)."""
    if not history:
        return question
    previous = history[-1]
    if _ELLIPTIC.match(question):
        rest = _ELLIPTIC.sub("", question).strip(" ?.,")
        return f"{previous.resolved_question or previous.question} {rest}?".strip()
    if _PRONOUN.search(question):
        who = antecedent(previous)
        if who:
            return _PRONOUN.sub(lambda m: _PERSON[m.group(1).lower()].format(a=who), question)
        return f"{question} ({previous.resolved_question or previous.question})"
    return question
