"""Speed of the generative step with the bundled local model (``--llm local``).

Measures, in one process: loading SmolLM2-135M from its GGUF file, then for each question
the extractive answer alone and the extractive answer plus the checked LLM step, with 1
and 2 torch threads for generation. Prints one JSON object.

    python bench/llm_local.py --index DIR [--threads 1 2] ["QUESTION" ...]

DIR must hold an index of seeds/ (``assistant ingest --index DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTIONS = [
    "What did the Judge require before he would release Gorin?",
    "Who suggested the pardon of Gorin?",
    "Has Gorin left the United States?",
    "What did the Soviet Ambassador promise to do?",
    "Which prisoners did the United States want the Soviet Union to release?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("questions", nargs="*")
    args = parser.parse_args()
    questions = args.questions or QUESTIONS

    from assistant import Assistant
    from assistant.generative import generate_answer
    from assistant.grounding import GroundingChecker
    from assistant.llm import LocalChatModel, make_llm

    extractive_bot = Assistant.open(index=args.index)
    llm = make_llm("local")
    if not isinstance(llm, LocalChatModel):  # "local" always makes one; the check tells mypy
        raise SystemExit(f"expected the local model, got {llm!r}")
    t0 = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - t0
    checker = GroundingChecker(extractive_bot.chain.retriever.index.embeddings)

    report: dict = {"model_load_s": round(load_s, 2), "questions": len(questions), "threads": {}}
    for threads in args.threads:
        llm.threads = threads
        extractive_ms, llm_ms, modes = [], [], []
        for q in questions:
            t = time.perf_counter()
            ex = extractive_bot.ask(q)
            extractive_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            answer = generate_answer(llm, q, ex.passages, ex, checker=checker)
            llm_ms.append((time.perf_counter() - t) * 1000)
            modes.append(answer.mode)
        report["threads"][threads] = {
            "extractive_ms_p50": round(statistics.median(extractive_ms), 1),
            "llm_step_ms_p50": round(statistics.median(llm_ms), 1),
            "llm_step_ms_max": round(max(llm_ms), 1),
            "modes": {m: modes.count(m) for m in sorted(set(modes))},
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
