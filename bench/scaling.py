"""Scale: query latency and memory at 1 … N documents (synthetic copies of the corpus).

Set-up is not what is measured: each distinct text is embedded once (``ReusingEmbeddings``)
and parsed once (``ParseOnce``); both are handed to the index, not patched into it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import zlib
from pathlib import Path

from assistant.embeddings import LocalEmbeddings

from measure import BENCH, CORPUS, check, log, percentiles, run_rusage


def reusing_vectors(base_embed):
    """embed_documents with each distinct text embedded once by ``base_embed``; a repeat of a
    text (a synthetic copy) gets the same vector plus a small deterministic perturbation
    (σ=0.01 per dimension, renormalized: cosine ≈ 0.98 to the original), so copies are
    distinct points in the vector index as real documents would be, not exact duplicates."""
    import numpy as np

    vectors: dict[str, np.ndarray] = {}
    seen: dict[str, int] = {}

    def embed_documents(texts: list[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in vectors))
        if missing:
            for t, v in zip(missing, base_embed(missing)):
                vectors[t] = np.asarray(v, dtype=np.float32)
        out = []
        for t in texts:
            n = seen.get(t, 0)
            seen[t] = n + 1
            v = vectors[t]
            if n:
                rng = np.random.default_rng(zlib.crc32(f"{n}\x00{t}".encode()))
                v = v + rng.normal(0, 0.01, v.shape).astype(np.float32)
                v = v / np.linalg.norm(v)
            out.append(v.tolist())
        return out

    return embed_documents


class ReusingEmbeddings(LocalEmbeddings):
    """The assistant's embedding model with each distinct text embedded once (``reusing_vectors``)."""

    def __init__(self):
        super().__init__()
        self._reusing = reusing_vectors(self.embed_original)

    def embed_original(self, texts: list[str]) -> list[list[float]]:
        """The model's own vectors (the ONNX export when present, checked equal to sentence-transformers)."""
        return LocalEmbeddings.embed_documents(self, texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._reusing(texts)


class ParseOnce:
    """``load_documents`` with each distinct text parsed once: its copies get the parsed
    document under their own id and source."""

    def __init__(self):
        self.parsed: dict[str, object] = {}

    def __call__(self, paths, **_options):
        from assistant.loaders import load_documents

        out = []
        for f in paths:
            text = f.read_text(encoding="utf-8")
            if text not in self.parsed:
                self.parsed[text] = load_documents([f])[0]
            out.append(dataclasses.replace(self.parsed[text], doc_id=f.stem, source=str(f.resolve())))
        return out


# --- one process answering at one scale (run as a subprocess: its own memory) -----------


def probe(kind: str, index_dir: str, questions: list[str]) -> dict:
    t0 = time.perf_counter()
    if kind == "ours":
        from assistant import Assistant

        bot = Assistant.open(index=index_dir, collection="scale")
        ask = bot.ask
    else:
        from plain_langchain import PlainPipeline

        ask = PlainPipeline(index_dir, collection="scale").ask
    ask(questions[0])  # warm-up (first query loads lazily built parts)
    opened = time.perf_counter() - t0
    times = []
    for q in questions:
        t = time.perf_counter()
        ask(q)
        times.append((time.perf_counter() - t) * 1000)
    # VmHWM: this process's own peak resident memory (not charged with its parent's)
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    return {"open_s": opened, **percentiles(times), "rss_mb": hwm_kb / 1024}


def scale(tmp: Path, steps: list[int], questions: list[str]) -> dict:
    """Query latency and process memory at 1 … N documents (synthetic copies of the corpus)."""
    from assistant.config import Settings
    from assistant.index import Index
    from assistant.ingest import Ingest
    from langchain_core.embeddings import Embeddings

    from plain_langchain import PlainPipeline, text_files

    originals = [(f.stem, f.read_text(encoding="utf-8")) for f in text_files([CORPUS])]
    syn = tmp / "synthetic"
    syn.mkdir()

    # One embedder computes every distinct text once (the fastest route available: the
    # ONNX export when present, checked equal to sentence-transformers); copies reuse it.
    embeddings = ReusingEmbeddings()
    index = Index(Settings.resolve(index=tmp / "scale-ours", collection="scale"), embeddings=embeddings)
    index.prepare_embeddings(export=True)
    ingest = Ingest(index.store, index.lock, load=ParseOnce())
    base_docs = embeddings.embed_original

    class Reused(Embeddings):
        def __init__(self):
            self._docs = reusing_vectors(base_docs)

        def embed_documents(self, texts):
            return self._docs(list(texts))

        def embed_query(self, text):
            return base_docs([text])[0]

    plain = PlainPipeline(tmp / "scale-plain", collection="scale", embeddings=Reused())

    rows = []
    have = 0
    for n in steps:
        new = []
        for i in range(have, n):
            stem, text = originals[i % len(originals)]
            f = syn / f"s{i:05d}_{stem}.txt"
            f.write_text(text, encoding="utf-8")
            new.append(f)
        have = n
        t = time.perf_counter()
        ingest.run(new, progress=False)
        ours_build = time.perf_counter() - t
        t = time.perf_counter()
        plain.ingest(new)
        plain_build = time.perf_counter() - t
        row = {"docs": n, "chars": sum(len(originals[i % len(originals)][1]) for i in range(n)),
               "build_s": {"ours": ours_build, "plain": plain_build}}
        row.update(_probe_both(tmp, n, questions))
        rows.append(row)
        log(f"scale {n} docs: ours p50 {row['ours']['p50_ms']:.1f} ms {row['ours']['process_rss_mb']:.0f} MB, "
            f"plain p50 {row['plain']['p50_ms']:.1f} ms {row['plain']['process_rss_mb']:.0f} MB")
    return {"rows": rows, "questions": len(questions)}


def _probe_both(tmp: Path, n: int, questions: list[str]) -> dict:
    """Each pipeline's figures at this step, each from a fresh process (``run.py --probe``)."""
    qfile = tmp / "scale-questions.json"
    qfile.write_text(json.dumps(questions))
    out: dict = {}
    for kind, folder in (("ours", tmp / "scale-ours"), ("plain", tmp / "scale-plain")):
        cmd = [sys.executable, str(BENCH / "run.py"), "--probe", kind, str(folder), str(qfile)]
        r = check(run_rusage(cmd, timeout=900), f"probe {kind} at {n} docs")
        out[kind] = json.loads(r["stdout"].strip().splitlines()[-1])
        out[kind]["process_rss_mb"] = r["rss_mb"]
        if kind == "ours":  # a second open: the BM25 index built by the first is now cached
            again = check(run_rusage(cmd, timeout=900), f"probe {kind} at {n} docs (again)")
            out[kind]["reopen_s"] = json.loads(again["stdout"].strip().splitlines()[-1])["open_s"]
    return out


def plot(scale_result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = scale_result["rows"]
    docs = [r["docs"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, label, color in (("ours", "assistant", "tab:blue"), ("plain", "plain LangChain", "tab:orange")):
        ax1.plot(docs, [r[kind]["p50_ms"] for r in rows], marker="o", color=color, label=f"{label} p50")
        ax1.plot(docs, [r[kind]["p95_ms"] for r in rows], marker=".", linestyle="--", color=color, label=f"{label} p95")
        ax2.plot(docs, [r[kind]["process_rss_mb"] for r in rows], marker="o", color=color, label=label)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("documents in the index")
        ax.grid(True, alpha=0.3)
        ax.legend()
    ax1.set_ylabel("warm query latency (ms)")
    ax2.set_ylabel("peak RSS of the answering process (MB)")
    fig.suptitle(f"Scaling from 1 to {docs[-1]:,} documents")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
