"""Scoring: the fitted model (``assistant/data/answer_model.json``) ranks the candidates and
says whether the best one answers at all.

Two models, written by ``assistant train`` (``assistant/train.py``):

- the *ranker*: gradient-boosted trees (``Trees``, the log-odds that a candidate answers) or a
  pairwise logistic regression over standardized features (``Linear``, ``w · x``: a candidate
  that answers above one that does not, a shorter answering span above a longer one of the
  same sentence), whichever measured better on ``dev``;
- the *answerer* (logistic regression over the best candidate's score, its lead over the
  best of another sentence, its coverage of the question, the weightiest question word its
  sentence lacks, whether it holds the asked-for type, and the share of the question's words
  the documents never use): the probability that the documents answer the question. Below
  the threshold calibrated on the bank's ``dev`` split, the step abstains.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.candidates import Candidate
from assistant.features import NAMES, matrix, vector

MODEL_FILE = Path(__file__).resolve().parent / "data" / "answer_model.json"
ANSWERER_EXTRA = ("best_score", "score_gap", "one_document", "best_score_one", "score_gap_one", "cov_one")
# What the answerer weighs (chosen on dev: more of the best candidate's features overfit train).
# A single document and a collection differ (a collection's unanswerable questions find a
# plausible sentence somewhere), so score, gap and coverage also enter times "one document".
# The weightiest question word the best candidate's sentence lacks (``miss_max``), the sentence's
# coverage and whether the candidate holds the asked-for type (a date for "when" …) separate
# "asked about something the text does not give" from an answer (chosen on dev).
ANSWERER_FEATURES = ("best_score", "score_gap", "cov", "q_unknown", "one_document", "best_score_one",
                     "score_gap_one", "cov_one", "miss_max", "sent_cov", "type_ok")


@dataclass(frozen=True)
class Linear:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float = 0.0

    def raw(self, values: dict[str, float]) -> float:
        z = self.intercept
        for n, m, s, w in zip(self.features, self.mean, self.scale, self.coef):
            z += w * (values.get(n, 0.0) - m) / s
        return z

    def probability(self, values: dict[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, self.raw(values)))))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict) -> Linear:
        return cls(tuple(d["features"]), tuple(d["mean"]), tuple(d["scale"]), tuple(d["coef"]),
                   float(d.get("intercept", 0.0)))


    def batch(self, rows):
        """Scores of a matrix of rows (columns in ``features`` order)."""
        import numpy as np

        return ((rows - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + self.intercept


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted regression trees (scikit-learn's HistGradientBoostingClassifier, exported):
    a candidate's score is ``base`` plus one leaf value per tree, its log-odds of answering.
    A node goes left when ``value <= threshold``; a leaf has feature -1."""

    features: tuple[str, ...]
    base: float
    trees: tuple[dict, ...]  # {"feature", "threshold", "left", "right", "value"}: one list per field
    _cache: list = field(default_factory=list, compare=False, repr=False)  # the trees as numpy arrays

    def batch(self, rows):
        import numpy as np

        rows = np.asarray(rows, dtype=np.float64)
        z = np.full(len(rows), self.base)
        at = np.arange(len(rows))
        for t in self._arrays():
            feature, threshold, left, right, value = t
            node = np.zeros(len(rows), dtype=np.int64)
            while True:
                f = feature[node]
                inner = f >= 0
                if not inner.any():
                    break
                go_left = rows[at, np.where(inner, f, 0)] <= threshold[node]
                node = np.where(inner, np.where(go_left, left[node], right[node]), node)
            z += value[node]
        return z

    def raw(self, values: dict[str, float]) -> float:
        return float(self.batch([[values.get(n, 0.0) for n in self.features]])[0])

    def _arrays(self):
        import numpy as np

        if not self._cache:
            self._cache.extend(self._build(np))
        return self._cache

    def _build(self, np):
        return [(np.asarray(t["feature"], dtype=np.int64), np.asarray(t["threshold"], dtype=np.float64),
                 np.asarray(t["left"], dtype=np.int64), np.asarray(t["right"], dtype=np.int64),
                 np.asarray(t["value"], dtype=np.float64)) for t in self.trees]

    def to_dict(self) -> dict:
        return {"kind": "trees", "features": list(self.features), "base": self.base, "trees": list(self.trees)}

    @classmethod
    def from_dict(cls, d: dict) -> Trees:
        return cls(tuple(d["features"]), float(d["base"]), tuple(d["trees"]))


def ranker_from_dict(d: dict) -> Linear | Trees:
    return Trees.from_dict(d) if d.get("kind") == "trees" else Linear.from_dict(d)


@dataclass(frozen=True)
class Model:
    ranker: Linear | Trees
    answerer: Linear
    threshold: float = 0.5  # answerer probability below it: abstain
    margin: float = 0.0  # a shorter candidate of the same sentence within this much of the best is preferred
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        family = "gradient-boosted trees" if isinstance(self.ranker, Trees) else "pairwise logistic"
        return {"format": 2, "family": f"{family} ranker + logistic answerer",
                "ranker": self.ranker.to_dict(), "answerer": self.answerer.to_dict(),
                "threshold": self.threshold, "margin": self.margin, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> Model:
        return cls(ranker_from_dict(d["ranker"]), Linear.from_dict(d["answerer"]), float(d.get("threshold", 0.5)),
                   float(d.get("margin", 0.0)), dict(d.get("meta", {})))


@lru_cache(maxsize=4)
def load(path: str | None = None) -> Model:
    p = Path(path) if path else MODEL_FILE
    model = Model.from_dict(json.loads(p.read_text(encoding="utf-8")))
    known = set(NAMES) | set(ANSWERER_EXTRA)
    missing = [n for n in model.ranker.features + model.answerer.features if n not in known]
    if missing:
        raise ValueError(f"{p}: features this code does not compute: {missing}; run: assistant train")
    return model


def score(candidates: list[Candidate], model: Model) -> None:
    if not candidates:
        return
    import numpy as np

    z = np.asarray(model.ranker.batch(matrix(candidates, model.ranker.features)))
    for c, v in zip(candidates, z.tolist()):
        c.score = v


def answer_features(best: Candidate, others: list[Candidate], one_document: bool = False) -> dict[str, float]:
    """The answerer's input: the best candidate's features, its score, its lead over the best
    candidate of another sentence, and whether the collection is a single document."""
    rival = max((c.score for c in others if (c.doc_id, c.sentence) != (best.doc_id, best.sentence)),
                default=best.score - 5.0)
    return extra({**best.features, "best_score": best.score, "score_gap": best.score - rival}, one_document)


def extra(values: dict[str, float], one_document: bool) -> dict[str, float]:
    one = float(one_document)
    return {**values, "one_document": one, "best_score_one": one * values["best_score"],
            "score_gap_one": one * values["score_gap"], "cov_one": one * values.get("cov", 0.0)}


def answer_probability(best: Candidate, others: list[Candidate], model: Model, one_document: bool = False) -> float:
    return model.answerer.probability(answer_features(best, others, one_document))


__all__ = ["MODEL_FILE", "Linear", "Model", "Trees", "answer_features", "answer_probability", "load", "score", "vector"]
