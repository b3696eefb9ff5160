"""Eval reports: the terminal summary (rich), ``results.json``, ``report.md`` and a
self-contained ``report.html`` whose plots are PNGs embedded as base64 data URIs.

A run of every split shows the aggregates of train, dev and test side by side with all of them,
and the train/test gap of the headline metrics (``metrics.HEADLINE``); a run of one split shows
that split against the same split of the baseline.

Plots: metrics by question type, and this run against the baseline. Everything the HTML
shows is escaped with ``html.escape``; the page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.evalsets import target_met
from assistant.metrics import HEADLINE

if TYPE_CHECKING:
    from rich.table import Table

# Aggregates shown, in order, with how they print.
SHOWN = [
    ("pass_rate", "pass rate", "pct"),
    ("concise_correct_rate", "concise-correct", "pct"),
    ("followup_accuracy", "follow-up accuracy", "pct"),
    ("key_term_accuracy", "key-term correctness", "pct"),
    ("token_f1", "token F1", "num"),
    ("similarity", "semantic similarity", "num"),
    ("hit@1", "hit@1", "num"),
    ("hit@3", "hit@3", "num"),
    ("hit@5", "hit@5", "num"),
    ("mrr", "MRR", "num"),
    ("doc_hit@5", "document hit@5", "num"),
    ("citation_precision", "citation precision", "num"),
    ("citation_recall", "citation recall", "num"),
    ("citation_validity", "citation validity", "pct"),
    ("abstention_precision", "abstention precision", "num"),
    ("abstention_recall", "abstention recall", "num"),
    ("false_refusal_rate", "false refusals", "pct"),
    ("lead_rate", "answers with a lead", "pct"),
    ("wrong_lead_rate", "wrong leads", "pct"),
    ("answer_words_mean", "answer length (words)", "int"),
    ("answer_chars_median", "answer length (chars, median)", "int"),
    ("latency_p50_ms", "latency p50 (ms)", "int"),
    ("latency_p95_ms", "latency p95 (ms)", "int"),
]
BY_TYPE_PLOT = ["pass_rate", "key_term_accuracy", "hit@3", "citation_precision", "citation_recall", "abstention_recall"]
VS_BASELINE_PLOT = ["pass_rate", "concise_correct_rate", "key_term_accuracy", "token_f1", "similarity", "hit@1", "hit@3", "hit@5", "mrr", "doc_hit@5",
                    "citation_precision", "citation_recall", "citation_validity", "abstention_precision",
                    "abstention_recall", "false_refusal_rate"]


def fmt(value, kind: str = "num") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "int":
        return f"{value:,.0f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _kind(name: str) -> str:
    return next((k for n, _, k in SHOWN if n == name), "num")


def _label(name: str) -> str:
    return next((lbl for n, lbl, _ in SHOWN if n == name), name)


def split_columns(results: dict) -> list[tuple[str, dict]]:
    """(column label, aggregates): each split beside "all" for a run of every split, else the one split."""
    split = results.get("split", "all")
    by_split = results.get("by_split") or {}
    if split != "all":
        return [(split, results["aggregates"])]
    return [(name, agg) for name, agg in by_split.items()] + [("all", results["aggregates"])]


def baseline_label(comparison: dict) -> str:
    split = comparison.get("split", "all")
    return "baseline" if split == "all" else f"baseline ({split})"


def fmt_gap(value, kind: str = "num") -> str:
    """A signed difference: points for a percentage, else the number."""
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:+.1f} pts"
    return f"{value:+.3f}"


def gap_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(metric, train, test, gap = train − test) for the headline metrics; empty without both splits."""
    gap = results.get("gap") or {}
    return [(_label(name), fmt(gap[name]["train"], _kind(name)), fmt(gap[name]["test"], _kind(name)),
             fmt_gap(gap[name]["gap"], _kind(name))) for name in HEADLINE if name in gap]


def _title(results: dict) -> str:
    split = results.get("split", "all")
    return f"{results['set']}" + ("" if split == "all" else f", split {split}")


def failing(results: dict) -> list[dict]:
    return [r for r in results["items"] if not r["scores"]["pass"]]


