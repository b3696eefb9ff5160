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
import logging
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

from assistant.chunks import CHUNKER_VERSION, Chunk, chunk_document, document_context
from assistant.config import DEFAULT_COLLECTION, SEEDS_DIR, Settings
from assistant.documents import Document, assign_doc_ids, document_files, is_empty, load_documents
from assistant.embeddings import LocalEmbeddings, weights_sha256
from assistant.errors import DamagedIndex, UserError

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
_DOC_BATCH = 16  # documents embedded and written together (one pending→complete step)
_SLICE_UNITS = 512  # texts embedded and written at a time: bounds memory for a long document
LOCK_FILE = "ingest.lock"
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
        resumed = f"{self.resumed} of them finishing an interrupted ingest; " if self.resumed else ""
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged ({resumed}{self.chunks} chunks in the collection)"
        )


DAMAGE_REPORTED = False  # a damaged index was moved aside: Chroma's panic report is noise now
_OPENED: list["Index"] = []  # indexes this process opened, newest last (for failure_error)


# One insertion thread: hnswlib builds its graph in parallel by default, so two builds of
# the same documents gave different neighbours (an eval item flipped between fresh builds).
# ef_search well above the candidates asked for keeps the search close to exact.
HNSW_CONFIGURATION = {"hnsw": {"space": "cosine", "num_threads": 1, "ef_search": 200}}

def failure_error(exc: BaseException) -> UserError | None:
    """The one-line error for a failure inside Chroma/SQLite of the index last opened
    (a damaged index surfacing mid-query), or None when ``exc`` is something else."""
    if not _OPENED or not is_index_failure(exc):
        return None
    return _OPENED[-1].damaged(exc)


