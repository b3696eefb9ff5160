"""``assistant eval``: baseline comparison, splits, reports, the command, and the CI gate.

The gate runs the dev and test splits of the telegram and frus1941 sets through the real
pipeline (real model, real Chroma in a temp folder, built once per set) against the committed
``evals/baseline-<set>.json``: an item of the split that passed there and fails now, or an
aggregate of the split beyond its tolerance, fails this test and so ``.ci/run``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from assistant import metrics
from assistant.errors import UserError
from assistant.evaluate import DEFAULT_TOLERANCES, baseline_view, compare, read_baseline, stable_view, write_baseline
from assistant.report import print_summary, render_html, render_markdown

ROOT = Path(__file__).resolve().parent.parent
EVALS = ROOT / "evals"
CLI = [sys.executable, "-m", "assistant.cli"]


# --- hand-made results ------------------------------------------------------------------------


def scores(passed: bool, **kw) -> dict:
    base = {"answerable": True, "abstained": False, "pass": passed, "fail_reasons": [] if passed else ["missing key terms: x"],
            "rank": 1, "key_terms": passed, "lead": "missing", "citation_precision": 1.0, "citation_recall": 1.0,
            "token_f1": 0.5, "similarity": 0.5, "latency_ms": 10.0, "answer_words": 3, "answer_chars": 12,
            "hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "rr": 1.0, "doc_hit@5": 1.0, "n_citations": 1, "citations_valid": 1}
    base.update(kw)
    return base


def results(items: list[tuple[str, dict, str]], split: str = "all", splits: dict | None = None, **aggregates) -> dict:
    """A results document; ``splits`` gives items their split (default dev) and, for a run of all,
    ``by_split`` holds each split's pass rate (the other aggregates as given)."""
    splits = splits or {}

    def agg_of(chosen):
        agg = {"items": len(chosen), "pass_rate": sum(s["pass"] for _, s, _ in chosen) / len(chosen),
               "key_term_accuracy": 1.0, "false_refusal_rate": 0.0, "latency_p50_ms": 10.0, "latency_p95_ms": 20.0}
        agg.update(aggregates)
        return agg

    agg = agg_of(items)
    by_split = {name: agg_of([i for i in items if splits.get(i[0], "dev") == name])
                for name in ("train", "dev", "test") if any(splits.get(i[0], "dev") == name for i in items)}
    return {
        "format": 1, "set": "mini", "set_file": "evals/mini.yaml", "description": "A <b>tiny</b> set",
        "targets": {"key_term_accuracy": ">= 0.95"},
        "settings": {"collection": "eval-mini", "documents": 1, "mode": "extractive", "passages": 4},
        "split": split,
        "aggregates": agg,
        "by_split": by_split,
        "gap": metrics.split_gap(by_split, ("pass_rate", "key_term_accuracy")),
        "by_type": {"who": {**agg}},
        "items": [{"id": i, "split": splits.get(i, "dev"), "conversation": None, "turn": 1, "type": "who",
                   "variant": None, "variant_of": None,
                   "question": f"Question {i} <script>alert(1)</script>?", "resolved_question": None,
                   "reference": "ref", "evidence": [], "answer": answer, "abstained": False, "lead": None,
                   "citations": [{"n": 1, "doc_id": "d", "start": 0, "end": 5, "quote": "Alpha"}],
                   "retrieved": [], "scores": s} for i, s, answer in items],
    }


def test_compare_flags_an_item_that_stopped_passing_and_lists_changes():
    old = results([("a", scores(True), "A"), ("b", scores(False), "B"), ("gone", scores(True), "G")])
    new = results([("a", scores(False, rank=3), "A2"), ("b", scores(True), "B"), ("fresh", scores(True), "F")])
    cmp = compare(new, old, {})
    assert cmp["regressions"] == ["a: passed in the baseline, now fails (missing key terms: x)"]
    by_id = {c["id"]: c for c in cmp["changes"]}
    assert set(by_id) == {"a", "b", "fresh", "gone"}
    assert by_id["a"]["fields"]["rank"] == (1, 3) and by_id["a"]["fields"]["answer"] == ("A", "A2")
    assert by_id["b"]["old_pass"] is False and by_id["b"]["new_pass"] is True
    assert by_id["fresh"]["kind"] == "new" and by_id["gone"]["kind"] == "removed"