def _short(text: str | None, n: int = 90) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _difference(old: str, new: str, context: int = 20, width: int = 70) -> tuple[str, str]:
    """The two texts from a little before where they first differ ("…" marks a cut)."""
    same = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    start = max(0, same - context)

    def cut(text: str) -> str:
        piece = " ".join(text[start : start + width].split())
        return ("…" if start else "") + piece + ("…" if len(text) > start + width else "")

    return cut(old), cut(new)


def _change_line(change: dict) -> str:
    """One item's change, old → new."""
    if change["kind"] == "new":
        return f"{change['id']}: new item ({'pass' if change['new_pass'] else 'FAIL'})"
    if change["kind"] == "removed":
        return f"{change['id']}: removed from the set"
    parts = []
    if change["old_pass"] != change["new_pass"]:
        parts.append(f"{'pass' if change['old_pass'] else 'FAIL'} → {'pass' if change['new_pass'] else 'FAIL'}")
    for key, (old, new) in change["fields"].items():
        if key in ("pass", "answer"):
            continue
        parts.append(f"{key} {fmt(old)} → {fmt(new)}")
    if "answer" in change["fields"]:
        old, new = change["fields"]["answer"]
        old_part, new_part = _difference(old or "", new or "")
        parts.append(f"answer “{old_part}” → “{new_part}”")
    return f"{change['id']}: " + "; ".join(parts)


# --- terminal -----------------------------------------------------------------------------------


def print_summary(results: dict, comparison: dict | None, console) -> None:
    console.print(_aggregates_table(results, comparison))
    gaps = gap_rows(results)
    if gaps:
        console.print(_gap_table(gaps))
    console.print(_by_type_table(results))
    fails = failing(results)
    if fails:
        console.print(_failing_table(fails))
    else:
        console.print("[green]every item passes[/]")
    if comparison:
        _print_changes(comparison["changes"], console)


def _aggregates_table(results: dict, comparison: dict | None) -> Table:
    from rich.table import Table

    targets = results.get("targets") or {}
    columns = split_columns(results)
    table = Table(title=f"eval {_title(results)}: {results['aggregates']['items']} questions", title_justify="left")
    table.add_column("metric")
    for label, agg in columns:
        table.add_column(f"{label} (n={agg.get('items', 0)})", justify="right")
    if comparison:
        table.add_column(baseline_label(comparison), justify="right")
    table.add_column("target")
    for name, label, kind in SHOWN:
        value = results["aggregates"].get(name)
        row = [label] + [fmt(agg.get(name), kind) for _, agg in columns]
        if comparison:
            row.append(fmt(comparison["aggregates"].get(name, {}).get("old"), kind))
        target = targets.get(name)
        met = target_met(target, value) if target else None
        row.append("" if not target else f"{'[green]✓' if met else '[red]✗'} {target}[/]")
        table.add_row(*row)
    return table


def _gap_table(gaps: list[tuple[str, str, str, str]]) -> Table:
    from rich.table import Table

    gap_table = Table(title="train/test gap (train − test)", title_justify="left")
    for col in ("metric", "train", "test", "gap"):
        gap_table.add_column(col, justify="left" if col == "metric" else "right")
    for gap in gaps:
        gap_table.add_row(*gap)
    return gap_table


def _by_type_table(results: dict) -> Table:
    from rich.table import Table

    by_type = Table(title="by type", title_justify="left")
    by_type.add_column("type")
    for name in ("items", "pass_rate", "key_term_accuracy", "hit@3", "citation_precision", "citation_recall", "abstention_recall"):
        by_type.add_column(_label(name) if name != "items" else "n", justify="right")
    for t, agg in results["by_type"].items():
        by_type.add_row(t, str(agg["items"]), *(fmt(agg.get(n), _kind(n)) for n in
                                                ("pass_rate", "key_term_accuracy", "hit@3", "citation_precision",
                                                 "citation_recall", "abstention_recall")))
    return by_type


def _failing_table(fails: list[dict]) -> Table:
    from rich.table import Table

    ft = Table(title=f"failing items ({len(fails)})", title_justify="left", show_lines=False)
    ft.add_column("item", no_wrap=True)
    ft.add_column("split")
    ft.add_column("type")
    ft.add_column("question")
    ft.add_column("why")
    ft.add_column("answer")
    for r in fails:
        ft.add_row(r["id"], r.get("split") or "", r["type"], _short(r["question"], 50), "; ".join(r["scores"]["fail_reasons"]),
                   _short(r["answer"], 70))
    return ft


