"""Scoring: the fitted model (``assistant/data/answer_model.json``) ranks the candidates and
says whether the best one answers at all.

Two linear models over standardized features, written by ``assistant train``
(``assistant/train.py``):

- the *ranker* (pairwise logistic regression): ``candidate.score = w · x``; within one
  question, a candidate that answers should score above one that does not, and a shorter
  answering span above a longer one of the same sentence;
- the *answerer* (logistic regression over the best candidate's score, its lead over the
  best of another sentence, its coverage of the question and the share of the question's
  words the documents never use): the probability that the question is answered by it. Below
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
ANSWERER_FEATURES = ("best_score", "score_gap", "cov", "q_unknown", "one_document", "best_score_one",
                     "score_gap_one", "cov_one")


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


@dataclass(frozen=True)
class Model:
    ranker: Linear
    answerer: Linear
    threshold: float = 0.5  # answerer probability below it: abstain
    margin: float = 0.0  # a shorter candidate of the same sentence within this much of the best is preferred
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"format": 2, "family": "pairwise logistic ranker + logistic answerer",
                "ranker": self.ranker.to_dict(), "answerer": self.answerer.to_dict(),
                "threshold": self.threshold, "margin": self.margin, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> Model:
        return cls(Linear.from_dict(d["ranker"]), Linear.from_dict(d["answerer"]), float(d.get("threshold", 0.5)),
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

    r = model.ranker
    z = ((matrix(candidates, r.features) - np.asarray(r.mean)) / np.asarray(r.scale)) @ np.asarray(r.coef) + r.intercept
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


__all__ = ["MODEL_FILE", "Linear", "Model", "answer_features", "answer_probability", "load", "score", "vector"]