def test_compare_aggregate_tolerances_respect_direction():
    item = [("a", scores(True), "A")]
    old = results(item, key_term_accuracy=0.95, false_refusal_rate=0.0)
    tol = {"key_term_accuracy": 0.02, "false_refusal_rate": 0.02}
    assert compare(results(item, key_term_accuracy=0.94, false_refusal_rate=0.02), old, tol)["regressions"] == []
    cmp = compare(results(item, key_term_accuracy=0.90, false_refusal_rate=0.05), old, tol)
    assert [d["metric"] for d in cmp["aggregate_drops"]] == ["key_term_accuracy", "false_refusal_rate"]
    assert len(cmp["regressions"]) == 2
    # Improvements are never regressions, however large.
    assert compare(results(item, key_term_accuracy=1.0), old, tol)["regressions"] == []


def test_baseline_round_trip_leaves_out_latency(tmp_path):
    r = results([("a", scores(True), "A")])
    path = tmp_path / "baseline-mini.json"
    write_baseline(r, path, DEFAULT_TOLERANCES)
    doc = read_baseline(path)
    assert "latency_ms" not in doc["items"][0]["scores"] and "latency_p50_ms" not in doc["aggregates"]
    assert doc["tolerances"] == DEFAULT_TOLERANCES
    assert [i["scores"] for i in stable_view(r)["items"]] == [i["scores"] for i in doc["items"]]
    assert doc["items"][0]["citations"] == [{"n": 1, "doc_id": "d", "start": 0, "end": 5}]
    assert compare(r, doc, DEFAULT_TOLERANCES)["changes"] == []


def test_bad_baseline_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such baseline file"):
        read_baseline(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not a baseline JSON file"):
        read_baseline(bad)
    bad.write_text("[]", encoding="utf-8")
    with pytest.raises(UserError, match="not a baseline file"):
        read_baseline(bad)


def test_reports_escape_text_and_embed_their_plots():
    old = results([("a", scores(True), "A"), ("b", scores(True), "B")], key_term_accuracy=1.0)
    new = results([("a", scores(True), "A"), ("b", scores(False), "B <i>new</i>")], key_term_accuracy=0.5)
    cmp = compare(new, old, DEFAULT_TOLERANCES)
    page = render_html(new, cmp)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<i>new</i>" not in page
    assert len(re.findall(r"<img alt='[^']+' src='data:image/png;base64,[A-Za-z0-9+/=]+'>", page)) == 2
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)  # self-contained
    assert "b: passed in the baseline, now fails" in page
    md = render_markdown(new, cmp)
    assert "## Failing items (1)" in md and "| b | dev | who |" in md
    assert "b: pass → FAIL" in md
    assert "✗ >= 0.95" in md  # key-term accuracy 0.5 misses its target


# --- splits --------------------------------------------------------------------------------------

SPLITS = {"t1": "train", "t2": "train", "d1": "dev", "d2": "dev", "x1": "test"}


def split_run(passing: dict[str, bool], split: str = "all") -> dict:
    """A run over the SPLITS items (or only those of ``split``), each passing or not."""
    chosen = [(i, scores(ok), i.upper()) for i, ok in passing.items() if split == "all" or SPLITS[i] == split]
    return results(chosen, split=split, splits=SPLITS)


