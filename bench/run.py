"""Benchmarks: the assistant against the plain LangChain pipeline, side by side in one run.

    .venv/bin/python bench/run.py            # everything, scale to 100,000 docs: hours (bench/README.md)
    .venv/bin/python bench/run.py --quick    # 3 cold runs, scale up to 1,000 docs (a smoke run)
    .venv/bin/python bench/run.py --only scale --sizes 1000,2000   # the scale phase at two sizes

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
from scaling import SIZES, plot, scale, steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks: assistant vs plain LangChain pipeline.")
    parser.add_argument("--quick", action="store_true", help="3 cold runs, 1 warm pass, scale up to 1,000 docs")
    parser.add_argument("--runs", type=int, default=None, help="cold runs per pipeline, and serve runs (default 5)")
    parser.add_argument("--max-docs", type=int, default=None,
                        help=f"largest scale step (default {SIZES[-1]}; 1000 with --quick)")
    parser.add_argument("--sizes", type=_sizes, default=None,
                        help="scale steps, comma-separated (default " + ",".join(map(str, SIZES)) + ")")
    parser.add_argument("--only", default="cold,imports,warm,serve,ingest,scale",
                        help="comma-separated phases to run")
    parser.add_argument("--out", type=Path, default=BENCH / "results.md",
                        help="the report; results.json and scale.png are written beside it")
    args = parser.parse_args(argv)

    runs = args.runs or (3 if args.quick else 5)
    sizes = steps(args.sizes, args.max_docs or (1000 if args.quick else None))
    phases = set(args.only.split(","))
    start = time.perf_counter()
    results: dict = {"machine": machine(), "runs": runs,
                     "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    tmp = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    try:
        if phases & {"cold", "imports", "serve", "warm"}:
            ours, plain = build_indexes(tmp)
        if "cold" in phases:
            log(f"cold start: {runs} runs each")
            results["cold"] = cold(ours, plain, runs)
        if "imports" in phases:
            log("import times")
            results["imports"] = import_times()
            results["ask_path"] = ask_path_modules(ours)
        if "serve" in phases:
            log(f"assistant serve → first answer: {runs} runs")
            results["serve"] = serve_first_answer(ours, runs)
        if "warm" in phases:
            log("warm latency")
            results["warm"] = warm(ours, plain, passes=1 if args.quick else 3)
        if "ingest" in phases:
            log("ingest throughput")
            results["ingest"] = ingest_throughput(tmp)
        if "scale" in phases:
            log(f"scale: {sizes}")
            scale_run = {"machine": machine(), "command": results["command"]}
            convs, _ = eval_questions()
            questions = list(dict.fromkeys(q for conv in convs for q in conv))  # first one: the warm-up
            partial = args.out.with_name("scale-partial.json")  # a long run's figures so far
            results["scale"] = {**scale(tmp, sizes, questions, partial=partial), **scale_run}
            plot(results["scale"], args.out.with_name("scale.png"))
            partial.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        results["elapsed_min"] = (time.perf_counter() - start) / 60
        _write_json(results, args.out.with_name("results.json"))
        if any(results.get(k) for k in ("cold", "serve", "warm", "ingest", "scale")):
            write_results(results, args.out)
            log(f"wrote {args.out}")
    return 0


def _write_json(results: dict, path: Path) -> None:
    """The raw figures; a run of some phases only replaces those phases' figures."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    phases = ("cold", "imports", "ask_path", "serve", "warm", "ingest", "scale")
    merged = {**{k: v for k, v in old.items() if k in phases}, **results} if not results.get("cold") else results
    path.write_text(json.dumps(merged, indent=1, default=str))


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of document counts: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive document counts: {text!r}")
    return sizes


if __name__ == "__main__":
    sys.exit(main())
