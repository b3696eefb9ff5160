"""Collections: a folder of FRUS text files, a Markdown note and a FRUS TEI volume in one
collection; answers name each cited document; ``--doc`` and ``--from``/``--to`` narrow
the search; ``assistant collections`` lists what the index holds.

One collection is ingested once (through the real CLI, in-process) into a temp index
with the real model and Chroma; the questions must cite the document that answers them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from assistant.cli import app
from assistant.errors import UserError
from assistant.loaders import load_documents
from typer.testing import CliRunner

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "frus1941"
TEI = ROOT / "tests" / "data" / "tei"
# Telegrams, letters and memoranda from four chapters; d108 and d182 come from the TEI sample.
SUBSET = ["d1", "d3", "d5", "d40", "d100", "d104", "d105", "d119", "d121", "d150", "d179", "d180"]
NOTES_MD = """# Reading notes for the class

The class reads the December 1941 telegrams in the library seminar room on Thursdays.

Each student presents one telegram and the reply it received.
"""

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
runner = CliRunner()


def cli(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=True)
    return result


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A folder of 12 corpus .txt files and one .md note, plus the TEI structures volume."""
    if not CORPUS.is_dir():
        pytest.skip("shared corpus not present")
    root = tmp_path_factory.mktemp("library")
    folder = root / "frus-text"
    folder.mkdir()
    for doc in SUBSET:
        shutil.copy(CORPUS / f"frus1941v06_{doc}.txt", folder)
    (folder / "reading-notes.md").write_text(NOTES_MD, encoding="utf-8")
    return {"folder": folder, "tei": TEI / "frus-structures.xml", "index": root / "index"}


@pytest.fixture(scope="module")
def ingested(library):
    result = cli("ingest", str(library["folder"]), str(library["tei"]), "--collection", "frus",
                 "--index", str(library["index"]), "--quiet")
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def documents(library):
    return {d.doc_id: d for d in load_documents([library["folder"], library["tei"]])}


def ask_json(library, question: str, *options: str) -> dict:
    result = cli("ask", question, "--json", "--collection", "frus", "--index", str(library["index"]), *options)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(result.stdout)


def test_ingest_takes_text_markdown_and_tei_in_one_collection(ingested, documents):
    expected = len(SUBSET) + 1 + 3  # the .txt files, the .md note, three TEI documents
    assert len(documents) == expected
    assert f"frus: {expected} added, 0 updated, 0 removed, 0 unchanged" in ingested.stdout
    assert {"reading-notes", "frus-structures_d108", "frus-structures_d182", "frus-structures_t1"} <= set(documents)


def test_reingesting_the_same_paths_changes_nothing(library, ingested, documents):
    result = cli("ingest", str(library["folder"]), str(library["tei"]), "--collection", "frus",
                 "--index", str(library["index"]), "--quiet")
    assert result.exit_code == 0
    assert f"0 added, 0 updated, 0 removed, {len(documents)} unchanged" in result.stdout


@pytest.mark.parametrize(
    "question, doc_id",
    [
        ("Which countries have negotiations of basic lend-lease agreements been taken up with?", "frus1941v06_d180"),
        ("Who voted to eliminate the clause on warships making repairs in neutral ports?", "frus1941v06_d5"),
        ("What did President Lescot ask the Chargé in Haiti to convey to President Roosevelt?", "frus-structures_d108"),
        ("What has been definitively ruled about lend-lease funds for local labor?", "frus-structures_d182"),
        ("Where does the class read the December 1941 telegrams?", "reading-notes"),
    ],
)
def test_answers_cite_the_document_that_answers(library, ingested, documents, question, doc_id):
    answer = ask_json(library, question)
    assert not answer["abstained"], answer["answer"]
    first = answer["citations"][0]
    assert first["doc_id"] == doc_id
    for c in answer["citations"]:
        doc = documents[c["doc_id"]]
        assert doc.text[c["start"] : c["end"]] == c["quote"]  # the quote is where it says
        assert (c["title"], c["date"]) == (doc.title, doc.date)
    # Across several documents the answer names each cited one, with its date when known.
    sources = answer["answer"].split("Sources:", 1)[1]
    for c in answer["citations"]:
        assert f"[{c['n']}] {c['title']}" in sources
        if c["date"]:
            assert f"({c['date']})" in sources


def test_tei_citation_points_into_the_volume_file(library, ingested, documents):
    answer = ask_json(library, "What did President Lescot ask the Chargé in Haiti to convey to President Roosevelt?")
    c = answer["citations"][0]
    assert c["source"].endswith("frus-structures.xml#d108")
    assert c["date"] == "1941-12-07"  # from frus:doc-dateTime-min
    again = ask_json(library, "What did President Lescot ask the Chargé in Haiti to convey to President Roosevelt?")
    assert (again["answer"], again["citations"], again["passages"]) == (
        answer["answer"], answer["citations"], answer["passages"])  # deterministic


def test_doc_filter_keeps_every_passage_in_that_document(library, ingested):
    question = "Which countries have negotiations of basic lend-lease agreements been taken up with?"
    narrowed = ask_json(library, question, "--doc", "frus1941v06_d104")
    assert narrowed["passages"]
    assert {p["doc_id"] for p in narrowed["passages"]} == {"frus1941v06_d104"}
    assert {c["doc_id"] for c in narrowed["citations"] + narrowed["related"]} <= {"frus1941v06_d104"}
    # Two documents: the answer comes from the one that has it.
    both = ask_json(library, question, "--doc", "frus1941v06_d104", "--doc", "frus1941v06_d180")
    assert {p["doc_id"] for p in both["passages"]} <= {"frus1941v06_d104", "frus1941v06_d180"}
    assert both["citations"][0]["doc_id"] == "frus1941v06_d180"


