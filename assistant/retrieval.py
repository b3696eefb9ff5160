"""Hybrid retrieval: dense (Chroma) + BM25 (the keyword index), fused by reciprocal rank fusion.

Why both: the dense model finds paraphrases ("demand" for "require"), BM25 finds the
rare exact words a class asks about (names like "Roszkowski", numbers like "352").
RRF needs no score calibration between the two. BM25 runs in the keyword index on disk
(keyword_store.py, SQLite FTS5 over the chunks' ``search_text`` tokens), written by ingest;
the passages retrieved are read from it too.

A plain class: LangChain (whose retriever classes take ~0.5 s to import) is not on the ask
path. ``Assistant.as_retriever()`` (langchain_retriever.py) wraps it as a LangChain
``BaseRetriever`` for callers who want one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assistant.chunks import Chunk
from assistant.config import DEFAULT_K
from assistant.index import Index
from assistant.index_lookups import chunk_matrix, save_vector_cache, vector_cache_path
from assistant.keyword_store import KeywordStore, TermCounts, WordSet
from assistant.text import generic_stems, tokenize

log = logging.getLogger(__name__)

RRF_K = 60
CANDIDATES = 20  # per leg, before fusion
MAX_FIELDS = 2  # structural passages among the k retrieved
# Up to this many chunks the dense leg is an exact cosine search over the stored vectors.
# Chroma's local HNSW is approximate and its graph differs from process to process (the
# same question gave different passages after a restart: about one top-20 in four
# differed); an exact search gives the same passages every time. Above it, HNSW.
EXACT_DENSE_MAX = 400_000  # ~600 MB of float32 vectors at most (mapped, see ChunkVectors)
SIMILARITY_DECIMALS = 6  # ties below float noise are broken by chunk id, on any CPU
# Rows whose float32 cosine is this far below the n-th best are left out of the float64
# scoring (ChunkVectors.nearest): twice the float32 error bound plus the rounding step.
FLOAT32_MARGIN = 1e-4


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
    """The keyword index of the collection (keyword_store.py, on disk): BM25 search, document
    frequencies of stems (term weighting), the words the documents use, spelling correction."""

    def __init__(self, index: Index):
        self.store = index.keyword_store()
        self.df = TermCounts(self.store)  # stem → number of chunks that have it (``stem in df``)
        # Word keys the documents themselves use (not the field descriptions): a question
        # word outside this set is one the documents never say.
        self.vocab = WordSet(self.store)
        self._spelling_vocab: list[str] | None = None  # made on the first correction
        self._vectors: ChunkVectors | None = None  # read on the first dense search

    @property
    def n(self) -> int:
        return self.store.stats()[0]

    def vectors(self, index: Index) -> ChunkVectors:
        if self._vectors is None:
            self._vectors = ChunkVectors.open(index, self.store)
        return self._vectors

    def idf(self, stem: str) -> float:
        import math

        n, df = self.n, self.df.get(stem, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def correct(self, stems: list[str]) -> list[str]:
        """Misspelled stems mapped to the collection's closest word ("signd" → "sign").

        Only unknown stems of 4+ letters are touched, and only by a close match
        (Levenshtein ratio ≥ 85), so real words the documents lack ("crime",
        "year") stay as they are and can still make the assistant abstain.
        """
        out = []
        for s in stems:
            if s in self.df or s in generic_stems() or len(s) < 4:
                out.append(s)
                continue
            from rapidfuzz import fuzz, process

            if self._spelling_vocab is None:
                self._spelling_vocab = sorted(set(self.store.terms()) | generic_stems())
            best = process.extractOne(s, self._spelling_vocab, scorer=fuzz.ratio, score_cutoff=85)
            out.append(best[0] if best else s)
        return out

    def search(self, query: str, k: int, filters: Filters) -> list[tuple[str, float]]:
        # Question words ("what", "telegram", "say") match every passage alike: leave them out.
        q = [t for t in self.correct(tokenize([query])[0]) if t not in generic_stems()]
        if not q:
            return []
        return self.store.search(q, k, doc_ids=filters.doc_ids, date_from=filters.date_from, date_to=filters.date_to)


class ChunkVectors:
    """The chunks' embeddings as one unit-length float32 matrix, rows in chunk id order.

    Cached beside the index under the index revision and mapped from that file, not read
    into memory: a new process opens it at once, and the pages are the page cache's,
    shared by every process answering from the index. A question is one float32
    matrix-vector product over it, and then the rows that can rank among the best,
    scored again in float64 (``nearest``)."""

    def __init__(self, matrix, ids: list[str], doc_ids: list[str], dates: list[str | None]):
        import numpy as np

        self.matrix = np.asarray(matrix, dtype=np.float32)  # (no copy of a float32 matrix or mapping)
        # One string per document and per date, not per chunk (a document has ~13 chunks).
        docs: dict[str, str] = {}
        days: dict[str | None, str | None] = {}
        self.ids = ids
        self.doc_ids = [docs.setdefault(d, d) for d in doc_ids]
        self.dates = [days.setdefault(t, t) for t in dates]

    @classmethod
    def open(cls, index: Index, store: KeywordStore) -> ChunkVectors:
        import numpy as np

        path = vector_cache_path(index.cache_dir, index.settings.collection, index.revision())
        if path.exists():
            ids, doc_ids, dates = store.chunk_index()
            try:
                # (Safe to map: the cache is replaced by renaming a new file over it, never rewritten.)
                matrix = np.load(path, mmap_mode="r", allow_pickle=False)
                if matrix.ndim != 2 or matrix.shape[0] != len(ids):
                    raise ValueError(f"{matrix.shape[0] if matrix.ndim else 0} rows for {len(ids)} chunks")
                return cls(matrix, ids, doc_ids, dates)
            except (OSError, ValueError, EOFError) as exc:
                reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
                log.warning(f"note: the vector cache {path} is damaged ({type(exc).__name__}: {reason}); rebuilding it")
        matrix, ids, doc_ids, dates = chunk_matrix(index.store.stores[0], store)  # (from Chroma)
        save_vector_cache(path, matrix)
        return cls(matrix, ids, doc_ids, dates)

    def nearest(self, query_vector, n: int, filters: Filters) -> list[tuple[str, float]]:
        """The ``n`` rows most similar to the query, best first, with their cosines rounded
        to SIMILARITY_DECIMALS; ties by chunk id.

        Exactly what one float64 product over the whole matrix gives, at the cost of a
        float32 one: a float32 cosine is within FLOAT32_MARGIN / 2 of the float64 one (the
        matrix is float32 already; a 384-term dot product of unit vectors errs by < 3e-5),
        so a row whose float32 cosine is more than FLOAT32_MARGIN below the n-th best is
        below at least n rows in float64 by more than the rounding step and cannot be
        among them; every other row is scored again in float64."""
        import numpy as np

        if not self.ids or n <= 0:
            return []
        q = np.asarray(query_vector, dtype=np.float64)
        q /= np.linalg.norm(q) or 1.0
        coarse = self.matrix @ q.astype(np.float32)
        keep = None
        if filters.active():
            keep = np.fromiter((filters.admits(d, t) for d, t in zip(self.doc_ids, self.dates)),
                               dtype=bool, count=len(self.ids))
            coarse = np.where(keep, coarse, -np.inf)
        nth = np.partition(coarse, len(coarse) - n)[len(coarse) - n] if n < len(coarse) else coarse.min()
        rows = np.flatnonzero(coarse >= nth - FLOAT32_MARGIN)  # ascending: chunk id order
        sims = np.round(np.asarray(self.matrix[rows], dtype=np.float64) @ q, SIMILARITY_DECIMALS)
        if keep is not None:
            sims = np.where(keep[rows], sims, -np.inf)
        order = np.lexsort((rows, -sims))[:n]  # best first; ties by chunk id
        return [(self.ids[rows[i]], float(sims[i])) for i in order if np.isfinite(sims[i])]


class HybridRetriever:
    """Top-k chunks for a question (``search``), each with its ranks and scores."""

    def __init__(self, index: Index, k: int = DEFAULT_K, filters: Filters | None = None,
                 lexicon: Lexicon | None = None):
        self.index = index
        self.k = k
        self.filters = filters or Filters()
        # Built once per retriever (an Assistant is reopened to see a re-ingested index),
        # on the first search.
        self._lexicon = lexicon

    def lexicon(self) -> Lexicon:
        if self._lexicon is None:
            self._lexicon = Lexicon(self.index)
        return self._lexicon

    def narrowed(self, filters: Filters) -> HybridRetriever:
        """The same search over the same index (its keyword index shared) with other filters."""
        return HybridRetriever(self.index, self.k, filters, lexicon=self.lexicon())

    def dense(self, query: str) -> list[tuple[str, float]]:
        """The CANDIDATES chunks nearest the question by cosine similarity, best first."""
        qv = self.index.embeddings.embed_query(query)
        lexicon = self.lexicon()
        # With a Chroma server the search runs there: no answering process pulls every vector.
        if not self.index.settings.chroma_url and 0 < lexicon.n <= EXACT_DENSE_MAX:
            return lexicon.vectors(self.index).nearest(qv, CANDIDATES, self.filters)
        chunks_col = self.index.store.stores[0]
        n = min(CANDIDATES, max(1, lexicon.n or chunks_col.count()))
        got = chunks_col.query(query_embeddings=[qv], n_results=n, where=self.filters.chroma_where(),
                               include=["distances"])
        self.index.confirm_snapshot()  # (loading the HNSW index may rewrite Chroma's file)
        return [(i, 1.0 - d) for i, d in zip(got["ids"][0], got["distances"][0])]

    def search(self, query: str) -> list[tuple[Chunk, dict]]:
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
        records = self.lexicon().store.chunks([cid for cid, _ in top])  # the top k only, from the keyword index
        return [(records[cid], info) for cid, info in top if cid in records]

