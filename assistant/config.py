"""Settings from arguments and the environment, resolved in one place."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_ROOT / "seeds"
PROMPTS_DIR = PROJECT_ROOT / "prompts"
DEFAULT_COLLECTION = "telegram"
MAX_QUESTION_CHARS = 2000
DEFAULT_K = 5  # passages retrieved per question
DEFAULT_MAX_FILE_MB = 100  # ingest refuses larger files (ASSISTANT_MAX_FILE_MB raises it)

DEFAULT_TIMEOUT_S = 60.0  # one LLM answer (ASSISTANT_LLM_TIMEOUT)
SPEC_HELP = "none, local, local:FILE.gguf, ollama:MODEL or openai:MODEL"

# Chroma names: 3-512 chars of [a-zA-Z0-9._-], starting and ending alphanumeric.
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,60})[A-Za-z0-9]$")


def default_index_dir() -> Path:
    """``ASSISTANT_INDEX_DIR``, else ``.index/`` at the project root (git-ignored)."""
    env = os.environ.get("ASSISTANT_INDEX_DIR")
    return Path(env) if env else PROJECT_ROOT / ".index"


@dataclass(frozen=True)
class Settings:
    index_dir: Path
    collection: str = DEFAULT_COLLECTION
    chroma_url: str | None = None  # ASSISTANT_CHROMA_URL: use a Chroma server instead of a folder
    # ASSISTANT_KEYWORD_INDEX: the folder of the keyword index (one SQLite file per collection),
    # shared by the ingesting process and the answering ones; default INDEX/keywords
    keyword_index: Path | None = None

    @classmethod
    def resolve(cls, index: str | Path | None = None, collection: str | None = None) -> Settings:
        name = collection or os.environ.get("ASSISTANT_COLLECTION") or DEFAULT_COLLECTION
        if not _COLLECTION_NAME.match(name):
            raise UserError(
                f"invalid collection name {name!r}: use 3-62 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        index_dir = Path(index) if index else default_index_dir()
        keywords = os.environ.get("ASSISTANT_KEYWORD_INDEX")
        return cls(index_dir=index_dir, collection=name, chroma_url=os.environ.get("ASSISTANT_CHROMA_URL") or None,
                   keyword_index=Path(keywords) if keywords else None)


def max_file_bytes() -> int:
    """The largest document file ingest accepts: ``ASSISTANT_MAX_FILE_MB`` (default 100)."""
    raw = os.environ.get("ASSISTANT_MAX_FILE_MB", "").strip()
    if not raw:
        return DEFAULT_MAX_FILE_MB * 1_000_000
    try:
        mb = float(raw)
        if mb <= 0:
            raise ValueError
    except ValueError:
        raise UserError(f"invalid ASSISTANT_MAX_FILE_MB {raw!r}: a positive number of megabytes, e.g. 500") from None
    return int(mb * 1_000_000)


def check_question(question: str) -> str:
    q = (question or "").strip()
    try:
        q.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Bytes that are not UTF-8 reach Python as lone surrogates ("\udcff" for 0xff).
        bad = q[exc.start]
        byte = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else f"character U+{ord(bad):04X}"
        raise UserError(f"question is not valid UTF-8 text ({byte} at character {exc.start + 1}): "
                        f"{q.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')[:60]!r}") from None
    if not q:
        raise UserError("empty question: ask something about the document")
    if len(q) > MAX_QUESTION_CHARS:
        raise UserError(f"question too long: {len(q)} characters (the limit is {MAX_QUESTION_CHARS})")
    return q


@dataclass(frozen=True)
class LLMSpec:
    kind: str  # "none" | "local" | "ollama" | "openai"
    model: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.model}" if self.model else self.kind


def parse_spec(spec: str | None) -> LLMSpec:
    """``--llm`` value → ``LLMSpec``; ``None`` reads ``ASSISTANT_LLM`` (default ``none``)."""
    if spec is None:
        spec = os.environ.get("ASSISTANT_LLM", "")
    raw = spec.strip()
    kind, _, model = raw.partition(":")
    kind = kind.strip().lower()
    model = model.strip()
    if kind in ("", "none", "off", "false", "0") and not model:
        return LLMSpec("none")
    if kind == "local":
        return LLMSpec("local", model)
    if kind in ("ollama", "openai"):
        if not model:
            raise UserError(f"--llm {raw!r}: name the model, e.g. {kind}:MODEL")
        return LLMSpec(kind, model)
    raise UserError(f"--llm {raw!r}: unknown LLM backend; use {SPEC_HELP}")


def llm_timeout(timeout: float | None = None) -> float:
    """Seconds one LLM answer may take: the argument, else ``ASSISTANT_LLM_TIMEOUT``, else 60."""
    if timeout is not None:
        return float(timeout)
    raw = os.environ.get("ASSISTANT_LLM_TIMEOUT", "")
    if not raw.strip():
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"ASSISTANT_LLM_TIMEOUT={raw!r}: not a number of seconds") from None
    if value <= 0:
        raise UserError(f"ASSISTANT_LLM_TIMEOUT={raw!r}: must be more than 0 seconds")
    return value