def test_date_range_keeps_every_passage_inside_it(library, ingested, documents):
    question = "Which governments declared war on Japan?"
    unfiltered = ask_json(library, question, "-k", "8")
    assert any(p["date"] != "1941-12-09" for p in unfiltered["passages"])  # the filter has work to do
    narrowed = ask_json(library, question, "-k", "8", "--from", "1941-12-09", "--to", "1941-12-09")
    assert narrowed["passages"]
    assert {p["date"] for p in narrowed["passages"]} == {"1941-12-09"}
    assert all(documents[c["doc_id"]].date == "1941-12-09" for c in narrowed["citations"] + narrowed["related"])
    # An open-ended range: only the earlier documents (January 1941 and before July).
    early = ask_json(library, "What did the Neutrality Committee do?", "--to", "1941-06-30")
    assert early["passages"] and all(p["date"] <= "1941-06-30" for p in early["passages"])


def test_unknown_doc_id_is_a_user_error_with_a_suggestion(library, ingested):
    result = cli("ask", "Who signed it?", "--collection", "frus", "--index", str(library["index"]), "--doc", "d180")
    assert isinstance(result.exception, UserError)
    assert "no document 'd180' in collection 'frus'" in str(result.exception)
    assert "frus1941v06_d180" in str(result.exception)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--from", "1941-13-01"], "invalid --from date '1941-13-01': use YYYY-MM-DD, e.g. 1941-12-08"),
        (["--to", "Dec 8"], "invalid --to date 'Dec 8': use YYYY-MM-DD, e.g. 1941-12-08"),
        (["--from", "1941-12-10", "--to", "1941-12-01"], "--from 1941-12-10 is after --to 1941-12-01: nothing can match"),
    ],
)
def test_bad_dates_exit_2_with_one_line(tmp_path, options, message):
    """Checked before anything is loaded: a real process, exit status 2, one line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", "Who signed it?", "--index", str(tmp_path / "none"), *options],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {message}"
    assert not (tmp_path / "none").exists()  # nothing created


def test_collections_lists_each_collection_with_counts(library, ingested, documents):
    # A second collection in the same index: the seed telegram.
    seeds = ROOT / "seeds"
    assert cli("ingest", str(seeds), "--collection", "telegram", "--index", str(library["index"]), "--quiet").exit_code == 0

    listed = cli("collections", "--index", str(library["index"]), "--json")
    assert listed.exit_code == 0, listed.output
    rows = {r["collection"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {"frus", "telegram"}
    assert rows["frus"]["documents"] == len(documents)
    assert rows["telegram"]["documents"] == 1
    assert rows["frus"]["incomplete"] == rows["telegram"]["incomplete"] == 0

    from assistant.chunks import chunk_document

    assert rows["frus"]["chunks"] == sum(len(chunk_document(d)) for d in documents.values())

    table = cli("collections", "--index", str(library["index"]))
    lines = table.stdout.splitlines()
    assert lines[1].split() == ["collection", "documents", "chunks"]
    assert lines[2].split() == ["frus", str(len(documents)), str(rows["frus"]["chunks"])]
    assert lines[3].split()[:2] == ["telegram", "1"]


def test_collection_document_listing_gives_ids_for_doc(library, ingested, documents):
    listed = cli("collections", "--index", str(library["index"]), "--collection", "frus", "--json")
    rows = json.loads(listed.stdout)
    assert {r["doc_id"] for r in rows} == set(documents)
    by_id = {r["doc_id"]: r for r in rows}
    assert by_id["frus-structures_d182"]["date"] == "1941-10-01"
    assert by_id["frus-structures_d182"]["title"] == documents["frus-structures_d182"].title
    assert by_id["reading-notes"]["date"] is None
    # sorted by date, undated last
    dates = [r["date"] or "9999" for r in rows]
    assert dates == sorted(dates)


def test_collections_on_an_empty_index_creates_nothing(tmp_path):
    result = cli("collections", "--index", str(tmp_path / "fresh"))
    assert result.exit_code == 0
    assert "no collections yet" in result.stdout
    assert not (tmp_path / "fresh").exists()


def test_same_document_id_from_two_sources_keeps_both_and_loses_nothing(library, ingested, documents):
    """The corpus file frus1941v06_d1.txt and the TEI volume's d1 share a readable id: the
    one already in the collection keeps it, the new source gets it plus a hash (issue 10)."""
    before = {r["doc_id"]: r for r in json.loads(cli("collections", "--index", str(library["index"]),
                                                      "--collection", "frus", "--json").stdout)}
    result = cli("ingest", str(library["folder"]), str(TEI / "frus1941v06.xml"), "--collection", "frus",
                 "--index", str(library["index"]), "--quiet")
    assert result.exit_code == 0, result.output + repr(result.exception)
    after = {r["doc_id"]: r for r in json.loads(cli("collections", "--index", str(library["index"]),
                                                     "--collection", "frus", "--json").stdout)}
    assert {k: after[k] for k in before} == before  # every earlier document as it was
    tei_d1 = [k for k in after if k.startswith("frus1941v06_d1-")]
    assert len(tei_d1) == 1 and after[tei_d1[0]]["source"].endswith("frus1941v06.xml#d1")
    assert after["frus1941v06_d1"]["source"].endswith("frus1941v06_d1.txt")
