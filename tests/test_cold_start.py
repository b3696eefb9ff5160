"""What a cold ``assistant ask`` loads: the heavy libraries it does not need stay off it.

Timing lives in bench/ (``bench/run.py --only cold``); this only checks which modules a
fresh process has imported once it has answered, so it is steady on a busy machine.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS

# Loaded by an ask only through a mistake: the chat page, the torch route of the embedder
# (the ask embeds through the ONNX export), the ingest-time sentence splitter, the plain
# pipeline's wrappers, LangChain (``ask`` runs the chain's steps directly; its Runnable and
# the LangChain retriever are made only when asked for), the LLM steps (no --llm /
# ASSISTANT_LLM asked for one), bm25s and scipy (text.tokenize is our own), lemminflect
# (its lemmas come from the lemma table that the fixture's ingest made in the user cache),
# and Chroma (a local index is answered from its keyword index's snapshot of the last ingest).
NOT_ON_THE_ASK_PATH = (
    "chromadb",
    "gradio", "torch", "transformers", "sentence_transformers", "nltk", "langchain_huggingface",
    "bm25s", "scipy", "lemminflect",
    "langchain_chroma", "langchain_core", "langsmith",
    "assistant.llm", "assistant.generative", "assistant.grounding", "assistant.langchain_retriever",
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


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """seeds/ ingested by ``assistant ingest`` in its own process, and nothing since."""
    index = tmp_path_factory.mktemp("cold") / "index"
    proc = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", str(SEEDS), "--index", str(index)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return index


def test_a_cold_ask_answers_without_the_heavy_libraries_it_does_not_need(ingested):
    answer, modules = ask_in_fresh_process(ingested, "What did the Judge require?")
    assert "[1]" in answer  # it answered, with a citation
    # the real path ran: the question embedded by the ONNX model, searched in the keyword index
    assert {"onnxruntime", "tokenizers", "assistant.retrieval", "assistant.keyword_store"} <= modules
    loaded = sorted(m for m in NOT_ON_THE_ASK_PATH if m in modules)
    assert not loaded, f"a cold ask imported {loaded}"


# The chat page's first answer goes through ``Assistant.stream`` (the chain's own generator):
# LangChain's runnables and tracers (~0.7 s to import) stay off it, as off an ask.
NOT_ON_THE_PAGE_ANSWER_PATH = ("langchain_core", "langsmith", "assistant.llm", "assistant.generative",
                               "assistant.grounding", "assistant.langchain_retriever")

PAGE_ANSWER_AND_LIST_MODULES = """
import json, sys
from assistant import Assistant
from assistant.chat_page import _Answerer, build_app
question, index, feedback = sys.argv[1:4]
assistant = Assistant.open(index=index)
build_app(assistant, feedback_path=feedback, stream_delay=0)
print(list(_Answerer(assistant, stream_delay=0).stream(question, []))[-1].answer)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_chat_pages_first_answer_does_without_langchain(ingested, tmp_path):
    proc = subprocess.run([sys.executable, "-c", PAGE_ANSWER_AND_LIST_MODULES, "What did the Judge require?",
                           str(ingested), str(tmp_path / "feedback.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    *answer, modules = proc.stdout.strip().splitlines()
    assert "[1]" in "\n".join(answer)  # it answered, with a citation
    assert {"gradio", "onnxruntime", "assistant.keyword_store"} <= set(json.loads(modules))
    loaded = sorted(m for m in NOT_ON_THE_PAGE_ANSWER_PATH if m in json.loads(modules))
    assert not loaded, f"the chat page's first answer imported {loaded}"


def test_the_shortcut_still_checks_the_timeout_setting(monkeypatch):
    from assistant.api import _make_llm
    from assistant.errors import UserError

    monkeypatch.delenv("ASSISTANT_LLM", raising=False)
    monkeypatch.delenv("ASSISTANT_LLM_TIMEOUT", raising=False)
    assert _make_llm(None) is None
    monkeypatch.setenv("ASSISTANT_LLM_TIMEOUT", "soon")  # as make_llm("none") reports it
    with pytest.raises(UserError, match="ASSISTANT_LLM_TIMEOUT"):
        _make_llm(None)


def test_an_index_made_before_the_snapshot_gets_one_on_its_first_ask(ingested, tmp_path):
    """An index whose keyword index holds no snapshot nor sentence vectors (made by an
    earlier version) is answered through Chroma once, with a notice, and gets them; the
    next ask answers the same without Chroma."""
    import shutil
    import sqlite3

    index = tmp_path / "index"
    shutil.copytree(ingested, index)  # (file times kept: the snapshot's stamp of Chroma's files holds)
    db = sqlite3.connect(index / "keywords" / "telegram.sqlite")
    with db:
        db.execute("DELETE FROM units")
        db.execute("DELETE FROM manifest")
        db.execute("DELETE FROM meta WHERE key IN ('snapshot', 'identity', 'units')")
    db.close()
    for cache in (index / "vectors").glob("*/*.npy"):
        cache.unlink()
    first, modules = ask_in_fresh_process(index, "Who signed this telegram?")
    assert "chromadb" in modules
    again, modules = ask_in_fresh_process(index, "Who signed this telegram?")
    assert "chromadb" not in modules
    assert first == again and "Welles" in again


def test_an_interrupted_ingest_sends_the_ask_to_chroma(ingested, tmp_path):
    """An ingest clears the snapshot before it writes Chroma: killed half-way, the next
    ask reads Chroma's manifest (and finishes or reports the pending documents)."""
    import shutil

    from assistant.keyword_store import KeywordStore, keyword_path

    index = tmp_path / "index"
    shutil.copytree(ingested, index)  # (file times kept: the snapshot's stamp of Chroma's files holds)
    store = KeywordStore(keyword_path(index / "keywords", "telegram"))
    store.clear_snapshot()  # what a killed ingest leaves (with or without pending documents)
    store.close()
    _, modules = ask_in_fresh_process(index, "Who signed this telegram?")
    assert "chromadb" in modules
    _, modules = ask_in_fresh_process(index, "Who signed this telegram?")
    assert "chromadb" not in modules  # that ask wrote the snapshot again (nothing was pending)


def test_a_chroma_session_since_the_ingest_sends_the_next_ask_to_chroma(ingested, tmp_path):
    """Chroma's files changed after the snapshot (another session, or damage): the ask
    opens Chroma, which reports damage or, as here, confirms the snapshot for the next."""
    import shutil

    from assistant.config import Settings
    from assistant.index import Index

    index = tmp_path / "index"
    shutil.copytree(ingested, index)
    Index(Settings.resolve(index=index)).counts()  # a Chroma client on the index: its file changes
    _, modules = ask_in_fresh_process(index, "Who signed this telegram?")
    assert "chromadb" in modules
    _, modules = ask_in_fresh_process(index, "Who signed this telegram?")
    assert "chromadb" not in modules


@pytest.mark.parametrize("doc_ids", [["000_fa8f81718d3b4c51"], ["000_fa8f81718d3b4c51", "nope"], ["nope"], []])
def test_chunk_look_ups_from_the_keyword_index_are_chromas(telegram_index, doc_ids):
    """What candidates.py reads (``Index.doc_chunks``), answered from the keyword index (an
    index opened from its snapshot) as Chroma answers it."""
    from assistant.config import Settings
    from assistant.index import Index
    from assistant.index_lookups import IndexLookups, KeywordLookups

    idx = Index(Settings.resolve(index=telegram_index))
    chroma = IndexLookups(idx.store).doc_chunks(doc_ids)
    ours = KeywordLookups(idx.store, idx.keyword_store(), {}, {}).doc_chunks(doc_ids)

    def rows(chunks):
        return sorted((c.id, c.text, json.dumps(c.metadata(), sort_keys=True)) for c in chunks)

    assert rows(ours) == rows(chroma)
    assert bool(ours) == ("000_fa8f81718d3b4c51" in doc_ids)


ASK_THROUGH_CHROMA_HNSW = """
import json, sys
import assistant.retrieval
from assistant.cli import main
from assistant.index import Index
assistant.retrieval.EXACT_DENSE_MAX = 0  # the dense leg queries Chroma's HNSW, as above that many chunks
opened = []
open_from_snapshot = Index.open_from_snapshot
def recording_open(self):
    opened.append(open_from_snapshot(self))
    return opened[-1]
Index.open_from_snapshot = recording_open
question, index = sys.argv[1:3]
sys.argv = ["assistant", "ask", question, "--index", index]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps({"from_snapshot": opened == [True], "chromadb": "chromadb" in sys.modules}))
"""


def ask_through_hnsw(index, question) -> tuple[str, dict]:
    proc = subprocess.run([sys.executable, "-c", ASK_THROUGH_CHROMA_HNSW, question, str(index)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    *answer, seen = proc.stdout.strip().splitlines()
    return "\n".join(answer), json.loads(seen)


def test_asks_that_query_chromas_hnsw_leave_the_snapshot_valid_and_writes_do_not(tmp_path):
    """Above the exact search's size the dense leg opens Chroma, which rewrites its file:
    the next process still answers from the snapshot (no write since), while an ingest
    and a write by another Chroma client between two asks are seen by the next one."""
    import chromadb

    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    index = tmp_path / "index"

    def ingest():
        proc = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", str(docs), "--index", str(index)],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr

    ingest()
    question = "Who signed this telegram?"
    first, seen = ask_through_hnsw(index, question)
    assert seen == {"from_snapshot": True, "chromadb": True}  # opened from the snapshot, then HNSW
    again, seen = ask_through_hnsw(index, question)
    assert seen == {"from_snapshot": True, "chromadb": True}  # the first ask's Chroma session left it valid
    assert again == first and "Welles" in first

    (doc,) = docs.iterdir()  # an edit, ingested: the next ask answers from the new snapshot
    doc.write_text(doc.read_text().replace("Welles", "Hull"))
    ingest()
    edited, seen = ask_through_hnsw(index, question)
    assert seen["from_snapshot"] and "Hull" in edited and "Welles" not in edited

    client = chromadb.PersistentClient(path=str(index))  # another tool writes (the same metadata again)
    chunks = client.get_collection("telegram")
    got = chunks.get(limit=1, include=["metadatas"])
    chunks.update(ids=got["ids"], metadatas=got["metadatas"])
    del chunks, client
    after, seen = ask_through_hnsw(index, question)
    assert not seen["from_snapshot"] and after == edited  # through Chroma, which wrote the snapshot again
    _, seen = ask_through_hnsw(index, question)
    assert seen["from_snapshot"]
