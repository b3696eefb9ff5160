"""Training: fit the answer scorer on the bank's ``train`` split, calibrate it on ``dev``.

    assistant train            # or: make train
    → assistant/data/answer_model.json

For every question of the train and dev splits of each set (``evals/telegram.yaml``,
``evals/frus1941.yaml``) the real pipeline runs on the set's eval index (the one
``assistant eval`` builds, ``.index/eval-<set>``): spelling, follow-up resolution (earlier
turns stand in as their reference answers), hybrid retrieval, candidates, features. A
candidate is labelled positive when it span-matches a supporting evidence span and holds
every key-term group (``assistant.metrics``). Two models are fitted on ``train``
(scikit-learn):

- the ranker: gradient-boosted trees (``GBM``: every answering candidate and up to
  ``GBM_NEGATIVES`` others of each question), or a pairwise logistic regression (answering
  minus non-answering candidates of one question, and a shorter answering span minus a longer
  one of the same sentence), whichever has the better dev result;
- the answerer, a logistic regression predicting whether the documents answer the question,
  from the best-ranked candidate (``scoring.ANSWERER_FEATURES``).

On ``dev`` the regularization of both, the shortest-span margin and the abstention threshold
are chosen (``calibrate``: within ``MAX_FALSE_REFUSALS`` false refusals, the threshold with the
most right answers and right abstentions less wrong answers). The ``test``
split is never read.

Deterministic: sorted inputs, a deterministic solver, rounded weights.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from assistant import features, metrics
from assistant.answer import Answer, Citation
from assistant.api import Assistant
from assistant.config import Settings
from assistant.decision import limit
from assistant.errors import UserError
from assistant.evalsets import load_set, load_set_documents, locate_evidence
from assistant.evaluate import default_index_dir
from assistant.features import NAMES
from assistant.index import Index
from assistant.scoring import ANSWERER_FEATURES, MODEL_FILE, Linear, Model, Trees, extra

log = logging.getLogger(__name__)

SETS = ("telegram", "frus1941")
C_GRID = (0.001, 0.01, 0.1)
MARGINS = (0.0, 0.1, 0.25, 0.5, 1.0)
MAX_FALSE_REFUSALS = 0.05


@dataclass
class Group:
    """One question's candidates: feature rows, labels, and what the decision needs."""

    set: str
    split: str
    item_id: str
    qtype: str
    answerable: bool
    rows: list  # feature vectors
    labels: list  # 0/1
    lengths: list  # chars of each candidate
    places: list  # (doc_id, sentence start, sentence end) of each candidate
    kinds: list
    texts: list
    foreign: bool = False
    one_document: bool = False  # the collection is a single document (the telegram)
    question: str = ""


def index_name(evalset) -> str:
    """The eval index a set is asked on: a draft over a known set's corpus shares that set's index."""
    for known in SETS:
        try:
            other = load_set(known, check_documents=False)
        except UserError:  # a missing (or broken) known set only means no sharing
            continue
        if other.corpus.resolve() == evalset.corpus.resolve() and other.documents == evalset.documents:
            return known
    return evalset.name


