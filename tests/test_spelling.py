from assistant.spelling import correct_word, is_english, respell


def test_misspelled_english_words_are_corrected():
    assert correct_word("prisonners") == "prisoners"
    assert correct_word("requre") == "require"


def test_names_english_and_collection_words_stay_as_typed():
    assert is_english("freed")
    assert correct_word("roszkowski") == "roszkowski"  # no English word is close: left to the collection's lexicon
    assert respell("which prisonners did Oumansky want", known=lambda w: False) == "which prisoners did Oumansky want"
    assert respell("who signd it", known=lambda w: w == "signd") == "who signd it"  # the collection's own correction decides


def test_the_english_word_table_holds_lemminflects_words(tmp_path, monkeypatch):
    """The table in the user cache answers as lemminflect's dictionary in memory does."""
    from assistant import spelling

    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(tmp_path))
    word_table = spelling._word_table
    word_table.cache_clear()
    try:
        assert spelling._word_table() is not None and list(tmp_path.glob("english-*.sqlite"))
        from_table = {w: (is_english(w), correct_word(w), spelling._similar_length(w))
                      for w in ("freed", "prisonners", "requre", "roszkowski", "telegramm", "x", "Ambasador")}
        monkeypatch.setattr(spelling, "_word_table", lambda: None)  # the dictionary in memory
        assert from_table == {w: (is_english(w), correct_word(w), spelling._similar_length(w)) for w in from_table}
    finally:
        word_table.cache_clear()  # (the next test's cache folder makes its own)
