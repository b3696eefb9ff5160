"""Hybrid retrieval: dense (Chroma) + BM25 (bm25s), fused by reciprocal rank fusion.

Why both: the dense model finds paraphrases ("demand" for "require"), BM25 finds the
rare exact words a class asks about (names like "Roszkowski", numbers like "352").
RRF needs no score calibration between the two. The BM25 index is built from the
chunks' ``search_text`` and cached beside the index, keyed by the index revision.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.chroma_store import get_all
from assistant.chunks import Chunk
from assistant.config import DEFAULT_K
from assistant.index import Index
from assistant.text import generic_stems, tokenize, word_keys

log = logging.getLogger(__name__)

RRF_K = 60
TOKENIZER = "en_plus-snowball-lemma-v4"  # part of the BM25 cache key (text.tokenize, text.word_keys): a new tokenizer rebuilds it
CANDIDATES = 20  # per leg, before fusion
MAX_FIELDS = 2  # structural passages among the k retrieved
# Up to this many chunks the dense leg is an exact cosine search over the stored vectors.
# Chroma's local HNSW is approximate and its graph differs from process to process (the
# same question gave different passages after a restart: about one top-20 in four
# differed); an exact search gives the same passages every time. Above it, HNSW.
EXACT_DENSE_MAX = 100_000  # ~300 MB of float64 vectors at most
SIMILARITY_DECIMALS = 6  # ties below float noise are broken by chunk id, on any CPU


@dataclass
class Filters:
    doc_ids: tuple[str, ...] = ()
    date_from: str | None = None  # ISO yyyy-mm-dd, inclusive
    date_to: str | None = None

    def active(self) -> bool:
        return bool(self.doc_ids or self.date_from or self.date_to)

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = []
        if self.doc_ids:
            clauses.append({"doc_id": {"$in": list(self.doc_ids)}})
        if self.date_from:
            clauses.append({"date_int": {"$gte": int(self.date_from.replace("-", ""))}})
        if self.date_to:
            clauses.append({"date_int": {"$lte": int(self.date_to.replace("-", ""))}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def admits(self, doc_id: str, date: str | None) -> bool:
        if self.doc_ids and doc_id not in self.doc_ids:
            return False
        if not (self.date_from or self.date_to):
            return True
        if not date:
            return False
        if self.date_from and date < self.date_from:
            return False
        return not (self.date_to and date > self.date_to)


class Lexicon:
    """BM25 over the chunks plus document frequencies of stems (for term weighting)."""

    def __init__(self, index: Index):
        rev = index.revision()
        folder = index.cache_dir / "bm25" / f"{index.settings.collection}-{rev}-{TOKENIZER}"
        meta = self._load(folder) if (folder / "chunks.json").exists() else None
        if meta is None:
            meta = self._build(index, folder)
        self.ids: list[str] = meta["ids"]
        self.doc_ids: list[str] = meta["doc_ids"]
        self.dates: list[str | None] = meta["dates"]
        self.df: dict[str, int] = meta["df"]
        self.n: int = meta["n"]
        self.vocab: frozenset[str] = frozenset(meta["vocab"])
        self._spelling_vocab: list[str] | None = None  # made on the first correction
        self._vectors: ChunkVectors | None = None  # read on the first dense search

    def _load(self, folder) -> dict | None:
        """The cached BM25 index, or None (with a one-line notice) when it is damaged."""
        import bm25s  # ~0.25 s (scipy): only when the keyword index is loaded or built

        try:
            meta = json.loads((folder / "chunks.json").read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or not all(k in meta for k in ("ids", "doc_ids", "dates", "df", "n", "vocab")):
                raise ValueError("chunks.json lacks its fields")
            bm25 = bm25s.BM25.load(str(folder))
            if int(bm25.scores["num_docs"]) != len(meta["ids"]) or len(meta["ids"]) != meta["n"]:
                raise ValueError("its parts disagree")
        except Exception as exc:  # noqa: BLE001  damaged bytes: UnicodeDecodeError, JSONDecodeError, ValueError, EOFError…
            reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
            log.warning(f"note: the keyword index cache {folder} is damaged ({type(exc).__name__}: {reason}); rebuilding it")
            shutil.rmtree(folder, ignore_errors=True)
            return None
        self.bm25 = bm25
        return meta

    def _build(self, index: Index, folder) -> dict:
        import bm25s  # ~0.25 s (scipy): only when the keyword index is loaded or built

        chunks = index.all_chunks()
        tokens = tokenize([c.search_text for c in chunks])
        self.bm25 = bm25s.BM25()
        if chunks:
            # The vocabulary in sorted order: bm25s numbers it from a set, so its ids (and the
            # order scores are summed in) would change with Python's hash seed.
            vocab = {t: i for i, t in enumerate(sorted({t for toks in tokens for t in toks}))}
            ids = [[vocab[t] for t in toks] for toks in tokens]
            self.bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
        df: dict[str, int] = {}
        for toks in tokens:
            for t in set(toks):
                df[t] = df.get(t, 0) + 1
        # Words the documents themselves use (not the field descriptions): a question word
        # outside this set is one the documents never say.
        words = {w.lower() for c in chunks for w in re.findall(r"[A-Za-z]+", c.text)}
        word_vocab = sorted({k for w in words for k in word_keys(w)})
        meta = {"ids": [c.id for c in chunks], "doc_ids": [c.doc_id for c in chunks],
                "dates": [c.date for c in chunks], "df": df, "n": len(chunks), "vocab": word_vocab}
        if chunks:
            # Written to a temporary folder and renamed into place: a kill mid-write leaves
            # no half cache behind.
            tmp = None
            try:
                folder.parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=folder.parent))
                self.bm25.save(str(tmp))
                (tmp / "chunks.json").write_text(json.dumps(meta), encoding="utf-8")
                os.replace(tmp, folder)
                tmp = None
            except OSError:
                pass  # a read-only index still answers; it rebuilds BM25 each start
            finally:
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
        return meta

    def vectors(self, index: Index) -> ChunkVectors:
        if self._vectors is None:
            self._vectors = ChunkVectors.open(index, self)
        return self._vectors

    def idf(self, stem: str) -> float:
        import math

        return math.log(1 + (self.n - self.df.get(stem, 0) + 0.5) / (self.df.get(stem, 0) + 0.5))

    def correct(self, stems: list[str]) -> list[str]:
        """Misspelled stems mapped to the collection's closest word ("signd" → "sign").

        Only unknown stems of 4+ letters are touched, and only by a close match
        (Levenshtein ratio ≥ 85), so real words the documents lack ("crime",
        "year") stay as they are and can still make the assistant abstain.
        """
        from rapidfuzz import fuzz, process

        if self._spelling_vocab is None:
            self._spelling_vocab = sorted(set(self.df) | generic_stems())
        vocab = self._spelling_vocab
        out = []
        for s in stems:
            if s in self.df or s in generic_stems() or len(s) < 4:
                out.append(s)
                continue
            best = process.extractOne(s, vocab, scorer=fuzz.ratio, score_cutoff=85)
            out.append(best[0] if best else s)
        return out

    def search(self, query: str, k: int, filters: Filters) -> list[tuple[str, float]]:
        if not self.ids:
            return []
        # Question words ("what", "telegram", "say") match every passage alike: leave them out.
        q = [[t for t in self.correct(tokenize([query])[0]) if t not in generic_stems()]]
        if not q[0]:
            return []
        n = len(self.ids) if filters.active() else min(len(self.ids), k)
        docs, scores = self.bm25.retrieve(q, k=n, show_progress=False)
        out = []
        for i, s in zip(docs[0], scores[0]):
            i = int(i)
            if s <= 0:
                break
            if filters.active() and not filters.admits(self.doc_ids[i], self.dates[i]):
                continue
            out.append((self.ids[i], float(s)))
            if len(out) >= k:
                break
        return out


class ChunkVectors:
    """The chunks' embeddings as one unit-length matrix, rows in the lexicon's id order.

    Cached beside the BM25 index under the same key (the index revision), so a new process
    reads one file instead of paging every vector out of Chroma."""

    def __init__(self, matrix):
        import numpy as np

        # Held in float64 once (the file is float32): each query is one matrix-vector
        # product, with no per-query copy of the matrix.
        self.matrix = np.asarray(matrix, dtype=np.float64)

    @classmethod
    def open(cls, index: Index, lexicon: Lexicon) -> ChunkVectors:
        import numpy as np

        path = index.cache_dir / "vectors" / index.settings.collection / f"{index.revision()}.npy"
        if path.exists():
            try:
                matrix = np.load(path, allow_pickle=False)
                if matrix.ndim != 2 or matrix.shape[0] != lexicon.n:
                    raise ValueError(f"{matrix.shape[0] if matrix.ndim else 0} rows for {lexicon.n} chunks")
                return cls(matrix)
            except (OSError, ValueError, EOFError) as exc:
                reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
                log.warning(f"note: the vector cache {path} is damaged ({type(exc).__name__}: {reason}); rebuilding it")
        got = get_all(index.stores[0], ["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"]))
        matrix = np.asarray([by_id[i] for i in lexicon.ids], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms > 0, norms, 1.0)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".vectors-", suffix=".npy", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                np.save(f, matrix, allow_pickle=False)
            os.replace(tmp, path)
            for stale in path.parent.glob("*.npy"):  # earlier revisions of this collection
                if stale != path:
                    stale.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only index still answers; it reads the vectors each start
        return cls(matrix)

    def nearest(self, query_vector, n: int, filters: Filters, lexicon: Lexicon) -> list[tuple[str, float]]:
        import numpy as np

        q = np.asarray(query_vector, dtype=np.float64)
        q /= np.linalg.norm(q) or 1.0
        sims = np.round(self.matrix @ q, SIMILARITY_DECIMALS)
        if filters.active():
            keep = np.fromiter((filters.admits(d, t) for d, t in zip(lexicon.doc_ids, lexicon.dates)),
                               dtype=bool, count=lexicon.n)
            sims = np.where(keep, sims, -np.inf)
        order = np.lexsort((np.arange(len(sims)), -sims))[:n]  # best first; ties by chunk id
        return [(lexicon.ids[i], float(sims[i])) for i in order if np.isfinite(sims[i])]


class HybridRetriever(BaseRetriever):
    """Top-k chunks for a question; each LangChain Document carries the chunk and its ranks."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Index
    k: int = DEFAULT_K
    filters: Filters = Filters()

    def lexicon(self) -> Lexicon:
        # Built once per retriever: an Assistant is reopened to see a re-ingested index.
        if "_lexicon" not in self.__dict__:
            self.__dict__["_lexicon"] = Lexicon(self.index)
        return self.__dict__["_lexicon"]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        return [self.to_document(c, info) for c, info in self.search(query)]

    def dense(self, query: str) -> list[tuple[str, float]]:
        """The CANDIDATES chunks nearest the question by cosine similarity, best first."""
        chunks_col = self.index.stores[0]
        qv = self.index.embeddings.embed_query(query)
        lexicon = self.lexicon()
        if 0 < lexicon.n <= EXACT_DENSE_MAX:
            return lexicon.vectors(self.index).nearest(qv, CANDIDATES, self.filters, lexicon)
        n = min(CANDIDATES, max(1, chunks_col.count()))
        got = chunks_col.query(query_embeddings=[qv], n_results=n, where=self.filters.chroma_where(),
                               include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(got["ids"][0], got["distances"][0])]

    def search(self, query: str) -> list[tuple[Chunk, dict]]:
        chunks_col = self.index.stores[0]
        dense = self.dense(query)
        dense_ids = [cid for cid, _ in dense]
        dense_sim = dict(dense)
        lexical = self.lexicon().search(query, CANDIDATES, self.filters)
        if log.isEnabledFor(logging.DEBUG):  # (-vv) each leg's raw results
            log.debug("dense leg for %r: %s", query, ", ".join(f"{cid} {s:.4f}" for cid, s in dense))
            log.debug("bm25 leg for %r: %s", query, ", ".join(f"{cid} {s:.4f}" for cid, s in lexical))

        fused: dict[str, dict] = {}
        for rank, cid in enumerate(dense_ids):
            fused.setdefault(cid, {})["dense_rank"] = rank + 1
            fused[cid]["dense_score"] = dense_sim[cid]
        for rank, (cid, s) in enumerate(lexical):
            fused.setdefault(cid, {})["bm25_rank"] = rank + 1
            fused[cid]["bm25_score"] = s
        for info in fused.values():
            info["score"] = sum(1.0 / (RRF_K + info[r]) for r in ("dense_rank", "bm25_rank") if r in info)
        # Ties broken by id so the order never depends on dict or set iteration.
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1]["score"], kv[0]))
        # Header fields are short and alike ("Telegram number 352 …"): at most MAX_FIELDS of
        # them, so they never crowd the body text out of the k passages.
        top, fields = [], 0
        for cid, info in ranked:
            is_field = ":body:" not in cid and ":notes:" not in cid
            if is_field and fields >= MAX_FIELDS:
                continue
            fields += is_field
            top.append((cid, info))
            if len(top) >= self.k:
                break
        if log.isEnabledFor(logging.INFO):  # (-v)
            log.info("retrieved for %r (rank, fused score, dense rank/cosine, bm25 rank/score): %s", query, "; ".join(
                f"#{n} {cid} {i['score']:.4f} dense {i.get('dense_rank', '-')}/{i.get('dense_score', 0):.3f} "
                f"bm25 {i.get('bm25_rank', '-')}/{i.get('bm25_score', 0):.2f}" for n, (cid, i) in enumerate(top, 1)))
        got = chunks_col.get(ids=[cid for cid, _ in top], include=["documents", "metadatas"])
        records = {i: Chunk.from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
        return [(records[cid], info) for cid, info in top if cid in records]

    @staticmethod
    def to_document(chunk: Chunk, info: dict) -> LCDocument:
        return LCDocument(page_content=chunk.text, id=chunk.id, metadata={"chunk": chunk, **info})

