"""FRUS TEI import: each document div rendered to the corpus layout, spans exact.

``tests/data/tei/frus1941v06.xml`` and ``frus-structures.xml`` hold documents copied
with their markup from the published volume; the corpus in ``../shared/corpus/frus1941``
holds the same documents as text, made independently, so the rendering is checked
against it character for character.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from assistant.errors import UserError
from assistant.loaders import load_documents
from assistant.tei import load_tei

DATA = Path(__file__).parent / "data" / "tei"
VOLUME = DATA / "frus1941v06.xml"
STRUCTURES = DATA / "frus-structures.xml"
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "frus1941"

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


def _manifest() -> dict[str, dict[str, str]]:
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8", newline="") as f:
        return {row["doc_id"]: row for row in csv.DictReader(f, delimiter="\t")}


@pytest.fixture(scope="module")
def volume_docs():
    return load_tei(VOLUME)


@pytest.fixture(scope="module")
def structure_docs():
    return {d.doc_id.rsplit("_", 1)[1]: d for d in load_tei(STRUCTURES)}


def test_one_document_per_document_div_in_volume_order(volume_docs):
    assert [d.doc_id for d in volume_docs] == [
        "frus1941v06_d1", "frus1941v06_d105", "frus1941v06_d121", "frus1941v06_d180",
    ]
    assert all(d.source.endswith(f"frus1941v06.xml#{d.doc_id.split('_')[1]}") for d in volume_docs)
    assert all(Path(d.source.split("#")[0]).is_absolute() for d in volume_docs)


@needs_corpus
def test_rendering_equals_the_corpus_text_files(volume_docs, structure_docs):
    """The TEI rendering and the corpus files (converted separately) agree exactly."""
    compared = 0
    for doc in [*volume_docs, *structure_docs.values()]:
        xml_id = doc.doc_id.rsplit("_", 1)[1]
        expected = CORPUS / f"frus1941v06_{xml_id}.txt"
        if expected.exists():
            assert doc.text == expected.read_text(encoding="utf-8"), doc.doc_id
            compared += 1
    assert compared == 6


@needs_corpus
def test_dates_and_headings_match_the_manifest(volume_docs, structure_docs):
    manifest = _manifest()
    for doc in [*volume_docs, structure_docs["d108"], structure_docs["d182"]]:
        row = manifest[doc.doc_id.rsplit("_", 1)[1]]
        assert doc.date == row["date"]
        assert doc.title == row["heading"]
        assert doc.fields["heading"].text == row["heading"]


def test_every_span_points_into_the_text(volume_docs, structure_docs):
    for doc in [*volume_docs, *structure_docs.values()]:
        assert doc.sentences and doc.paragraphs
        for name, span in doc.fields.items():
            assert span.verify(doc.text), (doc.doc_id, name)
        for p in doc.paragraphs:
            assert doc.text[p.start : p.end] == p.text
        for s in doc.sentences:
            assert doc.text[s.start : s.end] == s.text


def test_date_comes_from_doc_datetime_min_even_when_the_dateline_is_undated(volume_docs):
    d105 = volume_docs[1]
    assert "[undated]" in d105.text
    assert d105.date == "1941-12-08"
    # Telegram sent 11 p.m. on 13 January (doc-dateTime-min 1941-01-13T23:00:00-05:00).
    assert volume_docs[0].date == "1941-01-13"


def test_date_falls_back_to_the_dateline_date_attribute(structure_docs):
    assert structure_docs["t1"].date == "1941-08-05"


def test_telegram_fields(volume_docs):
    d1 = volume_docs[0]
    f = {k: v.text for k, v in d1.fields.items()}
    assert f["file_number"] == "740.00111 A.R.N.C./160"
    assert f["kind"] == "Telegram"
    assert f["sender"] == "The Chargé in Brazil (Burdett)"
    assert f["recipient"] == "the Secretary of State"
    assert f["dateline"] == "Rio de Janeiro, January 13, 1941—11 p.m. [Received 11:05 p.m.]"
    assert f["telegram_number"] == "27"
    assert f["signature"] == "Burdett"


def test_footnotes_leave_the_body_and_are_listed_with_their_numbers(volume_docs):
    d1 = volume_docs[0]
    body = " ".join(p.text for p in d1.paragraphs if p.section == "body")
    assert "For the Under Secretary from Fenwick. There will be" in body
    assert "Sumner Welles" not in body
    notes = [p.text for p in d1.paragraphs if p.section == "notes"]
    assert notes[0] == "[2] Sumner Welles."
    assert [n.split("]")[0] for n in notes] == ["[2", "[3", "[4"]
    # A note on the heading (d180) is listed too, and the heading stays clean.
    d180 = volume_docs[3]
    assert d180.title.endswith("(Collado)")
    assert [p.text[:4] for p in d180.paragraphs if p.section == "notes"] == ["[20]"]


def test_block_quotation_inside_a_paragraph_is_its_own_paragraph(volume_docs):
    d121 = volume_docs[2]
    body = [p.text for p in d121.paragraphs if p.section == "body"]
    assert body[0] == "264. President Somoza has issued the following manifesto published in today’s newspapers:"
    assert body[1].startswith("“The world already knows")
    # the page break inside "democratic <pb/>convictions" leaves no trace
    assert "my own democratic convictions faithfully" in body[1]


def test_nested_labelled_lists(structure_docs):
    body = [p.text for p in structure_docs["d182"].paragraphs if p.section == "body"]
    labels = [t.split(" ", 1)[0] for t in body if t[:2] in ("1.", "2.", "a)", "b)", "c)", "d)")]
    assert labels == ["1.", "a)", "b)", "c)", "d)", "2."]


def test_enclosure_table_postscript_and_closer(structure_docs):
    t1 = structure_docs["t1"]
    body = [p.text for p in t1.paragraphs if p.section == "body"]
    assert body == [
        "My Dear Mr. Ambassador: The schedule of deliveries agreed upon is set out in the table "
        "below, and the draft agreement is enclosed.",
        "Year\tValue",
        "1942\t$15,000,000",
        "1943\t$19,000,000",
        "Sincerely yours,",
        "Sumner Welles",
        "P.S. The Brazilian Ambassador has seen the draft.",
        "[Enclosure]",
        "Draft Agreement",
        "August 1, 1941.",
        "Article I",
        "The parties agree to exchange schedules every ninety days.",
        "Signed in Washington in duplicate this . . . . . day of . . . . ., 1941. "
        "On Behalf of the United States of America (Title)",
    ]
    assert [p.text for p in t1.paragraphs if p.section == "notes"] == [
        "[31] Test note on the heading.", "[32] Not printed.", "[33] Test note on the enclosure.",
    ]


def test_translation_line_and_dateline_form_one_header_block(volume_docs):
    d105 = volume_docs[1]
    assert "\n\n[Translation]\nGuatemala [undated]. [Received December 8, 1941—10:33 p.m.]\n\n" in d105.text


def test_a_folder_of_tei_volumes_loads_through_load_documents():
    docs = load_documents([DATA])
    assert len(docs) == 7
    assert {d.doc_id.split("_")[0] for d in docs} == {"frus1941v06", "frus-structures"}


def test_malformed_xml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text('<?xml version="1.0"?>\n<TEI xmlns="http://www.tei-c.org/ns/1.0">\n<text><p>open\n</TEI>\n')
    with pytest.raises(UserError) as err:
        load_tei(bad)
    message = str(err.value)
    assert str(bad) in message and "line 4" in message and "\n" not in message


def test_xml_that_is_not_tei_is_refused(tmp_path):
    other = tmp_path / "feed.xml"
    other.write_text("<rss><channel><title>x</title></channel></rss>\n")
    with pytest.raises(UserError, match="not a TEI file"):
        load_tei(other)


def test_tei_without_document_divs_is_refused(tmp_path):
    empty = tmp_path / "empty.xml"
    empty.write_text('<TEI xmlns="http://www.tei-c.org/ns/1.0"><text><body><p>x</p></body></text></TEI>')
    with pytest.raises(UserError, match="no <div type=\"document\">"):
        load_tei(empty)


def test_entities_are_not_expanded(tmp_path):
    """An external entity is never fetched or read (no XXE)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    evil = tmp_path / "evil.xml"
    evil.write_text(
        f'<!DOCTYPE TEI [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        '<TEI xmlns="http://www.tei-c.org/ns/1.0"><text><body>'
        '<div type="document" xml:id="d1"><head>A to B</head><p>Text &x; here.</p></div>'
        "</body></text></TEI>"
    )
    docs = load_tei(evil)
    assert "SECRET" not in docs[0].text


def test_a_footnote_of_several_paragraphs_keeps_its_words_apart(tmp_path):
    volume = tmp_path / "vol.xml"
    volume.write_text(
        '<TEI xmlns="http://www.tei-c.org/ns/1.0"><text><body>'
        '<div type="document" xml:id="d7"><head>The Minister to the Secretary</head>'
        '<p>Text.<note n="9"><p>First part.</p><p>Second part.</p></note> More.</p></div>'
        "</body></text></TEI>"
    )
    doc = load_tei(volume)[0]
    assert doc.doc_id == "vol_d7"
    assert doc.text == "The Minister to the Secretary\n\nText. More.\n\nNotes:\n[9] First part. Second part.\n"
