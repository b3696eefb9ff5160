"""Chroma server mode: ``ASSISTANT_CHROMA_URL`` switches the index to a real ``chroma run``.

The server is the ``chroma`` command shipped with the chromadb package, started on
127.0.0.1 at a free port with its data in a temporary folder, and stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from assistant.config import Settings
from assistant.errors import UserError
from assistant.index import Index
from assistant.loaders import load_documents

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
TEI_VOLUME = ROOT / "tests" / "data" / "tei" / "frus1941v06.xml"
COLLECTION = "served"


@dataclass
class ChromaServer:
    url: str
    path: Path
    process: subprocess.Popen
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chroma_executable() -> str:
    beside = Path(sys.executable).with_name("chroma")
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        pytest.fail("the chroma command (from the chromadb package) is not installed")
    return found


def _start_chroma(folder: Path) -> ChromaServer:
    port = _free_port()
    data, log = folder / "db", folder / "chroma.log"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [_chroma_executable(), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"chroma run exited with {process.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"chroma run did not answer within 60 s:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return ChromaServer(url=url, path=data, process=process, log=log)


def _stop(server: ChromaServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    server = _start_chroma(tmp_path_factory.mktemp("chroma-server"))
    yield server
    _stop(server)


@pytest.fixture(scope="module")
def keyword_folder(tmp_path_factory) -> Path:
    """The shared keyword index (ASSISTANT_KEYWORD_INDEX), written by the ingesting process."""
    return tmp_path_factory.mktemp("shared-keywords")


@pytest.fixture(scope="module")
def served(chroma_server, keyword_folder, tmp_path_factory):
    """Environment pointing at the server and the shared keyword index, and a local folder
    that must stay free of Chroma data."""
    local = tmp_path_factory.mktemp("local-index")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASSISTANT_CHROMA_URL", chroma_server.url)
        mp.setenv("ASSISTANT_KEYWORD_INDEX", str(keyword_folder))
        mp.setenv("ASSISTANT_INDEX_DIR", str(local))
        mp.setenv("ASSISTANT_NO_AUTO_INGEST", "1")
        yield local


@pytest.fixture(scope="module")
def first_ingest(served):
    index = Index(Settings.resolve(collection=COLLECTION))
    return index, index.ingest([SEEDS, TEI_VOLUME], progress=False)


def test_ingest_goes_to_the_server_not_to_a_local_folder(chroma_server, served, first_ingest):
    index, report = first_ingest
    expected = load_documents([SEEDS, TEI_VOLUME])
    assert report.added == len(expected) == 5
    assert index.counts()["documents"] == 5
    assert report.chunks == index.counts()["chunks"] > 5
    assert not (served / "chroma.sqlite3").exists()  # nothing stored locally by Chroma
    assert (chroma_server.path / "chroma.sqlite3").exists()  # the server holds the data

    import chromadb

    url = chroma_server.url.rsplit(":", 1)
    direct = chromadb.HttpClient(host="127.0.0.1", port=int(url[1]))
    names = {c if isinstance(c, str) else c.name for c in direct.list_collections()}
    assert {COLLECTION, f"{COLLECTION}.units", f"{COLLECTION}.docs"} <= names
    stored = direct.get_collection(f"{COLLECTION}.docs").get()
    assert sorted(stored["ids"]) == sorted(d.doc_id for d in expected)


def test_ingest_writes_the_shared_keyword_index(served, keyword_folder, first_ingest):
    from assistant.keyword_store import KeywordStore

    index, report = first_ingest
    assert not (served / "keywords").exists()
    store = KeywordStore(keyword_folder / f"{COLLECTION}.sqlite")
    assert store.stats()[0] == report.chunks
    assert sorted(store.doc_shas()) == sorted(index.manifest())


def test_answering_processes_pull_only_the_top_passages(served, first_ingest, monkeypatch):
    """Dense search runs on the server and BM25 in the shared keyword index: no read of the
    chunk collection without ids or a document filter (no process copies the collection)."""
    from assistant import Assistant
    from chromadb.api.models.Collection import Collection

    calls = []
    original = Collection.get

    def spy(self, *args, **kwargs):
        calls.append((self.name, kwargs.get("ids", args[0] if args else None), kwargs.get("where")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", spy)
    assistant = Assistant.open(collection=COLLECTION)
    answer = assistant.ask("What did the Guatemalan Government convoke?")
    assert answer.citations and calls  # (the spy sees the client's reads)
    assert [c for c in calls if c[0] in (COLLECTION, f"{COLLECTION}.units") and c[1] is None and c[2] is None] == []
    assert not (served / "vectors").exists() and not (served / "keywords").exists()


def test_chat_processes_share_the_keyword_index_written_by_the_ingest(served, keyword_folder, first_ingest, tmp_path):
    """Two answering processes, each with its own empty local folder, answer from the server
    and the shared keyword index: nothing is built, nothing is copied to them."""
    import json

    env = {**os.environ}
    procs = []
    for i in range(2):
        local = tmp_path / f"chat-{i}"
        local.mkdir()
        procs.append((local, subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "ask", "Which countries have negotiations of basic lend-lease "
             "agreements been taken up with?", "--json", "--collection", COLLECTION],
            cwd=ROOT, env={**env, "ASSISTANT_INDEX_DIR": str(local)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    for local, proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "keyword index" not in err.decode(), err
        assert json.loads(out)["citations"][0]["doc_id"] == "frus1941v06_d180"
        assert not (local / "keywords").exists() and not (local / "vectors").exists()


def test_reingest_against_the_server_is_idempotent(served, first_ingest):
    _index, report = first_ingest
    again = Index(Settings.resolve(collection=COLLECTION)).ingest([SEEDS, TEI_VOLUME], progress=False)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 5)
    assert again.chunks == report.chunks


def test_ask_against_the_server_cites_verified_quotes(served, first_ingest):
    from assistant import Assistant

    docs = {d.doc_id: d for d in load_documents([SEEDS, TEI_VOLUME])}
    assistant = Assistant.open(collection=COLLECTION)
    answer = assistant.ask("Which countries have negotiations of basic lend-lease agreements been taken up with?")
    assert not answer.abstained
    assert answer.citations
    assert answer.citations[0].doc_id == "frus1941v06_d180"
    for c in answer.citations:
        assert docs[c.doc_id].text[c.start : c.end] == c.quote
        assert c.title == docs[c.doc_id].title and c.date == docs[c.doc_id].date


def test_an_unreachable_server_is_a_one_line_user_error(monkeypatch, tmp_path):
    closed = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("ASSISTANT_CHROMA_URL", closed)
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path))
    with pytest.raises(UserError) as err:
        Index(Settings.resolve(collection=COLLECTION)).ingest([SEEDS], progress=False)
    assert closed in str(err.value) and "\n" not in str(err.value)


def test_the_cli_works_unchanged_against_the_server(served, first_ingest):
    """The same commands, no option about the server: only the environment differs."""
    import json

    from assistant.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    listed = runner.invoke(app, ["collections", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["collection"]: r for r in json.loads(listed.stdout)}
    assert rows[COLLECTION]["documents"] == 5

    question = "What did the Guatemalan Government convoke?"
    result = runner.invoke(app, ["ask", question, "--json", "--collection", COLLECTION,
                                 "--doc", "frus1941v06_d105"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["citations"] and {c["doc_id"] for c in answer["citations"]} == {"frus1941v06_d105"}
    doc = {d.doc_id: d for d in load_documents([TEI_VOLUME])}["frus1941v06_d105"]
    for c in answer["citations"]:
        assert doc.text[c["start"] : c["end"]] == c["quote"]
    dated = runner.invoke(app, ["ask", question, "--json", "--collection", COLLECTION,
                                "--from", "1941-12-08", "--to", "1941-12-08"])
    assert {p["date"] for p in json.loads(dated.stdout)["passages"]} == {"1941-12-08"}


def test_a_url_that_is_not_http_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSISTANT_CHROMA_URL", "localhost:8000")
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path))
    with pytest.raises(UserError, match="ASSISTANT_CHROMA_URL is not an http"):
        Index(Settings.resolve(collection=COLLECTION)).ingest([SEEDS], progress=False)