def test_compare_of_one_split_covers_only_its_items_and_its_aggregates():
    everything = dict.fromkeys(SPLITS, True)
    baseline = baseline_view(split_run(everything))
    assert baseline["by_split"]["dev"]["pass_rate"] == 1.0 and {i["split"] for i in baseline["items"]} == {"train", "dev", "test"}
    train_broke = {**everything, "t1": False}
    # The train item that stopped passing is no regression of dev or test; it is one of train and of all.
    for split in ("dev", "test"):
        cmp = compare(split_run(train_broke, split), baseline, DEFAULT_TOLERANCES)
        assert cmp["split"] == split and cmp["regressions"] == [] and cmp["changes"] == []
    cmp = compare(split_run(train_broke, "train"), baseline, DEFAULT_TOLERANCES)
    assert cmp["regressions"][0].startswith("t1: passed in the baseline, now fails")
    assert "pass_rate: 1 → 0.5" in cmp["regressions"][1]  # the train aggregate, not the whole set's 0.8
    assert compare(split_run(train_broke), baseline, DEFAULT_TOLERANCES)["aggregate_drops"][0]["new"] == 0.8
    # A dev item gone from the run is "removed" from dev only.
    cmp = compare(split_run({"d1": True, "x1": True}, "dev"), baseline, DEFAULT_TOLERANCES)
    assert [(c["id"], c["kind"]) for c in cmp["changes"]] == [("d2", "removed")]


def test_compare_of_one_split_against_an_older_baseline_without_splits():
    """Items without a split are placed by the run's ids; the split's aggregates come from their scores."""
    old = baseline_view(split_run(dict.fromkeys(SPLITS, True)))
    for i in old["items"]:
        del i["split"]
    del old["by_split"]
    old["items"][0]["scores"]["pass"] = False  # t1 failed in that baseline
    assert compare(split_run(dict.fromkeys(SPLITS, True), "dev"), old, DEFAULT_TOLERANCES)["changes"] == []
    cmp = compare(split_run({"d1": True, "d2": False}, "dev"), old, DEFAULT_TOLERANCES)
    assert [r.split(":")[0] for r in cmp["regressions"]] == ["d2", "pass_rate"]
    assert cmp["aggregates"]["pass_rate"] == {"old": 1.0, "new": 0.5}
    train = compare(split_run(dict.fromkeys(SPLITS, True), "train"), old, DEFAULT_TOLERANCES)
    assert train["aggregates"]["pass_rate"]["old"] == 0.5 and train["regressions"] == []


def test_a_baseline_is_written_only_from_a_run_of_every_split(tmp_path):
    path = tmp_path / "baseline-mini.json"
    with pytest.raises(UserError, match="every split"):
        write_baseline(split_run(dict.fromkeys(SPLITS, True), "dev"), path, DEFAULT_TOLERANCES)
    assert not path.exists()
    write_baseline(split_run(dict.fromkeys(SPLITS, True)), path, DEFAULT_TOLERANCES)
    doc = read_baseline(path)
    assert list(doc["by_split"]) == ["train", "dev", "test"]
    assert "latency_p50_ms" not in doc["by_split"]["train"]
    assert {i["id"]: i["split"] for i in doc["items"]} == SPLITS


def test_reports_show_the_splits_side_by_side_and_the_train_test_gap():
    from rich.console import Console

    run = split_run({**dict.fromkeys(SPLITS, True), "x1": False})
    assert run["gap"]["pass_rate"] == {"train": 1.0, "test": 0.0, "gap": 1.0}
    md = render_markdown(run, None)
    assert "| metric | train (n=2) | dev (n=2) | test (n=1) | all (n=5) | target |" in md
    assert "| pass rate | 100.0% | 100.0% | 0.0% | 80.0% |" in md
    assert "## Train/test gap" in md and "| pass rate | 100.0% | 0.0% | +100.0 pts |" in md
    page = render_html(run, None)
    assert "<h2>Train/test gap</h2>" in page and "+100.0 pts" in page and "<th>test (n=1)</th>" in page
    console = Console(record=True, width=200)
    print_summary(run, None, console=console)
    text = console.export_text()
    assert "train/test gap (train − test)" in text and "+100.0 pts" in text and "all (n=5)" in text
    # One split: its own column, beside the same split of the baseline; no gap (no train and test).
    dev = split_run(dict.fromkeys(SPLITS, True), "dev")
    dev["gap"] = None
    cmp = compare(dev, baseline_view(run), DEFAULT_TOLERANCES)
    md = render_markdown(dev, cmp)
    assert "| metric | dev (n=2) | baseline (dev) | target |" in md and "Train/test gap" not in md
    console = Console(record=True, width=200)
    print_summary(dev, cmp, console=console)
    assert "baseline (dev)" in console.export_text() and "train/test gap" not in console.export_text()


