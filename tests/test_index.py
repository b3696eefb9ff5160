import os
import shutil
import signal
import subprocess

import pytest
from assistant.chunks import chunk_document
from assistant.config import Settings
from assistant.errors import UserError
from assistant.index import Index
from assistant.loaders import load_documents
from assistant.model_files import bundled_model_path

from conftest import CLI, CORPUS, ROOT, SEEDS, read_until


def _index(path, collection="telegram"):
    return Index(Settings.resolve(index=path, collection=collection))


def _expected_chunk_ids(folder):
    return sorted(c.id for d in load_documents([folder]) for c in chunk_document(d))


def test_ingest_is_idempotent_and_tracks_changes(tmp_path, seeds_copy):
    idx = _index(tmp_path / "ix")
    first = idx.ingest([seeds_copy], progress=False)
    assert first.added == 1 and first.chunks > 10
    again = idx.ingest([seeds_copy], progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
    assert again.chunks == first.chunks
    assert sorted(c.id for c in idx.all_chunks()) == _expected_chunk_ids(seeds_copy)

    # A changed file replaces its chunks (none of the old version survive).
    f = next(seeds_copy.glob("*.txt"))
    f.write_text(f.read_text(encoding="utf-8") + "\nAdded later. A second sentence.\n", encoding="utf-8")
    changed = idx.ingest([seeds_copy], progress=False)
    assert changed.updated == 1
    assert sorted(c.id for c in idx.all_chunks()) == _expected_chunk_ids(seeds_copy)
    assert idx.keyword_store().chunk_index()[0] == _expected_chunk_ids(seeds_copy)  # replaced there too

    # A new file is added; a removed file's chunks go.
    extra = seeds_copy / "extra.md"
    extra.write_text("# Extra\n\nPyk was a citizen.\n", encoding="utf-8")
    assert idx.ingest([seeds_copy], progress=False).added == 1
    extra.unlink()
    removed = idx.ingest([seeds_copy], progress=False)
    assert removed.removed == 1
    assert {c.doc_id for c in idx.all_chunks()} == {f.stem}
    assert idx.counts()["documents"] == 1


def test_bad_input_keeps_what_is_stored(tmp_path, seeds_copy):
    idx = _index(tmp_path / "ix")
    idx.ingest([seeds_copy], progress=False)
    before = sorted(c.id for c in idx.all_chunks())
    (seeds_copy / "bad.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(UserError, match=r"bad.txt"):
        idx.ingest([seeds_copy], progress=False)
    assert sorted(c.id for c in _index(tmp_path / "ix").all_chunks()) == before


@pytest.mark.slow
def test_killed_ingest_is_detected_and_completed(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for f in sorted(CORPUS.glob("*.txt"))[:40]:
        shutil.copy(f, docs)
    index_dir = tmp_path / "ix"
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)}
    proc = subprocess.Popen(CLI + ["ingest", str(docs), "--collection", "frus"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Kill it once the first batch is written (the progress bar moves past 0).
    try:
        read_until(proc.stderr, lambda seen: b"/s]" in seen and b" 0.00/" not in seen.split(b"\r")[-1], 300)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "ingest finished before it could be killed"

    idx = _index(index_dir, "frus")
    assert idx.pending(), "an interrupted ingest must leave visible pending documents"
    # Every document of the run is in the manifest, complete or pending: never a smaller index that looks complete.
    assert len(idx.manifest()) == 40

    report = idx.ingest([docs], progress=False)
    assert report.resumed >= 1
    assert not idx.pending()
    assert sorted(c.id for c in idx.all_chunks()) == _expected_chunk_ids(docs)
    assert idx.counts()["documents"] == 40
    # The keyword index was written in the same steps: every chunk once, no half-written batch.
    keywords = idx.keyword_store()
    assert keywords.chunk_index()[0] == _expected_chunk_ids(docs)
    assert keywords.stats()[0] == len(_expected_chunk_ids(docs))
    assert sorted(keywords.doc_shas()) == sorted(idx.manifest())


def test_pending_index_is_completed_before_answering(tmp_path, seeds_copy):
    from assistant import Assistant

    idx = _index(tmp_path / "ix")
    idx.ingest([seeds_copy], progress=False)
    docs_col = idx.stores[2]
    (doc_id,) = idx.manifest()
    meta = idx.manifest()[doc_id]
    # What a kill between "pending" and "complete" leaves: the marker, and chunks gone.
    docs_col.upsert(ids=[doc_id], metadatas=[{**meta, "status": "pending"}], embeddings=[[0.0]])
    idx.stores[0].delete(where={"doc_id": doc_id})
    answer = Assistant.open(index=tmp_path / "ix").ask("Who signed this telegram?")
    assert "Welles" in [c.quote for c in answer.citations]
    assert not _index(tmp_path / "ix").pending()


def test_index_built_with_other_weights_is_refused(tmp_path, telegram_index, monkeypatch):
    other = tmp_path / "other-model"
    shutil.copytree(bundled_model_path(), other)
    weights = other / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # another model: same shape, other weights
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("ASSISTANT_MODEL_PATH", str(other))
    from assistant import Assistant

    with pytest.raises(UserError, match=r"rebuild it: assistant ingest --rebuild"):
        Assistant.open(index=telegram_index)


def test_unreadable_index_is_a_clear_error(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(UserError, match=r"not a folder"):
        _index(not_a_folder).ingest([SEEDS], progress=False)
    assert not_a_folder.read_text() == "x"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match=r"cannot (open|read) the index"):
        _index(broken).exists()
