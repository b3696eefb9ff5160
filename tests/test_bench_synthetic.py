"""The scale bench's synthetic documents (bench/synthetic.py): distinct texts whose varied
positions keep every offset, so each text an ingest embeds finds its original's vector."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from assistant.chunks import document_context, iter_chunks
from assistant.documents import parse_document

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "frus1941"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")

sys.path.insert(0, str(ROOT / "bench"))
from synthetic import TOKEN, Corpus, SurrogateVectors  # noqa: E402


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(sorted(CORPUS.glob("*.txt")))


def _embedded_texts(text: str) -> list[str]:
    """The texts the assistant's ingest embeds for one document (context, sentences, fields)."""
    doc = parse_document(text, "x", "x")
    out = [document_context(doc)]
    for c in iter_chunks(doc):
        if c.kind in ("body", "notes"):
            out += [c.text[s - c.start : e - c.start] for s, e in c.sentences]
        else:
            out.append(c.search_text)
    return out


def test_copies_are_distinct_texts_with_their_originals_offsets(corpus):
    n = len(corpus.texts)
    texts = [corpus.document(i)[1] for i in range(3 * n)]
    assert texts[:n] == corpus.texts  # the originals first, unchanged
    assert len(set(texts)) == len(texts)  # every copy its own text
    for i in range(n, 3 * n):
        original = corpus.texts[i % n]
        assert texts[i] != original
        assert len(texts[i]) == len(original)
        assert corpus.key(texts[i]) == corpus.key(original)
    assert texts[n] == corpus.document(n)[1]  # deterministic


def test_the_vocabulary_grows_like_a_collection(corpus):
    def terms(texts):
        return {w.lower() for t in texts for w in TOKEN.findall(t)}

    n = len(corpus.texts)
    base = terms(corpus.texts)
    grown = terms(corpus.document(i)[1] for i in range(4 * n))
    assert len(grown) > 1.2 * len(base)
    # and a copy shares most of its words' statistics with the corpus: its words come from it
    copy_words = {w.lower() for w in TOKEN.findall(corpus.document(n + 5)[1]) if not w.isdigit()}
    assert len(copy_words & base) >= 0.8 * len(copy_words)


def test_every_text_an_ingest_embeds_finds_its_original(corpus):
    originals = [t for text in corpus.texts for t in _embedded_texts(text)]
    matrix = np.random.default_rng(0).normal(size=(len(originals), 8))
    vectors = SurrogateVectors(corpus, originals, matrix / np.linalg.norm(matrix, axis=1, keepdims=True))
    n = len(corpus.texts)
    copies = [t for i in range(n, 2 * n) for t in _embedded_texts(corpus.document(i)[1])]
    got = vectors(copies)
    assert vectors.misses == 0 and vectors.key_hits > 0
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # a text always gets the same vector; a varied text is near its original, not equal to it
    assert np.array_equal(vectors(copies[:5]), got[:5])
    varied = next(j for j, t in enumerate(copies) if t not in vectors.exact)
    i = vectors.by_key[corpus.key(copies[varied])]
    assert 0.9 < float(got[varied] @ vectors.matrix[i]) < 0.99999
