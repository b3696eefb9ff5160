"""What a cold ``assistant ask`` loads: the heavy libraries it does not need stay off it.

Timing lives in bench/ (``bench/run.py --only cold``); this only checks which modules a
fresh process has imported once it has answered, so it is steady on a busy machine.
"""

import json
import subprocess
import sys

import pytest

from conftest import ROOT

# Loaded by an ask only through a mistake: the chat page, the torch route of the embedder
# (the ask embeds through the ONNX export), the ingest-time sentence splitter, the plain
# pipeline's wrappers, the LLM steps (no --llm / ASSISTANT_LLM asked for one), bm25s and
# scipy (text.tokenize is our own), and lemminflect (its lemmas come from the lemma table
# that the fixture's ingest made in the user cache).
NOT_ON_THE_ASK_PATH = (
    "gradio", "torch", "transformers", "sentence_transformers", "nltk", "langchain_huggingface",
    "bm25s", "scipy", "lemminflect",
    "langchain_chroma", "assistant.llm", "assistant.generative", "assistant.grounding",
    "langchain_core.language_models.chat_models",
)

ASK_AND_LIST_MODULES = """
import json, sys
from assistant.cli import main
question, index = sys.argv[1:3]
sys.argv = ["assistant", "ask", question, "--index", index]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def ask_in_fresh_process(index, question, env=None) -> tuple[str, set[str]]:
    proc = subprocess.run([sys.executable, "-c", ASK_AND_LIST_MODULES, question, str(index)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    *answer, modules = proc.stdout.strip().splitlines()
    return "\n".join(answer), set(json.loads(modules))


def test_a_cold_ask_answers_without_the_heavy_libraries_it_does_not_need(telegram_index):
    answer, modules = ask_in_fresh_process(telegram_index, "What did the Judge require?")
    assert "[1]" in answer  # it answered, with a citation
    assert "onnxruntime" in modules and "langchain_core.retrievers" in modules  # the real path ran
    loaded = sorted(m for m in NOT_ON_THE_ASK_PATH if m in modules)
    assert not loaded, f"a cold ask imported {loaded}"


@pytest.mark.parametrize("spec", ["", "  ", "none", "NONE", " off ", "false", "0", "none:x", ":m", "local",
                                  "local:model.gguf", "ollama:m", "OpenAI:gpt", "ollama", "bogus", "bogus:m"])
def test_the_no_llm_shortcut_reads_a_spec_as_parse_spec_does(spec, monkeypatch):
    from assistant.api import _wants_llm
    from assistant.errors import UserError
    from assistant.llm import parse_spec

    try:
        wanted = parse_spec(spec).kind != "none"
    except UserError:
        wanted = True  # an invalid spec goes on to make_llm, which reports it
    assert _wants_llm(spec) == wanted
    monkeypatch.setenv("ASSISTANT_LLM", spec)  # the same through the environment (spec None)
    assert _wants_llm(None) == wanted


def test_the_shortcut_still_checks_the_timeout_setting(monkeypatch):
    from assistant.api import _make_llm
    from assistant.errors import UserError

    monkeypatch.delenv("ASSISTANT_LLM", raising=False)
    monkeypatch.delenv("ASSISTANT_LLM_TIMEOUT", raising=False)
    assert _make_llm(None) is None
    monkeypatch.setenv("ASSISTANT_LLM_TIMEOUT", "soon")  # as make_llm("none") reports it
    with pytest.raises(UserError, match="ASSISTANT_LLM_TIMEOUT"):
        _make_llm(None)
