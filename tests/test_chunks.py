from assistant.chunks import MAX_WINDOW_CHARS, chunk_document
from assistant.loaders import load_documents

from conftest import CORPUS, SEEDS


def test_chunks_are_exact_spans_and_never_cut_a_sentence():
    for doc in load_documents([SEEDS, CORPUS]):
        sentence_spans = {(s.start, s.end) for s in doc.sentences}
        chunks = chunk_document(doc)
        seen = set()
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
            assert c.doc_id == doc.doc_id
            if c.kind in ("body", "notes"):
                assert c.sentences[0][0] == c.start and c.sentences[-1][1] == c.end
                assert set(c.sentences) <= sentence_spans  # whole sentences only
                assert len(c.sentences) == 1 or c.end - c.start <= MAX_WINDOW_CHARS
                seen |= set(c.sentences)
        assert seen == sentence_spans, doc.doc_id  # every sentence is in some window
        assert len({c.id for c in chunks}) == len(chunks)


def test_structural_passages_quote_the_field_and_describe_it():
    (doc,) = load_documents([SEEDS])
    by_kind = {c.kind: c for c in chunk_document(doc)}
    assert by_kind["signature"].text == "Welles"
    assert "sign" in by_kind["signature"].search_text.lower()
    assert by_kind["sender"].text == "The Acting Secretary of State"
    assert by_kind["recipient"].text.endswith("(Steinhardt)")
    assert by_kind["telegram_number"].text == "352"
    assert by_kind["file_number"].text == "311.6121 Gorin, M. N./44"


def test_chunks_come_one_at_a_time_and_are_the_same_as_the_list():
    """Ingest streams ``iter_chunks``: it must be lazy (a generator), and give exactly the
    chunks ``chunk_document`` lists, in the same order."""
    import inspect

    from assistant.chunks import iter_chunks

    (doc,) = load_documents([SEEDS])
    lazy = iter_chunks(doc)
    assert inspect.isgenerator(lazy)
    first = next(lazy)
    listed = chunk_document(doc)
    assert [first, *lazy] == listed and len(listed) > 1
    assert all(doc.text[c.start:c.end] == c.text for c in listed)
