"""The index: chunks, their sentences' vectors and a manifest of documents, in Chroma.

Three Chroma collections per assistant collection NAME:

- ``NAME``        chunks (windows and structural passages), vector = mean of its units;
- ``NAME.units``  sentences and structural fields with their own vectors, for choosing
                  the answer sentence inside retrieved chunks;
- ``NAME.docs``   one record per document: sha256, source, status.

Why a manifest with a status: ingest marks a document ``pending`` before touching its
chunks and ``complete`` after, so a process killed half-way leaves pending records that
the next run sees and finishes (and that ``ask`` refuses to answer over silently).
The chunk collection's metadata records the embedding model and its weights' hash;
an index built with other weights is refused with the command that rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

from assistant.chunks import CHUNKER_VERSION, Chunk, chunk_document, document_context
from assistant.config import SEEDS_DIR, Settings
from assistant.documents import Document, document_files, load_documents
from assistant.embeddings import LocalEmbeddings, weights_sha256
from assistant.errors import UserError

INDEX_FORMAT = 1
_DOC_BATCH = 16  # documents embedded and written together (one pending→complete step)
CONTEXT_WEIGHT = 0.5  # share of the document's heading vector in each window's vector


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    resumed: int = 0
    chunks: int = 0
    chars: int = 0

    def line(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged ({self.chunks} chunks in the collection)"
        )


class Index:
    def __init__(self, settings: Settings, embeddings: LocalEmbeddings | None = None):
        self.settings = settings
        self.embeddings = embeddings or LocalEmbeddings()

    # --- connection ---------------------------------------------------------------

    @cached_property
    def client(self):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self.settings.chroma_url:
            url = urlparse(self.settings.chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise UserError(f"ASSISTANT_CHROMA_URL is not an http(s) URL: {self.settings.chroma_url}")
            try:
                return chromadb.HttpClient(
                    host=url.hostname, port=url.port or (443 if url.scheme == "https" else 80),
                    ssl=url.scheme == "https", settings=chroma_settings,
                )
            except Exception as exc:  # chromadb raises ValueError/ConnectError variants
                raise UserError(f"cannot reach the Chroma server at {self.settings.chroma_url}: {exc}") from None
        path = self.settings.index_dir
        if path.exists() and not path.is_dir():
            raise UserError(f"index path is not a folder: {path}")
        try:
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except Exception as exc:
            raise UserError(f"cannot open the index at {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    @property
    def names(self) -> tuple[str, str, str]:
        n = self.settings.collection
        return n, f"{n}.units", f"{n}.docs"

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir)

    @property
    def cache_dir(self) -> Path:
        """Local files beside the index (BM25, weights hash); also used in server mode."""
        return self.settings.index_dir

    def exists(self) -> bool:
        if not self.settings.chroma_url and not (self.settings.index_dir / "chroma.sqlite3").exists():
            return False
        return self.settings.collection in self._collection_names()

    def _collection_names(self) -> list[str]:
        try:
            return [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"cannot read the index at {self.where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    def model_identity(self) -> dict:
        return {
            "embedding_model": self.embeddings.name,
            "weights_sha256": weights_sha256(self.embeddings.model_path, self.cache_dir if not self.settings.chroma_url else None),
            "chunker": CHUNKER_VERSION,
            "format": INDEX_FORMAT,
        }

    def _collections(self, create: bool):
        chunks_name, units_name, docs_name = self.names
        try:
            if create:
                identity = self.model_identity()
                get = lambda name, meta: self.client.get_or_create_collection(  # noqa: E731
                    name, metadata=meta, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
                )
                chunks = get(chunks_name, identity)
                units = get(units_name, {"role": "units"})
                docs = get(docs_name, {"role": "manifest"})
            else:
                chunks = self.client.get_collection(chunks_name, embedding_function=None)
                units = self.client.get_collection(units_name, embedding_function=None)
                docs = self.client.get_collection(docs_name, embedding_function=None)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"cannot read collection {self.settings.collection!r} in the index at {self.where}: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        self._check_model(chunks.metadata or {})
        return chunks, units, docs

    def _check_model(self, meta: dict) -> None:
        want = self.model_identity()
        if meta.get("weights_sha256") != want["weights_sha256"] or meta.get("chunker") != want["chunker"]:
            rebuild = f"assistant ingest --rebuild --collection {self.settings.collection}"
            if not self.settings.chroma_url:
                rebuild += f" --index {self.settings.index_dir}"
            raise UserError(
                f"index collection {self.settings.collection!r} was built with embedding model "
                f"{meta.get('embedding_model', '?')} (weights {str(meta.get('weights_sha256', '?'))[:12]}, "
                f"chunker {meta.get('chunker', '?')}), but this assistant uses {want['embedding_model']} "
                f"(weights {want['weights_sha256'][:12]}, chunker {want['chunker']}); rebuild it: {rebuild}"
            )

    @cached_property
    def stores(self):
        """(chunks, units, docs) of an existing, model-compatible collection."""
        stores = self._collections(create=False)
        self.prepare_embeddings()
        return stores

    def prepare_embeddings(self, export: bool = False) -> bool:
        """Embed through the ONNX export in ``INDEX/onnx`` when it matches the weights (no
        torch import on the ask path); ``export`` (ingest) makes or refreshes it first."""
        if not hasattr(self.embeddings, "use_onnx"):
            return False
        from assistant.onnx_embed import default_export_dir

        return self.embeddings.use_onnx(default_export_dir(self.cache_dir),
                                        self.model_identity()["weights_sha256"], export=export)

    # --- state ----------------------------------------------------------------------

    def manifest(self, docs_col=None) -> dict[str, dict]:
        docs_col = docs_col or self.stores[2]
        got = _get_all(docs_col, ["metadatas"])
        return {i: m for i, m in zip(got["ids"], got["metadatas"])}

    def pending(self) -> list[dict]:
        return [dict(m, doc_id=i) for i, m in self.manifest().items() if m.get("status") != "complete"]

    def revision(self) -> str:
        """Changes whenever any document's content changes: keys the local BM25 cache."""
        items = sorted((i, m.get("sha256", ""), m.get("status", "")) for i, m in self.manifest().items())
        return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]

    def all_chunks(self) -> list[Chunk]:
        got = _get_all(self.stores[0], ["documents", "metadatas"])
        chunks = [Chunk.from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda c: c.id)

    def field_chunk(self, doc_id: str, kind: str) -> Chunk | None:
        got = self.stores[0].get(where={"$and": [{"doc_id": doc_id}, {"kind": kind}]},
                                 include=["documents", "metadatas"], limit=1)
        if not got["ids"]:
            return None
        return Chunk.from_record(got["ids"][0], got["documents"][0], got["metadatas"][0])

    def unit_before(self, doc_id: str, start: int) -> dict | None:
        """The sentence that ends right before ``start`` in the same document."""
        got = self.stores[1].get(where={"$and": [{"doc_id": doc_id}, {"end": {"$lte": start}},
                                                 {"end": {"$gte": start - 3}}]}, include=["metadatas"])
        metas = sorted(got["metadatas"], key=lambda m: m["end"])
        return metas[-1] if metas else None

    def chunk_containing(self, doc_id: str, start: int, end: int) -> Chunk | None:
        got = self.stores[0].get(where={"$and": [{"doc_id": doc_id}, {"start": {"$lte": start}},
                                                 {"end": {"$gte": end}}]}, include=["documents", "metadatas"])
        chunks = sorted((Chunk.from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])),
                        key=lambda c: (c.end - c.start, c.id))
        return chunks[0] if chunks else None

    def central_units(self, doc_id: str, n: int) -> list[tuple[int, int]]:
        """The ``n`` body sentences closest to the document's mean sentence vector: its gist."""
        import numpy as np

        got = self.stores[1].get(where={"$and": [{"doc_id": doc_id}, {"kind": "body"}]},
                                 include=["metadatas", "embeddings"])
        if not got["ids"]:
            return []
        vectors = np.asarray(got["embeddings"], dtype=np.float32)
        centre = vectors.mean(axis=0)
        scores = vectors @ (centre / (np.linalg.norm(centre) or 1.0))
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], got["metadatas"][i]["start"]))[:n]
        return [(int(got["metadatas"][i]["start"]), int(got["metadatas"][i]["end"])) for i in order]

    def counts(self) -> dict:
        chunks, units, docs = self.stores
        return {"documents": docs.count(), "chunks": chunks.count(), "units": units.count()}

    # --- ingest ----------------------------------------------------------------------

    def ingest(self, paths: list[Path], progress: bool = True, rebuild: bool = False) -> IngestReport:
        """Bring the collection up to date with ``paths``; safe to interrupt and re-run."""
        docs = load_documents(paths)  # every read error surfaces before anything is written
        if rebuild:
            self.drop()
        chunks_col, units_col, docs_col = self._collections(create=True)
        self.__dict__["stores"] = (chunks_col, units_col, docs_col)
        self.prepare_embeddings(export=True)
        manifest = self.manifest(docs_col)
        report = IngestReport()

        scanned = {d.doc_id for d in docs}
        folders = [p.resolve() for p in paths if p.is_dir()]
        files = {str(p.resolve()) for p in document_files([p for p in paths if not p.is_dir()])}
        gone = [
            doc_id for doc_id, meta in manifest.items()
            if doc_id not in scanned and (
                meta.get("source", "").split("#")[0] in files
                or any(_inside(meta.get("source", "").split("#")[0], f) for f in folders)
            )
        ]
        todo: list[Document] = []
        for doc in docs:
            meta = manifest.get(doc.doc_id)
            if meta and meta.get("sha256") == doc.sha256 and meta.get("status") == "complete":
                report.unchanged += 1
            else:
                todo.append(doc)
                if meta is None:
                    report.added += 1
                elif meta.get("status") != "complete":
                    report.resumed += 1
                else:
                    report.updated += 1

        # Mark the whole run pending first: a kill at any point leaves every unfinished
        # document visibly pending, never a smaller index that looks complete.
        for i in range(0, len(todo), 1000):
            part = todo[i : i + 1000]
            docs_col.upsert(ids=[d.doc_id for d in part], embeddings=[[0.0]] * len(part),
                            metadatas=[_doc_meta(d, "pending") for d in part])
        bar = _progress(total=sum(len(d.text) for d in todo), enabled=progress and bool(todo))
        with bar:
            for doc_id in gone:
                docs_col.upsert(ids=[doc_id], metadatas=[{**manifest[doc_id], "status": "pending"}], embeddings=[[0.0]])
                chunks_col.delete(where={"doc_id": doc_id})
                units_col.delete(where={"doc_id": doc_id})
                docs_col.delete(ids=[doc_id])
                report.removed += 1
            for i in range(0, len(todo), _DOC_BATCH):
                batch = todo[i : i + _DOC_BATCH]
                self._write_batch(batch, chunks_col, units_col, docs_col)
                chars = sum(len(d.text) for d in batch)
                report.chars += chars
                bar.update(chars)
        report.chunks = chunks_col.count()
        return report

    def _write_batch(self, batch: list[Document], chunks_col, units_col, docs_col) -> None:
        import numpy as np

        ids = [d.doc_id for d in batch]
        chunks_col.delete(where={"doc_id": {"$in": ids}})
        units_col.delete(where={"doc_id": {"$in": ids}})

        chunks = [c for d in batch for c in chunk_document(d)]
        # Units: each sentence once, plus each structural field (embedded with its description).
        units: dict[tuple[str, int, int], str] = {}
        unit_meta: dict[tuple[str, int, int], dict] = {}
        for c in chunks:
            if c.kind in ("body", "notes"):
                for s, e in c.sentences:
                    key = (c.doc_id, s, e)
                    units.setdefault(key, c.text[s - c.start : e - c.start])
                    unit_meta.setdefault(key, {"doc_id": c.doc_id, "start": s, "end": e, "kind": c.kind})
            else:
                key = (c.doc_id, c.start, c.end)
                units[key] = c.search_text
                unit_meta[key] = {"doc_id": c.doc_id, "start": c.start, "end": c.end, "kind": c.kind}
        keys = list(units)
        contexts = [document_context(d) for d in batch]
        vectors = np.asarray(self.embeddings.embed_documents([units[k] for k in keys] + contexts), dtype=np.float32)
        vec_of = {k: vectors[i] for i, k in enumerate(keys)}
        context_of = {d.doc_id: vectors[len(keys) + i] for i, d in enumerate(batch)}
        chunk_vectors = []
        for c in chunks:
            if c.kind in ("body", "notes"):
                v = np.mean([vec_of[(c.doc_id, s, e)] for s, e in c.sentences], axis=0)
                # A window's vector leans towards its document's heading and date (see chunks.py).
                v = v / (np.linalg.norm(v) or 1.0) + CONTEXT_WEIGHT * context_of[c.doc_id]
            else:
                v = vec_of[(c.doc_id, c.start, c.end)]
            chunk_vectors.append((v / (np.linalg.norm(v) or 1.0)).tolist())

        step = max(1, min(5000, self.client.get_max_batch_size()))
        for j in range(0, len(keys), step):
            part = keys[j : j + step]
            units_col.add(
                ids=[_unit_id(k) for k in part], embeddings=[vec_of[k].tolist() for k in part],
                documents=[units[k] for k in part], metadatas=[unit_meta[k] for k in part],
            )
        for j in range(0, len(chunks), step):
            part = chunks[j : j + step]
            chunks_col.add(
                ids=[c.id for c in part], embeddings=chunk_vectors[j : j + step],
                documents=[c.text for c in part], metadatas=[c.metadata() for c in part],
            )
        docs_col.upsert(
            ids=ids, embeddings=[[0.0]] * len(batch),
            metadatas=[_doc_meta(d, "complete", chunks=sum(1 for c in chunks if c.doc_id == d.doc_id))
                       for d in batch],
        )

    def complete_pending(self, progress: bool = False) -> IngestReport | None:
        """Finish an interrupted ingest from the pending documents' own sources."""
        pending = self.pending()
        if not pending:
            return None
        sources = sorted({Path(m.get("source", "").split("#")[0]) for m in pending})
        missing = [str(s) for s in sources if not s.exists()]
        if missing:
            raise UserError(
                f"the index at {self.where} is incomplete (an ingest was interrupted) and its source "
                f"{missing[0]} is gone; run: assistant ingest --rebuild PATH"
            )
        print(f"note: completing an interrupted ingest of {len(pending)} document(s) in {self.where}", file=sys.stderr)
        return self.ingest(sources, progress=progress)

    def unit_vectors(self, keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], list[float]]:
        if not keys:
            return {}
        got = self.stores[1].get(ids=[_unit_id(k) for k in keys], include=["embeddings", "metadatas"])
        out = {}
        for m, v in zip(got["metadatas"], got["embeddings"]):
            out[(m["doc_id"], int(m["start"]), int(m["end"]))] = v
        return out

    def drop(self) -> None:
        for name in self.names:
            if name in self._collection_names():
                self.client.delete_collection(name)
        self.__dict__.pop("stores", None)
        bm25 = self.cache_dir / "bm25"
        if bm25.exists():
            shutil.rmtree(bm25, ignore_errors=True)


