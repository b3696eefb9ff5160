"""The keyword index on disk (assistant/keyword_store.py): what ingest writes into it, how it
ranks, how an older index is brought to it, and what a reader sees while a writer writes.

Real model and real Chroma in temp folders; the BM25 reference is computed here from the
chunks themselves (the Lucene formula bm25s used), not read back from the store."""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from assistant.chunks import chunk_document
from assistant.config import Settings
from assistant.index import Index
from assistant.keyword_store import K1, B, KeywordStore, fts_token, keyword_path
from assistant.loaders import load_documents
from assistant.retrieval import Filters, Lexicon
from assistant.text import generic_stems, tokenize, word_keys

from conftest import CLI, ROOT, SEEDS

TEI_VOLUME = ROOT / "tests" / "data" / "tei" / "frus1941v06.xml"


def _index(path: Path, collection: str = "kwds") -> Index:
    return Index(Settings(index_dir=path, collection=collection))


def _store(index: Index) -> KeywordStore:
    return index.keyword_store()


def _expected(chunks) -> dict:
    """Everything the store must hold, computed from the chunks."""
    tokens = tokenize([c.search_text for c in chunks])
    df: Counter[str] = Counter()
    for toks in tokens:
        df.update(set(toks))
    return {"ids": sorted(c.id for c in chunks), "n": len(chunks), "total": sum(map(len, tokens)), "df": dict(df)}


def _copy(store: KeywordStore, path: Path) -> Path:
    """A consistent copy of a store (its WAL included), through SQLite's backup API."""
    import sqlite3

    with sqlite3.connect(path) as target:
        store.db.backup(target)
    target.close()
    return path


def _held(store: KeywordStore) -> dict:
    db = store.db
    n, total = store.stats()
    assert db.execute("SELECT count(*), total(length) FROM chunks").fetchone() == (n, float(total))
    # the FTS5 index agrees with its content table
    db.execute("INSERT INTO fts(fts) VALUES ('integrity-check')")
    return {"ids": store.chunk_index()[0], "n": n, "total": total,
            "df": dict(db.execute("SELECT term, df FROM terms").fetchall())}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """seeds/ and the TEI volume (5 documents) in one folder, ingested once."""
    folder = tmp_path_factory.mktemp("kw-docs")
    shutil.copy(next(SEEDS.glob("*.txt")), folder)
    shutil.copy(TEI_VOLUME, folder)
    return folder


@pytest.fixture(scope="module")
def ingested(library, tmp_path_factory) -> Index:
    index = _index(tmp_path_factory.mktemp("kw-ix") / "ix")
    index.ingest([library], progress=False)
    return index


def test_ingest_writes_every_chunk_its_tokens_and_term_counts(ingested, library):
    chunks = ingested.all_chunks()
    assert _held(_store(ingested)) == _expected(chunks)
    assert sorted(c.id for d in load_documents([library]) for c in chunk_document(d)) == _expected(chunks)["ids"]
    # the chunk records read back from the store are the ones in Chroma
    some = random.Random(1).sample(chunks, 10)
    assert _store(ingested).chunks([c.id for c in some]) == {c.id: c for c in some}
    # the words the documents use: every word key of every chunk text, and no other
    words = {k for c in chunks for w in __import__("re").findall(r"[A-Za-z]+", c.text) for k in word_keys(w.lower())}
    held = {w for (w,) in _store(ingested).db.execute("SELECT word FROM words")}
    assert held == words


def test_reingest_replaces_a_documents_rows_and_removal_takes_them_out(tmp_path, library):
    folder = tmp_path / "docs"
    shutil.copytree(library, folder)
    index = _index(tmp_path / "ix")
    index.ingest([folder], progress=False)
    f = next(folder.glob("*.txt"))
    f.write_text(f.read_text(encoding="utf-8") + "\nZanzibarian quokkas arrived later. A second sentence.\n",
                 encoding="utf-8")
    assert index.ingest([folder], progress=False).updated == 1
    store = _store(index)
    assert _held(store) == _expected(index.all_chunks())
    assert store.df("quokka") == 1 and (store.search(["quokka"], 5) or [("", 0)])[0][0].startswith(f.stem)
    f.unlink()
    assert index.ingest([folder], progress=False).removed == 1
    assert _held(store) == _expected(index.all_chunks())
    assert store.df("quokka") == 0 and not store.search(["quokka"], 5)
    assert not store.has_word("quokka") and store.has_word("lend")


def _lucene(chunks, query: list[str]) -> dict[str, float]:
    """BM25 as bm25s scored it (k1 1.5, b 0.75, Lucene idf), over every chunk."""
    tokens = tokenize([c.search_text for c in chunks])
    n, avgdl = len(chunks), sum(map(len, tokens)) / len(chunks)
    df: Counter[str] = Counter()
    for toks in tokens:
        df.update(set(toks))
    out = {}
    for c, toks in zip(chunks, tokens):
        tf = Counter(toks)
        s = sum(math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * tf[t] / (tf[t] + K1 * (1 - B + B * len(toks) / avgdl))
                for t in query if tf[t])
        if s > 0:
            out[c.id] = s
    return out


