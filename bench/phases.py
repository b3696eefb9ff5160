"""The measured phases of a bench run (each returns its figures as a dict)."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import BENCH, COLD_QUESTION, CORPUS, ENV, ROOT, SEEDS, assistant_cmd, check, log, percentiles, run_rusage
from questions import eval_questions


def build_indexes(tmp: Path) -> tuple[Path, Path]:
    ours, plain = tmp / "ours", tmp / "plain"
    log("building the two telegram indexes (seeds/)")
    check(run_rusage([*assistant_cmd(), "ingest", str(SEEDS), "--index", str(ours)], timeout=600), "assistant ingest")
    check(run_rusage([sys.executable, str(BENCH / "plain_langchain.py"), "--index", str(plain),
                      "--ingest", str(SEEDS), COLD_QUESTION], timeout=600), "plain pipeline ingest")
    return ours, plain


def cold(ours: Path, plain: Path, runs: int) -> dict:
    """Whole-process wall time and peak RSS of one question from a cold start, interleaved."""
    variants = {
        "ours": ([*assistant_cmd(), "ask", COLD_QUESTION, "--index", str(ours)], ENV),
        # the same command with query embeddings through sentence-transformers (torch)
        "ours_torch": ([*assistant_cmd(), "ask", COLD_QUESTION, "--index", str(ours)],
                       {**ENV, "ASSISTANT_EMBEDDINGS": "torch"}),
        "plain": ([sys.executable, str(BENCH / "plain_langchain.py"), "--index", str(plain), COLD_QUESTION], ENV),
    }
    got: dict[str, list[dict]] = {k: [] for k in variants}
    for i in range(runs):
        for name, (cmd, env) in variants.items():
            r = check(run_rusage(cmd, env=env), f"cold {name}")
            got[name].append(r)
        log(f"cold run {i + 1}/{runs}: " + ", ".join(f"{k} {v[-1]['wall_s']:.2f} s" for k, v in got.items()))
    return {k: {"wall_s": statistics.median(r["wall_s"] for r in v), "rss_mb": statistics.median(r["rss_mb"] for r in v),
                "walls": [round(r["wall_s"], 2) for r in v]} for k, v in got.items()}


def import_times() -> dict:
    """Seconds to import each heavy module alone in a fresh interpreter (median of 3)."""
    mods = ["onnxruntime", "tokenizers", "chromadb", "langchain_core.retrievers", "bm25s", "nltk", "typer",
            "torch", "sentence_transformers", "langchain_chroma", "langchain_huggingface", "gradio"]
    out = {}
    for m in mods:
        walls = []
        for _ in range(3):
            code = f"import time; t=time.perf_counter(); import {m}; print(time.perf_counter()-t)"
            r = run_rusage([sys.executable, "-c", code])
            if r["rc"] == 0:
                walls.append(float(r["stdout"].strip().splitlines()[-1]))
        out[m] = statistics.median(walls) if walls else None
    baseline = run_rusage([sys.executable, "-c", "pass"])
    out["(python start)"] = baseline["wall_s"]
    return out


def ask_path_modules(ours: Path) -> dict:
    """Which heavy modules a cold ``assistant ask`` imports (``python -X importtime``)."""
    code = ("import sys; from assistant.cli import main; sys.argv=['assistant','ask',"
            f"{COLD_QUESTION!r},'--index',{str(ours)!r}]; main()")
    r = run_rusage([sys.executable, "-X", "importtime", "-c", code])
    cumulative: dict[str, float] = {}
    for line in r["stderr"].splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = line[len("import time:"):].split("|", 2)
            if not name.startswith("  ") and cum.strip().isdigit():  # top-level imports only
                cumulative[name.strip()] = cumulative.get(name.strip(), 0) + int(cum) / 1e6
    heavy = dict(sorted(((k, v) for k, v in cumulative.items() if v >= 0.03), key=lambda kv: -kv[1]))
    return {"modules": heavy, "torch_imported": "torch" in cumulative,
            "gradio_imported": "gradio" in cumulative}


def warm(ours: Path, plain: Path, passes: int) -> dict:
    import torch

    torch.set_num_threads(1)  # the team rule for queries, for both pipelines
    from assistant import Assistant

    from plain_langchain import PlainPipeline

    convs, source = eval_questions()
    bot = Assistant.open(index=str(ours))
    pipe = PlainPipeline(plain)
    for q in ("Warm-up: who wrote it?", "Warm-up: what happened?"):
        bot.ask(q)
        pipe.ask(q)
    ours_ms: list[float] = []
    plain_ms: list[float] = []
    first_pass = 0
    for n_pass in range(passes):
        if n_pass == 1:
            first_pass = len(ours_ms)
        for conv in convs:
            history = []
            for q in conv:
                t = time.perf_counter()
                a = bot.ask(q, history=history)
                ours_ms.append((time.perf_counter() - t) * 1000)
                history.append(a)
                t = time.perf_counter()
                pipe.ask(q)
                plain_ms.append((time.perf_counter() - t) * 1000)
    first_pass = first_pass or len(ours_ms)
    # The first pass asks each question for the first time in this process (no cached query vector).
    return {"source": source, "passes": passes, "ours": percentiles(ours_ms), "plain": percentiles(plain_ms),
            "ours_first_pass": percentiles(ours_ms[:first_pass]), "plain_first_pass": percentiles(plain_ms[:first_pass])}


def ingest_throughput(tmp: Path) -> dict:
    """chars/s over the FRUS corpus with the model already loaded, each into a fresh index."""
    import torch
    from assistant.config import Settings
    from assistant.index import Index

    from plain_langchain import PlainPipeline, text_files

    chars = sum(len(f.read_text(encoding="utf-8")) for f in text_files([CORPUS]))
    out: dict = {"corpus": f"{CORPUS.name}/ ({len(text_files([CORPUS]))} files, {chars:,} chars)"}

    index = Index(Settings.resolve(index=tmp / "ingest-ours", collection="frus"))
    prepare = getattr(index, "prepare_embeddings", None)
    if prepare:  # the ONNX export beside the index (made once per index, at the first ingest)
        t = time.perf_counter()
        prepare(export=True)
        out["ours_prepare_s"] = time.perf_counter() - t
    index.embeddings.embed_documents(["warm-up sentence"])  # model loaded before timing
    from assistant.sentences import split_sentences

    split_sentences("Libraries loaded before timing too. NLTK's Punkt is one.")
    t = time.perf_counter()
    report = index.ingest([CORPUS], progress=False)
    dt = time.perf_counter() - t
    out["ours"] = {"seconds": dt, "chars": report.chars, "cps": report.chars / dt,
                   "route": "onnx" if getattr(index.embeddings, "onnx", None) else "torch"}
    log(f"ingest ours: {report.chars / dt:,.0f} chars/s")

    torch.set_num_threads(os.cpu_count() or 1)  # the plain pipeline gets every core for its ingest
    pipe = PlainPipeline(tmp / "ingest-plain")
    pipe.embeddings.embed_query("warm-up sentence")
    from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: F401  (loaded before timing)
    t = time.perf_counter()
    got = pipe.ingest([CORPUS])
    dt = time.perf_counter() - t
    out["plain"] = {"seconds": dt, "chars": got["chars"], "cps": got["chars"] / dt, "torch_threads": os.cpu_count()}
    torch.set_num_threads(1)
    log(f"ingest plain: {got['chars'] / dt:,.0f} chars/s")
    return out


def serve_first_answer(ours: Path, runs: int = 1) -> dict:
    """``assistant serve`` started ``runs`` times: seconds until the page answers HTTP 200 and
    until the first answer arrives over HTTP, and the server's CPU seconds by then (medians)."""
    help_ = run_rusage([*assistant_cmd(), "serve", "--help"])
    if help_["rc"] != 0:
        return {"skipped": "`assistant serve` does not exist yet"}
    got: list[dict] = []
    for i in range(runs):
        one = _serve_once(ours)
        if "skipped" in one:
            return one
        got.append(one)
        log(f"serve run {i + 1}/{runs}: page up {one['page_up_s']:.2f} s, first answer {one['first_answer_s']:.2f} s "
            f"(server CPU {one['server_cpu_s']:.2f} s)")
    out: dict = {k: statistics.median(r[k] for r in got)
                 for k in ("page_up_s", "first_answer_s", "client_s", "answer_s", "server_cpu_up_s", "server_cpu_s")}
    out["first_answer_walls"] = [round(r["first_answer_s"], 2) for r in got]
    out.update(endpoint=got[0]["endpoint"], answer_seen=all(r["answer_seen"] for r in got))
    return out


