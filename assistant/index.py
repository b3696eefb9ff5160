"""The index: chunks, their sentences' vectors and a manifest of documents, in Chroma.

Three Chroma collections per assistant collection NAME:

- ``NAME``        chunks (windows and structural passages), vector = mean of its units;
- ``NAME.units``  sentences and structural fields with their own vectors, for choosing
                  the answer sentence inside retrieved chunks;
- ``NAME.docs``   one record per document: sha256, source, status.

``Index`` is the one object callers hold; it delegates to the parts, one per module:
the connection and collections (chroma_store.py), the writer lock (write_lock.py),
ingest (ingest.py) and reads (index_lookups.py). Beside Chroma, the keyword index
(keyword_store.py: SQLite FTS5, one file per collection) holds each chunk's record and
BM25 tokens, the sentences' vectors and a snapshot of the manifest; ingest writes both.
A local ``ask`` opens the index from that snapshot (``open_from_snapshot``) and never
imports Chroma; without one (an ingest running or interrupted, an index made before,
a Chroma server) it opens Chroma as before. The chunk collection's metadata records
the embedding model and its weights' hash; an index built with other weights is refused
with the command that rebuilds it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from assistant.answer import register_ingest_paths
from assistant.chroma_store import (
    HNSW_CONFIGURATION,
    INDEX_FORMAT,
    LOCK_FILE,
    ChromaStore,
    chroma_generation,
    chroma_stamp,
    failure_error,
    is_index_failure,
)
from assistant.chunks import Chunk
from assistant.config import DEFAULT_COLLECTION, SEEDS_DIR, Settings
from assistant.embeddings import LocalEmbeddings
from assistant.errors import DamagedIndex, UserError
from assistant.index_lookups import IndexLookups, KeywordLookups
from assistant.ingest import CONTEXT_WEIGHT, Ingest, IngestReport
from assistant.keyword_store import KeywordStore, StoreDamaged, keyword_path, writable
from assistant.write_lock import IndexBusy, WriteLock

log = logging.getLogger(__name__)

__all__ = [
    "CONTEXT_WEIGHT", "HNSW_CONFIGURATION", "INDEX_FORMAT", "LOCK_FILE", "Index", "IndexBusy", "IngestReport",
    "default_paths", "failure_error", "is_index_failure", "open_for_query",
]


class Index:
    """One assistant collection in one index: open it, ingest into it, read from it."""

    def __init__(self, settings: Settings, embeddings: LocalEmbeddings | None = None):
        self.settings = settings
        self.embeddings = embeddings or LocalEmbeddings()
        self.store = ChromaStore(settings, self.embeddings)
        self.lock = WriteLock(self.store)
        self.lookups: IndexLookups = IndexLookups(self.store)
        self.ingester = Ingest(self.store, self.lock)
        self.from_snapshot = False  # opened from the keyword index's snapshot: Chroma not opened
        self._snapshot_stamp: str | None = None  # Chroma's stamp the snapshot holds, as this process left it

    # --- connection (chroma_store.py) --------------------------------------------------

    @property
    def client(self):
        return self.store.client

    @property
    def stores(self):
        """(chunks, units, docs) of an existing, model-compatible collection (Chroma)."""
        return self.store.stores

    def open_from_snapshot(self) -> bool:
        """Answer from the keyword index alone when the last ingest left its snapshot
        (``KeywordStore.snapshot``): a local, writable index whose collection was built
        with this model. False (nothing opened) otherwise: the caller opens Chroma."""
        settings = self.settings
        if settings.chroma_url:
            return False
        self.store.check_location()
        db = settings.index_dir / "chroma.sqlite3"
        path = keyword_path(settings.keyword_index or settings.index_dir / "keywords", settings.collection)
        if not (db.is_file() and writable(db) and path.is_file() and writable(path)):
            return False
        keywords = KeywordStore(path)
        stamp = chroma_stamp(settings.index_dir)
        try:
            snapshot = keywords.snapshot(stamp)
        except StoreDamaged:
            snapshot = None
        want = self.store.model_identity()
        if snapshot is None or any(snapshot[1].get(k) != want[k] for k in ("weights_sha256", "chunker")):
            keywords.close()
            return False  # (Chroma says what is wrong, or finishes what is pending)
        manifest, _, counts = snapshot
        self.ingester.use_keywords(keywords)
        self.lookups = KeywordLookups(self.store, keywords, manifest, counts)
        self.from_snapshot = True
        self._snapshot_stamp = stamp
        self.store.on_connect = self.confirm_snapshot
        self.store.prepare_embeddings()
        return True

    def track_snapshot(self) -> None:
        """The snapshot just written for Chroma's files as they are (``refresh_snapshot``
        of an ask that opened Chroma): this process confirms it after its later reads too."""
        if self.settings.chroma_url or self.read_only:
            return
        stamp = chroma_stamp(self.settings.index_dir)
        if self.ingester.keywords.snapshot_stamp() == stamp:
            self._snapshot_stamp = stamp

    def confirm_snapshot(self) -> None:
        """After this process used Chroma only to read (opening a client, or a query that
        loads its HNSW index, rewrites Chroma's file): the snapshot it answered from is
        confirmed for the next process when nothing wrote to Chroma since
        (``KeywordStore.confirm_stamp``); else every later ask would open Chroma."""
        seen = self._snapshot_stamp
        if seen is None:
            return
        index_dir = self.settings.index_dir
        now = chroma_stamp(index_dir)
        if now == seen:
            return
        try:
            confirmed = self.ingester.keywords.confirm_stamp(seen, now, lambda: chroma_generation(index_dir))
        except sqlite3.Error as exc:  # (busy or damaged: the next ask opens Chroma, as before)
            log.debug("could not confirm the snapshot of %s (%s)", self.ingester.keywords.path, exc)
            confirmed = False
        self._snapshot_stamp = now if confirmed else None  # (not confirmed: someone wrote; stop)

    @property
    def read_only(self) -> bool:
        return self.store.read_only

    @property
    def names(self) -> tuple[str, str, str]:
        return self.store.names

    @property
    def where(self) -> str:
        return self.store.where

    @property
    def cache_dir(self) -> Path:
        """Local files beside the index (BM25, weights hash); also used in server mode."""
        return self.store.cache_dir

    def rebuild_command(self, paths: str | None = None) -> str:
        return self.store.rebuild_command(paths)

    def damaged(self, why: BaseException | str) -> DamagedIndex:
        return self.store.damaged(why)

    def exists(self) -> bool:
        return self.store.exists()

    def assistant_collections(self) -> list[str]:
        return self.store.assistant_collections()

    def model_identity(self) -> dict:
        return self.store.model_identity()

    def prepare_embeddings(self, export: bool = False) -> bool:
        return self.store.prepare_embeddings(export)

    def drop(self) -> None:
        self.store.drop()
        self.ingester.drop_keywords()

    def keyword_store(self):
        """The collection's keyword index (keyword_store.py), in line with the manifest: an
        index made before it existed is copied into it once, with a notice."""
        return self.ingester.ready_keywords()

    # --- ingest (ingest.py, write_lock.py) ---------------------------------------------

    def write_lock(self, wait: bool = True):
        """Hold the index's writer lock (see ``WriteLock.hold``)."""
        return self.lock.hold(wait)

    def ingest(self, paths: list[Path], progress: bool = True, rebuild: bool = False) -> IngestReport:
        """Bring the collection up to date with ``paths``; safe to interrupt and re-run."""
        return self.ingester.run(paths, progress=progress, rebuild=rebuild)

    def complete_pending(self, progress: bool = False) -> IngestReport | None:
        return self.ingester.complete_pending(progress)

    # --- reads (index_lookups.py) --------------------------------------------------------

    def manifest(self, docs_col=None) -> dict[str, dict]:
        return self.lookups.manifest(docs_col)

    def pending(self) -> list[dict]:
        return self.lookups.pending()

    def revision(self) -> str:
        """Changes whenever any document's content changes: keys the local BM25 cache."""
        return self.lookups.revision()

    def counts(self) -> dict:
        return self.lookups.counts()

    def all_chunks(self) -> list[Chunk]:
        return self.lookups.all_chunks()

    def doc_chunks(self, doc_ids: list[str]) -> list[Chunk]:
        """Every passage of these documents (from the keyword index when opened from its snapshot)."""
        return self.lookups.doc_chunks(doc_ids)

    def field_chunk(self, doc_id: str, kind: str) -> Chunk | None:
        return self.lookups.field_chunk(doc_id, kind)

    def chunk_containing(self, doc_id: str, start: int, end: int) -> Chunk | None:
        return self.lookups.chunk_containing(doc_id, start, end)

    def unit_before(self, doc_id: str, start: int) -> dict | None:
        return self.lookups.unit_before(doc_id, start)

    def central_units(self, doc_id: str, n: int) -> list[tuple[int, int]]:
        return self.lookups.central_units(doc_id, n)

    def unit_vectors(self, keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], list[float]]:
        return self.lookups.unit_vectors(keys)


def default_paths() -> list[Path]:
    return [SEEDS_DIR]


def open_for_query(settings: Settings, embeddings: LocalEmbeddings | None = None) -> Index:
    """An index ready to answer from: ingesting ``seeds/`` on first use (only into the
    default collection of an index with no collections at all), finishing an interrupted
    ingest when no other process is writing, refusing another model's index."""
    index = Index(settings, embeddings)
    if index.open_from_snapshot():  # a local index as the last ingest left it: no Chroma
        _register_paths(index)
        return index
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
    index.ingester.refresh_snapshot()  # (the next ask need not open Chroma)
    index.track_snapshot()
    _register_paths(index)
    return index


def _register_paths(index: Index) -> None:
    register_ingest_paths({m["source"].split("#")[0]: m["rel_source"] for m in index.manifest().values()
                           if m.get("source") and m.get("rel_source")})
