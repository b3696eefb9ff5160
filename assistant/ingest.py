"""Ingest: bring an index's collection up to date with document files.

Why a manifest with a status: ingest marks a document ``pending`` before touching its
chunks and ``complete`` after, so a process killed half-way leaves pending records that
the next run sees and finishes (and that ``ask`` refuses to answer over silently).

``Ingest(store, lock).run(paths)`` is the entry point; ``complete_pending()`` finishes an
interrupted run from the pending documents' own sources.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.chroma_store import ChromaStore, chroma_generation, chroma_stamp, get_all, unit_id
from assistant.chunks import Chunk, document_context, iter_chunks
from assistant.documents import Document, assign_doc_ids, is_empty
from assistant.errors import UserError
from assistant.index_lookups import (
    chunk_matrix,
    manifest_revision,
    read_manifest,
    save_vector_cache,
    vector_cache_path,
)
from assistant.keyword_store import KeywordStore, KeywordWriter, StoreDamaged, keyword_path, writable
from assistant.loaders import document_files, load_documents
from assistant.write_lock import IndexBusy, WriteLock

log = logging.getLogger(__name__)

DOC_BATCH = 16  # documents embedded and written together (one pending→complete step)
SLICE_UNITS = 512  # texts embedded and written at a time: bounds memory for a long document
CONTEXT_WEIGHT = 0.5  # share of the document's heading vector in each window's vector
_MARK_BATCH = 1000  # manifest records written per call when marking a run pending
_SYNC_BATCH = 64  # documents copied from the collection into the keyword index per transaction

UnitKey = tuple[str, int, int]  # (doc_id, start, end) of a sentence or structural field


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


@dataclass
class _Plan:
    """What a run does: documents to (re)write, documents whose files are gone."""

    todo: list[Document] = field(default_factory=list)
    was: dict[str, str] = field(default_factory=dict)  # doc_id → "added" | "updated"
    gone: list[str] = field(default_factory=list)


class Ingest:
    """Writes documents into a ``ChromaStore`` under its ``WriteLock``.

    ``load`` reads document files (``load_documents``); ``slice_units`` bounds the texts
    embedded at a time; ``on_progress(chars)`` hears each slice land (beside the bar)."""

    def __init__(self, store: ChromaStore, lock: WriteLock, *,
                 load: Callable[..., list[Document]] = load_documents,
                 slice_units: int = SLICE_UNITS, doc_batch: int = DOC_BATCH,
                 on_progress: Callable[[int], object] | None = None):
        self.store = store
        self.lock = lock
        self.load = load
        self.slice_units = slice_units
        self.doc_batch = doc_batch
        self.on_progress = on_progress
        self._keywords: KeywordStore | None = None
        self._synced = False

    def run(self, paths: list[Path], progress: bool = True, rebuild: bool = False) -> IngestReport:
        """Bring the collection up to date with ``paths``; safe to interrupt and re-run."""
        limit_malloc_arenas()
        loaded = self.load(paths, unique_ids=False)  # every read error surfaces before anything is written
        docs = [d for d in loaded if not is_empty(d)]
        for d in loaded:
            if is_empty(d):
                log.warning(f"note: skipping an empty document (no text): {d.source}")
        with self.lock.hold():
            return self._run_locked(paths, docs, progress, rebuild)

    __call__ = run

    # --- one run ---------------------------------------------------------------------

    def _run_locked(self, paths: list[Path], docs: list[Document], progress: bool, rebuild: bool,
                    keep_paths: bool = False) -> IngestReport:
        self._clear_snapshot()  # readers go to Chroma until this run has finished
        if rebuild:
            self.store.drop_for_rebuild()
            self.drop_keywords()
        chunks_col, units_col, docs_col = self.store.collections(create=True)
        self.store.use((chunks_col, units_col, docs_col))
        self.store.prepare_embeddings(export=True)
        manifest = read_manifest(docs_col)
        self.sync_keywords(manifest, locked=True)  # an index made before the keyword index: built once
        assign_doc_ids(docs, manifest)
        rel = _relative_sources(paths, docs, manifest if keep_paths else {})
        report = IngestReport()
        plan = self._plan(paths, docs, manifest, rel, report, docs_col)

        # Mark the whole run pending first: a kill at any point leaves every unfinished
        # document visibly pending, never a smaller index that looks complete.
        todo, was = plan.todo, plan.was
        for i in range(0, len(todo), _MARK_BATCH):
            part = todo[i : i + _MARK_BATCH]
            docs_col.upsert(ids=[d.doc_id for d in part], embeddings=[[0.0]] * len(part),
                            metadatas=[_doc_meta(d, "pending", was=was[d.doc_id], rel_source=rel[d.doc_id])
                                       for d in part])
        bar = _progress(total=sum(len(d.text) for d in todo), enabled=progress and bool(todo))
        with bar:
            advance = bar.update if self.on_progress is None else _both(bar.update, self.on_progress)
            for doc_id in plan.gone:
                _remove(doc_id, manifest[doc_id], chunks_col, units_col, docs_col, self.keywords)
                report.removed += 1
            for i in range(0, len(todo), self.doc_batch):
                batch = todo[i : i + self.doc_batch]
                self._write_batch(batch, chunks_col, units_col, docs_col, advance=advance, rel=rel)
                report.chars += sum(len(d.text) for d in batch)
        report.chunks = chunks_col.count()
        self.write_snapshot((chunks_col, units_col, docs_col))
        return report

    @staticmethod
    def _plan(paths: list[Path], docs: list[Document], manifest: dict[str, dict], rel: dict[str, str],
              report: IngestReport, docs_col) -> _Plan:
        """Sort the scanned documents into unchanged / to write, and find the removed ones
        (manifest records under the ingested paths that the scan no longer has)."""
        plan = _Plan(gone=_gone(paths, {d.doc_id for d in docs}, manifest))
        for doc in docs:
            meta = manifest.get(doc.doc_id)
            if (meta and meta.get("sha256") == doc.sha256 and meta.get("source") == doc.source
                    and meta.get("status") == "complete"):
                report.unchanged += 1
                if rel[doc.doc_id] and meta.get("rel_source") != rel[doc.doc_id]:
                    docs_col.update(ids=[doc.doc_id], metadatas=[{**meta, "rel_source": rel[doc.doc_id]}])
                continue
            plan.todo.append(doc)
            if meta is None:
                plan.was[doc.doc_id] = "added"
            elif meta.get("status") != "complete":
                # Finishing an interrupted ingest: counted as what that run was doing.
                report.resumed += 1
                plan.was[doc.doc_id] = meta["was"] if meta.get("was") in ("added", "updated") else "updated"
            else:
                plan.was[doc.doc_id] = "updated"
            if plan.was[doc.doc_id] == "added":
                report.added += 1
            else:
                report.updated += 1
        return plan

    def _write_batch(self, batch: list[Document], chunks_col, units_col, docs_col,
                     advance: Callable[[int], object] = lambda n: None, rel: dict[str, str] | None = None) -> None:
        """Embed and write a few documents' units and chunks, in slices of at most
        ``slice_units`` texts, so memory stays bounded however long a document is; then
        mark the documents complete. ``advance(chars)`` reports progress as slices land."""
        ids = [d.doc_id for d in batch]
        chunks_col.delete(where={"doc_id": {"$in": ids}})
        units_col.delete(where={"doc_id": {"$in": ids}})
        n_chunks: dict[str, int] = {}
        # The keyword rows of the batch are one SQLite transaction, committed before the
        # manifest says "complete": a complete document is always in the keyword index.
        with self.keywords.writer() as keywords:
            keywords.remove(ids)
            writer = _SliceWriter(self.store, batch, chunks_col, units_col, advance, keywords)
            for doc in batch:
                n = 0
                for c in iter_chunks(doc):
                    n += 1
                    writer.add(c)
                    if len(writer.units) >= self.slice_units:
                        writer.flush()
                n_chunks[doc.doc_id] = n
            writer.flush()
            for doc in batch:
                keywords.done(doc.doc_id, doc.sha256)
        advance(sum(max(0, len(d.text) - writer.done_chars[d.doc_id]) for d in batch))
        docs_col.upsert(
            ids=ids, embeddings=[[0.0]] * len(batch),
            metadatas=[_doc_meta(d, "complete", chunks=n_chunks[d.doc_id], rel_source=(rel or {}).get(d.doc_id, ""))
                       for d in batch],
        )

    # --- an interrupted run ----------------------------------------------------------

    def complete_pending(self, progress: bool = False) -> IngestReport | None:
        """Finish an interrupted ingest from the pending documents' own sources.

        Only when no other process is writing: an ``ask`` during a running ingest answers
        from the documents already complete (with a notice) instead of becoming a second writer."""
        if not self._pending():
            return None
        if self.store.read_only:
            log.warning(f"note: the index at {self.store.where} is read-only and an ingest into it was interrupted; "
                        f"answering from the documents already indexed ({len(self._pending())} not)")
            return None
        try:
            with self.lock.hold(wait=False):
                return self._complete_pending_locked(progress)
        except IndexBusy:
            n = len(self._pending())
            log.warning(f"note: an ingest is running in {self.store.where}; answering from the documents already "
                        f"indexed ({n} not yet)")
            return None

    def _pending(self) -> list[dict]:
        return [m for m in read_manifest(self.store.stores[2]).values() if m.get("status") != "complete"]

    def _complete_pending_locked(self, progress: bool) -> IngestReport | None:
        self.store.forget()
        chunks_col, units_col, docs_col = self.store.stores
        manifest = read_manifest(docs_col)
        pending = {i: m for i, m in manifest.items() if m.get("status") != "complete"}
        if not pending:
            return None  # finished by the writer we may have waited for
        report = IngestReport()
        for doc_id, meta in list(pending.items()):  # removals cut short: finish them
            if meta.get("was") == "removing":
                _remove(doc_id, meta, chunks_col, units_col, docs_col, self.keywords)
                report.removed += 1
                del pending[doc_id]
        if not pending:
            return report
        sources = sorted({Path(m.get("source", "").split("#")[0]) for m in pending.values()})
        missing = [str(s) for s in sources if not s.exists()]
        if missing:
            raise UserError(
                f"the index at {self.store.where} is incomplete (an ingest was interrupted) and its source "
                f"{missing[0]} is gone; run: {self.store.rebuild_command('PATH')}"
            )
        log.warning(f"note: completing an interrupted ingest of {len(pending)} document(s) in {self.store.where}")
        docs = [d for d in self.load(sources, unique_ids=False) if not is_empty(d)]
        return self._run_locked(sources, docs, progress, rebuild=False, keep_paths=True)


    # --- the snapshot a local ask answers from ----------------------------------------------

    def _clear_snapshot(self) -> None:
        """(Through its own connection: Chroma, maybe damaged and about to be rebuilt, is not opened.)"""
        settings = self.store.settings
        if settings.chroma_url:
            return
        path = keyword_path(settings.keyword_index or settings.index_dir / "keywords", settings.collection)
        if path.exists() and writable(path):
            store = KeywordStore(path)
            with contextlib.suppress(StoreDamaged, sqlite3.Error):  # (rebuilt when it is used)
                store.clear_snapshot()
            store.close()

    def write_snapshot(self, stores: tuple) -> bool:
        """Under the writer lock, with every document complete: copy into the keyword index
        what a local ``ask`` reads from Chroma otherwise (the manifest, the model identity,
        the counts, the sentence vectors of documents written before it held them) and
        write the dense search's vector cache. False when it cannot (yet)."""
        if self.store.settings.chroma_url or self.store.read_only or self.keywords.read_only:
            return False
        chunks_col, units_col, docs_col = stores
        manifest = read_manifest(docs_col)
        if any(m.get("status") != "complete" for m in manifest.values()):
            return False
        self.sync_keywords(manifest, locked=True)
        missing = self.keywords.docs_without_units()
        if missing:
            log.warning(f"note: adding the sentence vectors of {len(missing)} document(s) to the keyword index "
                        f"{self.keywords.path} (once)")
        for i in range(0, len(missing), _SYNC_BATCH):
            part = missing[i : i + _SYNC_BATCH]
            got = get_all(units_col, ["embeddings", "metadatas"], where={"doc_id": {"$in": part}})
            with self.keywords.writer() as writer:
                writer.add_units(_unit_rows(got["metadatas"], got["embeddings"]))
        path = vector_cache_path(self.store.cache_dir, self.store.settings.collection, manifest_revision(manifest))
        if not path.exists():
            save_vector_cache(path, chunk_matrix(chunks_col, self.keywords)[0])
        identity, units = dict(chunks_col.metadata or {}), units_col.count()
        index_dir = self.store.settings.index_dir
        self.keywords.write_snapshot(manifest, identity, units, chroma_stamp(index_dir), chroma_generation(index_dir))
        return True

    def refresh_snapshot(self) -> None:
        """An ``ask`` that had to open Chroma (no snapshot yet: an index made before it, or
        an ingest finished by this process) writes the snapshot when no one else is writing."""
        if self.store.settings.chroma_url or self.store.read_only:
            return
        try:
            if self.keywords.read_only or self.keywords.snapshot(chroma_stamp(self.store.settings.index_dir)):
                return
            with self.lock.hold(wait=False):
                self.store.forget()
                self.write_snapshot(self.store.stores)
        except IndexBusy:
            pass  # the running ingest writes it

    # --- the keyword index --------------------------------------------------------------

    @property
    def keywords(self) -> KeywordStore:
        """The collection's keyword index, opened (a damaged one is rebuilt, with a notice)."""
        if self._keywords is None:
            path = keyword_path(self.store.keyword_dir, self.store.settings.collection)
            store = KeywordStore(path, read_only=not writable(path))
            try:
                store.check()
            except StoreDamaged as exc:
                if store.read_only:
                    raise UserError(f"cannot read the keyword index at {path} ({exc}); "
                                    f"rebuild with {self.store.rebuild_command()}") from None
                if path.exists():
                    log.warning(f"note: the keyword index {path} is damaged ({exc}); rebuilding it")
                store.remove()
                store.check()
            self._keywords = store
        return self._keywords

    def use_keywords(self, keywords: KeywordStore) -> None:
        """The keyword index opened from its snapshot: in line with the manifest already."""
        self._keywords = keywords
        self._synced = True

    def drop_keywords(self) -> None:
        """Delete the collection's keyword index (``--rebuild``, ``drop``)."""
        path = keyword_path(self.store.keyword_dir, self.store.settings.collection)
        if self._keywords is not None:
            self._keywords.remove()
        elif path.exists() and writable(path):
            KeywordStore(path).remove()
        self._keywords = None
        self._synced = False

    def ready_keywords(self) -> KeywordStore:
        """The keyword index, brought in line with the manifest once per process."""
        if not self._synced:
            self.sync_keywords(read_manifest(self.store.stores[2]))
        return self.keywords

    def sync_keywords(self, manifest: dict[str, dict], locked: bool = False) -> None:
        """Copy into the keyword index the complete documents it lacks (or holds in another
        version) from the collection, and drop the documents the manifest no longer has.

        Only the differing documents are read from Chroma: none on a consistent index (an
        ingest commits a batch's keyword rows before marking it complete), all of them once
        for an index made before the keyword index existed (with a notice)."""
        keywords = self.keywords
        complete = {i: m.get("sha256", "") for i, m in manifest.items() if m.get("status") == "complete"}
        have = keywords.doc_shas()
        stale = sorted(i for i, sha in complete.items() if have.get(i) != sha)
        gone = sorted(i for i in have if i not in manifest)
        self._synced = True
        if not stale and not gone:
            return
        if keywords.read_only:
            log.warning(f"note: the keyword index at {keywords.path} lacks {len(stale)} document(s) and cannot be "
                        f"written here; run the ingest where the documents are ingested")
            return
        if locked:
            self._copy_into_keywords(stale, gone, complete, bool(have))
            return
        try:
            with self.lock.hold(wait=False):
                self._copy_into_keywords(stale, gone, complete, bool(have))
        except IndexBusy:
            self._synced = False  # the running ingest writes it; look again next time

    def _copy_into_keywords(self, stale: list[str], gone: list[str], complete: dict[str, str], had: bool) -> None:
        keywords = self.keywords
        name = self.store.settings.collection
        if stale:
            what = "updating" if had else "building"
            log.warning(f"note: {what} the keyword index of collection {name!r} from the index "
                        f"({len(stale)} document(s)): {keywords.path}")
        if gone:
            keywords.remove_docs(gone)
        chunks_col, units_col, _ = self.store.stores
        for i in range(0, len(stale), _SYNC_BATCH):
            part = stale[i : i + _SYNC_BATCH]
            got = get_all(chunks_col, ["documents", "metadatas"], where={"doc_id": {"$in": part}})
            chunks = sorted((Chunk.from_record(c, d, m) for c, d, m in zip(got["ids"], got["documents"],
                                                                           got["metadatas"])), key=lambda c: c.id)
            units = get_all(units_col, ["embeddings", "metadatas"], where={"doc_id": {"$in": part}})
            with keywords.writer() as writer:
                writer.remove(part)
                for j in range(0, len(chunks), SLICE_UNITS):
                    writer.add(chunks[j : j + SLICE_UNITS])
                writer.add_units(_unit_rows(units["metadatas"], units["embeddings"]))
                for doc_id in part:
                    writer.done(doc_id, complete[doc_id])


