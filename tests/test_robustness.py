"""Issue 10, "nothing lost, nothing crashes": bad input, kills and damaged files, each
through the real ``assistant`` command (a subprocess), the real model and a real Chroma
in temp folders. Every error is one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import CLI, CORPUS, ROOT, SEED_FILE, SEEDS, read_until

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


def run(args, stdin=None, env=None, cwd=ROOT, timeout=600):
    """The CLI as a user runs it; ``args`` may hold bytes (a question that is not UTF-8)."""
    return subprocess.run(CLI + list(args), cwd=cwd, input=stdin, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def err_lines(proc) -> list[str]:
    return [line for line in proc.stderr.decode("utf-8", "replace").splitlines() if line.strip()]


def assert_one_line_error(proc, *words):
    text = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, text
    lines = err_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    for w in ("Traceback", "PanicException", "panicked"):
        assert w not in text
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def collection_names(index: Path) -> set[str]:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(index), settings=Settings(anonymized_telemetry=False))
    return {c if isinstance(c, str) else c.name for c in client.list_collections()}


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory) -> Path:
    """An index of seeds/ (collection telegram), built once; tests work on copies."""
    path = tmp_path_factory.mktemp("robust") / "seed-index"
    proc = run(["ingest", "-q", "--index", str(path)])
    assert proc.returncode == 0, proc.stderr
    return path


def copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --- 3. no tracebacks ---------------------------------------------------------------


def test_question_that_is_not_utf8_is_a_one_line_error(seed_index, tmp_path):
    ix = copy_index(seed_index, tmp_path / "ix")
    proc = run([b"ask", b"Who sent \xff\xfe this?", b"--index", str(ix).encode()])
    assert_one_line_error(proc, "question is not valid UTF-8", "0xff")


def test_chat_reports_a_bad_line_and_answers_the_next(seed_index, tmp_path):
    ix = copy_index(seed_index, tmp_path / "ix")
    proc = run(["chat", "--json", "--index", str(ix)],
               stdin=b"Who sent this telegram?\nWho sent \xff\xfe this?\nWho signed this telegram?\n")
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [a["question"] for a in answers] == ["Who sent this telegram?", "Who signed this telegram?"]
    assert "Welles" in [c["quote"] for c in answers[1]["citations"]]
    lines = err_lines(proc)
    assert len(lines) == 1 and "not valid UTF-8" in lines[0] and "Traceback" not in proc.stderr.decode()


def _garble(db: Path, at: float, n: int = 8192, seed: int = 1) -> bytes:
    size = db.stat().st_size
    garbage = random.Random(seed).randbytes(n)
    with db.open("r+b") as f:
        f.seek(int(size * at))
        f.write(garbage)
    return garbage


@pytest.mark.parametrize("at", [0.1, 0.5])
def test_database_garbled_in_the_middle_is_a_one_line_error_and_rebuild_recovers(seed_index, tmp_path, at):
    ix = copy_index(seed_index, tmp_path / "ix")
    garbage = _garble(ix / "chroma.sqlite3", at)
    line = assert_one_line_error(run(["ask", "Who signed this telegram?", "--index", str(ix)]),
                                 f"cannot open the index at {ix}", "rebuild with assistant ingest --rebuild")
    assert garbage in (ix / "chroma.sqlite3").read_bytes()  # not rebuilt behind the user's back (SQLite may touch its header)
    # The command the error names works, and keeps the damaged index for the user.
    rebuild = line.split("rebuild with ", 1)[1].split()
    assert rebuild[:3] == ["assistant", "ingest", "--rebuild"]
    proc = run(rebuild[1:])
    assert proc.returncode == 0, proc.stderr
    assert "panicked" not in proc.stderr.decode()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("ix.damaged-")]
    assert len(aside) == 1 and garbage in (aside[0] / "chroma.sqlite3").read_bytes()
    ok = run(["ask", "Who signed this telegram?", "--index", str(ix)])
    assert ok.returncode == 0 and "Welles" in ok.stdout.decode()


@pytest.mark.parametrize("damage", ["random bytes", "truncated"])
def test_damaged_keyword_index_is_rebuilt_with_a_notice(seed_index, tmp_path, damage):
    ix = copy_index(seed_index, tmp_path / "ix")
    db = ix / "keywords" / "telegram.sqlite"  # written by the ingest
    if damage == "random bytes":
        db.write_bytes(random.Random(2).randbytes(40000))
    else:
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
    proc = run(["ask", "Who signed this telegram?", "--index", str(ix)])
    assert proc.returncode == 0, proc.stderr
    assert "Welles" in proc.stdout.decode()
    lines = err_lines(proc)
    assert len(lines) == 2 and lines[0].startswith(f"note: the keyword index {db} is damaged"), lines
    assert "rebuilding it" in lines[0] and lines[1].startswith("note: building the keyword index"), lines
    again = run(["ask", "Who signed this telegram?", "--index", str(ix)])  # rebuilt: no notice any more
    assert again.returncode == 0 and err_lines(again) == []


def test_damaged_vector_cache_is_rebuilt_with_a_notice(seed_index, tmp_path):
    ix = copy_index(seed_index, tmp_path / "ix")
    if not (ix / "vectors").exists():  # the cache is made by the first question
        assert run(["ask", "Who signed this telegram?", "--index", str(ix)]).returncode == 0
    (npy,) = (ix / "vectors").rglob("*.npy")
    npy.write_bytes(npy.read_bytes()[:-40])
    proc = run(["ask", "Who signed this telegram?", "--index", str(ix)])
    assert proc.returncode == 0, proc.stderr
    assert "Welles" in proc.stdout.decode()
    lines = err_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("note: the vector cache") and "rebuilding it" in lines[0]
    again = run(["ask", "Who signed this telegram?", "--index", str(ix)])  # rebuilt: no notice any more
    assert again.returncode == 0 and err_lines(again) == []


def test_damaged_onnx_export_is_rebuilt_with_a_notice(seed_index, tmp_path):
    ix = copy_index(seed_index, tmp_path / "ix")
    model = ix / "onnx" / "model.onnx"
    model.unlink()  # (a hard link to the shared cache: replace, do not write through it)
    model.write_bytes(random.Random(3).randbytes(100_000))
    proc = run(["ask", "Who signed this telegram?", "--index", str(ix)])
    assert proc.returncode == 0, proc.stderr
    assert "Welles" in proc.stdout.decode()
    lines = err_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("note: the ONNX export") and "rebuilding it" in lines[0], lines
    assert model.stat().st_size > 1_000_000
    assert err_lines(run(["ask", "Who signed this telegram?", "--index", str(ix)])) == []


# --- 2. no silent auto-ingest into the wrong place ------------------------------------


def test_ask_in_a_mistyped_collection_names_the_existing_ones_and_ingests_nothing(seed_index, tmp_path):
    ix = copy_index(seed_index, tmp_path / "ix")
    before = collection_names(ix)
    assert_one_line_error(run(["ask", "What did Brazil decide?", "--collection", "frus1914", "--index", str(ix)]),
                          "no collection 'frus1914'", "it has: telegram",
                          f"assistant ingest PATH --collection frus1914 --index {ix}")
    assert collection_names(ix) == before


def test_ask_in_a_named_collection_of_a_new_index_does_not_ingest_seeds(tmp_path):
    ix = tmp_path / "new"
    assert_one_line_error(run(["ask", "What did Brazil decide?", "--collection", "frus1941", "--index", str(ix)]),
                          "no collection 'frus1941'", "assistant ingest PATH --collection frus1941")
    assert not ix.exists() or not (ix / "chroma.sqlite3").exists()


def test_empty_database_file_is_refused_not_rebuilt_from_seeds(tmp_path):
    ix = tmp_path / "ix"
    ix.mkdir()
    (ix / "chroma.sqlite3").write_bytes(b"")
    assert_one_line_error(run(["ask", "Who signed this telegram?", "--index", str(ix)]),
                          "chroma.sqlite3 is empty", f"rebuild with assistant ingest --rebuild --index {ix}")
    assert (ix / "chroma.sqlite3").stat().st_size == 0


# --- 5. one writer at a time; summaries count what the run did -------------------------


def _corpus_copy(folder: Path, n: int | None = None) -> Path:
    folder.mkdir()
    for f in sorted(CORPUS.glob("*.txt"))[:n]:
        shutil.copy(f, folder)
    return folder


def _wait_for_progress(proc, percent: int = 1, deadline_s: float = 600) -> bytes:
    """Read the ingest's stderr until its progress bar shows at least ``percent``."""
    import re

    def reached(seen: bytes) -> bool:
        shown = [int(m) for m in re.findall(rb"ingest:\s+(\d+)%", seen)]
        return bool(shown) and shown[-1] >= percent

    seen = read_until(proc.stderr, reached, deadline_s)
    assert reached(seen), f"ingest never showed progress: {seen[-500:]!r}"
    return seen


