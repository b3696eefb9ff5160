"""Ingest of one large text file (issue 10): peak memory and throughput, beside many small files.

    .venv/bin/python bench/ingest_large.py                 # a 21 MB file, then the frus1941 folder
    .venv/bin/python bench/ingest_large.py --mb 2          # a quick smoke run
    .venv/bin/python bench/ingest_large.py --no-write      # print, do not touch bench/results.md

The large file is generated (never committed) from the corpus texts at
``../shared/corpus/frus1941``: every document's text in turn, each repetition varied
(its numbers shifted, its paragraphs rotated) so no two passages are identical, until the
file reaches the size asked for. Each run is a whole ``assistant ingest FILE --index TMP``
process, as a user runs it, with the ONNX export made beforehand (a once-per-model cost,
shared through ``ASSISTANT_CACHE_DIR``); peak RSS is the child's ``ru_maxrss``
(``os.wait4``); chars/s is the documents' characters over the process's wall time. The
progress bar (stderr) is passed through, so it can be watched moving.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "frus1941"
RESULTS = ROOT / "bench" / "results.md"
SECTION = "## Ingest of one large file (issue 10)"


def _shift_numbers(text: str, by: int) -> str:
    """Every number of ``text`` plus ``by`` (each repetition of the corpus reads differently)."""
    return re.sub(r"\d+", lambda m: str(int(m.group()) + by), text)


def make_large_file(path: Path, megabytes: float) -> int:
    """Write a ``megabytes`` MB UTF-8 text built from the corpus; returns its characters."""
    texts = [f.read_text(encoding="utf-8") for f in sorted(CORPUS.glob("*.txt"))]
    target = int(megabytes * 1_000_000)
    written = 0
    rep = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            for text in texts:
                paras = [p for p in text.split("\n\n") if p.strip()]
                k = rep % max(1, len(paras))
                paras = paras[k:] + paras[:k]
                varied = _shift_numbers("\n\n".join(paras), rep)
                block = varied + "\n\n"
                out.write(block)
                written += len(block.encode("utf-8"))
                if written >= target:
                    break
            rep += 1
    return len(path.read_text(encoding="utf-8"))


def run_ingest(paths: list[Path], index: Path, env: dict) -> dict:
    cmd = [sys.executable, "-m", "assistant.cli", "ingest", *map(str, paths), "--index", str(index),
           "--collection", "bench"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    assert proc.stdout is not None  # stdout=PIPE
    out = proc.stdout.read().strip()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ingest failed ({status}): {out}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "summary": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=21.0, help="size of the generated file (MB)")
    ap.add_argument("--no-write", action="store_true", help="do not update bench/results.md")
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="bench-large-"))
    env["ASSISTANT_CACHE_DIR"] = str(work / "cache")
    try:
        # The ONNX export (a once-per-model cost) before anything is timed.
        subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", "-q", "--index", str(work / "warm")],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        big = work / "large" / "large.txt"
        big.parent.mkdir()
        chars = make_large_file(big, args.mb)
        size_mb = big.stat().st_size / 1e6
        print(f"large file: {size_mb:.1f} MB, {chars:,} characters", file=sys.stderr)
        large = run_ingest([big], work / "ix-large", env)
        large["chars"] = chars
        small_chars = sum(len(f.read_text(encoding="utf-8")) for f in CORPUS.glob("*.txt"))
        small = run_ingest([CORPUS], work / "ix-small", env)
        small["chars"] = small_chars
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for r in (large, small):
        r["chars_per_s"] = r["chars"] / r["wall_s"]
    lines = [
        SECTION,
        "",
        f"`.venv/bin/python bench/ingest_large.py --mb {args.mb:g}` on {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores (shared). Whole `assistant ingest` processes, ONNX export made beforehand.",
        "",
        "| input | characters | wall time | chars/s | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| one generated file, {size_mb:.1f} MB | {large['chars']:,} | {large['wall_s']:.0f} s | "
        f"{large['chars_per_s']:,.0f} | {large['peak_rss_mb']:,.0f} MB |",
        f"| `frus1941/`, {len(list(CORPUS.glob('*.txt')))} files | {small['chars']:,} | {small['wall_s']:.0f} s | "
        f"{small['chars_per_s']:,.0f} | {small['peak_rss_mb']:,.0f} MB |",
        "",
        "Targets: peak RSS ≤ 1.5 GB and ≥ 20,000 chars/s on the large file, no slower than on many small files.",
        f"Summaries: `{large['summary']}`; `{small['summary']}`.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
        if SECTION in old:
            head, _, rest = old.partition(SECTION)
            nxt = rest.find("\n## ")
            old = head + (rest[nxt + 1 :] if nxt >= 0 else "")
        RESULTS.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")


if __name__ == "__main__":
    main()
