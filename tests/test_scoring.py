"""Scoring: the committed model file loads, matches the features, and ranks by its weights."""

import json

import pytest
from assistant.candidates import Candidate
from assistant.chunks import Chunk
from assistant.features import NAMES
from assistant.scoring import ANSWERER_EXTRA, MODEL_FILE, Linear, Model, Trees, answer_probability, load, score


def test_the_committed_model_matches_the_features():
    model = load()
    assert set(model.ranker.features) == set(NAMES)
    assert set(model.answerer.features) <= set(NAMES) | set(ANSWERER_EXTRA)
    linear = [p for p in (model.ranker, model.answerer) if isinstance(p, Linear)]
    for part in linear:
        assert len(part.coef) == len(part.mean) == len(part.scale) == len(part.features)
        assert all(s > 0 for s in part.scale)
    if isinstance(model.ranker, Trees):
        for t in model.ranker.trees:
            n = len(t["feature"])
            assert len(t["threshold"]) == len(t["left"]) == len(t["right"]) == len(t["value"]) == n
            assert all(-1 <= f < len(NAMES) for f in t["feature"])
    assert 0.0 < model.threshold < 1.0
    meta = json.loads(MODEL_FILE.read_text())["meta"]
    assert meta["train_questions"] > 0 and meta["dev_questions"] > 0


def _cand(text="hello", start=0, sentence=(0, 5), **features):
    chunk = Chunk("c", "d", "s", "", None, "body", 0, 0, 50, "x" * 50, "x" * 50, ((0, 50),))
    c = Candidate(chunk, start, start + len(text), text, "sentence", 0, sentence, text)
    c.features = dict.fromkeys(NAMES, 0.0) | features
    return c


def _model(coef_cov=2.0, coef_dense=-1.0, answer_coef=1.0):
    ranker = Linear(("cov", "dense"), (0.0, 0.0), (1.0, 1.0), (coef_cov, coef_dense))
    answerer = Linear(("best_score",), (0.0,), (1.0,), (answer_coef,), 0.0)
    return Model(ranker, answerer, threshold=0.5)


def test_ranker_score_follows_the_weights():
    high, low = _cand(cov=1.0), _cand(dense=1.0)
    score([high, low], _model())
    assert high.score == pytest.approx(2.0) and low.score == pytest.approx(-1.0)


def test_answerer_probability_uses_the_best_score():
    best = _cand(cov=1.0)
    other = _cand(start=20, sentence=(20, 30), dense=1.0)
    model = _model()
    score([best, other], model)
    assert answer_probability(best, [best, other], model) == pytest.approx(1 / (1 + 2.718281828459045 ** -2.0))
    model_neg = _model(answer_coef=-1.0)
    assert answer_probability(best, [best, other], model_neg) < 0.5


def test_a_model_naming_unknown_features_is_refused(tmp_path):
    bad = Model(Linear(("no_such_feature",), (0.0,), (1.0,), (1.0,)), Linear(("best_score",), (0.0,), (1.0,), (1.0,)))
    path = tmp_path / "m.json"
    path.write_text(json.dumps(bad.to_dict()))
    with pytest.raises(ValueError, match="assistant train"):
        load(str(path))


def _stump(feature=0, threshold=0.5, low=-1.0, high=2.0):
    return {"feature": [feature, -1, -1], "threshold": [threshold, 0.0, 0.0], "left": [1, 0, 0],
            "right": [2, 0, 0], "value": [0.0, low, high]}


def test_trees_add_one_leaf_per_tree_to_the_base():
    trees = Trees(("cov", "dense"), 0.25, (_stump(0, 0.5, -1.0, 2.0), _stump(1, 0.0, 0.5, -0.5)))
    assert trees.raw({"cov": 0.9, "dense": -0.1}) == pytest.approx(0.25 + 2.0 + 0.5)
    assert trees.raw({"cov": 0.5, "dense": 0.3}) == pytest.approx(0.25 - 1.0 - 0.5)  # equal goes left
    assert list(trees.batch([[0.9, -0.1], [0.5, 0.3]])) == pytest.approx([2.75, -1.25])


def test_a_trees_model_ranks_and_round_trips(tmp_path):
    model = Model(Trees(("cov", "dense"), 0.0, (_stump(0, 0.5, -1.0, 2.0),)),
                  Linear(("best_score",), (0.0,), (1.0,), (1.0,), 0.0), threshold=0.5)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model.to_dict()))
    loaded = load(str(path))
    assert isinstance(loaded.ranker, Trees)
    high, low = _cand(cov=1.0), _cand(start=20, sentence=(20, 30), cov=0.0)
    score([high, low], loaded)
    assert high.score == pytest.approx(2.0) and low.score == pytest.approx(-1.0)