def _summary(text: str) -> tuple[int, int, int, int]:
    import re

    m = re.search(r"(\d+) added, (\d+) updated, (\d+) removed, (\d+) unchanged", text)
    assert m, text
    return tuple(int(g) for g in m.groups())


@needs_corpus
@pytest.mark.slow
def test_ingest_after_a_kill_counts_the_documents_it_finished(tmp_path):
    docs = _corpus_copy(tmp_path / "docs", 40)
    ix = tmp_path / "ix"
    proc = subprocess.Popen(CLI + ["ingest", str(docs), "--collection", "frus", "--index", str(ix)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_progress(proc, percent=50)  # batches of 16 documents: 16 of 40 complete at 40%
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    from assistant.config import Settings
    from assistant.index import Index

    manifest = Index(Settings.resolve(index=ix, collection="frus")).manifest()
    pending = sum(1 for m in manifest.values() if m.get("status") != "complete")
    complete = len(manifest) - pending
    assert pending >= 1 and complete >= 1

    again = run(["ingest", str(docs), "--collection", "frus", "--index", str(ix), "-q"])
    assert again.returncode == 0, again.stderr
    out = again.stdout.decode()
    assert _summary(out) == (pending, 0, 0, complete), out
    assert f"{pending} of them finishing an interrupted ingest" in out


@needs_corpus
@pytest.mark.slow
def test_one_writer_at_a_time_and_ask_during_an_ingest_is_not_a_writer(tmp_path):
    docs = _corpus_copy(tmp_path / "docs", 48)
    ix = tmp_path / "ix"
    first = subprocess.Popen(CLI + ["ingest", str(docs), "--collection", "frus", "--index", str(ix)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_progress(first)
        first.send_signal(signal.SIGSTOP)  # holds the lock, half done, for as long as the test needs
        asked = run(["ask", "Which countries declared war?", "--collection", "frus", "--index", str(ix)])
        assert asked.returncode == 0, asked.stderr
        note = asked.stderr.decode()
        assert "an ingest is running" in note and "completing an interrupted ingest" not in note

        second = subprocess.Popen(CLI + ["ingest", str(docs), "--collection", "frus", "--index", str(ix), "-q"],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = read_until(second.stderr, lambda seen: b"waiting for it to finish" in seen, 300)
        assert b"another ingest is writing to" in seen and second.poll() is None, seen
    finally:
        first.send_signal(signal.SIGCONT)
    out1, _ = first.communicate(timeout=900)
    out2, _ = second.communicate(timeout=900)
    assert first.returncode == 0 and second.returncode == 0
    assert _summary(out1.decode()) == (48, 0, 0, 0)
    assert _summary(out2.decode()) == (0, 0, 0, 48)  # it ran after the first: nothing left to do

    from assistant.config import Settings
    from assistant.index import Index

    idx = Index(Settings.resolve(index=ix, collection="frus"))
    assert not idx.pending() and idx.counts()["documents"] == 48


# --- 1. the same file name in two folders ------------------------------------------------


def test_same_file_name_in_two_folders_are_two_documents(tmp_path):
    a, b = tmp_path / "in" / "dupA", tmp_path / "in" / "dupB"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    (a / "report.txt").write_text("Report on Alsace\n\nThe harvest in Alsace was poor this year. "
                                  "Wheat prices rose sharply.\n", encoding="utf-8")
    (b / "report.txt").write_text("Report on Brest\n\nThe fleet sailed from Brest at dawn. "
                                  "Admiral Darlan watched from the quay.\n", encoding="utf-8")
    ix = str(tmp_path / "ix")
    first = run(["ingest", str(a), "--collection", "dups", "--index", ix, "-q"])
    second = run(["ingest", str(b), "--collection", "dups", "--index", ix, "-q"])
    assert _summary(first.stdout.decode()) == (1, 0, 0, 0)
    assert _summary(second.stdout.decode()) == (1, 0, 0, 0), second.stdout
    listed = json.loads(run(["collections", "--collection", "dups", "--index", ix, "--json"]).stdout)
    ids = sorted(r["doc_id"] for r in listed)
    assert len(ids) == 2 and ids[0] == "report" and ids[1].startswith("report-")  # the first keeps its stem
    # Stable: re-ingesting either folder changes nothing.
    assert _summary(run(["ingest", str(a), "--collection", "dups", "--index", ix, "-q"]).stdout.decode()) == (0, 0, 0, 1)
    assert _summary(run(["ingest", str(b), "--collection", "dups", "--index", ix, "-q"]).stdout.decode()) == (0, 0, 0, 1)
    again = json.loads(run(["collections", "--collection", "dups", "--index", ix, "--json"]).stdout)
    assert sorted(r["doc_id"] for r in again) == ids

    for question, folder, title in [("What was the harvest like in Alsace?", "dupA", "Report on Alsace"),
                                    ("Where did the fleet sail from?", "dupB", "Report on Brest")]:
        proc = run(["ask", question, "--collection", "dups", "--index", ix])
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout.decode()
        assert f"Sources: [1] {title}" in text  # the readable title, not the id
        assert f"{folder}/report.txt" in text


# --- 6. smaller ---------------------------------------------------------------------------


def test_whitespace_only_file_is_skipped_with_a_notice(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    (docs / "blank.txt").write_text("  \n\n\t \n", encoding="utf-8")
    proc = run(["ingest", str(docs), "--index", str(tmp_path / "ix"), "-q"])
    assert proc.returncode == 0, proc.stderr
    assert _summary(proc.stdout.decode()) == (1, 0, 0, 0)
    lines = err_lines(proc)
    assert lines == [f"note: skipping an empty document (no text): {(docs / 'blank.txt').resolve()}"]


def test_index_path_that_is_a_file_is_one_line_and_no_auto_ingest_note(tmp_path):
    f = tmp_path / "index.txt"
    f.write_text("not an index", encoding="utf-8")
    assert_one_line_error(run(["ask", "Who signed this telegram?", "--index", str(f)]), "not a folder", str(f))
    assert f.read_text(encoding="utf-8") == "not an index"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to drop the capability that ignores file modes")
def test_read_only_index_can_be_queried_and_is_not_changed(seed_index, tmp_path):
    ix = copy_index(seed_index, tmp_path / "ro")
    assert run(["ask", "Who signed this telegram?", "--index", str(ix)]).returncode == 0  # caches made
    before = {p: p.read_bytes() for p in ix.rglob("*") if p.is_file()}
    for p in [ix, *ix.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        # root without CAP_DAC_OVERRIDE: file modes apply, as for any user
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
        proc = subprocess.run(drop + CLI + ["ask", "Who signed this telegram?", "--index", str(ix)], cwd=ROOT,
                              capture_output=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        assert "Welles" in proc.stdout.decode()
        assert err_lines(proc) == [f"note: the index at {ix} is read-only; answering from a temporary copy"]
        writer = subprocess.run(drop + CLI + ["ingest", "--index", str(ix)], cwd=ROOT, capture_output=True, timeout=600)
        assert_one_line_error(writer, f"cannot write to the index at {ix}")
    finally:
        for p in [ix, *ix.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
    assert {p: p.read_bytes() for p in ix.rglob("*") if p.is_file()} == before


def test_sources_are_shown_relative_to_the_ingested_folder_not_the_server_path(seed_index, tmp_path, monkeypatch):
    """``/ask`` returns ``Answer.to_dict()``: a server started elsewhere must not show its paths."""
    from assistant import Assistant

    monkeypatch.chdir(tmp_path)  # the server's working folder: the sources are outside it
    answer = Assistant.open(index=seed_index).ask("Who signed this telegram?")
    sources = {c["source"] for c in answer.to_dict()["citations"]}
    assert sources == {f"seeds/{SEED_FILE.name}"}


# --- 4. a large file: bounded batches, a limit with a setting ----------------------------


def test_file_over_the_size_limit_is_refused_with_the_setting_to_raise_it(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("The fleet sailed at dawn. " * 2000, encoding="utf-8")
    assert_one_line_error(run(["ingest", str(big), "--index", str(tmp_path / "ix")],
                              env={"ASSISTANT_MAX_FILE_MB": "0.01"}),
                          "file too large", str(big), "ASSISTANT_MAX_FILE_MB")
    assert not (tmp_path / "ix" / "chroma.sqlite3").exists()


def test_long_document_is_written_in_slices_with_moving_progress(tmp_path):
    """A document far longer than one slice: every chunk written, the same chunks as in one
    piece, and progress reported slice by slice (not once at the end)."""
    from assistant.chunks import chunk_document
    from assistant.config import Settings
    from assistant.index import Index
    from assistant.ingest import Ingest
    from assistant.loaders import load_documents

    texts = [f.read_text(encoding="utf-8") for f in sorted(SEEDS.glob("*.txt"))]
    long_doc = tmp_path / "long.txt"
    long_doc.write_text("\n\n".join(texts * 12), encoding="utf-8")
    steps: list[int] = []
    idx = Index(Settings.resolve(index=tmp_path / "ix", collection="long"))
    ingest = Ingest(idx.store, idx.lock, slice_units=64, on_progress=steps.append)
    report = ingest.run([long_doc], progress=False)
    (doc,) = load_documents([long_doc])
    assert report.added == 1 and sum(steps) == len(doc.text)
    assert len([s for s in steps if s > 0]) >= 3
    expected = sorted(c.id for c in chunk_document(doc))
    assert sorted(c.id for c in idx.all_chunks()) == expected
    keys = set()
    for c in chunk_document(doc):
        keys |= set(c.sentences) if c.kind in ("body", "notes") else {(c.start, c.end)}
    assert idx.stores[1].count() == len(keys)  # each sentence embedded once, across slices too