def _doc_meta(doc: Document, status: str, **extra) -> dict:
    return {"sha256": doc.sha256, "source": doc.source, "title": doc.title, "date": doc.date or "",
            "status": status, **extra}


def _get_all(collection, include: list[str], page: int = 5000) -> dict[str, list]:
    """Every record of a collection, fetched in pages: one unpaged ``get()`` fails past some
    tens of thousands of records ("too many SQL variables", seen at 10,000 documents)."""
    out: dict[str, list] = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        for key in out:
            out[key] += got[key] or []
        if len(got["ids"]) < page:
            return out
        offset += page


def _unit_id(key: tuple[str, int, int]) -> str:
    return f"{key[0]}:{key[1]}-{key[2]}"


def _inside(path: str, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="char", unit_scale=True, desc="ingest", disable=not enabled,
                file=sys.stderr, leave=False)


def default_paths() -> list[Path]:
    return [SEEDS_DIR]


def open_for_query(settings: Settings, embeddings: LocalEmbeddings | None = None) -> Index:
    """An index ready to answer from: ingesting ``seeds/`` on first use, finishing an
    interrupted ingest, refusing another model's index."""
    index = Index(settings, embeddings)
    if not index.exists():
        if os.environ.get("ASSISTANT_NO_AUTO_INGEST"):
            raise UserError(f"no collection {settings.collection!r} in the index at {index.where}; run: assistant ingest")
        print(f"note: no index at {index.where} yet; ingesting {SEEDS_DIR.name}/ first", file=sys.stderr)
        index.ingest(default_paths(), progress=False)
    index.stores  # noqa: B018  (opens and checks the model)
    index.complete_pending()
    return index