@pytest.mark.parametrize("question", [
    "Which countries have negotiations of basic lend-lease agreements been taken up with?",
    "What did the Guatemalan Government convoke?",
    "Who signed this telegram?",
    "Roszkowski Soviet release American citizens Moscow",
])
def test_ranking_is_the_lucene_bm25_bm25s_used(ingested, question):
    chunks = ingested.all_chunks()
    query = [t for t in tokenize([question])[0] if t not in generic_stems()]
    reference = _lucene(chunks, query)
    got = _store(ingested).search(query, 20)
    want = sorted(reference.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [i for i, _ in got] == [i for i, _ in want]
    for (_, s), (_, r) in zip(got, want):
        assert s == pytest.approx(r, rel=1e-5)


def test_filters_keep_only_admitted_chunks(ingested):
    lexicon = Lexicon(ingested)
    chunks = {c.id: c for c in ingested.all_chunks()}
    hits = lexicon.search("lend-lease agreements negotiations", 20, Filters(doc_ids=("frus1941v06_d180",)))
    assert hits and {chunks[i].doc_id for i, _ in hits} == {"frus1941v06_d180"}
    dated = lexicon.search("Government", 20, Filters(date_from="1941-12-08", date_to="1941-12-08"))
    assert dated and {chunks[i].date for i, _ in dated} == {"1941-12-08"}


def test_term_statistics_and_vocabulary_for_the_answerer(ingested):
    lexicon = Lexicon(ingested)
    expected = _expected(ingested.all_chunks())
    assert lexicon.n == expected["n"]
    assert "guatemalan" in lexicon.df and lexicon.df["guatemalan"] == expected["df"]["guatemalan"]
    assert "zzqx" not in lexicon.df and lexicon.df.get("zzqx", 0) == 0
    assert frozenset({"convok", "zzqx"}) & lexicon.vocab == frozenset({"convok"})
    assert lexicon.correct(["guatemalen"]) == ["guatemalan"]  # the collection's own word, misspelled


def test_a_reader_sees_the_last_commit_while_a_writer_writes(ingested, tmp_path):
    path = _copy(_store(ingested), tmp_path / "kw.sqlite")
    writer_side, reader_side = KeywordStore(path), KeywordStore(path)
    before = reader_side.stats()
    doc = load_documents([SEEDS])[0]
    with writer_side.writer() as w:
        w.remove([doc.doc_id])
        assert reader_side.stats() == before  # the removal is not visible yet (WAL: the reader is not blocked)
        assert reader_side.search(["roszkowski"], 5)
    after = reader_side.stats()
    assert after[0] < before[0] and not reader_side.search(["roszkowski"], 5)
    assert reader_side.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failed_write_leaves_the_store_as_it_was(ingested, tmp_path):
    path = _copy(_store(ingested), tmp_path / "kw.sqlite")
    store = KeywordStore(path)
    before = _held(store)
    with pytest.raises(RuntimeError), store.writer() as w:
        w.remove(["frus1941v06_d180"])
        raise RuntimeError("killed")
    assert _held(store) == before


def test_tokens_outside_plain_ascii_stay_one_term(tmp_path):
    assert fts_token("1941") == "1941" and fts_token("ab_c") != "ab_c" and fts_token("café") != fts_token("cafe")
    assert fts_token("état").startswith("_") and " " not in fts_token("a b")


def _run(args, env):
    return subprocess.run(CLI + args, cwd=ROOT, capture_output=True, timeout=600, env={**os.environ, **env})


def test_an_index_without_the_keyword_index_gets_it_once_with_a_notice(ingested, tmp_path):
    ix = tmp_path / "ix"
    shutil.copytree(ingested.settings.index_dir, ix)
    shutil.rmtree(ix / "keywords")  # what an index made before the keyword index looks like
    question = ["ask", "What did the Guatemalan Government convoke?", "--index", str(ix), "--collection", "kwds"]
    first = _run(question, {})
    assert first.returncode == 0, first.stderr
    notes = [line for line in first.stderr.decode().splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith("note: building the keyword index of collection 'kwds'"), notes
    assert _held(KeywordStore(keyword_path(ix / "keywords", "kwds"))) == _expected(ingested.all_chunks())
    again = _run(question, {})
    assert again.returncode == 0 and again.stderr.decode().strip() == ""
    assert again.stdout == first.stdout


def test_a_damaged_keyword_index_is_rebuilt_with_a_notice(ingested, tmp_path):
    _store(ingested).close()  # its last connection: the WAL is checkpointed into the file and removed
    ix = tmp_path / "ix"
    shutil.copytree(ingested.settings.index_dir, ix)
    db = keyword_path(ix / "keywords", "kwds")
    assert not Path(f"{db}-wal").exists()
    db.write_bytes(random.Random(3).randbytes(8192))
    question = ["ask", "What did the Guatemalan Government convoke?", "--index", str(ix), "--collection", "kwds"]
    proc = _run(question, {})
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.decode().splitlines() if line.strip()]
    assert notes[0].startswith(f"note: the keyword index {db} is damaged") and "rebuilding it" in notes[0], notes
    assert len(notes) == 2 and notes[1].startswith("note: building the keyword index"), notes
    assert "frus1941v06_d105" in proc.stdout.decode() or "convoke" in proc.stdout.decode().lower()
    assert _held(KeywordStore(db)) == _expected(ingested.all_chunks())