class _SliceWriter:
    """Embeds and writes one batch's units and chunks a slice at a time.

    A window's vector is the mean of its sentences' vectors, leaning towards its document's
    heading and date (see chunks.py); a structural field's vector is its own unit's."""

    def __init__(self, store: ChromaStore, batch: list[Document], chunks_col, units_col,
                 advance: Callable[[int], object], keywords: KeywordWriter | None = None):
        import numpy as np

        self.store = store
        self.keywords = keywords
        self.chunks_col = chunks_col
        self.units_col = units_col
        self.advance = advance
        self.ids = [d.doc_id for d in batch]
        self.contexts = np.asarray(store.embeddings.embed_documents([document_context(d) for d in batch]),
                                   dtype=np.float32)
        self.step = max(1, min(5000, store.client.get_max_batch_size()))
        self.chunks: list[Chunk] = []
        self.units: dict[UnitKey, str] = {}  # this slice's units to embed
        self.unit_meta: dict[UnitKey, dict] = {}
        self.recent: dict = {}  # the previous slice's vectors (windows overlap)
        self.done_chars = {d.doc_id: 0 for d in batch}

    def add(self, c: Chunk) -> None:
        """Queue a chunk and its units: each sentence once, plus each structural field
        (embedded with its description)."""
        self.chunks.append(c)
        if c.kind in ("body", "notes"):
            for s, e in c.sentences:
                key = (c.doc_id, s, e)
                if key not in self.recent and key not in self.units:
                    self.units[key] = c.text[s - c.start : e - c.start]
                    self.unit_meta[key] = {"doc_id": c.doc_id, "start": s, "end": e, "kind": c.kind}
        else:
            key = (c.doc_id, c.start, c.end)
            self.units[key] = c.search_text
            self.unit_meta[key] = {"doc_id": c.doc_id, "start": c.start, "end": c.end, "kind": c.kind}

    def flush(self) -> None:
        import numpy as np

        keys = list(self.units)
        vectors = np.asarray(self.store.embeddings.embed_documents([self.units[k] for k in keys]), dtype=np.float32) \
            if keys else np.zeros((0, 0), dtype=np.float32)
        vec_of = {**self.recent, **{k: vectors[i] for i, k in enumerate(keys)}}
        chunk_vectors = [self._chunk_vector(c, vec_of) for c in self.chunks]
        step = self.step
        for j in range(0, len(keys), step):
            part = keys[j : j + step]
            self.units_col.add(
                ids=[unit_id(k) for k in part], embeddings=vectors[j : j + step].tolist(),
                documents=[self.units[k] for k in part], metadatas=[self.unit_meta[k] for k in part],
            )
        for j in range(0, len(self.chunks), step):
            chunks = self.chunks[j : j + step]
            self.chunks_col.add(
                ids=[c.id for c in chunks], embeddings=chunk_vectors[j : j + step],
                documents=[c.text for c in chunks], metadatas=[c.metadata() for c in chunks],
            )
        if self.keywords is not None:
            self.keywords.add(self.chunks)
            self.keywords.add_units((k[0], k[1], k[2], vectors[i].tobytes()) for i, k in enumerate(keys))
        self.advance(self._moved())
        self.recent = {k: vec_of[k] for k in keys}
        self.chunks.clear()
        self.units.clear()
        self.unit_meta.clear()
        release_freed_memory()

    def _chunk_vector(self, c: Chunk, vec_of: dict) -> list[float]:
        import numpy as np

        if c.kind in ("body", "notes"):
            v = np.mean([vec_of[(c.doc_id, s, e)] for s, e in c.sentences], axis=0)
            v = v / (np.linalg.norm(v) or 1.0) + CONTEXT_WEIGHT * self.contexts[self.ids.index(c.doc_id)]
        else:
            v = vec_of[(c.doc_id, c.start, c.end)]
        return (v / (np.linalg.norm(v) or 1.0)).tolist()

    def _moved(self) -> int:
        """Characters of text the flushed windows reach beyond what was reported before
        (windows come in text order; a field may lie anywhere)."""
        moved = 0
        for c in self.chunks:
            if c.kind in ("body", "notes") and c.end > self.done_chars[c.doc_id]:
                moved += c.end - self.done_chars[c.doc_id]
                self.done_chars[c.doc_id] = c.end
        return moved


