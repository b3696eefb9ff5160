"""Prompt templates: plain text files in ``prompts/``, loaded at run time and rendered strictly.

A template is Python ``str.format`` text (``{name}`` is a variable, ``{{`` a literal brace).
Rendering checks the variables both ways: a variable the template needs but the caller did
not give is an error, and so is a variable the caller gives that the template never uses
(a template edited so that it silently drops the passages must not go unnoticed).

``ASSISTANT_PROMPTS_DIR`` points at another folder of templates with the same file names,
so wording can be changed without touching code.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

from assistant.errors import UserError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"

# name -> the variables its template must use, all of them and no others
TEMPLATES: dict[str, frozenset[str]] = {
    "abstention": frozenset({"subject", "verb"}),
    "answer_system": frozenset({"subject_phrase", "abstention"}),
    "answer_user": frozenset({"passages", "question"}),
    "rewrite_system": frozenset({"subject_phrase"}),
    "rewrite_user": frozenset({"history", "question"}),
}


class TemplateError(UserError):
    """A prompt template that is missing, unreadable, or disagrees with its variables."""


def prompts_dir() -> Path:
    return Path(os.environ.get("ASSISTANT_PROMPTS_DIR") or PROMPTS_DIR)


def template_path(name: str) -> Path:
    if name not in TEMPLATES:
        raise TemplateError(f"unknown prompt template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    return prompts_dir() / f"{name}.txt"


def load_template(name: str) -> str:
    path = template_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"prompt template {path}: cannot read ({exc.strerror or exc})") from None
    return text.rstrip("\n")


def template_variables(text: str, name: str = "template") -> set[str]:
    """The ``{variables}`` a template uses (format specs and attribute access are refused)."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:  # a lone "{" or "}"
        raise TemplateError(f"prompt template {name}: {exc}") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise TemplateError(
                f"prompt template {name}: use plain {{name}} variables, not {{{field}}}"
            )
        names.add(field)
    return names


def render_text(text: str, name: str = "template", **variables: str) -> str:
    """Render ``text`` with exactly the variables it uses."""
    used = template_variables(text, name)
    missing = used - variables.keys()
    unused = variables.keys() - used
    if missing:
        raise TemplateError(f"prompt template {name}: no value for {{{', '.join(sorted(missing))}}}")
    if unused:
        raise TemplateError(
            f"prompt template {name}: does not use {{{', '.join(sorted(unused))}}}"
        )
    return text.format(**{k: str(v) for k, v in variables.items()})


def render(name: str, **variables: str) -> str:
    """Load template ``name`` and render it; its variables must be exactly ``TEMPLATES[name]``."""
    text = load_template(name)
    used = template_variables(text, str(template_path(name)))
    if used != TEMPLATES[name]:
        raise TemplateError(
            f"prompt template {template_path(name)}: uses {{{', '.join(sorted(used))}}}, "
            f"expected {{{', '.join(sorted(TEMPLATES[name]))}}}"
        )
    return render_text(text, str(template_path(name)), **variables)


def abstention(subject: str = "telegram", plural: bool = False) -> str:
    """The sentence that says the source does not answer, e.g. "The telegram does not say."

    ``subject`` is "telegram" for the single seed document or "documents" for a collection,
    ``plural`` True for a collection (``AnswerChain.multi_document``).
    """
    return render("abstention", subject=subject, verb="do" if plural else "does")


def subject_phrase(subject: str, plural: bool = False) -> str:
    """How the system prompts name the source: "a telegram" / "a collection of documents"."""
    return "a collection of documents" if plural else f"a {subject}"
