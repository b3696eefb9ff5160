"""One process of the scale bench (``scaling.py`` starts it; each prints one JSON line last):

    scale_worker.py probe KIND INDEX QUESTIONS_JSON [N]  # open, answer N questions (the serving process)
    scale_worker.py prepare TABLES                       # embed the 152 originals' texts once (both pipelines)
    scale_worker.py build KIND INDEX FOLDER TABLES       # ingest FOLDER (one step's new documents)

KIND is ``ours`` (the assistant, through its public API: ``Index``/``Index.ingest``,
``Assistant.open``) or ``plain`` (``plain_langchain.PlainPipeline``). The probe imports
nothing before it starts measuring beyond the standard library: its open time is the
process's age (kernel start time, so interpreter start and every import count) when its
first answer is ready.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

RECORDED: dict[str, dict[str, list[float]]] = {"ours": {}, "plain": {}}  # prepare: text → model vector


def process_age() -> float:
    """Seconds since this process started (``/proc/self/stat`` start time, 10 ms ticks)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def probe(kind: str, index_dir: str, questions: list[str]) -> dict:
    t0 = time.perf_counter()
    if kind == "ours":
        from assistant import Assistant

        ask = Assistant.open(index=index_dir, collection="scale").ask
    else:
        from plain_langchain import PlainPipeline  # this script's folder is on sys.path

        ask = PlainPipeline(index_dir, collection="scale").ask
    ask(questions[0])  # the first answer: whatever is loaded or built lazily is in the open time
    opened, opened_here = process_age(), time.perf_counter() - t0
    times = []
    for q in questions[1:]:  # none: an open-time probe
        t = time.perf_counter()
        ask(q)
        times.append((time.perf_counter() - t) * 1000)
    import numpy as np

    status = Path("/proc/self/status").read_text()  # VmHWM: this process's own peak resident memory
    hwm_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    out = {"open_s": opened, "open_in_process_s": opened_here, "n": len(times), "vmhwm_mb": hwm_kb / 1024}
    if times:
        out.update(p50_ms=float(np.percentile(times, 50)), p95_ms=float(np.percentile(times, 95)),
                   mean_ms=float(np.mean(times)))
    return out


# --- building (the vectors of copies come from SurrogateVectors: no model run per copy) ---


def _corpus():
    from measure import CORPUS
    from plain_langchain import text_files
    from synthetic import Corpus

    return Corpus(text_files([CORPUS]))


def _ours(index_dir: Path, embed_documents=None):
    """The assistant's ``Index`` over ``index_dir``; ``embed_documents`` replaces the
    model for document texts (the query route and the model's identity stay the model's)."""
    from assistant.config import Settings
    from assistant.embeddings import LocalEmbeddings
    from assistant.index import Index

    class Embeddings(LocalEmbeddings):
        recorded = RECORDED["ours"]

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            if embed_documents is not None:
                return embed_documents(list(texts)).tolist()
            vectors = super().embed_documents(texts)
            self.recorded.update(zip(texts, vectors))
            return vectors

    return Index(Settings.resolve(index=index_dir, collection="scale"), embeddings=Embeddings())


def _plain(index_dir: Path, embed_documents=None):
    """The plain pipeline over ``index_dir``; its model for real (recording its vectors),
    or ``embed_documents`` in its place."""
    import torch
    from langchain_core.embeddings import Embeddings

    from plain_langchain import PlainPipeline, model_embeddings

    real = None if embed_documents is not None else model_embeddings()

    class Recording(Embeddings):
        recorded = RECORDED["plain"]

        def embed_documents(self, texts):
            if real is None:
                return embed_documents(list(texts)).tolist()
            vectors = real.embed_documents(list(texts))
            self.recorded.update(zip(texts, vectors))
            return vectors

        def embed_query(self, text):
            return self.embed_documents([text])[0]

    pipe = PlainPipeline(index_dir, collection="scale", embeddings=Recording())
    torch.set_num_threads(os.cpu_count() or 1)  # its ingest gets every core, as in the ingest phase
    return pipe


def _ingest(kind: str, target, folder: Path) -> dict:
    t = time.perf_counter()
    if kind == "ours":
        report = target.ingest([folder], progress=True)  # the bar goes to the bench's stderr
        got = {"chars": report.chars, "documents": report.added + report.updated, "chunks_total": report.chunks}
    else:
        got = target.ingest([folder])
        got["chunks_total"] = target.count()
    got["seconds"] = time.perf_counter() - t
    return got


def prepare(tables: str) -> dict:
    """Each pipeline ingests the 152 originals twice into scratch indexes: with its model
    (recording every text's vector: the table copies draw from), then with the recorded
    vectors; the difference is the model's share of ingest time per character."""
    import shutil
    import tempfile

    from measure import CORPUS
    from synthetic import SurrogateVectors, save_table

    corpus = _corpus()
    out: dict = {}
    scratch = Path(tempfile.mkdtemp(prefix="scale-prepare-"))
    try:
        for kind in ("ours", "plain"):
            make = _ours if kind == "ours" else _plain
            real = make(scratch / f"{kind}-model")
            if kind == "ours":
                real.prepare_embeddings(export=True)  # the ONNX export: a once-per-model cost, not timed
                real.embeddings.embed_documents(["warm-up sentence"])
            else:
                real.embeddings.embed_documents(["warm-up sentence"])
            with_model = _ingest(kind, real, CORPUS)
            recorded = real.embeddings.recorded
            save_table(Path(tables) / kind, list(recorded), list(recorded.values()))
            vectors = SurrogateVectors(corpus, list(recorded), list(recorded.values()))
            reused = _ingest(kind, make(scratch / f"{kind}-reused", vectors), CORPUS)
            out[kind] = {"with_model_s": with_model["seconds"], "reused_s": reused["seconds"],
                         "chars": with_model["chars"], "texts": len(recorded),
                         "model_s_per_char": max(0.0, with_model["seconds"] - reused["seconds"]) / with_model["chars"]}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def build(kind: str, index_dir: str, folder: str, tables: str) -> dict:
    from synthetic import SurrogateVectors, load_table

    vectors = SurrogateVectors(_corpus(), *load_table(Path(tables) / kind))
    target = _ours(Path(index_dir), vectors) if kind == "ours" else _plain(Path(index_dir), vectors)
    got = _ingest(kind, target, Path(folder))
    got["vectors"] = vectors.counts()
    return got


def main(argv: list[str]) -> int:
    what, *args = argv
    if what == "probe":
        questions = json.loads(Path(args[2]).read_text())
        result = probe(args[0], args[1], questions[: int(args[3])] if len(args) > 3 else questions)
    elif what == "prepare":
        result = prepare(args[0])
    elif what == "build":
        result = build(*args)
    else:
        raise SystemExit(f"unknown step {what!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
