"""``assistant eval``: baseline comparison, reports, the command, and the CI gate.

The gate runs the telegram set through the real pipeline (real model, real Chroma in a temp
folder) against the committed ``evals/baseline-telegram.json``: an item that passed there and
fails now, or an aggregate beyond its tolerance, fails this test and so ``.ci/run``.
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

from assistant.evaluate import DEFAULT_TOLERANCES, compare, read_baseline, stable_view, write_baseline
from assistant.errors import UserError
from assistant.report import render_html, render_markdown

ROOT = Path(__file__).resolve().parent.parent
EVALS = ROOT / "evals"
CLI = [sys.executable, "-m", "assistant.cli"]


# --- hand-made results ------------------------------------------------------------------------


def scores(passed: bool, **kw) -> dict:
    base = {"answerable": True, "abstained": False, "pass": passed, "fail_reasons": [] if passed else ["missing key terms: x"],
            "rank": 1, "key_terms": passed, "lead": "missing", "citation_precision": 1.0, "citation_recall": 1.0,
            "token_f1": 0.5, "similarity": 0.5, "latency_ms": 10.0, "answer_words": 3, "hit@3": 1.0}
    base.update(kw)
    return base


def results(items: list[tuple[str, dict, str]], **aggregates) -> dict:
    agg = {"items": len(items), "pass_rate": sum(s["pass"] for _, s, _ in items) / len(items),
           "key_term_accuracy": 1.0, "false_refusal_rate": 0.0, "latency_p50_ms": 10.0, "latency_p95_ms": 20.0}
    agg.update(aggregates)
    return {
        "format": 1, "set": "mini", "set_file": "evals/mini.yaml", "description": "A <b>tiny</b> set",
        "targets": {"key_term_accuracy": ">= 0.95"},
        "settings": {"collection": "eval-mini", "documents": 1, "mode": "extractive", "passages": 4},
        "aggregates": agg,
        "by_type": {"who": {**agg}},
        "items": [{"id": i, "conversation": None, "turn": 1, "type": "who", "variant": None, "variant_of": None,
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
    assert "## Failing items (1)" in md and "| b | who |" in md
    assert "b: pass → FAIL" in md
    assert "✗ >= 0.95" in md  # key-term accuracy 0.5 misses its target


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


@pytest.mark.slow
def test_eval_command_writes_reports_and_fails_on_a_regression(tmp_path):
    """A three-question set: one item can never pass (its key term is not in the telegram).

    Pretending in the baseline that it passed must make ``assistant eval`` exit 1 and name it.
    """
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

    same = run_cli("--set", str(set_file), "--index", str(index))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no regression" in same.stdout and "no item changed since the baseline" in same.stdout

    doctored = copy.deepcopy(baseline)
    impossible = next(i for i in doctored["items"] if i["id"] == "impossible")
    assert impossible["scores"]["pass"] is False
    impossible["scores"]["pass"] = True
    doctored_path = tmp_path / "doctored.json"
    doctored_path.write_text(json.dumps(doctored), encoding="utf-8")
    worse = run_cli("--set", str(set_file), "--index", str(index), "--baseline", str(doctored_path))
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert re.search(r"impossible: pass → FAIL", worse.stdout)
    assert "impossible: passed in the baseline, now fails" in worse.stdout


# --- the CI gate ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def telegram_runs(tmp_path_factory):
    """The telegram set run twice, each time into a newly built index and a new Assistant."""
    from assistant.evalsets import load_set
    from assistant.evaluate import run_set

    return [run_set(load_set(EVALS / "telegram.yaml"), index_dir=tmp_path_factory.mktemp("eval-telegram-index"))
            for _ in range(2)]


@pytest.mark.slow
def test_telegram_set_does_not_regress_against_its_committed_baseline(telegram_runs):
    from assistant.evalsets import load_set
    from assistant.evaluate import tolerances_for

    baseline = read_baseline(EVALS / "baseline-telegram.json")
    cmp = compare(telegram_runs[0], baseline, tolerances_for(load_set(EVALS / "telegram.yaml", check_documents=False)))
    assert cmp["regressions"] == [], "\n".join(cmp["regressions"])


@pytest.mark.slow
def test_running_the_eval_twice_gives_identical_results(telegram_runs):
    first, second = (stable_view(r) for r in telegram_runs)
    assert first == second
    # Latency is measured, not invented: every answer took some time.
    assert all(i["scores"]["latency_ms"] > 0 for i in telegram_runs[0]["items"])
