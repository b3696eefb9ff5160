
import pytest
from assistant.documents import parse_document
from assistant.errors import UserError
from assistant.loaders import load_documents

from conftest import CORPUS, SEEDS


def _all_spans(doc):
    yield from doc.fields.values()
    yield from doc.paragraphs
    yield from doc.sentences


def test_seed_layout(seed_text):
    (doc,) = load_documents([SEEDS])
    f = {k: v.text for k, v in doc.fields.items()}
    assert f["file_number"] == "311.6121 Gorin, M. N./44"
    assert f["kind"] == "Telegram"
    assert f["sender"] == "The Acting Secretary of State"
    assert f["recipient"] == "the Ambassador in the Soviet Union (Steinhardt)"
    assert f["signature"] == "Welles"
    assert f["telegram_number"] == "352"
    assert "dateline" not in f  # the seed has none
    assert doc.text == seed_text  # kept exactly as read
    assert [p.section for p in doc.paragraphs] == ["header", "header", "body", "body", "body", "signature"]


@pytest.mark.parametrize("trap", ["9 p.m. When", "Mrs. Habicht"])
def test_traps_do_not_split_sentences(trap):
    (doc,) = load_documents([SEEDS])
    assert [s for s in doc.sentences if trap in s.text], f"{trap!r} is cut across sentences"


def test_file_number_initials_in_the_body_do_not_split_a_sentence():
    # In the seed "M. N./44" only occurs in the file-number field, which the splitter never sees.
    doc = parse_document(
        "711.00/1: Telegram\n\nThe Secretary of State to the Ambassador in Mexico (Daniels)\n\n"
        "12. See file 311.6121 Gorin, M. N./44 for the text. The Minister agreed.\n\nHull\n",
        doc_id="t", source="t.txt",
    )
    assert [s.text for s in doc.sentences] == [
        "12. See file 311.6121 Gorin, M. N./44 for the text.", "The Minister agreed.",
    ]


def test_no_573_trap_and_telegram_number_stays_with_its_sentence():
    doc = parse_document(
        "711.00/1: Telegram\n\nThe Secretary of State to the Ambassador in Mexico (Daniels)\n\n"
        "12. Your No. 573, March 2. The Minister agreed.\n\nHull\n",
        doc_id="t", source="t.txt",
    )
    assert [s.text for s in doc.sentences] == ["12. Your No. 573, March 2.", "The Minister agreed."]


def test_span_invariant_on_seed_and_every_corpus_document():
    docs = load_documents([SEEDS, CORPUS])
    assert len(docs) == 153
    for doc in docs:
        assert doc.sentences, doc.doc_id
        for span in _all_spans(doc):
            assert doc.text[span.start : span.end] == span.text, (doc.doc_id, span)
        # sentences tile each body paragraph: no text outside a sentence but white space
        for p in doc.paragraphs:
            inside = [s for s in doc.sentences if s.paragraph == p.index]
            covered = "".join(doc.text[s.start : s.end] for s in inside)
            if p.section in ("body", "notes"):
                assert "".join(covered.split()) == "".join(p.text.split()), doc.doc_id


def test_corpus_fields_and_dates_match_manifest():
    import csv

    rows = {r["doc_id"]: r for r in csv.DictReader((CORPUS / "MANIFEST.tsv").open(), delimiter="\t")}
    docs = {d.doc_id.split("_")[-1]: d for d in load_documents([CORPUS])}
    assert set(rows) == set(docs)
    for doc_id, row in rows.items():
        assert docs[doc_id].title == row["heading"]
    dated = [d for d in docs.values() if d.date]
    assert len(dated) > 100
    agree = sum(d.date == rows[k]["date"] for k, d in docs.items() if d.date)
    assert agree / len(dated) > 0.9


def test_missing_binary_non_utf8_and_empty_folder(tmp_path):
    with pytest.raises(UserError, match=r"no such file or folder: .*nope"):
        load_documents([tmp_path / "nope.txt"])
    (tmp_path / "b.txt").write_bytes(b"abc\x00def")
    with pytest.raises(UserError, match=r"binary.*b.txt"):
        load_documents([tmp_path / "b.txt"])
    (tmp_path / "l.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(UserError, match=r"not UTF-8.*l.txt"):
        load_documents([tmp_path / "l.txt"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"no .txt, .md or .xml documents in folder"):
        load_documents([empty])


def test_plain_markdown_document(tmp_path):
    p = tmp_path / "notes.md"
    p.write_text("# Class notes\n\nGorin was released. He left at once.\n", encoding="utf-8")
    (doc,) = load_documents([p])
    assert doc.title == "Class notes"
    assert [s.text for s in doc.sentences] == ["Gorin was released.", "He left at once."]
