"""The Chroma connection of an index: its client, its three collections, its damage reports.

Opening a local folder, a read-only one (through a private copy), or a Chroma server;
refusing an index built with other embedding weights or another chunker; turning a
failure inside Chroma or SQLite into the one-line "rebuild it" error.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from assistant.chunks import CHUNKER_VERSION
from assistant.config import DEFAULT_COLLECTION, Settings
from assistant.embeddings import LocalEmbeddings
from assistant.errors import DamagedIndex, UserError
from assistant.model_files import weights_sha256
from assistant.onnx_embed import default_export_dir

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
LOCK_FILE = "ingest.lock"

# Chroma's HNSW answers the dense leg only for collections too large for the exact search
# (retrieval.EXACT_DENSE_MAX); there, ef_search well above the 20 candidates asked for
# keeps it close to exact. (A `num_threads` setting would not make it deterministic:
# Chroma 1.5 drops it from the configuration.)
HNSW_CONFIGURATION = {"hnsw": {"space": "cosine", "ef_search": 200}}

DAMAGE_REPORTED = False  # a damaged index was moved aside: Chroma's panic report is noise now
_OPENED: list[ChromaStore] = []  # stores this process opened, newest last (for failure_error)


def failure_error(exc: BaseException) -> UserError | None:
    """The one-line error for a failure inside Chroma/SQLite of the index last opened
    (a damaged index surfacing mid-query), or None when ``exc`` is something else."""
    if not _OPENED or not is_index_failure(exc):
        return None
    return _OPENED[-1].damaged(exc)


def first_line(exc: BaseException) -> str:
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
    return last is not None and f"{os.sep}chromadb{os.sep}" in last


def get_all(collection, include: list[str], page: int = 5000, where: dict | None = None) -> dict[str, list]:
    """Every record of a collection (``where`` it matches), fetched in pages: one unpaged ``get()``
    fails past some tens of thousands of records ("too many SQL variables", seen at 10,000 documents)."""
    out: dict[str, list] = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset, where=where)
        for key in out:
            value = got[key]
            out[key] += list(value) if value is not None else []  # embeddings come as an array
        if len(got["ids"]) < page:
            return out
        offset += page


def chroma_stamp(index_dir: Path) -> str:
    """Size and modification time of the local Chroma database files: any Chroma session
    changes it (Chroma writes to its database when a client opens it), and so does damage.
    (A process that answered from the snapshot and then only read Chroma confirms the
    snapshot for the new stamp: ``Index.confirm_snapshot``.)"""
    parts = []
    for name in ("chroma.sqlite3", "chroma.sqlite3-wal"):
        try:
            st = (index_dir / name).stat()
        except OSError:
            continue
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return " ".join(parts)


# Chroma's record of its writes, in its own database: every add, upsert, update or delete
# is an entry of its log (``embeddings_queue``, whose seq_id only grows; entries are purged
# once applied, never the last) applied to each metadata segment (``max_seq_id``); a
# collection made, changed or dropped changes its rows in ``collections``,
# ``collection_metadata`` and ``segments``. Opening a client rewrites the database file
# (so ``chroma_stamp`` changes) but none of these rows: a session that only reads leaves
# them as they were, any writer (an ingest, another tool, a Chroma server on the folder)
# changes them.
_WRITE_RECORD = (
    "SELECT segment_id, seq_id FROM max_seq_id ORDER BY segment_id",
    "SELECT max(seq_id) FROM embeddings_queue",
    "SELECT id, name, dimension, database_id, config_json_str FROM collections ORDER BY id",
    "SELECT * FROM collection_metadata ORDER BY 1, 2",
    "SELECT id, type, scope, collection FROM segments ORDER BY id",
    "SELECT * FROM segment_metadata ORDER BY 1, 2",
)


def chroma_generation(index_dir: Path) -> str | None:
    """A digest of Chroma's record of its writes (``_WRITE_RECORD``) in the local index,
    read without writing; None when the database cannot be read so."""
    import hashlib
    import json
    import sqlite3

    db_file = index_dir / "chroma.sqlite3"
    if not db_file.is_file():
        return None
    try:
        db = sqlite3.connect(f"{db_file.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            rows = [db.execute(query).fetchall() for query in _WRITE_RECORD]
        finally:
            db.close()
    except sqlite3.Error:
        return None
    text = json.dumps(rows, default=lambda v: v.hex() if isinstance(v, bytes) else repr(v))
    return hashlib.sha256(text.encode()).hexdigest()


def unit_id(key: tuple[str, int, int]) -> str:
    return f"{key[0]}:{key[1]}-{key[2]}"


class ChromaStore:
    """One assistant collection NAME (with NAME.units and NAME.docs) in a Chroma index."""

    def __init__(self, settings: Settings, embeddings: LocalEmbeddings):
        self.settings = settings
        self.embeddings = embeddings
        self.read_only = False  # set when answering from a private copy of a read-only index
        self.snapshot: Path | None = None  # that private copy
        self._client = None
        self._stores: tuple | None = None
        # Called once a local client has opened (Chroma has rewritten its file by then).
        self.on_connect: Callable[[], None] | None = None

    # --- connection ---------------------------------------------------------------

    @property
    def client(self):
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self.settings.chroma_url:
            return self._connect_server(chromadb, chroma_settings)
        path = self.settings.index_dir
        self.check_location()
        _OPENED.append(self)
        if not _writable(path / "chroma.sqlite3"):
            path = self._read_only_snapshot(path)
        try:
            client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except BaseException as exc:  # (a damaged file can make Chroma's Rust core panic)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise self.damaged(exc) from None
        if self.on_connect is not None and not self.read_only:
            self.on_connect()
        return client

    def _connect_server(self, chromadb, chroma_settings):
        url = urlparse(self.settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise UserError(f"ASSISTANT_CHROMA_URL is not an http(s) URL: {self.settings.chroma_url}")
        try:
            return chromadb.HttpClient(
                host=url.hostname, port=url.port or (443 if url.scheme == "https" else 80),
                ssl=url.scheme == "https", settings=chroma_settings,
            )
        except Exception as exc:  # noqa: BLE001  (chromadb raises ValueError/ConnectError variants)
            raise UserError(f"cannot reach the Chroma server at {self.settings.chroma_url}: {exc}") from None

    def _read_only_snapshot(self, path: Path) -> Path:
        """A private copy of a read-only index to open (Chroma writes to its database even
        to read it): a read-only index can still be queried; the copy goes at exit."""
        import atexit
        import tempfile

        snapshot = Path(tempfile.mkdtemp(prefix="assistant-read-only-index-"))
        atexit.register(shutil.rmtree, snapshot, True)
        def skip(folder, names):  # derived files, read in place (cache_dir); Chroma's own and the keyword index are copied
            return {"onnx", "bm25", "vectors", LOCK_FILE, "weights-sha256.json"} & set(names) if Path(folder) == path else set()

        try:
            shutil.copytree(path, snapshot, ignore=skip, copy_function=shutil.copyfile, dirs_exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot read the index at {path}: {exc.strerror or exc}") from None
        for folder, _, names in os.walk(snapshot):
            os.chmod(folder, 0o700)
            for name in names:
                os.chmod(os.path.join(folder, name), 0o600)
        self.read_only = True
        self.snapshot = snapshot
        log.warning(f"note: the index at {path} is read-only; answering from a temporary copy")
        return snapshot

    def check_location(self, database: bool = True) -> None:
        """A folder (or nothing yet) at the index path, and no empty database file in it."""
        if self.settings.chroma_url:
            return
        path = self.settings.index_dir
        if path.exists() and not path.is_dir():
            raise UserError(f"index path is not a folder: {path}")
        db = path / "chroma.sqlite3"
        if database and db.is_file() and db.stat().st_size == 0:
            raise self.damaged("chroma.sqlite3 is empty")

    # --- naming and errors --------------------------------------------------------------

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

    @property
    def keyword_dir(self) -> Path:
        """The keyword index's folder: ``ASSISTANT_KEYWORD_INDEX``, else ``INDEX/keywords``
        (in the private copy of a read-only index, where it can be completed)."""
        if self.settings.keyword_index is not None:
            return self.settings.keyword_index
        if not self.settings.chroma_url:
            _ = self.client  # (a read-only index is answered from its copy: known once connected)
        return (self.snapshot or self.settings.index_dir) / "keywords"

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
        reason = why if isinstance(why, str) else first_line(why)
        return DamagedIndex(f"cannot open the index at {self.where} ({reason}): rebuild with {self.rebuild_command()}")

    # --- collections --------------------------------------------------------------------

    def exists(self) -> bool:
        self.check_location()
        if not self.settings.chroma_url and not (self.settings.index_dir / "chroma.sqlite3").exists():
            return False
        return self.settings.collection in self.collection_names()

    def assistant_collections(self) -> list[str]:
        """The assistant collections in this index (each NAME with NAME.units and NAME.docs)."""
        self.check_location()
        if not self.settings.chroma_url and not (self.settings.index_dir / "chroma.sqlite3").exists():
            return []
        names = set(self.collection_names())
        return sorted(n for n in names if f"{n}.units" in names and f"{n}.docs" in names)

    def collection_names(self) -> list[str]:
        try:
            return [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        except UserError:
            raise
        except BaseException as exc:
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

    def collections(self, create: bool):
        """(chunks, units, docs), made when ``create``; refused when built by another model."""
        try:
            chunks, units, docs = self._get_or_create() if create else self._get()
        except UserError:
            raise
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if is_index_failure(exc) and not type(exc).__name__.endswith("NotFoundError"):
                raise self.damaged(exc) from None
            raise UserError(f"cannot read collection {self.settings.collection!r} in the index at {self.where}: "
                            f"{first_line(exc)}") from None
        self._check_model(chunks.metadata or {})
        return chunks, units, docs

    def _get_or_create(self):
        chunks_name, units_name, docs_name = self.names
        identity = self.model_identity()

        def get(name, meta):
            return self.client.get_or_create_collection(
                name, metadata=meta, configuration=HNSW_CONFIGURATION, embedding_function=None
            )

        return get(chunks_name, identity), get(units_name, {"role": "units"}), get(docs_name, {"role": "manifest"})

    def _get(self):
        return tuple(self.client.get_collection(name, embedding_function=None) for name in self.names)

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

    @property
    def stores(self):
        """(chunks, units, docs) of an existing, model-compatible collection."""
        if self._stores is None:
            stores = self.collections(create=False)
            self.prepare_embeddings()
            self._stores = stores
        return self._stores

    def use(self, stores: tuple) -> None:
        """The collections just opened for writing serve the reads that follow."""
        self._stores = stores

    def forget(self) -> None:
        """Open the collections afresh on next use (another process may have written)."""
        self._stores = None

    def prepare_embeddings(self, export: bool = False) -> bool:
        """Embed through the ONNX export in ``INDEX/onnx`` when it matches the weights (no
        torch import on the ask path); ``export`` (ingest) makes or refreshes it first."""
        if not hasattr(self.embeddings, "use_onnx"):
            return False

        return self.embeddings.use_onnx(default_export_dir(self.cache_dir),
                                        self.model_identity()["weights_sha256"], export=export)

    # --- removal ------------------------------------------------------------------------

    def drop(self) -> None:
        for name in self.names:
            if name in self.collection_names():
                self.client.delete_collection(name)
        self.forget()
        for derived in (self.cache_dir / "bm25", self.cache_dir / "vectors"):  # rebuilt from the collection
            if derived.exists():
                shutil.rmtree(derived, ignore_errors=True)

    def drop_for_rebuild(self) -> None:
        """``--rebuild``: drop the collection; an index too damaged to open is moved aside
        (``INDEX.damaged-TIME``, kept for the user) and a new one started."""
        try:
            self.drop()
            return
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) or not (
                    is_index_failure(exc) or isinstance(exc, DamagedIndex)):
                raise
            if self.settings.chroma_url:
                raise
        self._move_aside()

    def _move_aside(self) -> None:
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
        self._client = None
        self._stores = None
        try:  # Chroma keeps one system per path in a process: forget the damaged one
            from chromadb.api.client import SharedSystemClient

            SharedSystemClient.clear_system_cache()
        except (ImportError, AttributeError) as exc:  # an older/newer Chroma without it: a fresh path works anyway
            log.debug("could not clear Chroma's system cache (%s)", exc)


def _writable(db: Path) -> bool:
    """Whether this process may write the database file (true when there is none yet)."""
    try:
        with open(db, "r+b"):
            return True
    except FileNotFoundError:
        return True
    except OSError:  # EACCES, EROFS
        return False