@lru_cache(maxsize=1)
def _glibc():
    """glibc (Linux), or None elsewhere. Looked up on the first ingest, not at import:
    this module is imported on every ``ask``."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # another C library (musl): nothing to tune
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas() -> None:
    """Few malloc arenas for the ingest: onnxruntime's and Chroma's threads each get their
    own glibc arena by default, and memory freed in one is kept for it."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, 2)


def release_freed_memory() -> None:
    """Give the slice's freed memory back to the system (glibc keeps it otherwise)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _remove(doc_id: str, meta: dict, chunks_col, units_col, docs_col, keywords: KeywordStore) -> None:
    docs_col.upsert(ids=[doc_id], metadatas=[{**meta, "status": "pending", "was": "removing"}], embeddings=[[0.0]])
    chunks_col.delete(where={"doc_id": doc_id})
    units_col.delete(where={"doc_id": doc_id})
    keywords.remove_docs([doc_id])
    docs_col.delete(ids=[doc_id])


def _unit_rows(metas: list[dict], vectors) -> list[tuple[str, int, int, bytes]]:
    import numpy as np

    return [(m["doc_id"], int(m["start"]), int(m["end"]), np.asarray(v, dtype=np.float32).tobytes())
            for m, v in zip(metas, vectors)]


def _doc_meta(doc: Document, status: str, **extra) -> dict:
    return {"sha256": doc.sha256, "source": doc.source, "title": doc.title, "date": doc.date or "",
            "status": status, **extra}


def _relative_sources(paths: list[Path], docs: list[Document], kept: dict[str, dict]) -> dict[str, str]:
    """Each document's path from the ingested folder; ``kept`` (finishing an interrupted
    ingest from its files) supplies the folder-relative path the first run recorded."""
    shown = _ingest_relative(paths)
    rel = {d.doc_id: shown.get(d.source.split("#")[0], "") for d in docs}
    for d in docs:
        if kept.get(d.doc_id, {}).get("rel_source"):
            rel[d.doc_id] = kept[d.doc_id]["rel_source"]
    return rel


def _gone(paths: list[Path], scanned: set[str], manifest: dict[str, dict]) -> list[str]:
    """Manifest records under the ingested paths whose documents the scan no longer has."""
    folders = [p.resolve() for p in paths if p.is_dir()]
    files = {str(p.resolve()) for p in document_files([p for p in paths if not p.is_dir()])}
    return [
        doc_id for doc_id, meta in manifest.items()
        if doc_id not in scanned and (
            meta.get("source", "").split("#")[0] in files
            or any(_inside(meta.get("source", "").split("#")[0], f) for f in folders)
        )
    ]


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


def _both(first: Callable[[int], object], second: Callable[[int], object]) -> Callable[[int], None]:
    def both(n: int) -> None:
        first(n)
        second(n)
    return both


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="char", unit_scale=True, desc="ingest", disable=not enabled,
                file=sys.stderr, leave=False)
