"""Benchmarks: the assistant against the plain LangChain pipeline, side by side in one run.

    .venv/bin/python bench/run.py            # everything, ~10-15 min; writes bench/results.md
    .venv/bin/python bench/run.py --quick    # 3 cold runs, scale up to 1,000 docs (a smoke run)

Every index lives in a temporary folder (never the user's ``.index/``). What is measured
and how is in ``bench/README.md``; the figures go to ``bench/results.md`` (with the date
and the machine) and the scale plot to ``bench/scale.png``. The parts: measure.py
(processes, timing), questions.py, phases.py, scaling.py, report.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# measure first: it clears ASSISTANT_* before anything reads them
from measure import BENCH, log
from phases import ask_path_modules, build_indexes, cold, import_times, ingest_throughput, serve_first_answer, warm
from questions import eval_questions
from report import machine, write_results
from scaling import plot, probe, scale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks: assistant vs plain LangChain pipeline.")
    parser.add_argument("--quick", action="store_true", help="3 cold runs, 1 warm pass, scale up to 1,000 docs")
    parser.add_argument("--runs", type=int, default=None, help="cold runs per pipeline (default 5)")
    parser.add_argument("--max-docs", type=int, default=None, help="largest scale step (default 10000)")
    parser.add_argument("--only", default="cold,imports,warm,serve,ingest,scale",
                        help="comma-separated phases to run")
    parser.add_argument("--out", type=Path, default=BENCH / "results.md")
    parser.add_argument("--probe", nargs=3, metavar=("KIND", "INDEX", "QUESTIONS_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.probe:
        kind, index_dir, qfile = args.probe
        print(json.dumps(probe(kind, index_dir, json.loads(Path(qfile).read_text()))))
        return 0

    runs = args.runs or (3 if args.quick else 5)
    max_docs = args.max_docs or (1000 if args.quick else 10_000)
    steps = [n for n in (1, 10, 100, 1000, 10_000) if n < max_docs] + [max_docs]
    phases = set(args.only.split(","))
    start = time.perf_counter()
    results: dict = {"machine": machine(), "runs": runs,
                     "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    tmp = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    try:
        ours, plain = build_indexes(tmp)
        if "cold" in phases:
            log(f"cold start: {runs} runs each")
            results["cold"] = cold(ours, plain, runs)
        if "imports" in phases:
            log("import times")
            results["imports"] = import_times()
            results["ask_path"] = ask_path_modules(ours)
        if "serve" in phases:
            log("assistant serve → first answer")
            results["serve"] = serve_first_answer(ours)
        if "warm" in phases:
            log("warm latency")
            results["warm"] = warm(ours, plain, passes=1 if args.quick else 3)
        if "ingest" in phases:
            log("ingest throughput")
            results["ingest"] = ingest_throughput(tmp)
        if "scale" in phases:
            log(f"scale: {steps}")
            convs, _ = eval_questions()
            results["scale"] = scale(tmp, steps, [q for conv in convs for q in conv][:20])
            plot(results["scale"], BENCH / "scale.png")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        results["elapsed_min"] = (time.perf_counter() - start) / 60
        (BENCH / "results.json").write_text(json.dumps(results, indent=1, default=str))
        if results.get("cold") or results.get("warm"):
            write_results(results, args.out)
            log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
