"""The keyword index at scale: insert N synthetic, distinct chunks into a KeywordStore, then
time 5-word questions (p50/p95) and report the file size.

    PYTHONPATH=$PWD .venv/bin/python bench/keyword_scale.py --chunks 300000   # store in $TMPDIR/keyword-scale

The chunks' words are drawn (Zipf-like) from the FRUS 1941 corpus's own vocabulary, each chunk
with a few rare words of its own (numbers, made-up names), so no two chunks are alike and
the term statistics look like a real collection's. Questions draw 5 words from the same
vocabulary (a mix of common and rare ones)."""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from assistant.chunks import Chunk
from assistant.keyword_store import KeywordStore

CORPUS = Path(__file__).resolve().parents[1] / "evals" / "corpus" / "frus1941"


def vocabulary() -> list[str]:
    counts: dict[str, int] = {}
    for f in sorted(CORPUS.glob("*.txt")):
        for w in re.findall(r"[A-Za-z]{3,}", f.read_text(encoding="utf-8")):
            counts[w.lower()] = counts.get(w.lower(), 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def chunk(i: int, words: list[str], weights: list[float], rng: random.Random) -> Chunk:
    body = rng.choices(words, weights=weights, k=rng.randint(40, 110))
    body += [f"Q{rng.randrange(10**6)}x", str(rng.randrange(10**5)), f"name{i}"]  # distinct texts
    text = " ".join(body) + "."
    doc = f"doc{i // 20:06d}"
    return Chunk(id=f"{doc}@0:body:{i}", doc_id=doc, source=f"/synthetic/{doc}.txt", title=f"Document {doc}",
                 date=f"1941-{1 + i % 12:02d}-{1 + i % 28:02d}", kind="body", paragraph=0, start=0, end=len(text),
                 text=text, search_text=text, sentences=((0, len(text)),))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=300_000)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "keyword-scale")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--reuse", action="store_true", help="query the store already in --out")
    args = ap.parse_args()
    if not args.reuse:
        shutil.rmtree(args.out, ignore_errors=True)
    rng = random.Random(7)
    words = vocabulary()
    weights = [1.0 / (r + 1) for r in range(len(words))]
    store = KeywordStore(args.out / "scale.sqlite")
    t0 = time.perf_counter()
    batch = 2000
    for start in range(0, 0 if args.reuse else args.chunks, batch):
        chunks = [chunk(i, words, weights, rng) for i in range(start, min(args.chunks, start + batch))]
        with store.writer() as w:
            w.add(chunks)
            for d in sorted({c.doc_id for c in chunks}):
                w.done(d, "sha")
    insert_s = max(1e-9, time.perf_counter() - t0)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = sum(p.stat().st_size for p in args.out.iterdir())
    from assistant.text import tokenize

    questions = [" ".join(rng.choice(words[: 200 if k < 3 else len(words)]) for k in range(5))
                 for _ in range(args.questions)]
    lat = []
    for q in questions:
        toks = tokenize([q])[0]
        t = time.perf_counter()
        store.search(toks, 20)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    n, total = store.stats()
    print(f"chunks {n:,} (tokens {total:,}); insert {insert_s:.0f} s ({n / insert_s:,.0f} chunks/s); "
          f"file {size / 1e6:,.0f} MB; 5-word question p50 {statistics.median(lat):.1f} ms, "
          f"p95 {lat[int(0.95 * len(lat)) - 1]:.1f} ms, max {lat[-1]:.1f} ms ({len(lat)} questions)")


if __name__ == "__main__":
    main()