class IndexBusy(Exception):
    """Another process holds the index's writer lock."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def is_index_failure(exc: BaseException) -> bool:
    """An exception from inside Chroma or SQLite (a damaged index), not a bug of ours.

    Chroma's Rust core reports damaged files as ``pyo3_runtime.PanicException``, which
    derives from ``BaseException``: ``except Exception`` does not see it."""
    import sqlite3

    if type(exc).__name__ == "PanicException" or isinstance(exc, sqlite3.DatabaseError):
        return True
    if isinstance(exc, (KeyboardInterrupt, SystemExit, UserError, MemoryError)):
        return False
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return bool(last) and f"{os.sep}chromadb{os.sep}" in last


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
        self._check_location()
        _OPENED.append(self)
        if not _writable(path / "chroma.sqlite3"):
            path = self._read_only_snapshot(path)
        try:
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except BaseException as exc:  # noqa: B036  (a damaged file can make Chroma's Rust core panic)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise self.damaged(exc) from None

    read_only = False

    def _read_only_snapshot(self, path: Path) -> Path:
        """A private copy of a read-only index to open (Chroma writes to its database even
        to read it): a read-only index can still be queried; the copy goes at exit."""
        import atexit
        import tempfile

        snapshot = Path(tempfile.mkdtemp(prefix="assistant-read-only-index-"))
        atexit.register(shutil.rmtree, snapshot, True)
        def skip(folder, names):  # derived files, read in place (cache_dir); only Chroma's own are copied
            return {"onnx", "bm25", LOCK_FILE, "weights-sha256.json"} & set(names) if Path(folder) == path else set()

        try:
            shutil.copytree(path, snapshot, ignore=skip, copy_function=shutil.copyfile, dirs_exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot read the index at {path}: {exc.strerror or exc}") from None
        for folder, _, names in os.walk(snapshot):
            os.chmod(folder, 0o700)
            for name in names:
                os.chmod(os.path.join(folder, name), 0o600)
        self.read_only = True
        log.warning(f"note: the index at {path} is read-only; answering from a temporary copy")
        return snapshot

    def _check_location(self, database: bool = True) -> None:
        """A folder (or nothing yet) at the index path, and no empty database file in it."""
        if self.settings.chroma_url:
            return
        path = self.settings.index_dir
        if path.exists() and not path.is_dir():
            raise UserError(f"index path is not a folder: {path}")
        db = path / "chroma.sqlite3"
        if database and db.is_file() and db.stat().st_size == 0:
            raise self.damaged("chroma.sqlite3 is empty")

    def rebuild_command(self, paths: str | None = None) -> str:
        if paths is None:
            paths = "" if self.settings.collection == DEFAULT_COLLECTION else "PATH"
        cmd = f"assistant ingest --rebuild {paths}".rstrip()
        if self.settings.collection != DEFAULT_COLLECTION:
            cmd += f" --collection {self.settings.collection}"
        if not self.settings.chroma_url:
            cmd += f" --index {self.settings.index_dir}"
        return cmd

    def damaged(self, why: BaseException | str) -> DamagedIndex:
        """The one-line error for an index that cannot be read."""
        reason = why if isinstance(why, str) else _first_line(why)
        return DamagedIndex(f"cannot open the index at {self.where} ({reason}): rebuild with {self.rebuild_command()}")

    def _drop_for_rebuild(self) -> None:
        """``--rebuild``: drop the collection; an index too damaged to open is moved aside
        (``INDEX.damaged-TIME``, kept for the user) and a new one started."""
        try:
            self.drop()
            return
        except BaseException as exc:  # noqa: B036
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) or not (
                    is_index_failure(exc) or isinstance(exc, DamagedIndex)):
                raise
            if self.settings.chroma_url:
                raise
        path = self.settings.index_dir
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        keep = {LOCK_FILE}
        aside.mkdir()
        for item in path.iterdir():
            if item.name not in keep:
                os.replace(item, aside / item.name)
        global DAMAGE_REPORTED
        DAMAGE_REPORTED = True
        log.warning(f"note: the index at {path} could not be opened; moved it to {aside} and starting afresh")
        for key in ("client", "stores"):
            self.__dict__.pop(key, None)
        try:  # Chroma keeps one system per path in a process: forget the damaged one
            from chromadb.api.client import SharedSystemClient

            SharedSystemClient.clear_system_cache()
        except Exception:  # noqa: BLE001  (an older/newer Chroma without it: a fresh path works anyway)
            pass

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
        self._check_location()
        if not self.settings.chroma_url and not (self.settings.index_dir / "chroma.sqlite3").exists():
            return False
        return self.settings.collection in self._collection_names()

    def assistant_collections(self) -> list[str]:
        """The assistant collections in this index (each NAME with NAME.units and NAME.docs)."""
        self._check_location()
        if not self.settings.chroma_url and not (self.settings.index_dir / "chroma.sqlite3").exists():
            return []
        names = set(self._collection_names())
        return sorted(n for n in names if f"{n}.units" in names and f"{n}.docs" in names)

    def _collection_names(self) -> list[str]:
        try:
            return [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        except UserError:
            raise
        except BaseException as exc:  # noqa: B036
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise self.damaged(exc) from None

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
                    name, metadata=meta, configuration=HNSW_CONFIGURATION, embedding_function=None
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
        except BaseException as exc:  # noqa: B036
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if is_index_failure(exc) and not type(exc).__name__.endswith("NotFoundError"):
                raise self.damaged(exc) from None
            raise UserError(f"cannot read collection {self.settings.collection!r} in the index at {self.where}: "
                            f"{_first_line(exc)}") from None
        self._check_model(chunks.metadata or {})
        return chunks, units, docs

    def _check_model(self, meta: dict) -> None:
        want = self.model_identity()
        if meta.get("weights_sha256") != want["weights_sha256"] or meta.get("chunker") != want["chunker"]:
            rebuild = self.rebuild_command()
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

    @cached_property
    def _lock(self):
        from filelock import FileLock

        return FileLock(str(self.cache_dir / LOCK_FILE))

    @contextmanager
    def write_lock(self, wait: bool = True):
        """Hold the index's writer lock (one writer at a time per index folder).

        A second writer waits, with a one-line notice, until the first is done; with
        ``wait=False`` it gets :class:`IndexBusy` instead. The lock is an OS file lock
        (``INDEX/ingest.lock``): a killed writer releases it with its process.
        """
        from filelock import Timeout

        self._check_location(database=False)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._lock.acquire(timeout=0)
            except Timeout:
                if not wait:
                    raise IndexBusy(self.where) from None
                log.warning(f"note: another ingest is writing to {self.where}; waiting for it to finish "
                            "(Ctrl-C to stop)")
                self._lock.acquire()
        except OSError as exc:
            raise UserError(f"cannot write to the index at {self.where}: {exc.strerror or exc}") from None
        try:
            yield
        finally:
            self._lock.release()

    def ingest(self, paths: list[Path], progress: bool = True, rebuild: bool = False) -> IngestReport:
        """Bring the collection up to date with ``paths``; safe to interrupt and re-run."""
        loaded = load_documents(paths, unique_ids=False)  # every read error surfaces before anything is written
        docs = [d for d in loaded if not is_empty(d)]
        for d in loaded:
            if is_empty(d):
                log.warning(f"note: skipping an empty document (no text): {d.source}")
        with self.write_lock():
            return self._ingest_locked(paths, docs, progress, rebuild)

    def _ingest_locked(self, paths: list[Path], docs: list[Document], progress: bool, rebuild: bool,
                       keep_paths: bool = False) -> IngestReport:
        if rebuild:
            self._drop_for_rebuild()
        chunks_col, units_col, docs_col = self._collections(create=True)
        self.__dict__["stores"] = (chunks_col, units_col, docs_col)
        self.prepare_embeddings(export=True)
        manifest = self.manifest(docs_col)
        assign_doc_ids(docs, manifest)
        shown = _ingest_relative(paths)
        rel = {d.doc_id: shown.get(d.source.split("#")[0], "") for d in docs}
        for d in docs:  # finishing an interrupted ingest from its files: keep the folder-relative path
            if keep_paths and manifest.get(d.doc_id, {}).get("rel_source"):
                rel[d.doc_id] = manifest[d.doc_id]["rel_source"]
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
        was: dict[str, str] = {}
        for doc in docs:
            meta = manifest.get(doc.doc_id)
            if (meta and meta.get("sha256") == doc.sha256 and meta.get("source") == doc.source
                    and meta.get("status") == "complete"):
                report.unchanged += 1
                if rel[doc.doc_id] and meta.get("rel_source") != rel[doc.doc_id]:
                    docs_col.update(ids=[doc.doc_id], metadatas=[{**meta, "rel_source": rel[doc.doc_id]}])
                continue
            todo.append(doc)
            if meta is None:
                was[doc.doc_id] = "added"
            elif meta.get("status") != "complete":
                # Finishing an interrupted ingest: counted as what that run was doing.
                report.resumed += 1
                was[doc.doc_id] = meta.get("was") if meta.get("was") in ("added", "updated") else "updated"
            else:
                was[doc.doc_id] = "updated"
            if was[doc.doc_id] == "added":
                report.added += 1
            else:
                report.updated += 1

        # Mark the whole run pending first: a kill at any point leaves every unfinished
        # document visibly pending, never a smaller index that looks complete.
        for i in range(0, len(todo), 1000):
            part = todo[i : i + 1000]
            docs_col.upsert(ids=[d.doc_id for d in part], embeddings=[[0.0]] * len(part),
                            metadatas=[_doc_meta(d, "pending", was=was[d.doc_id], rel_source=rel[d.doc_id])
                                       for d in part])
        bar = _progress(total=sum(len(d.text) for d in todo), enabled=progress and bool(todo))
        with bar:
            for doc_id in gone:
                self._remove(doc_id, manifest[doc_id], chunks_col, units_col, docs_col)
                report.removed += 1
            for i in range(0, len(todo), _DOC_BATCH):
                batch = todo[i : i + _DOC_BATCH]
                self._write_batch(batch, chunks_col, units_col, docs_col, advance=bar.update, rel=rel)
                report.chars += sum(len(d.text) for d in batch)
        report.chunks = chunks_col.count()
        return report

    @staticmethod
    def _remove(doc_id: str, meta: dict, chunks_col, units_col, docs_col) -> None:
        docs_col.upsert(ids=[doc_id], metadatas=[{**meta, "status": "pending", "was": "removing"}], embeddings=[[0.0]])
        chunks_col.delete(where={"doc_id": doc_id})
        units_col.delete(where={"doc_id": doc_id})
        docs_col.delete(ids=[doc_id])

    def _write_batch(self, batch: list[Document], chunks_col, units_col, docs_col, advance=lambda n: None,
                     rel: dict[str, str] | None = None) -> None:
        """Embed and write a few documents' units and chunks, in slices of at most
        ``_SLICE_UNITS`` texts, so memory stays bounded however long a document is; then
        mark the documents complete. ``advance(chars)`` reports progress as slices land."""
        import numpy as np

        ids = [d.doc_id for d in batch]
        chunks_col.delete(where={"doc_id": {"$in": ids}})
        units_col.delete(where={"doc_id": {"$in": ids}})
        contexts = np.asarray(self.embeddings.embed_documents([document_context(d) for d in batch]), dtype=np.float32)
        step = max(1, min(5000, self.client.get_max_batch_size()))
        n_chunks: dict[str, int] = {}

        pending_chunks: list[Chunk] = []
        units: dict[tuple[str, int, int], str] = {}  # this slice's units to embed
        unit_meta: dict[tuple[str, int, int], dict] = {}
        recent: dict[tuple[str, int, int], np.ndarray] = {}  # the previous slice's vectors (windows overlap)
        done_chars = {d.doc_id: 0 for d in batch}

        def flush() -> None:
            nonlocal recent
            keys = list(units)
            vectors = np.asarray(self.embeddings.embed_documents([units[k] for k in keys]), dtype=np.float32) \
                if keys else np.zeros((0, 0), dtype=np.float32)
            vec_of = {**recent, **{k: vectors[i] for i, k in enumerate(keys)}}
            chunk_vectors = []
            for c in pending_chunks:
                if c.kind in ("body", "notes"):
                    v = np.mean([vec_of[(c.doc_id, s, e)] for s, e in c.sentences], axis=0)
                    # A window's vector leans towards its document's heading and date (see chunks.py).
                    v = v / (np.linalg.norm(v) or 1.0) + CONTEXT_WEIGHT * contexts[ids.index(c.doc_id)]
                else:
                    v = vec_of[(c.doc_id, c.start, c.end)]
                chunk_vectors.append((v / (np.linalg.norm(v) or 1.0)).tolist())
            for j in range(0, len(keys), step):
                part = keys[j : j + step]
                units_col.add(
                    ids=[_unit_id(k) for k in part], embeddings=vectors[j : j + step].tolist(),
                    documents=[units[k] for k in part], metadatas=[unit_meta[k] for k in part],
                )
            for j in range(0, len(pending_chunks), step):
                part = pending_chunks[j : j + step]
                chunks_col.add(
                    ids=[c.id for c in part], embeddings=chunk_vectors[j : j + step],
                    documents=[c.text for c in part], metadatas=[c.metadata() for c in part],
                )
            moved = 0
            for c in pending_chunks:  # (windows come in text order; a field may lie anywhere)
                if c.kind in ("body", "notes") and c.end > done_chars[c.doc_id]:
                    moved += c.end - done_chars[c.doc_id]
                    done_chars[c.doc_id] = c.end
            advance(moved)
            recent = {k: vec_of[k] for k in keys}
            pending_chunks.clear()
            units.clear()
            unit_meta.clear()

        for doc in batch:
            n = 0
            for c in chunk_document(doc):
                n += 1
                pending_chunks.append(c)
                # Units: each sentence once, plus each structural field (embedded with its description).
                if c.kind in ("body", "notes"):
                    for s, e in c.sentences:
                        key = (c.doc_id, s, e)
                        if key not in recent and key not in units:
                            units[key] = c.text[s - c.start : e - c.start]
                            unit_meta[key] = {"doc_id": c.doc_id, "start": s, "end": e, "kind": c.kind}
                else:
                    key = (c.doc_id, c.start, c.end)
                    units[key] = c.search_text
                    unit_meta[key] = {"doc_id": c.doc_id, "start": c.start, "end": c.end, "kind": c.kind}
                if len(units) >= _SLICE_UNITS:
                    flush()
            n_chunks[doc.doc_id] = n
        flush()
        advance(sum(max(0, len(d.text) - done_chars[d.doc_id]) for d in batch))
        docs_col.upsert(
            ids=ids, embeddings=[[0.0]] * len(batch),
            metadatas=[_doc_meta(d, "complete", chunks=n_chunks[d.doc_id], rel_source=(rel or {}).get(d.doc_id, ""))
                       for d in batch],
        )

    def complete_pending(self, progress: bool = False) -> IngestReport | None:
        """Finish an interrupted ingest from the pending documents' own sources.

        Only when no other process is writing: an ``ask`` during a running ingest answers
        from the documents already complete (with a notice) instead of becoming a second writer."""
        if not self.pending():
            return None
        if self.read_only:
            log.warning(f"note: the index at {self.where} is read-only and an ingest into it was interrupted; "
                        f"answering from the documents already indexed ({len(self.pending())} not)")
            return None
        try:
            with self.write_lock(wait=False):
                return self._complete_pending_locked(progress)
        except IndexBusy:
            n = len(self.pending())
            log.warning(f"note: an ingest is running in {self.where}; answering from the documents already "
                        f"indexed ({n} not yet)")
            return None

    def _complete_pending_locked(self, progress: bool) -> IngestReport | None:
        self.__dict__.pop("stores", None)
        chunks_col, units_col, docs_col = self.stores
        manifest = self.manifest(docs_col)
        pending = {i: m for i, m in manifest.items() if m.get("status") != "complete"}
        if not pending:
            return None  # finished by the writer we may have waited for
        report = IngestReport()
        for doc_id, meta in list(pending.items()):  # removals cut short: finish them
            if meta.get("was") == "removing":
                self._remove(doc_id, meta, chunks_col, units_col, docs_col)
                report.removed += 1
                del pending[doc_id]
        if not pending:
            return report
        sources = sorted({Path(m.get("source", "").split("#")[0]) for m in pending.values()})
        missing = [str(s) for s in sources if not s.exists()]
        if missing:
            raise UserError(
                f"the index at {self.where} is incomplete (an ingest was interrupted) and its source "
                f"{missing[0]} is gone; run: {self.rebuild_command('PATH')}"
            )
        log.warning(f"note: completing an interrupted ingest of {len(pending)} document(s) in {self.where}")
        docs = [d for d in load_documents(sources, unique_ids=False) if not is_empty(d)]
        return self._ingest_locked(sources, docs, progress, rebuild=False, keep_paths=True)

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
            value = got[key]
            out[key] += list(value) if value is not None else []  # embeddings come as an array
        if len(got["ids"]) < page:
            return out
        offset += page


def _unit_id(key: tuple[str, int, int]) -> str:
    return f"{key[0]}:{key[1]}-{key[2]}"


def _writable(db: Path) -> bool:
    """Whether this process may write the database file (true when there is none yet)."""
    try:
        with open(db, "r+b"):
            return True
    except FileNotFoundError:
        return True
    except OSError:  # EACCES, EROFS
        return False


def _ingest_relative(paths: list[Path]) -> dict[str, str]:
    """Each document file under ``paths`` → its path from the ingested folder, that folder's
    name first ("frus1941/frus1941v06_d1.txt"); a file named by itself → its name."""
    out: dict[str, str] = {}
    for p in paths:
        root = p.resolve()
        if p.is_dir():
            for f in document_files([p]):
                out[str(f.resolve())] = str(Path(root.name) / f.resolve().relative_to(root))
        else:
            out[str(root)] = root.name
    return out


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
    """An index ready to answer from: ingesting ``seeds/`` on first use (only into the
    default collection of an index with no collections at all), finishing an interrupted
    ingest when no other process is writing, refusing another model's index."""
    index = Index(settings, embeddings)
    if not index.exists():
        existing = index.assistant_collections()
        if existing or settings.collection != DEFAULT_COLLECTION or os.environ.get("ASSISTANT_NO_AUTO_INGEST"):
            where = "" if settings.chroma_url else f" --index {settings.index_dir}"
            has = f"it has: {', '.join(existing)}" if existing else "it has no collections"
            raise UserError(f"no collection {settings.collection!r} in the index at {index.where} ({has}); "
                            f"ingest it: assistant ingest PATH --collection {settings.collection}{where}")
        with index.write_lock():
            if not index.exists():  # (another process may have made it while we waited)
                log.warning(f"note: no index at {index.where} yet; ingesting {SEEDS_DIR.name}/ first")
                index.ingest(default_paths(), progress=False)
    index.stores  # noqa: B018  (opens and checks the model)
    index.complete_pending()
    from assistant.answer import register_ingest_paths

    register_ingest_paths({m["source"].split("#")[0]: m["rel_source"] for m in index.manifest().values()
                           if m.get("source") and m.get("rel_source")})
    return index