def open_set_assistant(evalset, index_dir: Path | None = None):
    """The Assistant on the set's eval index, built or brought up to date as ``assistant eval`` does."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    name = index_name(evalset)
    index_dir = Path(index_dir or default_index_dir(name))
    collection = f"eval-{name}"
    saved_url = os.environ.pop("ASSISTANT_CHROMA_URL", None)
    try:
        settings = Settings(index_dir=index_dir, collection=collection, chroma_url=None)
        index = Index(settings)
        try:
            index.ingest(evalset.document_paths(), progress=False)
        except UserError:
            index = Index(settings, index.embeddings)
            index.ingest(evalset.document_paths(), progress=False, rebuild=True)
        return Assistant.open(index=index_dir, collection=collection)
    finally:
        if saved_url is not None:
            os.environ["ASSISTANT_CHROMA_URL"] = saved_url


def reference_answer(item, documents) -> Answer:
    """An earlier turn as the conversation would hold it had it been answered right."""
    cites: list[Citation] = []
    for ev in item.evidence:
        if not ev.spans:
            continue
        s, e = ev.spans[0]
        doc = documents[ev.doc_id]
        cites.append(Citation(n=len(cites) + 1, doc_id=ev.doc_id, source=doc.source, start=s, end=e,
                              quote=doc.text[s:e], title=doc.title, date=doc.date))
    lead = item.key_terms[0][0] if item.key_terms and item.key_terms[0] else None
    return Answer(question=item.question, answer=item.answer, abstained=not item.answerable,
                  citations=tuple(cites), lead=lead, resolved_question=item.question)


def label(candidate, item) -> int:
    if not item.answerable:
        return 0
    supporting = [(ev.doc_id, s, e) for ev in item.supporting for s, e in ev.spans]
    if not metrics.matches_any((candidate.doc_id, candidate.start, candidate.end), supporting):
        return 0
    return int(metrics.key_terms_score(candidate.text, item.key_terms)[0])


def collect(set_names=SETS, splits=("train", "dev"), progress: bool = True) -> list[Group]:
    groups: list[Group] = []
    for set_name in set_names:
        full = load_set(set_name)
        name = full.name
        documents = load_set_documents(full)
        locate_evidence(full, documents)
        assistant = open_set_assistant(full)
        chain = assistant.chain
        dialogues = [d for d in full.dialogues if d[0].split in splits]
        t0 = time.perf_counter()
        for dialogue in sorted(dialogues, key=lambda d: d[0].id):
            history: list[Answer] = []
            for item in dialogue:
                typed = chain._respell(item.question)
                resolved = chain._resolve(typed, history or None)
                hits = chain._search(resolved)  # as answering does: a follow-up searches its conversation's documents
                q, cands = chain.candidates(resolved, hits)
                groups.append(Group(
                    set=name, split=item.split, item_id=item.id, qtype=q.qtype, answerable=item.answerable,
                    rows=[features.vector(c) for c in cands], labels=[label(c, item) for c in cands],
                    lengths=[len(c.text) for c in cands], places=[(c.doc_id, *c.sentence) for c in cands],
                    kinds=[c.kind for c in cands], texts=[c.text for c in cands], question=resolved.text,
                    foreign=bool(q.weights) and not q.known and not any(c.features.get("cov") for c in cands),
                    one_document=not chain.multi_document,
                ))
                history.append(reference_answer(item, documents))
        if progress:
            n = sum(1 for g in groups if g.set == name)
            log.info(f"{name}: {n} questions ({', '.join(splits)}) in {time.perf_counter() - t0:.0f} s")
    return groups


def _order(group: Group, scores) -> list[int]:
    lim = limit(group.qtype)
    return [i for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i)) if group.lengths[i] <= lim]


def _pick(group: Group, scores, margin: float) -> int | None:
    """The candidate the answer step would quote when it answers (decision.decide's choice)."""
    fits = _order(group, scores)
    if not fits:
        return None
    best = fits[0]
    if margin > 0:
        near = [i for i in fits if scores[i] >= scores[best] - margin and group.places[i] == group.places[best]]
        best = min(near, key=lambda i: (group.lengths[i], -scores[i], i))
    return best


def answerer_row(group: Group, scores) -> list[float] | None:
    """``scoring.ANSWERER_FEATURES`` of the best candidate: its score, its lead over another
    sentence's best, its coverage of the question, the share of the question the documents lack."""
    fits = _order(group, scores)
    if not fits:
        return None
    b = fits[0]
    rival = max((scores[i] for i in range(len(scores)) if group.places[i] != group.places[b]),
                default=scores[b] - 5.0)
    values = extra({**dict(zip(NAMES, group.rows[b])), "best_score": scores[b], "score_gap": scores[b] - rival},
                   group.one_document)
    return [values[n] for n in ANSWERER_FEATURES]


def pairs(groups: list[Group], max_negatives: int = 60):
    """(difference, label) rows: positive minus negative of one question, and a shorter
    positive minus a longer one of the same sentence; each also mirrored."""
    X, y = [], []
    for g in groups:
        pos = [i for i, lab in enumerate(g.labels) if lab]
        neg = [i for i, lab in enumerate(g.labels) if not lab]
        if not pos or not neg:
            continue
        step = max(1, len(neg) // max_negatives)
        neg = neg[::step][:max_negatives]
        for p in pos:
            for n in neg:
                d = [a - b for a, b in zip(g.rows[p], g.rows[n])]
                X += [d, [-v for v in d]]
                y += [1, 0]
            for q in pos:
                if g.places[q] == g.places[p] and g.lengths[q] < g.lengths[p]:
                    d = [a - b for a, b in zip(g.rows[q], g.rows[p])]
                    X += [d, [-v for v in d]]
                    y += [1, 0]
    return X, y


def fit_ranker(groups: list[Group], C: float):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rows = np.asarray([r for g in groups for r in g.rows], dtype=np.float64)
    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    scale[scale == 0] = 1.0
    X, y = pairs(groups)
    X = np.asarray(X, dtype=np.float64) / scale  # differences: the mean cancels
    clf = LogisticRegression(C=C, solver="lbfgs", max_iter=5000, fit_intercept=False)
    clf.fit(X, np.asarray(y))
    return mean, scale, clf.coef_[0]


# The boosted trees' settings (chosen on dev among a few: deeper trees or smaller leaves
# widened the train/dev gap) and the negatives each question contributes.
GBM = {"learning_rate": 0.05, "max_iter": 100, "max_leaf_nodes": 7, "min_samples_leaf": 50, "l2_regularization": 1.0}
GBM_NEGATIVES = 30


def fit_trees(groups: list[Group]) -> Trees:
    """Gradient-boosted trees predicting whether a candidate answers: every answering candidate
    of a question and up to ``GBM_NEGATIVES`` others (evenly spaced in candidate order)."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = [], []
    for g in groups:
        pos = [i for i, lab in enumerate(g.labels) if lab]
        neg = [i for i, lab in enumerate(g.labels) if not lab]
        neg = neg[:: max(1, len(neg) // GBM_NEGATIVES)][:GBM_NEGATIVES]
        for i in sorted(pos + neg):
            X.append(g.rows[i])
            y.append(g.labels[i])
    # Rounded inputs and one thread: the last bits of a cosine, or the order threads add in,
    # must not change a split (the same bank gives the same file).
    from threadpoolctl import threadpool_limits

    clf = HistGradientBoostingClassifier(**GBM, early_stopping=False, random_state=0)
    with threadpool_limits(limits=1):
        clf.fit(np.round(np.asarray(X, dtype=np.float64), 6), np.asarray(y))
    trees = []
    for (predictor,) in clf._predictors:
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        trees.append({"feature": [-1 if lf else int(f) for f, lf in zip(nodes["feature_idx"], leaf)],
                      "threshold": [0.0 if lf else float(t) for t, lf in zip(nodes["num_threshold"], leaf)],
                      "left": [int(v) for v in nodes["left"]], "right": [int(v) for v in nodes["right"]],
                      "value": [float(v) if lf else 0.0 for v, lf in zip(nodes["value"], leaf)]})
    return Trees(NAMES, float(np.ravel(clf._baseline_prediction)[0]), tuple(trees))


def fit_answerer(groups: list[Group], scores_of, C: float):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X, y = [], []
    for g in groups:
        scores = scores_of(g)
        row = answerer_row(g, scores)
        if row is not None:
            X.append(row)
            # 1 when the documents answer the question: what a false refusal is counted against
            # (predicting "the best candidate is right" instead measured worse on dev).
            y.append(int(g.answerable))
    features = np.asarray(X, dtype=np.float64)
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=C, solver="lbfgs", max_iter=5000, class_weight="balanced")
    clf.fit((features - mean) / scale, np.asarray(y))
    return mean, scale, clf.coef_[0], float(clf.intercept_[0])


def evaluate(groups: list[Group], scores_of, confidence_of, threshold: float, margin: float) -> dict:
    answerable = [g for g in groups if g.answerable]
    unanswerable = [g for g in groups if not g.answerable]
    correct = refused = abstained_right = top1 = 0
    for g in groups:
        scores = scores_of(g)
        pick = _pick(g, scores, margin)
        conf = confidence_of(g, scores)
        answered = pick is not None and conf >= threshold and not g.foreign
        if g.answerable:
            if pick is None or not answered:
                refused += 1
            elif g.labels[pick]:
                correct += 1
            top1 += pick is not None and g.labels[pick]
        elif not answered:
            abstained_right += 1
    return {
        "questions": len(groups),
        "correct": correct / max(1, len(answerable)),
        "top1": top1 / max(1, len(answerable)),
        "false_refusals": refused / max(1, len(answerable)),
        "abstention_recall": abstained_right / max(1, len(unanswerable)),
        "accuracy": (correct + abstained_right) / max(1, len(groups)),
        "oracle": sum(1 for g in answerable if any(g.labels)) / max(1, len(answerable)),
    }


def calibrate(dev: list[Group], scores_of, confidence_of, margin: float = 0.0) -> float:
    """The abstention threshold: among those whose dev false-refusal rate stays within
    ``MAX_FALSE_REFUSALS`` in every set (questions refused whatever the threshold, as the eval
    counts them, included), the one with the fewest wrong outcomes on dev — right answers plus
    right abstentions minus wrong answers (an unanswerable question answered, or a wrong
    candidate quoted) — the highest on a tie."""
    # The false-refusal cap holds for each set on its own: pooled, the large corpus set could
    # spend the whole allowance on the telegram's questions (measured: 11% of telegram dev).
    ceilings = []
    for name in sorted({g.set for g in dev}):
        answerable = [g for g in dev if g.answerable and g.set == name]
        # A question refused whatever the threshold (no candidate short enough, or none of its
        # words in the documents) spends the allowance first: the eval counts it too.
        refused = sum(1 for g in answerable if g.foreign or _pick(g, scores_of(g), margin) is None)
        confidences = sorted(confidence_of(g, scores_of(g)) for g in answerable
                             if not (g.foreign or _pick(g, scores_of(g), margin) is None))
        allowed = int(MAX_FALSE_REFUSALS * len(answerable)) - refused  # this many may fall below the threshold
        if confidences:
            ceilings.append(max(0.0, float(confidences[min(max(allowed, 0), len(confidences) - 1)]) - 1e-9))
    if not ceilings:
        return 0.5
    ceiling = min(ceilings)
    outcomes = []  # (confidence, +1 if answering is right, -1 if it is wrong; abstaining right: +1 below)
    for g in dev:
        if g.foreign:  # abstained whatever the threshold
            continue
        scores = scores_of(g)
        pick = _pick(g, scores, margin)
        conf = confidence_of(g, scores)
        right = g.answerable and pick is not None and bool(g.labels[pick])
        outcomes.append((conf, right, not g.answerable))
    best, best_value = ceiling, None
    for t in sorted({ceiling, *(c - 1e-9 for c, _, _ in outcomes if c - 1e-9 <= ceiling)}, reverse=True):
        value = sum((1 if right else -1) if c >= t else int(unanswerable) for c, right, unanswerable in outcomes)
        if best_value is None or value > best_value:
            best, best_value = t, value
    return max(0.0, best)


def _round(values) -> tuple[float, ...]:
    return tuple(round(float(v), 6) for v in values)


def _confider(mean, scale, coef, intercept):
    """The probability that a group's best candidate answers, under a fitted answerer."""
    import numpy as np

    def conf(g: Group, scores):
        row = answerer_row(g, scores)
        if row is None:
            return 0.0
        z = ((np.asarray(row) - mean) / scale) @ coef + intercept
        return float(1 / (1 + np.exp(-z)))
    return conf


def _rankers(tr: list[Group]):
    """(name, fitted ranker as a scoring.Linear or Trees) of each ranker tried on dev."""
    for C in C_GRID:
        mean, scale, coef = fit_ranker(tr, C)
        yield C, Linear(NAMES, _round(mean), _round(scale), _round(coef), 0.0)
    yield "trees", fit_trees(tr)


def _scores_of(ranker):
    import numpy as np

    cache: dict[int, list[float]] = {}  # by id(group): the grid asks for a group's scores many times

    def scores(g: Group):
        if id(g) not in cache:
            cache[id(g)] = list(ranker.batch(np.asarray(g.rows, dtype=np.float64))) if g.rows else []
        return cache[id(g)]
    return scores


def _grid(tr: list[Group], dev: list[Group], progress: bool):
    """Every (dev key, C, C2, margin, threshold, ranker, answerer, dev result) of the search grid."""
    for C, ranker in _rankers(tr):
        scores_of = _scores_of(ranker)
        for C2 in (0.01, 0.1, 1.0):
            answerer = fit_answerer(tr, scores_of, C2)
            conf_of = _confider(*answerer)
            for margin in MARGINS:
                threshold = calibrate(dev, scores_of, conf_of, margin)
                result = evaluate(dev, scores_of, conf_of, threshold, margin)
                key = (round(result["accuracy"], 6), round(result["correct"], 6), C == "trees",
                       -(C if isinstance(C, float) else 0.0), -C2, -margin)
                if progress:
                    log.info(f"C={C} C2={C2} margin={margin}: dev {result}")
                yield key, C, C2, margin, threshold, ranker, answerer, result


def fit_all(groups: list[Group], progress: bool = True):
    """Choose C (ranker, answerer) and the margin on dev; the Model's meta holds its train and dev results."""
    tr = [g for g in groups if g.split == "train" and g.rows]
    dev = [g for g in groups if g.split == "dev"]
    # Keys are unique (they end in -C, -C2, -margin), so the best is the same whatever the order.
    best = max(_grid(tr, dev, progress), key=lambda choice: choice[0])
    _, C, C2, margin, threshold, ranker, answerer, dev_result = best
    train_result = evaluate(tr, _scores_of(ranker), _confider(*answerer), threshold, margin)
    model = Model(
        ranker=ranker,
        answerer=Linear(ANSWERER_FEATURES, _round(answerer[0]), _round(answerer[1]), _round(answerer[2]),
                        round(answerer[3], 6)),
        threshold=math.floor(threshold * 1e6) / 1e6, margin=margin,  # rounded down: a confidence at the cap stays above
        meta={"C_ranker": C, "C_answerer": C2, "train_questions": len(tr), "dev_questions": len(dev),
              "train_rows": sum(len(g.rows) for g in tr), "train_positives": sum(sum(g.labels) for g in tr),
              "train": {k: round(v, 4) for k, v in train_result.items()},
              "dev": {k: round(v, 4) for k, v in dev_result.items()},
              "max_false_refusals": MAX_FALSE_REFUSALS},
    )
    return model


def importances(trees: Trees) -> dict[str, float]:
    """Each feature's share of the trees' splits."""
    count: dict[str, float] = {}
    for t in trees.trees:
        for f in t["feature"]:
            if f >= 0:
                count[trees.features[f]] = count.get(trees.features[f], 0) + 1
    total = sum(count.values()) or 1
    return {n: round(c / total, 4) for n, c in count.items()}


def train(out: Path | None = None, set_names=SETS, progress: bool = True) -> dict:
    t0 = time.perf_counter()
    groups = collect(set_names, ("train", "dev"), progress=progress)
    model = fit_all(groups, progress=False)
    model.meta["sets"] = list(set_names)
    path = Path(out) if out else MODEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    if progress:
        r = model.ranker
        top = sorted(zip(r.features, r.coef), key=lambda nw: -abs(nw[1]))[:10] if isinstance(r, Linear) else \
            sorted(importances(r).items(), key=lambda nw: -nw[1])[:10]
        log.info(f"wrote {path} in {time.perf_counter() - t0:.0f} s: margin={model.margin} threshold={model.threshold:.3f}")
        log.info(f"train {model.meta['train']}\ndev   {model.meta['dev']}")
        log.info("largest ranker weights: " + ", ".join(f"{n} {w:+.2f}" for n, w in top))
    return model.to_dict()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="assistant train", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--set", action="append", dest="sets")
    args = parser.parse_args(argv)
    train(Path(args.out) if args.out else None, tuple(args.sets or SETS))


if __name__ == "__main__":
    main()
