"""Prompt templates: each renders with exactly its variables; a missing or unused one fails."""

from __future__ import annotations

import pytest
from assistant import prompts
from assistant.prompts import TEMPLATES, TemplateError


def _values(name: str) -> dict[str, str]:
    return {v: f"<{v.upper()}>" for v in TEMPLATES[name]}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_renders_every_variable(name):
    values = _values(name)
    text = prompts.render(name, **values)
    for value in values.values():
        assert value in text
    assert "{" not in text and "}" not in text


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_missing_variable_fails(name):
    values = _values(name)
    values.pop(sorted(values)[0])
    with pytest.raises(TemplateError, match="no value for"):
        prompts.render(name, **values)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_unused_variable_fails(name):
    with pytest.raises(TemplateError, match="does not use"):
        prompts.render(name, **_values(name), extra="x")


def test_edited_template_that_drops_a_variable_fails(tmp_path, monkeypatch):
    for name in TEMPLATES:
        (tmp_path / f"{name}.txt").write_text(prompts.load_template(name), encoding="utf-8")
    (tmp_path / "answer_user.txt").write_text("Question: {question}\n", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_PROMPTS_DIR", str(tmp_path))
    with pytest.raises(TemplateError, match="passages"):
        prompts.render("answer_user", passages="[1] x", question="q?")


def test_templates_are_read_at_run_time(tmp_path, monkeypatch):
    (tmp_path / "abstention.txt").write_text("Nothing in the {subject} {verb} answer that.\n", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_PROMPTS_DIR", str(tmp_path))
    assert prompts.abstention("telegram") == "Nothing in the telegram does answer that."


def test_abstention_wording_agrees_with_its_subject():
    assert prompts.abstention("telegram") == "The telegram does not say."
    assert prompts.abstention("documents", plural=True) == "The documents do not say."
    assert prompts.abstention("document") == "The document does not say."


def test_a_collection_is_named_as_one_in_the_system_prompts():
    assert prompts.subject_phrase("telegram") == "a telegram"
    assert prompts.subject_phrase("documents", plural=True) == "a collection of documents"


def test_bad_template_syntax_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "abstention.txt").write_text("The {subject} {verb not say.", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_PROMPTS_DIR", str(tmp_path))
    with pytest.raises(TemplateError, match="abstention"):
        prompts.abstention("telegram")


def test_missing_template_file_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_PROMPTS_DIR", str(tmp_path))
    with pytest.raises(TemplateError, match=r"rewrite_user\.txt"):
        prompts.render("rewrite_user", history="", question="q?")
