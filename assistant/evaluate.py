"""``assistant eval``: run a reference set through the Assistant, score it, compare to a baseline.

The run builds its own index (``.index/eval-<set>``, or ``--index``), never the user's, asks
every question of the chosen split (``--split train|dev|test|all``; a conversation's turns with
the earlier answers as history), scores each answer with ``assistant.metrics`` and aggregates
overall, by split and by type. With a baseline (``evals/baseline-<set>.json`` when present) it
prints each item of the split that changed, old → new, and exits 1 when an item that passed now
fails or an aggregate of the split drops by more than its tolerance. A baseline is only written
from a run of every split, so it is never half-updated.

The command itself (its options) is in cli.py, which imports this module only when an eval
runs; torch/chromadb load when the eval opens its index.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from assistant import metrics
from assistant.config import PROJECT_ROOT, Settings
from assistant.errors import UserError

RESULTS_FORMAT = 1

# How far an aggregate may fall below its baseline before the gate fails. Latency is not
# gated (it depends on the machine; bench/ owns speed), nor are the descriptive lengths.
DEFAULT_TOLERANCES: dict[str, float] = {
    "pass_rate": 0.0,
    "key_term_accuracy": 0.02,
    "token_f1": 0.03,
    "similarity": 0.03,
    "hit@1": 0.05,
    "hit@3": 0.02,
    "hit@5": 0.02,
    "mrr": 0.03,
    "doc_hit@5": 0.02,
    "citation_precision": 0.03,
    "citation_recall": 0.03,
    "citation_validity": 0.0,
    "abstention_precision": 0.05,
    "abstention_recall": 0.05,
    "false_refusal_rate": 0.02,
    "wrong_lead_rate": 0.03,
    "concise_correct_rate": 0.02,
    "followup_accuracy": 0.05,
}
LOWER_IS_BETTER = {"false_refusal_rate", "wrong_lead_rate", "latency_p50_ms", "latency_p95_ms", "answer_words_mean",
                   "answer_chars_mean", "answer_chars_median"}
VOLATILE = ("latency_ms", "latency_p50_ms", "latency_p95_ms")  # differ run to run; kept out of baselines
ITEM_CHANGE_KEYS = ("pass", "concise_correct", "abstained", "rank", "key_terms", "lead", "citation_precision",
                    "citation_recall", "token_f1")
SPLIT_CHOICES = ("train", "dev", "test", "all")


# --- running ---------------------------------------------------------------------------------


def default_index_dir(set_name: str) -> Path:
    """``ASSISTANT_EVAL_INDEX_DIR/<set>``, else ``.index/eval-<set>`` at the project root."""
    env = os.environ.get("ASSISTANT_EVAL_INDEX_DIR")
    if env:
        return Path(env) / set_name
    return PROJECT_ROOT / ".index" / f"eval-{set_name}"


def default_baseline_path(evalset) -> Path:
    return evalset.path.parent / f"baseline-{evalset.name}.json"


def run_set(evalset, *, index_dir: Path, progress: bool = False, k: int | None = None,
            llm: str | None = None, split: str = "all", dialogues: int | None = None) -> dict:
    """Ask every question of ``evalset``'s ``split`` (``all``: every item) and return the results
    document (see ``evals/README.md``). The index always holds all the set's documents, so an
    item's answer does not depend on the split it is run with. ``dialogues`` keeps only the first
    N dialogues of the split (a quick subset)."""
    from assistant.evalsets import load_set_documents, locate_evidence  # yaml, lxml: ~0.1 s the CLI need not pay

    evalset = evalset.split(split)
    if dialogues is not None:
        from dataclasses import replace

        evalset = replace(evalset, dialogues=evalset.dialogues[:dialogues])
    documents = load_set_documents(evalset)
    locate_evidence(evalset, documents)
    assistant, embeddings, collection = _open_assistant(evalset, index_dir, k, llm=llm)

    answers: list[tuple] = []  # (item, answer dict, wall ms)
    bar = _progress(len(evalset.items), progress)
    with bar:
        for dialogue in evalset.dialogues:
            history: list = []
            for item in dialogue:
                t0 = time.perf_counter()
                answer = assistant.ask(item.question, history=list(history) or None)
                wall_ms = (time.perf_counter() - t0) * 1000
                history.append(answer)
                answers.append((item, answer.to_dict(), wall_ms))
                bar.update(1)

    similarities = _similarities(embeddings, answers)
    results = []
    for (item, answer, wall_ms), sim in zip(answers, similarities):
        latency = (answer.get("timings_ms") or {}).get("total", wall_ms)
        item_scores = metrics.score_item(item, answer, documents, similarity=sim, latency_ms=latency)
        results.append(_item_record(item, answer, item_scores))

    scores = [r["scores"] for r in results]
    by_split = {name: _rounded(a) for name, a in
                metrics.aggregate_by_split(scores, [r["split"] for r in results]).items()}
    return {
        "format": RESULTS_FORMAT,
        "set": evalset.name,
        "split": split,
        "set_file": _display(evalset.path),
        "description": evalset.description,
        "targets": dict(evalset.targets),
        "settings": {"collection": collection, "documents": len(documents),
                     "mode": answers[0][1].get("mode") if answers else None,
                     # hit@k for k above this counts only the passages there are
                     "passages": max((len(a.get("passages") or ()) for _, a, _ in answers), default=0)},
        "aggregates": _rounded(metrics.aggregate(scores)),
        "by_split": by_split,
        "gap": _gap(by_split),
        "by_type": {t: _rounded(a) for t, a in metrics.aggregate_by_type(scores, [r["type"] for r in results]).items()},
        "items": results,
    }


def _gap(by_split: dict) -> dict | None:
    gap = metrics.split_gap(by_split)
    return None if gap is None else {name: _rounded(row) for name, row in gap.items()}


def _open_assistant(evalset, index_dir: Path, k: int | None = None, llm: str | None = None):
    """Build (or bring up to date) the set's own index and open an Assistant on it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant import Assistant  # LangChain, Chroma (~0.5 s): only when the eval runs
    from assistant.index import Index

    collection = f"eval-{evalset.name}"
    # A local folder always: ASSISTANT_CHROMA_URL names the user's server, not the eval's index.
    saved_url = os.environ.pop("ASSISTANT_CHROMA_URL", None)
    try:
        settings = Settings(index_dir=Path(index_dir), collection=collection, chroma_url=None)
        index = Index(settings)
        try:
            index.ingest(evalset.document_paths(), progress=False)
        except UserError:
            # Built by another chunker or model: this index is the eval's own cache, so rebuild it.
            index = Index(settings, index.embeddings)
            index.ingest(evalset.document_paths(), progress=False, rebuild=True)
        assistant = Assistant.open(index=Path(index_dir), collection=collection, llm=llm,
                                   **({"k": k} if k else {}))
    finally:
        if saved_url is not None:
            os.environ["ASSISTANT_CHROMA_URL"] = saved_url
    # The assistant's own embedding model, so similarity does not load a second copy.
    return assistant, assistant.embeddings, collection


