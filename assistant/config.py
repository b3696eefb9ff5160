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

    @classmethod
    def resolve(cls, index: str | Path | None = None, collection: str | None = None) -> "Settings":
        name = collection or os.environ.get("ASSISTANT_COLLECTION") or DEFAULT_COLLECTION
        if not _COLLECTION_NAME.match(name):
            raise UserError(
                f"invalid collection name {name!r}: use 3-62 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        index_dir = Path(index) if index else default_index_dir()
        return cls(index_dir=index_dir, collection=name, chroma_url=os.environ.get("ASSISTANT_CHROMA_URL") or None)


def check_question(question: str) -> str:
    q = (question or "").strip()
    if not q:
        raise UserError("empty question: ask something about the document")
    if len(q) > MAX_QUESTION_CHARS:
        raise UserError(f"question too long: {len(q)} characters (the limit is {MAX_QUESTION_CHARS})")
    return q