def _print_changes(changed: list[dict], console) -> None:
    if changed:
        console.print(f"[bold]changed since the baseline ({len(changed)}):[/]")
        for change in changed:
            console.print("  " + _change_line(change), markup=False, highlight=False)
    else:
        console.print("no item changed since the baseline")


# --- files --------------------------------------------------------------------------------------


def write_reports(results: dict, comparison: dict | None, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "results.json", out_dir / "report.md", out_dir / "report.html"]
    doc = dict(results)
    if comparison:
        doc["comparison"] = comparison
    paths[0].write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(render_markdown(results, comparison), encoding="utf-8")
    paths[2].write_text(render_html(results, comparison), encoding="utf-8")
    return paths


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(results: dict, comparison: dict | None) -> str:
    targets = results.get("targets") or {}
    lines = [f"# Eval report: {_title(results)}", "",
             f"{results.get('description', '')}", "",
             f"Set file `{results['set_file']}` · {results['aggregates']['items']} questions · "
             f"{results['settings'].get('documents')} documents · mode {results['settings'].get('mode')}", "",
             "## Aggregates", ""]
    columns = split_columns(results)
    header = ("| metric | " + " | ".join(f"{label} (n={agg.get('items', 0)})" for label, agg in columns) + " |"
              + (f" {baseline_label(comparison)} |" if comparison else "") + " target |")
    lines += [header, "|---|" + "---|" * len(columns) + ("---|" if comparison else "") + "---|"]
    for name, label, kind in SHOWN:
        value = results["aggregates"].get(name)
        row = f"| {label} | " + " | ".join(fmt(agg.get(name), kind) for _, agg in columns) + " |"
        if comparison:
            row += f" {fmt(comparison['aggregates'].get(name, {}).get('old'), kind)} |"
        target = targets.get(name)
        row += (f" {'✓' if target_met(target, value) else '✗'} {target} |" if target else " |")
        lines.append(row)
    gaps = gap_rows(results)
    if gaps:
        lines += ["", "## Train/test gap", "", "Gap = train − test (positive: better on train, for a rate where higher is better).",
                  "", "| metric | train | test | gap |", "|---|---|---|---|"]
        lines += [f"| {' | '.join(row)} |" for row in gaps]
    lines += ["", "## By type", "", "| type | n | " + " | ".join(_label(n) for n in BY_TYPE_PLOT) + " |",
              "|---|---|" + "---|" * len(BY_TYPE_PLOT)]
    for t, agg in results["by_type"].items():
        lines.append(f"| {t} | {agg['items']} | " + " | ".join(fmt(agg.get(n), _kind(n)) for n in BY_TYPE_PLOT) + " |")
    fails = failing(results)
    lines += ["", f"## Failing items ({len(fails)})", ""]
    if fails:
        lines += ["| item | split | type | question | why | answer |", "|---|---|---|---|---|---|"]
        for r in fails:
            lines.append(f"| {_md_cell(r['id'])} | {r.get('split') or ''} | {r['type']} | {_md_cell(r['question'])} | "
                         f"{_md_cell('; '.join(r['scores']['fail_reasons']))} | {_md_cell(_short(r['answer'], 160))} |")
    else:
        lines.append("Every item passes.")
    if comparison:
        lines += ["", f"## Changes since the baseline ({len(comparison['changes'])})", ""]
        lines += [f"- {_md_cell(_change_line(c))}" for c in comparison["changes"]] or ["No item changed."]
        if comparison["regressions"]:
            lines += ["", "**Regressions:**", ""] + [f"- {_md_cell(r)}" for r in comparison["regressions"]]
    lines += ["", "## All items", "",
              "| item | split | type | pass | concise-correct | key terms | rank | cit. P | cit. R | F1 | question |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["items"]:
        s = r["scores"]
        lines.append(f"| {_md_cell(r['id'])} | {r.get('split') or ''} | {r['type']} | {'✓' if s['pass'] else '✗'} | "
                     f"{fmt(s.get('concise_correct'))} | {fmt(s['key_terms'])} | "
                     f"{fmt(s['rank'])} | {fmt(s['citation_precision'])} | {fmt(s['citation_recall'])} | "
                     f"{fmt(s['token_f1'])} | {_md_cell(r['question'])} |")
    return "\n".join(lines) + "\n"


# --- HTML ---------------------------------------------------------------------------------------


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plot_by_type(results: dict) -> str:
    """Grouped bars: for each question type, the main rates (a data URI)."""
    from matplotlib.figure import Figure

    types = list(results["by_type"])
    fig = Figure(figsize=(max(6.0, 1.3 * len(types) + 2), 3.6))
    ax = fig.add_subplot()
    width = 0.8 / len(BY_TYPE_PLOT)
    for i, name in enumerate(BY_TYPE_PLOT):
        values = [results["by_type"][t].get(name) for t in types]
        xs = [x + (i - (len(BY_TYPE_PLOT) - 1) / 2) * width for x in range(len(types))]
        ax.bar([x for x, v in zip(xs, values) if v is not None], [v for v in values if v is not None],
               width=width, label=_label(name))
    ax.set_xticks(range(len(types)), [f"{t}\n(n={results['by_type'][t]['items']})" for t in types], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.set_title(f"{results['set']}: metrics by question type")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def plot_vs_baseline(results: dict, comparison: dict | None) -> str:
    """Horizontal bars: each aggregate in this run, beside the baseline's when there is one."""
    from matplotlib.figure import Figure

    names = [n for n in VS_BASELINE_PLOT if results["aggregates"].get(n) is not None]
    fig = Figure(figsize=(7.0, 0.32 * len(names) + 1.2))
    ax = fig.add_subplot()
    ys = list(range(len(names)))
    now = [results["aggregates"][n] for n in names]
    if comparison:
        old = [comparison["aggregates"].get(n, {}).get("old") for n in names]
        ax.barh([y + 0.2 for y, v in zip(ys, old) if v is not None], [v for v in old if v is not None],
                height=0.4, color="#9aa5b1", label="baseline")
        ax.barh([y - 0.2 for y in ys], now, height=0.4, color="#2f6fdf", label="this run")
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"{results['set']}: this run against the baseline")
    else:
        ax.barh(ys, now, height=0.6, color="#2f6fdf")
        ax.set_title(f"{results['set']}: this run (no baseline)")
    ax.set_yticks(ys, [_label(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d232b}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde3ea}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}th,td{border:1px solid #dde3ea;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#f3f6f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#137333;font-weight:600}.fail{color:#b3261e;font-weight:600}.met{color:#137333}.missed{color:#b3261e}
tr.failrow{background:#fff5f4}details{margin:.1rem 0}blockquote{margin:.2rem 0 .2rem .5rem;padding-left:.5rem;border-left:3px solid #c9d3de;color:#39424e}
img{max-width:100%}.muted{color:#5f6b7a}code{background:#f3f6f9;padding:0 .2rem}
"""


def render_html(results: dict, comparison: dict | None) -> str:
    e = html.escape
    targets = results.get("targets") or {}
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Eval report: {e(_title(results))}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Eval report: {e(_title(results))}</h1>",
             f"<p class='muted'>{e(results.get('description', ''))}<br>Set file <code>{e(results['set_file'])}</code> · "
             f"{results['aggregates']['items']} questions · {e(str(results['settings'].get('documents')))} documents · "
             f"mode {e(str(results['settings'].get('mode')))}</p>"]
    if comparison and comparison["regressions"]:
        parts.append("<p class='fail'>Regression against the baseline:</p><ul>"
                     + "".join(f"<li>{e(r)}</li>" for r in comparison["regressions"]) + "</ul>")
    elif comparison:
        parts.append("<p class='pass'>No regression against the baseline.</p>")

    columns = split_columns(results)
    parts.append("<h2>Aggregates</h2><table><tr><th>metric</th>"
                 + "".join(f"<th>{e(label)} (n={agg.get('items', 0)})</th>" for label, agg in columns)
                 + (f"<th>{e(baseline_label(comparison))}</th>" if comparison else "") + "<th>target</th></tr>")
    for name, label, kind in SHOWN:
        value = results["aggregates"].get(name)
        row = f"<tr><td>{e(label)}</td>" + "".join(f"<td class='num'>{e(fmt(agg.get(name), kind))}</td>" for _, agg in columns)
        if comparison:
            row += f"<td class='num'>{e(fmt(comparison['aggregates'].get(name, {}).get('old'), kind))}</td>"
        target = targets.get(name)
        if target:
            met = target_met(target, value)
            row += f"<td class='{'met' if met else 'missed'}'>{'✓' if met else '✗'} {e(target)}</td>"
        else:
            row += "<td></td>"
        parts.append(row + "</tr>")
    parts.append("</table>")
    gaps = gap_rows(results)
    if gaps:
        parts.append("<h2>Train/test gap</h2><p class='muted'>Gap = train − test (positive: better on train, for a rate "
                     "where higher is better).</p><table><tr><th>metric</th><th>train</th><th>test</th><th>gap</th></tr>")
        parts += [f"<tr><td>{e(m)}</td><td class='num'>{e(a)}</td><td class='num'>{e(b)}</td><td class='num'>{e(g)}</td></tr>"
                  for m, a, b, g in gaps]
        parts.append("</table>")

    parts.append(f"<h2>Plots</h2><p><img alt='metrics by question type' src='{plot_by_type(results)}'></p>")
    parts.append(f"<p><img alt='this run against the baseline' src='{plot_vs_baseline(results, comparison)}'></p>")

    parts.append("<h2>By type</h2><table><tr><th>type</th><th>n</th>"
                 + "".join(f"<th>{e(_label(n))}</th>" for n in BY_TYPE_PLOT) + "</tr>")
    for t, agg in results["by_type"].items():
        parts.append(f"<tr><td>{e(t)}</td><td class='num'>{agg['items']}</td>"
                     + "".join(f"<td class='num'>{e(fmt(agg.get(n), _kind(n)))}</td>" for n in BY_TYPE_PLOT) + "</tr>")
    parts.append("</table>")

    if comparison:
        parts.append(f"<h2>Changes since the baseline ({len(comparison['changes'])})</h2>")
        parts.append("<ul>" + "".join(f"<li>{e(_change_line(c))}</li>" for c in comparison["changes"]) + "</ul>"
                     if comparison["changes"] else "<p>No item changed.</p>")

    fails = failing(results)
    parts.append(f"<h2>Items ({len(results['items'])}, {len(fails)} failing)</h2>")
    parts.append("<table><tr><th>item</th><th>split</th><th>type</th><th>result</th><th>question → answer</th><th>scores</th></tr>")
    for r in results["items"]:
        s = r["scores"]
        ok = s["pass"]
        cites = "".join(
            f"<blockquote>[{c['n']}] {e(c['quote'])} <span class='muted'>({e(c['doc_id'])} {c['start']}–{c['end']})</span></blockquote>"
            for c in r["citations"])
        why = "" if ok else f"<br><span class='fail'>{e('; '.join(s['fail_reasons']))}</span>"
        resolved = (f"<br><span class='muted'>resolved: {e(r['resolved_question'])}</span>"
                    if r.get("resolved_question") and r["resolved_question"] != r["question"] else "")
        score_text = (f"concise-correct {fmt(s.get('concise_correct'))}; key terms {fmt(s['key_terms'])}; lead {fmt(s['lead'])}; rank {fmt(s['rank'])}; cit. P {fmt(s['citation_precision'])} "
                      f"R {fmt(s['citation_recall'])}; F1 {fmt(s['token_f1'])}; sim {fmt(s['similarity'])}; "
                      f"{s['answer_words']} words; {fmt(s['latency_ms'], 'int')} ms")
        parts.append(
            f"<tr class='{'' if ok else 'failrow'}'><td>{e(r['id'])}</td><td>{e(r.get('split') or '')}</td><td>{e(r['type'])}</td>"
            f"<td class='{'pass' if ok else 'fail'}'>{'pass' if ok else 'FAIL'}</td>"
            f"<td><b>{e(r['question'])}</b>{resolved}<br>{e(r['answer'] or '')}"
            f"<details><summary>reference and citations</summary><i>reference:</i> {e(r['reference'])}{cites}</details>{why}</td>"
            f"<td>{e(score_text)}</td></tr>")
    parts.append("</table></body></html>\n")
    return "".join(parts)