def _similarities(embeddings, answers) -> list[float]:
    texts = []
    for item, answer, _ in answers:
        texts += [metrics.answer_text(answer) or " ", item.answer]
    vectors = embeddings.embed_documents(texts)
    return [metrics.cosine(vectors[2 * i], vectors[2 * i + 1]) for i in range(len(answers))]


def _item_record(item, answer: dict, scores: dict) -> dict:
    return {
        "id": item.id,
        "split": item.split,
        "conversation": item.conversation,
        "turn": item.turn,
        "type": item.type,
        "variant": item.variant,
        "variant_of": item.variant_of,
        "question": item.question,
        "resolved_question": answer.get("resolved_question"),
        "reference": item.answer,
        "evidence": [{"doc_id": ev.doc_id, "text": ev.text, "spans": [list(s) for s in ev.spans]} for ev in item.evidence],
        "answer": answer.get("answer"),
        "abstained": answer.get("abstained"),
        "lead": answer.get("lead"),
        "citations": [{k: c.get(k) for k in ("n", "doc_id", "start", "end", "quote")} for c in answer.get("citations") or ()],
        "retrieved": [{k: p.get(k) for k in ("doc_id", "start", "end", "kind", "score")} for p in (answer.get("passages") or ())[:5]],
        "scores": _rounded(scores),
    }


