"""Measuring processes: wall time and peak memory of whole commands, percentiles, paths.

Importing this module drops every ``ASSISTANT_*`` variable: the bench never reads or
writes the user's index and never talks to a Chroma server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SEEDS = ROOT / "seeds"
CORPUS = (ROOT / ".." / "shared" / "corpus" / "frus1941").resolve()
COLD_QUESTION = "What did the Judge require?"

for _k in [k for k in os.environ if k.startswith("ASSISTANT_")]:
    del os.environ[_k]  # the bench never reads or writes the user's index / server
os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                   "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"})
ENV = dict(os.environ)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- processes ------------------------------------------------------------------------


def assistant_cmd() -> list[str]:
    script = Path(sys.executable).with_name("assistant")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from assistant.cli import main; main()"]


# Linux charges a child's ru_maxrss with the memory of the process it was forked from
# (hiwater of the pre-exec address space), and this bench process grows to >1 GB; so every
# measured command is started by a ~10 MB launcher, which reports the child's own figures.
_LAUNCHER = """
import json, os, subprocess, sys, time
t = time.perf_counter()
p = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(p.pid, 0)
wall = time.perf_counter() - t
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": wall, "rss_kb": usage.ru_maxrss, "rc": os.waitstatus_to_exitcode(status)}, f)
"""


def run_rusage(cmd: list[str], env: dict | None = None, timeout: float = 300, stream_stderr: bool = False) -> dict:
    """Wall time (interpreter start to exit) and peak RSS of one whole process; with
    ``stream_stderr`` its stderr (a progress bar) goes to ours instead of being kept."""
    with tempfile.TemporaryDirectory() as d:
        stats = Path(d) / "stats.json"
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(stats), *cmd], stdout=subprocess.PIPE,
                              stderr=None if stream_stderr else subprocess.PIPE,
                              env=env or ENV, cwd=ROOT, timeout=timeout)
        got = json.loads(stats.read_text()) if stats.exists() else {"wall_s": None, "rss_kb": 0, "rc": proc.returncode}
    return {"wall_s": got["wall_s"], "rc": got["rc"], "rss_mb": got["rss_kb"] / 1024,
            "stdout": proc.stdout.decode(errors="replace"), "stderr": (proc.stderr or b"").decode(errors="replace")}


def check(result: dict, what: str) -> dict:
    if result["rc"] != 0:
        raise SystemExit(f"{what} failed (exit {result['rc']}):\n{result['stderr'][-2000:]}")
    return result


def percentiles(values_ms: list[float]) -> dict:
    import numpy as np

    a = np.asarray(values_ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "mean_ms": float(a.mean()), "n": len(a)}
