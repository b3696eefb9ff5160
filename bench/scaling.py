"""Scale: both pipelines from a few documents to 100,000 (distinct synthetic copies of the corpus).

Per size and pipeline: ingest chars/s, open time, warm p50/p95, peak RSS of the serving
process, disk size of the index. Every measured step is its own process
(``scale_worker.py``): the build of a size (an incremental ingest of the new documents
into the previous size's index), then two serving processes (first open after the ingest,
then a reopen). The synthetic texts are ``synthetic.py``'s; so are the reused vectors.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from measure import BENCH, CORPUS, check, log, run_rusage

SIZES = (100, 1000, 10_000, 30_000, 100_000)
QUESTIONS = 100  # latency over this many distinct eval questions per serving process (after the first)
WORKER = BENCH / "scale_worker.py"
KINDS = ("ours", "plain")


def steps(sizes: list[int] | None, max_docs: int | None) -> list[int]:
    """The sizes to run: ``sizes`` (default ``SIZES``) up to ``max_docs``, which is itself a step."""
    chosen = sorted(set(sizes or SIZES))
    if max_docs is None:
        return chosen
    return [n for n in chosen if n < max_docs] + [max_docs]


def _worker(args: list[str], what: str, timeout: float, stream: bool = False) -> dict:
    r = check(run_rusage([sys.executable, str(WORKER), *args], timeout=timeout, stream_stderr=stream), what)
    got = json.loads(r["stdout"].strip().splitlines()[-1])
    got["process_rss_mb"], got["process_wall_s"] = r["rss_mb"], r["wall_s"]
    return got


def disk_mb(folder: Path) -> float:
    """Space the files under ``folder`` take on disk (allocated blocks, as ``du``)."""
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            with contextlib.suppress(OSError):  # a file removed meanwhile
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total / 2**20


def scale(tmp: Path, sizes: list[int], questions: list[str], partial: Path | None = None) -> dict:
    """Grow both indexes size by size; measure each size from fresh processes."""
    from plain_langchain import text_files
    from synthetic import Corpus

    corpus = Corpus(text_files([CORPUS]))
    tables = tmp / "scale-vectors"
    log("scale: embedding the originals' texts once for both pipelines (scale_worker.py prepare)")
    prep = _worker(["prepare", str(tables)], "scale prepare", timeout=1800)
    qfile = tmp / "scale-questions.json"
    questions = questions[: QUESTIONS + 1]
    qfile.write_text(json.dumps(questions))
    out: dict = {"rows": [], "questions": len(questions) - 1, "prepare": prep}
    seen: set[bytes] = set()
    vocabulary: set[str] = set()
    have = chars = 0
    for n in sizes:
        folder = tmp / "synthetic" / f"step-{n:06d}"
        t = time.perf_counter()
        made = corpus.write(folder, have, n, seen, vocabulary)
        chars += made["chars"]
        row: dict = {"docs": n, "new_docs": n - have, "chars": chars, "new_chars": made["chars"],
                     "distinct_terms": len(vocabulary), "duplicate_texts": made["duplicate_texts"],
                     "generate_s": time.perf_counter() - t}
        log(f"scale {n:,} docs: {n - have:,} new documents written ({made['chars']:,} chars, "
            f"{len(vocabulary):,} distinct terms in the collection)")
        have = n
        for kind in KINDS:
            row[kind] = _size(kind, tmp / f"scale-{kind}", folder, tables, qfile, n)
        out["rows"].append(row)
        _log_row(row)
        if partial:  # a long run keeps what it measured so far
            partial.write_text(json.dumps(out, indent=1))
    return out


def _size(kind: str, index: Path, folder: Path, tables: Path, qfile: Path, n: int) -> dict:
    """One pipeline at one size: its incremental build, then a first open and a reopen."""
    t = time.perf_counter()
    build = _worker(["build", kind, str(index), str(folder), str(tables)], f"build {kind} at {n} docs",
                    timeout=12 * 3600, stream=True)
    build["step_s"] = time.perf_counter() - t
    got: dict = {"build": build, "disk_mb": disk_mb(index), "model_mb": disk_mb(index / "onnx")}
    cmd = ["probe", kind, str(index), str(qfile)]
    got["probe"] = _worker(cmd, f"probe {kind} at {n} docs", timeout=3600)
    got["reopen_s"] = _worker([*cmd, "1"], f"probe {kind} at {n} docs (again)", timeout=3600)["open_s"]
    return got


def _log_row(row: dict) -> None:
    parts = []
    for kind in KINDS:
        k = row[kind]
        b, p = k["build"], k["probe"]
        parts.append(f"{kind}: ingest {b['chars'] / b['seconds']:,.0f} chars/s, open {p['open_s']:.2f} s "
                     f"(again {k['reopen_s']:.2f} s), p50/p95 {p['p50_ms']:.1f}/{p['p95_ms']:.1f} ms, "
                     f"RSS {p['process_rss_mb']:.0f} MB, disk {k['disk_mb']:.0f} MB")
    log(f"scale {row['docs']:,} docs: " + "; ".join(parts))


# --- the figures ----------------------------------------------------------------------------


def ingest_cps(row: dict, kind: str, prep: dict | None = None) -> float:
    """chars/s of this size's ingest step; with ``prep``: with the model's embedding time
    added back (its measured seconds per character on the originals)."""
    b = row[kind]["build"]
    seconds = b["seconds"] + (b["chars"] * prep[kind]["model_s_per_char"] if prep else 0.0)
    return b["chars"] / seconds if seconds else float("nan")


def series(rows: list[dict], kind: str, prep: dict) -> dict[str, list[float]]:
    return {
        "ingest": [ingest_cps(r, kind) for r in rows],
        "ingest_model": [ingest_cps(r, kind, prep) for r in rows],
        "open": [r[kind]["probe"]["open_s"] for r in rows],
        "reopen": [r[kind]["reopen_s"] for r in rows],
        "p50": [r[kind]["probe"]["p50_ms"] for r in rows],
        "p95": [r[kind]["probe"]["p95_ms"] for r in rows],
        "rss": [r[kind]["probe"]["process_rss_mb"] for r in rows],
        "disk": [r[kind]["disk_mb"] for r in rows],
    }


def plot(scale_result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = scale_result["rows"]
    docs = [r["docs"] for r in rows]
    s = {k: series(rows, k, scale_result["prepare"]) for k in KINDS}
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    panels = [
        ("ingest", "ingest step (chars/s), log scale", None),
        ("open", "open: process start → first answer (s)", 2.0),
        ("p95", "warm latency p50 (solid) / p95 (dashed) (ms)", 100.0),
        ("rss", "peak RSS of the serving process (MB)", 1024.0),
        ("disk", "index size on disk (MB), log scale", None),
    ]
    colors = {"ours": "tab:blue", "plain": "tab:orange"}
    labels = {"ours": "assistant", "plain": "plain LangChain"}
    for ax, (key, title, target) in zip(axes.flat, panels):
        for kind in KINDS:
            ax.plot(docs, s[kind][key], marker="o", color=colors[kind],
                    linestyle="--" if key == "p95" else "-", label=labels[kind] + (" p95" if key == "p95" else ""))
            if key == "p95":
                ax.plot(docs, s[kind]["p50"], marker=".", color=colors[kind], label=f"{labels[kind]} p50")
            if key == "ingest":
                ax.plot(docs, s[kind]["ingest_model"], marker=".", linestyle=":", color=colors[kind],
                        label=f"{labels[kind]}, model time added")
            if key == "open":
                ax.plot(docs, s[kind]["reopen"], marker=".", linestyle=":", color=colors[kind],
                        label=f"{labels[kind]}, reopen")
        if target:
            ax.axhline(target, color="tab:red", linewidth=0.8, linestyle="-.", label="issue 13 target at 100k")
        ax.set_title(title, fontsize=10)
        if "log scale" in title:
            ax.set_yscale("log")
    ax = axes.flat[5]
    for key, marker in (("ingest", "o"), ("ingest_model", "."), ("open", "s"), ("p95", "^"), ("rss", "D"),
                        ("disk", "v")):
        ax.plot(docs, [o / p if p else float("nan") for o, p in zip(s["ours"][key], s["plain"][key])],
                marker=marker, label=key.replace("_model", " + model"))
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_title("ours ÷ plain, log scale\n(ingest: above 1 = ours faster; others: below 1 = ours better)",
                 fontsize=9)
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.set_xlabel("documents in the index")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Scaling to {docs[-1]:,} documents (distinct synthetic copies of the FRUS 1941 corpus)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
