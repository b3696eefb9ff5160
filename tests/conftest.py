"""Shared fixtures. User state (index folders, feedback files) lives in temp dirs only.

The index over the seed telegram is built once per session with the real model and a
real Chroma (PersistentClient in a temp folder); tests that change an index make
their own.
"""

from __future__ import annotations

import os
import select
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("ASSISTANT_CHROMA_URL", None)
os.environ.pop("ASSISTANT_KEYWORD_INDEX", None)
os.environ.pop("ASSISTANT_LLM", None)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
CORPUS = ROOT.parent / "shared" / "corpus" / "frus1941"
CLI = [sys.executable, "-m", "assistant.cli"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_state(tmp_path_factory):
    """No test reads or writes the developer's own index."""
    home = tmp_path_factory.mktemp("user-state")
    old = os.environ.get("ASSISTANT_INDEX_DIR")
    os.environ["ASSISTANT_INDEX_DIR"] = str(home / "default-index")
    yield home
    if old is None:
        os.environ.pop("ASSISTANT_INDEX_DIR", None)
    else:
        os.environ["ASSISTANT_INDEX_DIR"] = old


@pytest.fixture(autouse=True)
def _isolated_logging():
    """A command run in-process (``main([...])``, ``-v``) configures logging for the whole
    process; each test starts from the default again (warnings only, no CLI handler)."""
    import logging

    from assistant.logs import reset_logging

    yield
    reset_logging()
    # logging.config.dictConfig (import-linter, run in-process by test_architecture) disables
    # every logger that exists by then: the package's loggers are enabled again.
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith("assistant") and isinstance(logger, logging.Logger):
            logger.disabled = False
    for name in ("assistant", "assistant.train"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.fixture(scope="session", autouse=True)
def _isolated_onnx_cache(tmp_path_factory):
    """The ONNX export cache (assistant/onnx_embed.py) lives in a session temp dir: the
    model is exported once per test session, and new test indexes hard-link it."""
    old = os.environ.get("ASSISTANT_CACHE_DIR")
    os.environ["ASSISTANT_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if old is None:
        os.environ.pop("ASSISTANT_CACHE_DIR", None)
    else:
        os.environ["ASSISTANT_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def telegram_index(tmp_path_factory) -> Path:
    """An index of seeds/ built once for the session (read-only for tests)."""
    from assistant.config import Settings
    from assistant.index import Index

    path = tmp_path_factory.mktemp("telegram-index")
    Index(Settings.resolve(index=path)).ingest([SEEDS], progress=False)
    return path


@pytest.fixture(scope="session")
def assistant(telegram_index):
    from assistant import Assistant

    return Assistant.open(index=telegram_index)


@pytest.fixture()
def seeds_copy(tmp_path) -> Path:
    """A writable copy of seeds/ for tests that change documents."""
    dst = tmp_path / "docs"
    shutil.copytree(SEEDS, dst)
    return dst


def read_until(pipe, done: Callable[[bytes], bool], seconds: float) -> bytes:
    """What a child process writes to ``pipe`` until ``done(seen)`` holds or the pipe closes.

    Raises AssertionError after ``seconds`` even when the child writes nothing at all: a
    plain blocking read would never come back to look at the clock."""
    fd = pipe.fileno()
    seen = b""
    deadline = time.monotonic() + seconds
    while not done(seen):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"waited {seconds:g} s; the process wrote: {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
    return seen
