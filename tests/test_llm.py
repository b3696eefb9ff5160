"""LLM backends: the spec string, and the real LangChain clients over real sockets."""

from __future__ import annotations

import pytest
from assistant.errors import UserError
from assistant.llm import LLMSpec, LocalChatModel, llm_timeout, local_gguf_path, make_llm, parse_spec
from langchain_core.messages import HumanMessage, SystemMessage

from fake_llm_servers import OllamaServer, OpenAIServer, recorded

TEXT = "Gorin has already left the United States [1]."
MESSAGES = [SystemMessage("Answer from the passages."), HumanMessage("[1] Gorin left.\n\nQuestion: Has Gorin left?")]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("ASSISTANT_LLM", "ASSISTANT_LLM_TIMEOUT", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "ASSISTANT_OPENAI_BASE_URL", "ASSISTANT_OPENAI_API_KEY", "OLLAMA_HOST", "ASSISTANT_OLLAMA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.mark.parametrize("spec,expected", [
    (None, LLMSpec("none")), ("", LLMSpec("none")), ("none", LLMSpec("none")), ("NONE", LLMSpec("none")),
    ("local", LLMSpec("local")), ("ollama:llama3.2:1b", LLMSpec("ollama", "llama3.2:1b")),
    ("openai:gpt-4o-mini", LLMSpec("openai", "gpt-4o-mini")),
])
def test_spec_strings(spec, expected):
    assert parse_spec(spec) == expected


def test_spec_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ASSISTANT_LLM", "ollama:qwen")
    assert parse_spec(None) == LLMSpec("ollama", "qwen")
    assert parse_spec("none") == LLMSpec("none")  # an explicit value wins


@pytest.mark.parametrize("spec", ["gpt4", "ollama", "openai:", "llamacpp:x"])
def test_bad_spec_is_a_user_error_naming_it(spec):
    with pytest.raises(UserError, match="--llm"):
        parse_spec(spec)


def test_timeout_from_environment(monkeypatch):
    assert llm_timeout() == 60.0
    monkeypatch.setenv("ASSISTANT_LLM_TIMEOUT", "2.5")
    assert llm_timeout() == 2.5
    assert llm_timeout(7) == 7.0
    monkeypatch.setenv("ASSISTANT_LLM_TIMEOUT", "soon")
    with pytest.raises(UserError, match="ASSISTANT_LLM_TIMEOUT"):
        llm_timeout()


def test_none_is_no_model():
    assert make_llm("none") is None


def test_openai_needs_a_key_or_a_base_url():
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        make_llm("openai:gpt-4o-mini")


def test_local_model_file_is_found_in_the_installed_package():
    path = local_gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    model = make_llm("local")
    assert isinstance(model, LocalChatModel) and model.gguf_path == str(path.resolve())


def test_local_with_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such GGUF"):
        make_llm(f"local:{tmp_path / 'nope.gguf'}")


def test_openai_backend_over_a_real_socket(monkeypatch):
    with OpenAIServer(recorded(TEXT)) as server:
        monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.url)
        llm = make_llm("openai:recorded-model", timeout=5)
        assert llm.invoke(MESSAGES).content == TEXT
        pieces = [c.content for c in llm.stream(MESSAGES)]
        assert len(pieces) > 3 and "".join(pieces) == TEXT
    plain, streamed = server.requests
    assert plain["model"] == "recorded-model" and plain["temperature"] == 0
    assert streamed["stream"] is True
    assert [m["role"] for m in plain["messages"]] == ["system", "user"]
    assert plain["messages"][1]["content"] == MESSAGES[1].content


def test_openai_key_from_environment_is_sent(monkeypatch):
    def responder(messages):
        return "ok"

    with OpenAIServer(responder) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
        llm = make_llm("openai:m", timeout=5)
        assert llm.openai_api_key.get_secret_value() == "sk-test-123"
        assert llm.invoke(MESSAGES).content == "ok"


def test_ollama_backend_over_a_real_socket(monkeypatch):
    with OllamaServer(recorded(TEXT)) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        llm = make_llm("ollama:recorded-model", timeout=5)
        assert llm.invoke(MESSAGES).content == TEXT
        pieces = [c.content for c in llm.stream(MESSAGES)]
        assert "".join(pieces) == TEXT and len([p for p in pieces if p]) > 3
    body = server.requests[-1]
    assert body["_path"] == "/api/chat" and body["model"] == "recorded-model"
    assert body["options"]["temperature"] == 0
    assert body["messages"][0] == {"role": "system", "content": MESSAGES[0].content}


@pytest.mark.slow
def test_local_model_is_greedy_and_streams_what_it_returns():
    llm = make_llm("local", timeout=60)
    llm.max_new_tokens = 24
    first = llm.invoke(MESSAGES).content
    assert first.strip()
    streamed = "".join(c.content for c in llm.stream(MESSAGES))
    assert streamed == first  # greedy: the same prompt gives the same text


@pytest.mark.slow
def test_local_model_honours_stop_strings():
    llm = make_llm("local", timeout=60)
    llm.max_new_tokens = 24
    full = llm.invoke(MESSAGES).content
    word = full.split()[1] if len(full.split()) > 1 else full
    cut = llm.invoke(MESSAGES, stop=[word]).content
    assert cut == full[: full.find(word)]