def _cpu_seconds(pid: int) -> float:
    """A live process's user + system CPU seconds (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve_once(ours: Path) -> dict:
    # The client's own imports are the bench's cost, not the server's: loaded before the clock.
    import urllib.request

    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    cmd = [*assistant_cmd(), "serve", "--index", str(ours), "--port", str(port)]
    with tempfile.TemporaryFile() as log_f:  # the server's output, read if it fails
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT, env=ENV, cwd=ROOT)
        try:
            up = None
            while time.perf_counter() - t0 < 120:
                if proc.poll() is not None:
                    log_f.seek(0)
                    return {"skipped": f"`assistant serve` exited ({proc.returncode}): {log_f.read().decode()[-300:]}"}
                try:
                    with urllib.request.urlopen(url, timeout=1) as resp:
                        if resp.status == 200:
                            up = time.perf_counter() - t0
                            break
                except OSError:
                    time.sleep(0.05)
            if up is None:
                return {"skipped": "the page did not come up within 120 s"}
            cpu_up = _cpu_seconds(proc.pid)
            # What a browser does too (read the page's config), plus finding the answering endpoint.
            client = Client(url, verbose=False)
            api = client.view_api(return_format="dict", print_info=False)
            endpoints = list((api or {}).get("named_endpoints", {}))
            endpoint = next((e for e in endpoints if "ask" in e or "answer" in e or "respond" in e), None)
            if endpoint is None:
                return {"page_up_s": up, "skipped": f"no answering endpoint among {endpoints}"}
            params = api["named_endpoints"][endpoint]["parameters"]
            args = [COLD_QUESTION if i == 0 else p.get("parameter_default") for i, p in enumerate(params)]
            t_ask = time.perf_counter()
            result = client.predict(*args, api_name=endpoint)
            first = time.perf_counter() - t0
            ok = "Judge" in json.dumps(result, default=str)
            return {"page_up_s": up, "first_answer_s": first, "client_s": t_ask - t0 - up,
                    "answer_s": first - (t_ask - t0), "server_cpu_up_s": cpu_up,
                    "server_cpu_s": _cpu_seconds(proc.pid), "endpoint": endpoint, "answer_seen": ok}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
