"""The index's writer lock: one ingest at a time per index folder.

An OS file lock (``INDEX/ingest.lock``): a killed writer releases it with its process.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

from assistant.chroma_store import LOCK_FILE, ChromaStore
from assistant.errors import UserError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from filelock import BaseFileLock


class IndexBusy(Exception):
    """Another process holds the index's writer lock."""


class WriteLock:
    def __init__(self, store: ChromaStore):
        self.store = store
        self._file_lock: BaseFileLock | None = None  # made on first use: the folder may not exist before

    @contextmanager
    def hold(self, wait: bool = True):
        """Hold the index's writer lock (one writer at a time per index folder).

        A second writer waits, with a one-line notice, until the first is done; with
        ``wait=False`` it gets :class:`IndexBusy` instead.
        """
        from filelock import FileLock, Timeout

        self.store.check_location(database=False)
        try:
            self.store.cache_dir.mkdir(parents=True, exist_ok=True)
            if self._file_lock is None:
                self._file_lock = FileLock(str(self.store.cache_dir / LOCK_FILE))
            lock = self._file_lock
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if not wait:
                    raise IndexBusy(self.store.where) from None
                log.warning(f"note: another ingest is writing to {self.store.where}; waiting for it to finish "
                            "(Ctrl-C to stop)")
                lock.acquire()
        except OSError as exc:
            raise UserError(f"cannot write to the index at {self.store.where}: {exc.strerror or exc}") from None
        try:
            yield
        finally:
            lock.release()
