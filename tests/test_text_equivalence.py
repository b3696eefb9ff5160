"""Faster stand-ins give what they replace: BM25's tokenizer (``text.tokenize``) the tokens
bm25s.tokenize gave, without importing bm25s; the lemma table (``text.lemmas``) lemminflect's lemmas.

The keyword index stores these tokens under ``keyword_store.TOKENIZER``: the name was
kept when bm25s.tokenize was replaced, which is right only while the tokens are identical.
Compared over every chunk of seeds/ and of the eval corpus (texts and search texts) and
every eval question, while bm25s is installed; skipped once it is not.
"""

import pytest
import yaml
from assistant.chunks import iter_chunks
from assistant.loaders import load_documents
from assistant.text import stemmer, tokenize, words

from conftest import ROOT, SEEDS


def reference(texts: list[str]) -> list[list[str]]:
    bm25s = pytest.importorskip("bm25s")  # (the tokenizer tests only)
    return bm25s.tokenize(texts, stopwords="en_plus", stemmer=stemmer(), show_progress=False, return_ids=False)


def _questions() -> list[str]:
    out: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("question", "q") and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
            out.extend(item for item in node if isinstance(item, str))

    for name in ("telegram.yaml", "frus1941.yaml"):
        walk(yaml.safe_load((ROOT / "evals" / name).read_text(encoding="utf-8")))
    return out


@pytest.mark.parametrize("folder", [SEEDS, ROOT / "evals" / "corpus"], ids=["seeds", "eval-corpus"])
def test_the_tokens_are_bm25s_tokens_over_every_chunk(folder):
    texts = []
    for doc in load_documents([folder], unique_ids=False):
        for chunk in iter_chunks(doc):
            texts += [chunk.text, chunk.search_text]
    assert len(texts) > 20
    # one text at a time (bm25s stems the batch's unique words; the batch must not matter)
    assert tokenize(texts) == reference(texts)
    assert [tokenize([t])[0] for t in texts[:200]] == [reference([t])[0] for t in texts[:200]]


def test_the_tokens_are_bm25s_tokens_for_the_eval_questions_and_odd_text():
    questions = _questions()
    assert len(questions) > 20
    odd = ["", "a", "I'm sure it's the Judge's", "Ünïcödé naïve café Größe", "x_y __init__ 1941 3,000 4.5",
           "THE AND OF", "don't won't shouldn't", "\t\n  ", "Roszkowski's 352nd telegram—sent"]
    assert tokenize(questions + odd) == reference(questions + odd)


def test_the_stop_word_list_is_bm25s_en_plus():
    STOPWORDS_EN_PLUS = pytest.importorskip("bm25s.stopwords").STOPWORDS_EN_PLUS

    assert words("bm25_stopwords") == frozenset(STOPWORDS_EN_PLUS)


def _corpus_words() -> list[str]:
    import re

    texts = [d.text for d in load_documents([SEEDS, ROOT / "evals" / "corpus"], unique_ids=False)] + _questions()
    return sorted({w.lower() for t in texts for w in re.findall(r"[A-Za-z]+", t)})


def _lemminflect(word: str) -> tuple[str, ...]:
    from lemminflect import getAllLemmas

    return tuple(lemma for forms in getAllLemmas(word).values() for lemma in forms)


def test_the_lemma_table_gives_lemminflects_lemmas(tmp_path, monkeypatch):
    """Every word of the corpora and questions (and words lemminflect knows by its overrides
    or not at all) has the lemmas lemminflect gives, from the table made in the user cache."""
    from assistant import text

    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(tmp_path))
    text.lemma_table.cache_clear()
    try:
        corpus = _corpus_words()
        assert len(corpus) > 2000
        extra = ["wives", "left", "was", "were", "better", "mice", "xyzzyq", "geese", "axes", "data", "children"]
        assert [text.lemmas(w) for w in corpus + extra] == [_lemminflect(w) for w in corpus + extra]
        assert list(tmp_path.glob("lemmas-*.sqlite"))  # it came from the table
        assert set(text.lemmas("wives")) == {"wife"}
    finally:
        text.lemma_table.cache_clear()


def test_without_a_writable_cache_the_lemmas_come_from_lemminflect(tmp_path, monkeypatch):
    from assistant import text

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot be made
    text.lemma_table.cache_clear()
    try:
        assert text.lemma_table() is None
        assert text.lemmas("wives") == _lemminflect("wives") and "wife" in text.lemmas("wives")
    finally:
        text.lemma_table.cache_clear()
