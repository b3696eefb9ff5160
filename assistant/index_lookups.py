"""Reads of an open index: the manifest, chunks, sentences (units) and their vectors."""

from __future__ import annotations

import hashlib
import json

from assistant.chroma_store import ChromaStore, get_all, unit_id
from assistant.chunks import Chunk


def read_manifest(docs_col) -> dict[str, dict]:
    """Document id → its manifest record (sha256, source, status …)."""
    got = get_all(docs_col, ["metadatas"])
    return dict(zip(got["ids"], got["metadatas"]))


class IndexLookups:
    def __init__(self, store: ChromaStore):
        self.store = store

    # --- state ----------------------------------------------------------------------

    def manifest(self, docs_col=None) -> dict[str, dict]:
        return read_manifest(docs_col or self.store.stores[2])

    def pending(self) -> list[dict]:
        return [dict(m, doc_id=i) for i, m in self.manifest().items() if m.get("status") != "complete"]

    def revision(self) -> str:
        """Changes whenever any document's content changes: keys the local BM25 cache."""
        items = sorted((i, m.get("sha256", ""), m.get("status", "")) for i, m in self.manifest().items())
        return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]

    def counts(self) -> dict:
        chunks, units, docs = self.store.stores
        return {"documents": docs.count(), "chunks": chunks.count(), "units": units.count()}

    # --- chunks ---------------------------------------------------------------------

    def all_chunks(self) -> list[Chunk]:
        got = get_all(self.store.stores[0], ["documents", "metadatas"])
        chunks = [Chunk.from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda c: c.id)

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
