"""Reads of an open index: the manifest, chunks, sentences (units) and their vectors.

``IndexLookups`` reads them from Chroma; ``KeywordLookups`` from the keyword index's
snapshot (keyword_store.py), which a local ``ask`` uses so that it never imports Chroma.
Also here: the chunk-vector cache file (``INDEX/vectors/NAME/REVISION.npy``) that the
dense search reads, written by ingest and rebuilt from Chroma when missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from assistant.chroma_store import ChromaStore, get_all, unit_id
from assistant.chunks import Chunk
from assistant.keyword_store import KeywordStore

log = logging.getLogger(__name__)


def read_manifest(docs_col) -> dict[str, dict]:
    """Document id → its manifest record (sha256, source, status …)."""
    got = get_all(docs_col, ["metadatas"])
    return dict(zip(got["ids"], got["metadatas"]))


def manifest_revision(manifest: dict[str, dict]) -> str:
    items = sorted((i, m.get("sha256", ""), m.get("status", "")) for i, m in manifest.items())
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def vector_cache_path(cache_dir: Path, collection: str, revision: str) -> Path:
    return cache_dir / "vectors" / collection / f"{revision}.npy"


def chunk_matrix(chunks_col, keywords: KeywordStore):
    """(unit-length float32 matrix, ids, doc_ids, dates) of the chunks both Chroma and the
    keyword index have, rows in chunk id order: the dense search's matrix."""
    import numpy as np

    ids, doc_ids, dates = keywords.chunk_index()
    got = get_all(chunks_col, ["embeddings"])
    by_id = dict(zip(got["ids"], got["embeddings"]))
    keep = [j for j, i in enumerate(ids) if i in by_id]  # (the two agree but for a running ingest)
    ids, doc_ids, dates = [ids[j] for j in keep], [doc_ids[j] for j in keep], [dates[j] for j in keep]
    matrix = np.asarray([by_id[i] for i in ids], dtype=np.float32).reshape(len(ids), -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms > 0, norms, 1.0)
    return matrix, ids, doc_ids, dates


def save_vector_cache(path: Path, matrix) -> None:
    """Write the matrix (atomically) and remove the collection's earlier revisions."""
    import numpy as np

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


class IndexLookups:
    def __init__(self, store: ChromaStore):
        self.store = store

    # --- state ----------------------------------------------------------------------

    def manifest(self, docs_col=None) -> dict[str, dict]:
        return read_manifest(docs_col or self.store.stores[2])

    def pending(self) -> list[dict]:
        return [dict(m, doc_id=i) for i, m in self.manifest().items() if m.get("status") != "complete"]

    def revision(self) -> str:
        """Changes whenever any document's content changes: keys the local vector cache."""
        return manifest_revision(self.manifest())

    def counts(self) -> dict:
        chunks, units, docs = self.store.stores
        return {"documents": docs.count(), "chunks": chunks.count(), "units": units.count()}

    # --- chunks ---------------------------------------------------------------------

    def all_chunks(self) -> list[Chunk]:
        got = get_all(self.store.stores[0], ["documents", "metadatas"])
        chunks = [Chunk.from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda c: c.id)

    def doc_chunks(self, doc_ids: list[str]) -> list[Chunk]:
        """Every passage of these documents (one look-up), in no particular order."""
        if not doc_ids:
            return []
        where = {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": list(doc_ids)}}
        got = self.store.stores[0].get(where=where, include=["documents", "metadatas"])
        return [Chunk.from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def field_chunk(self, doc_id: str, kind: str) -> Chunk | None:
        got = self.store.stores[0].get(where={"$and": [{"doc_id": doc_id}, {"kind": kind}]},
                                       include=["documents", "metadatas"], limit=1)
        if not got["ids"]:
            return None
        return Chunk.from_record(got["ids"][0], got["documents"][0], got["metadatas"][0])

    def chunk_containing(self, doc_id: str, start: int, end: int) -> Chunk | None:
        got = self.store.stores[0].get(where={"$and": [{"doc_id": doc_id}, {"start": {"$lte": start}},
                                                       {"end": {"$gte": end}}]}, include=["documents", "metadatas"])
        chunks = sorted((Chunk.from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])),
                        key=lambda c: (c.end - c.start, c.id))
        return chunks[0] if chunks else None

    # --- units (sentences and structural fields) ------------------------------------------

    def unit_before(self, doc_id: str, start: int) -> dict | None:
        """The sentence that ends right before ``start`` in the same document."""
        got = self.store.stores[1].get(where={"$and": [{"doc_id": doc_id}, {"end": {"$lte": start}},
                                                       {"end": {"$gte": start - 3}}]}, include=["metadatas"])
        metas = sorted(got["metadatas"], key=lambda m: m["end"])
        return metas[-1] if metas else None

    def central_units(self, doc_id: str, n: int) -> list[tuple[int, int]]:
        """The ``n`` body sentences closest to the document's mean sentence vector: its gist."""
        import numpy as np

        got = self.store.stores[1].get(where={"$and": [{"doc_id": doc_id}, {"kind": "body"}]},
                                       include=["metadatas", "embeddings"])
        if not got["ids"]:
            return []
        vectors = np.asarray(got["embeddings"], dtype=np.float32)
        centre = vectors.mean(axis=0)
        scores = vectors @ (centre / (np.linalg.norm(centre) or 1.0))
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], got["metadatas"][i]["start"]))[:n]
        return [(int(got["metadatas"][i]["start"]), int(got["metadatas"][i]["end"])) for i in order]

    def unit_vectors(self, keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], list[float]]:
        if not keys:
            return {}
        got = self.store.stores[1].get(ids=[unit_id(k) for k in keys], include=["embeddings", "metadatas"])
        out = {}
        for m, v in zip(got["metadatas"], got["embeddings"]):
            out[(m["doc_id"], int(m["start"]), int(m["end"]))] = v
        return out


class KeywordLookups(IndexLookups):
    """The reads a local ``ask`` makes, from the keyword index's snapshot of the last
    ingest (``KeywordStore.snapshot``): no Chroma. What it does not hold (Chroma's own
    look-ups, unused when answering) goes to Chroma, opened then."""

    def __init__(self, store: ChromaStore, keywords: KeywordStore, manifest: dict[str, dict],
                 counts: dict[str, int]):
        super().__init__(store)
        self.keywords = keywords
        self._manifest = manifest
        self._counts = counts

    def manifest(self, docs_col=None) -> dict[str, dict]:
        return dict(self._manifest) if docs_col is None else read_manifest(docs_col)

    def counts(self) -> dict:
        return dict(self._counts)

    def all_chunks(self) -> list[Chunk]:
        return self.keywords.all_chunks()

    def doc_chunks(self, doc_ids: list[str]) -> list[Chunk]:
        return [c for d in dict.fromkeys(doc_ids) for c in self.keywords.doc_chunks(d)]

    def field_chunk(self, doc_id: str, kind: str) -> Chunk | None:
        found = [c for c in self.keywords.doc_chunks(doc_id) if c.kind == kind]
        return found[0] if found else None

    def unit_vectors(self, keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], list[float]]:
        import numpy as np

        return {k: np.frombuffer(v, dtype=np.float32).tolist() for k, v in self.keywords.unit_vectors(keys).items()}
