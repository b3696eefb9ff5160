from assistant.spelling import correct_word, is_english, respell


def test_misspelled_english_words_are_corrected():
    assert correct_word("prisonners") == "prisoners"
    assert correct_word("requre") == "require"


def test_names_english_and_collection_words_stay_as_typed():
    assert is_english("freed")
    assert correct_word("roszkowski") == "roszkowski"  # no English word is close: left to the collection's lexicon
    assert respell("which prisonners did Oumansky want", known=lambda w: False) == "which prisoners did Oumansky want"
    assert respell("who signd it", known=lambda w: w == "signd") == "who signd it"  # the collection's own correction decides