def _rounded(d: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _progress(total: int, enabled: bool):
    import sys

    from tqdm import tqdm

    return tqdm(total=total, unit="q", desc="eval", disable=not enabled, file=sys.stderr, leave=False)


# --- baselines ---------------------------------------------------------------------------------


def stable_view(results: dict) -> dict:
    """The results without what changes from run to run (latency): what a baseline stores."""
    out = {k: v for k, v in results.items() if k not in ("items", "aggregates", "by_type", "by_split")}
    out["aggregates"] = {k: v for k, v in results["aggregates"].items() if k not in VOLATILE}
    out["by_split"] = {n: {k: v for k, v in a.items() if k not in VOLATILE} for n, a in (results.get("by_split") or {}).items()}
    out["by_type"] = {t: {k: v for k, v in a.items() if k not in VOLATILE} for t, a in results["by_type"].items()}
    out["items"] = [{**r, "scores": {k: v for k, v in r["scores"].items() if k not in VOLATILE}} for r in results["items"]]
    return out


BASELINE_ITEM_KEYS = ("id", "split", "type", "question", "answer", "abstained", "lead", "citations", "scores")


def baseline_view(results: dict) -> dict:
    """What a baseline keeps: the stable view, items cut to what a comparison and a reader need."""
    doc = stable_view(results)
    doc["items"] = [
        {**{k: r.get(k) for k in BASELINE_ITEM_KEYS},
         "citations": [{k: c.get(k) for k in ("n", "doc_id", "start", "end")} for c in r.get("citations") or ()]}
        for r in doc["items"]
    ]
    return doc


def write_baseline(results: dict, path: Path, tolerances: dict[str, float]) -> None:
    """Write the baseline: only from a run of every split (``split: all``), never half of one."""
    if results.get("split", "all") != "all":
        raise UserError(f"a baseline holds every split: this run has only {results['split']!r} (run with --split all)")
    doc = baseline_view(results)
    doc["tolerances"] = tolerances
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def read_baseline(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no such baseline file: {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a baseline JSON file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list) or not isinstance(doc.get("aggregates"), dict):
        raise UserError(f"{path}: not a baseline file (expected 'items' and 'aggregates'; write one with --update-baseline)")
    return doc


def baseline_for_split(baseline: dict, split: str, item_ids=()) -> dict:
    """The baseline cut to one split: its items (by their ``split``; an item of an older baseline
    without one is kept when its id is in ``item_ids``, the run's items) and that split's aggregates
    (stored in ``by_split``; for an older baseline, recomputed from its items' scores)."""
    if split == "all":
        return baseline
    wanted = set(item_ids)
    items = [r for r in baseline["items"] if r.get("split") == split or (r.get("split") is None and r["id"] in wanted)]
    stored = (baseline.get("by_split") or {}).get(split)
    if stored is None:
        stored = _rounded(metrics.aggregate([r["scores"] for r in items])) if items else {}
    return {**baseline, "items": items, "aggregates": stored}


def compare(results: dict, baseline: dict, tolerances: dict[str, float]) -> dict:
    """Item changes (old → new) and regressions: newly failing items, aggregates beyond tolerance.

    Only the run's split is compared (``results["split"]``): its items and its aggregates."""
    split = results.get("split", "all")
    baseline = baseline_for_split(baseline, split, (r["id"] for r in results["items"]))
    old_items = {r["id"]: r for r in baseline["items"]}
    new_items = {r["id"]: r for r in results["items"]}
    changes, regressions = _item_changes(old_items, new_items)
    drops, dropped = _aggregate_drops(baseline["aggregates"], results["aggregates"], tolerances)
    regressions += dropped
    aggregates = {
        name: {"old": baseline["aggregates"].get(name), "new": results["aggregates"].get(name)}
        for name in results["aggregates"] if name not in VOLATILE
    }
    out = {"split": split, "changes": changes, "regressions": regressions, "aggregate_drops": drops,
           "aggregates": aggregates}
    if split == "all" and baseline.get("by_split"):
        out["by_split"] = {n: {k: v for k, v in a.items() if k not in VOLATILE} for n, a in baseline["by_split"].items()}
    return out


def _item_changes(old_items: dict[str, dict], new_items: dict[str, dict]) -> tuple[list[dict], list[str]]:
    """Each new, changed or removed item, and the items that passed in the baseline and now fail."""
    changes: list[dict] = []
    regressions: list[str] = []
    for item_id, new in new_items.items():
        old = old_items.get(item_id)
        if old is None:
            changes.append({"id": item_id, "kind": "new", "fields": {}, "old_pass": None, "new_pass": new["scores"]["pass"]})
            continue
        fields = {
            k: (old["scores"].get(k), new["scores"].get(k))
            # a key an older baseline lacks (a metric added since) is no change
            for k in ITEM_CHANGE_KEYS if k in old["scores"] and old["scores"].get(k) != new["scores"].get(k)
        }
        if old.get("answer") != new.get("answer"):
            fields["answer"] = (old.get("answer"), new.get("answer"))
        if fields:
            change = {"id": item_id, "kind": "changed", "fields": fields, "old_pass": old["scores"].get("pass"),
                      "new_pass": new["scores"]["pass"], "fail_reasons": new["scores"].get("fail_reasons", [])}
            changes.append(change)
            if old["scores"].get("pass") and not new["scores"]["pass"]:
                regressions.append(f"{item_id}: passed in the baseline, now fails ({'; '.join(change['fail_reasons'])})")
    for item_id in old_items.keys() - new_items.keys():
        changes.append({"id": item_id, "kind": "removed", "fields": {}, "old_pass": old_items[item_id]["scores"].get("pass"), "new_pass": None})
    return changes, regressions


def _aggregate_drops(old_aggregates: dict, new_aggregates: dict, tolerances: dict[str, float]
                     ) -> tuple[list[dict], list[str]]:
    """The aggregates worse than the baseline by more than their tolerance, as records and as messages."""
    drops: list[dict] = []
    regressions: list[str] = []
    for name, tol in tolerances.items():
        old, new = old_aggregates.get(name), new_aggregates.get(name)
        if old is None or new is None:
            continue
        drop = (new - old) if name in LOWER_IS_BETTER else (old - new)
        delta = {"metric": name, "old": old, "new": new, "tolerance": tol, "drop": round(drop, 4)}
        if drop > tol + 1e-9:
            drops.append(delta)
            regressions.append(f"{name}: {old:.4g} → {new:.4g} (worse by {drop:.4g}, tolerance {tol:g})")
    return drops, regressions


def tolerances_for(evalset) -> dict[str, float]:
    unknown = sorted(set(evalset.tolerances) - set(DEFAULT_TOLERANCES))
    if unknown:
        raise UserError(f"{evalset.path}: unknown tolerance {unknown[0]!r} (known: {', '.join(DEFAULT_TOLERANCES)})")
    return {**DEFAULT_TOLERANCES, **evalset.tolerances}


# --- the command ----------------------------------------------------------------------------------


def run_eval(set_name: str, *, baseline: Path | None = None, out: Path | None = None,
             update_baseline: bool = False, index: Path | None = None, k: int | None = None,
             console=None, llm: str | None = None, split: str = "all") -> int:
    """The command's work; returns the exit code (0, or 1 on a regression against the baseline)."""
    from rich.console import Console

    from assistant.evalsets import load_set  # yaml, lxml: ~0.1 s the CLI need not pay

    if split not in SPLIT_CHOICES:
        raise UserError(f"unknown split {split!r} (one of: {', '.join(SPLIT_CHOICES)})")
    if update_baseline and split != "all":
        raise UserError(f"--update-baseline rewrites every split of the baseline: run it with --split all, not --split {split}")

    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=160)  # CI logs and pipes: wide rows, not 80-column wrapping
    evalset = load_set(set_name, check_documents=False)  # evidence is located in run_set, once
    tolerances = tolerances_for(evalset)
    baseline_path = baseline or default_baseline_path(evalset)
    baseline_doc = _baseline_doc(baseline, baseline_path, update_baseline)

    index_dir = index or default_index_dir(evalset.name)
    chosen = evalset.split(split)
    console.print(f"eval set [bold]{evalset.name}[/], split {split} ({len(chosen.items)} of {len(evalset.items)} questions)"
                  f" · index {_display(index_dir)}")
    if not chosen.items:
        raise UserError(f"{evalset.path}: no items in split {split!r}")
    results = run_set(evalset, index_dir=index_dir, progress=console.is_terminal, k=k, llm=llm, split=split)
    comparison = compare(results, baseline_doc, tolerances) if baseline_doc else None

    from assistant import report  # matplotlib, rich tables: only to write the report

    report.print_summary(results, comparison, console=console)
    if out is not None:
        written = report.write_reports(results, comparison, Path(out))
        console.print("wrote " + ", ".join(_display(p) for p in written))
    if update_baseline:
        write_baseline(results, baseline_path, tolerances)
        console.print(f"baseline updated: {_display(baseline_path)}")
        return 0
    return _print_verdict(comparison, _display(baseline_path) + ("" if split == "all" else f" (split {split})"), console)


def _baseline_doc(baseline: Path | None, baseline_path: Path, update_baseline: bool) -> dict | None:
    if baseline is not None and not update_baseline:
        return read_baseline(baseline)  # named explicitly: it must exist
    if baseline_path.exists():
        return read_baseline(baseline_path)  # with --update-baseline: to show what changes
    return None


def _print_verdict(comparison: dict | None, where: str, console) -> int:
    """Regression or not against the baseline at ``where``; the exit code (1 on a regression)."""
    if comparison and comparison["regressions"]:
        console.print(f"[bold red]regression against {where}:[/]", highlight=False)
        for line in comparison["regressions"]:
            console.print(f"  {line}", markup=False, highlight=False)
        return 1
    if comparison:
        console.print(f"[green]no regression against {where}[/]", highlight=False)
    return 0
