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
              "Was", "Were", "Is", "Are", "The", "This", "That", "In", "On", "And", "According", "Can",
              "Has", "Had", "Have", "Could", "Would", "Should", "Will", "It"}


def antecedent(previous) -> str | None:
    """What a pronoun in the next question most likely points to."""
    lead = (previous.lead or "").split(",")[0].strip()  # "Welles, the Acting Secretary" → "Welles"
    if lead and not lead[0].isdigit():
        return lead
    names = []
    for n in _NAME.findall(previous.resolved_question or previous.question):
        words = n.split()
        while words and words[0] in _NOT_NAMES:  # "Has Gorin" → "Gorin"
            words = words[1:]
        if words:
            names.append(" ".join(words))
    if names:
        return names[0]  # the first name is most often the subject: "What did the Judge require of Gorin?"
    return None


def resolve(question: str, history: list | None) -> str:
    """A standalone form of ``question`` given earlier ``Answer``s (newest last)."""
    if not history:
        return question
    previous = history[-1]
    if _ELLIPTIC.match(question) or _content_words(question) <= 1:
        # "And Pyk?", "On what condition?": too little to stand alone; read with the last question.
        rest = _ELLIPTIC.sub("", question).strip(" ?.,")
        return f"{previous.resolved_question or previous.question} {rest}?".strip()
    plural = re.search(r"\b(they|them|their)\b", question, re.I)
    group = re.match(r"^\s*(?:which|what)\s+([a-z]+s)\b", previous.resolved_question or previous.question, re.I)
    if plural and group:  # "Which prisoners …?" then "How many of them …?": them = the prisoners
        words = {"they": "the {g}", "them": "the {g}", "their": "the {g}’"}
        return _PRONOUN.sub(lambda m: words.get(m.group(1).lower(), m.group(0)).format(g=group.group(1).lower())
                            if m.group(1).lower() in words else m.group(0), question)
    if _PRONOUN.search(question):
        who = antecedent(previous)
        if who:
            return _PRONOUN.sub(lambda m: _PERSON[m.group(1).lower()].format(a=who), question)
        return f"{question} ({previous.resolved_question or previous.question})"
    return question


_FUNCTION = set(
    "a an the on in at of to for with by from and or but what which who whom whose when where why how "
    "did does do was were is are be been it this that these those any some about there here".split()
)


def _content_words(question: str) -> int:
    return sum(1 for w in re.findall(r"[A-Za-z]+", question.lower()) if w not in _FUNCTION)