# --- the command ---------------------------------------------------------------------------------


def run_cli(*args, env=None, timeout=600):
    return subprocess.run([*CLI, "eval", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def test_unknown_set_is_a_one_line_error_listing_the_known_sets():
    proc = run_cli("--set", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown eval set 'nope'; known sets: " + ", ".join(sorted(p.stem for p in EVALS.glob("*.yaml")))]
    assert "Traceback" not in proc.stderr


def test_a_baseline_update_of_one_split_is_refused_in_one_line():
    proc = run_cli("--set", "telegram", "--split", "dev", "--update-baseline", "--index", "/nonexistent/never-built")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --update-baseline rewrites every split of the baseline: run it with --split all, not --split dev"]
    assert proc.stdout == ""  # refused before anything ran


def test_an_unknown_split_is_a_one_line_error():
    proc = run_cli("--set", "telegram", "--split", "validation")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: unknown split 'validation' (one of: train, dev, test, all)"]


@pytest.mark.slow
def test_eval_command_writes_reports_and_fails_on_a_regression(tmp_path):
    """A three-question set: one item can never pass (its key term is not in the telegram).

    Pretending in the baseline that it passed must make ``assistant eval --split train`` exit 1
    and name it, and not ``--split dev`` (the item is not in dev).
    """
    from assistant.evalsets import split_of

    # The fixed hash puts these ids where the test needs them (split by question id).
    assert [split_of(f"q:{i}") for i in ("signer", "impossible", "year")] == ["dev", "train", "dev"]
    seeds = (ROOT / "seeds").resolve()
    set_file = tmp_path / "mini.yaml"
    set_file.write_text(f"""\
name: mini
corpus: {seeds}
items:
  - id: signer
    type: who
    doc_id: 000_fa8f81718d3b4c51
    question: Who signed the telegram?
    answer: Welles.
    evidence: ["Welles"]
    key_terms: [["Welles"]]
  - id: impossible
    type: what
    doc_id: 000_fa8f81718d3b4c51
    question: What is the telegram number?
    answer: "352."
    evidence: ["352"]
    key_terms: [["zzzz-never-said"]]
  - id: year
    type: unanswerable
    question: In what year was the telegram sent?
    answer: The telegram does not say.
""", encoding="utf-8")
    index = tmp_path / "index"
    out = tmp_path / "out"
    first = run_cli("--set", str(set_file), "--index", str(index), "--out", str(out), "--update-baseline")
    assert first.returncode == 0, first.stdout + first.stderr
    baseline_path = tmp_path / "baseline-mini.json"
    baseline = json.loads(baseline_path.read_text(encoding="utf-8"))
    assert [i["id"] for i in baseline["items"]] == ["signer", "impossible", "year"]
    for name in ("results.json", "report.md", "report.html"):
        assert (out / name).stat().st_size > 0
    written = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {"question", "answer", "citations", "scores"} <= set(written["items"][0])
    assert [i["split"] for i in written["items"]] == ["dev", "train", "dev"] and written["split"] == "all"
    assert list(written["by_split"]) == ["train", "dev"] and written["gap"] is None  # no test item
    assert list(baseline["by_split"]) == ["train", "dev"] and baseline["by_split"]["dev"]["items"] == 2

    same = run_cli("--set", str(set_file), "--index", str(index))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no regression" in same.stdout and "no item changed since the baseline" in same.stdout

    doctored = copy.deepcopy(baseline)
    impossible = next(i for i in doctored["items"] if i["id"] == "impossible")
    assert impossible["scores"]["pass"] is False
    impossible["scores"]["pass"] = True
    doctored_path = tmp_path / "doctored.json"
    doctored_path.write_text(json.dumps(doctored), encoding="utf-8")
    # (The whole set against the doctored baseline fails the same way: compare() is tested above.)
    train = run_cli("--set", str(set_file), "--index", str(index), "--baseline", str(doctored_path), "--split", "train",
                    "--out", str(tmp_path / "out-train"))
    assert train.returncode == 1, train.stdout + train.stderr
    assert re.search(r"impossible: pass → FAIL", train.stdout)
    assert "impossible: passed in the baseline, now fails" in train.stdout and "(split train)" in train.stdout
    only_train = json.loads((tmp_path / "out-train" / "results.json").read_text(encoding="utf-8"))
    assert [i["id"] for i in only_train["items"]] == ["impossible"] and only_train["split"] == "train"
    dev = run_cli("--set", str(set_file), "--index", str(index), "--baseline", str(doctored_path), "--split", "dev")
    assert dev.returncode == 0, dev.stdout + dev.stderr  # the doctored item is not in dev
    assert "split dev (2 of 3 questions)" in dev.stdout and "impossible" not in dev.stdout


# --- the CI gate ---------------------------------------------------------------------------------

GATED_SETS = ("telegram", "frus1941")
GATED_SPLITS = ("dev", "test")


@pytest.fixture(scope="module")
def eval_runs(tmp_path_factory):
    """``runs(set, split, index=None)``: a split of a set, run once and remembered.

    Each set's index is the eval's own (``.index/eval-<set>``, or ``$ASSISTANT_EVAL_INDEX_DIR/<set>``):
    built once, reused while the documents are unchanged, as ``assistant eval`` does. ``fresh``
    runs in a newly built index of its own instead, with a new Assistant.
    """
    from assistant.evalsets import load_set
    from assistant.evaluate import default_index_dir, run_set

    cache: dict = {}

    def runs(name: str, split: str, fresh: bool = False) -> dict:
        key = (name, split, fresh)
        if key not in cache:
            index = tmp_path_factory.mktemp(f"eval-{name}-fresh") if fresh else default_index_dir(name)
            cache[key] = run_set(load_set(EVALS / f"{name}.yaml"), index_dir=index, split=split)
        return cache[key]

    return runs


@pytest.mark.slow
@pytest.mark.parametrize("split", GATED_SPLITS)
@pytest.mark.parametrize("name", GATED_SETS)
def test_split_does_not_regress_against_its_committed_baseline(eval_runs, name, split):
    """``assistant eval --set NAME --split SPLIT`` against ``evals/baseline-NAME.json``: exit 0."""
    from assistant.evalsets import load_set
    from assistant.evaluate import tolerances_for

    run = eval_runs(name, split)
    assert run["split"] == split and run["items"] and {i["split"] for i in run["items"]} == {split}
    baseline = read_baseline(EVALS / f"baseline-{name}.json")
    cmp = compare(run, baseline, tolerances_for(load_set(EVALS / f"{name}.yaml", check_documents=False)))
    assert cmp["regressions"] == [], "\n".join(cmp["regressions"])


DETERMINISM_SUBSET = 25  # corpus dialogues asked twice (the whole split would double the gate's time)


@pytest.mark.slow
def test_running_the_eval_twice_gives_identical_results(eval_runs):
    """The telegram dev split again, into a newly built index; the first dialogues of the corpus
    test split twice, each with a new Assistant on the set's index: identical results (latency aside)."""
    from assistant.evalsets import load_set
    from assistant.evaluate import default_index_dir, run_set

    first, second = eval_runs("telegram", "dev"), eval_runs("telegram", "dev", fresh=True)
    corpus = [run_set(load_set(EVALS / "frus1941.yaml"), index_dir=default_index_dir("frus1941"), split="test",
                      dialogues=DETERMINISM_SUBSET) for _ in range(2)]
    assert len({i["conversation"] or i["id"] for i in corpus[0]["items"]}) == DETERMINISM_SUBSET
    for a, b in ((first, second), tuple(corpus)):
        assert stable_view(a) == stable_view(b), a["set"]
        # Latency is measured, not invented: every answer took some time.
        assert all(i["scores"]["latency_ms"] > 0 for i in a["items"])
