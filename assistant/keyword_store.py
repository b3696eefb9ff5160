"""The keyword index on disk: one SQLite database per collection, FTS5 over the chunks' BM25 tokens.

Why SQLite FTS5: it is in Python's standard library, grows one transaction at a time (an
ingest appends; nothing is rebuilt on open), is read by many processes while one writes
(WAL), and keeps nothing in memory that grows with the corpus. Per chunk it holds what
rebuilds a ``Chunk`` (so the answer path reads passages from here, not from Chroma), its
BM25 tokens (``text.tokenize``, joined by spaces) and their number. Beside them: the
documents written (sha256: what the Chroma manifest is compared with), each term's
document frequency (the answerer's idf and spelling vocabulary) and each word key's
number of documents (the words the documents use); each sentence's (unit's) vector, and a
copy of the Chroma manifest with the collection's model identity, written when an ingest
ends ("snapshot"): an ``ask`` on a local index reads all it needs from here and never
opens Chroma (``snapshot()``; a running or interrupted ingest clears it first, and any
Chroma session since changes the stamp of its files it was written with, except one of a
process that answered from the snapshot and found no write since: ``confirm_stamp``).

Ranking: the Lucene BM25 that bm25s used (k1 1.5, b 0.75, idf log(1 + (N - n + .5)/(n + .5)),
float32 as bm25s), computed from the stored tokens of the chunks FTS5 ``MATCH`` finds, rarest
term first, stopping once no other chunk can enter the top k (MaxScore): the same passages
and scores as the in-memory bm25s index, without scoring every chunk a common word is in.

Writes go through ``KeywordWriter`` (one transaction per ingest batch): a document's old
rows are replaced, and a killed writer leaves the last committed state.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from assistant.chunks import Chunk
from assistant.text import tokenize, word_keys

log = logging.getLogger(__name__)

FORMAT = "1"
TOKENIZER = "en_plus-snowball-lemma-v4"  # text.tokenize and text.word_keys: a new tokenizer rebuilds the store
K1, B = 1.5, 0.75  # bm25s's defaults (method "lucene"), kept so the ranking does not change
FETCH_ALL = 5_000  # a term in at most this many chunks: all of them are scored exactly
RESCORE = 1_000  # a commoner term: FTS5's own bm25() picks this many of its chunks to score
BUSY_MS = 5000

_PLAIN = re.compile(r"[a-z0-9]+")
_WORD = re.compile(r"[A-Za-z]+")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs(doc_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, chunks INTEGER NOT NULL,
                                words TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL,
                                  date TEXT, text TEXT NOT NULL, meta TEXT NOT NULL, tokens TEXT NOT NULL,
                                  length INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(tokens, content='chunks', content_rowid='rowid',
                                                  tokenize="unicode61 remove_diacritics 0 tokenchars '_'");
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO fts(rowid, tokens) VALUES (new.rowid, new.tokens);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO fts(fts, rowid, tokens) VALUES ('delete', old.rowid, old.tokens);
END;
CREATE TABLE IF NOT EXISTS terms(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS words(word TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS units(doc_id TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
                                 vector BLOB NOT NULL, PRIMARY KEY(doc_id, start, end)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifest(doc_id TEXT PRIMARY KEY, meta TEXT NOT NULL) WITHOUT ROWID;
"""


class StoreDamaged(Exception):
    """The database file cannot be read as a keyword store."""


def fts_token(token: str) -> str:
    """A token as FTS5 sees it: plain [a-z0-9]+ as is, anything else hex-coded behind "_"
    (FTS5's tokenizer would split or fold it; this keeps one token one term)."""
    return token if _PLAIN.fullmatch(token) else "_" + token.encode("utf-8").hex()


def _doc_words(texts: Iterable[str]) -> set[str]:
    """The word keys (stems and lemma stems) of the words in texts: "the words the documents use"."""
    words = {w.lower() for t in texts for w in _WORD.findall(t)}
    return {k for w in words for k in word_keys(w)}


class KeywordStore:
    """One collection's keyword index (``path``). ``read_only``: opened immutable, never written."""

    def __init__(self, path: Path, read_only: bool = False):
        self.path = path
        self.read_only = read_only
        self._db: sqlite3.Connection | None = None

    # --- connection ------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            if not self.path.exists():
                raise StoreDamaged("missing")
            db = sqlite3.connect(f"file:{self.path}?immutable=1", uri=True, isolation_level=None,
                                 check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_MS / 1000, check_same_thread=False)
        try:
            if not self.read_only:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                if not self._meta(db):
                    with _transaction(db):
                        db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)",
                                       [("format", FORMAT), ("tokenizer", TOKENIZER), ("n", "0"), ("total", "0")])
            meta = self._meta(db)
            if meta.get("format") != FORMAT or meta.get("tokenizer") != TOKENIZER:
                raise StoreDamaged(f"format {meta.get('format')}, tokenizer {meta.get('tokenizer')}")
            db.execute("SELECT count(*) FROM docs").fetchone()
            db.execute("SELECT rowid FROM fts WHERE fts MATCH 'a' LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreDamaged(str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__) from None
        except StoreDamaged:
            db.close()
            raise
        return db

    @staticmethod
    def _meta(db: sqlite3.Connection) -> dict[str, str]:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())

    def check(self) -> None:
        """Open it now: ``StoreDamaged`` when the file is not a keyword store of this format."""
        _ = self.db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def remove(self) -> None:
        """Delete the database (and its WAL files): it is rebuilt from the collection."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    # --- reads ---------------------------------------------------------------------------

    def stats(self) -> tuple[int, int]:
        """(number of chunks, total number of tokens)."""
        meta = dict(self.db.execute("SELECT key, value FROM meta WHERE key IN ('n', 'total')").fetchall())
        return int(meta.get("n", 0)), int(meta.get("total", 0))

    def doc_shas(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT doc_id, sha256 FROM docs").fetchall())

    def df(self, term: str) -> int:
        row = self.db.execute("SELECT df FROM terms WHERE term = ?", (term,)).fetchone()
        return int(row[0]) if row else 0

    def terms(self) -> list[str]:
        return [t for (t,) in self.db.execute("SELECT term FROM terms ORDER BY term")]

    def has_word(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM words WHERE word = ?", (key,)).fetchone() is not None

    def chunk_index(self) -> tuple[list[str], list[str], list[str | None]]:
        """Every chunk's (id, doc_id, date), in id order: the rows of the dense matrix."""
        rows = self.db.execute("SELECT id, doc_id, date FROM chunks ORDER BY id").fetchall()
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def chunks(self, ids: list[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for cid, text, meta in self.db.execute(f"SELECT id, text, meta FROM chunks WHERE id IN ({marks})", part):
                out[cid] = Chunk.from_record(cid, text, json.loads(meta))
        return out

    def all_chunks(self) -> list[Chunk]:
        return [Chunk.from_record(cid, text, json.loads(meta))
                for cid, text, meta in self.db.execute("SELECT id, text, meta FROM chunks ORDER BY id")]

    def doc_chunks(self, doc_id: str) -> list[Chunk]:
        return [Chunk.from_record(cid, text, json.loads(meta)) for cid, text, meta in
                self.db.execute("SELECT id, text, meta FROM chunks WHERE doc_id = ? ORDER BY id", (doc_id,))]

    def unit_vectors(self, keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], bytes]:
        """The stored float32 vectors (raw bytes) of the units ``keys`` that it has."""
        out = {}
        for key in keys:
            row = self.db.execute("SELECT vector FROM units WHERE doc_id = ? AND start = ? AND end = ?", key).fetchone()
            if row is not None:
                out[key] = row[0]
        return out

    def docs_without_units(self) -> list[str]:
        return [d for (d,) in self.db.execute("SELECT doc_id FROM docs WHERE doc_id NOT IN "
                                              "(SELECT DISTINCT doc_id FROM units) ORDER BY doc_id")]

    # --- the snapshot of the Chroma manifest --------------------------------------------

    def snapshot(self, stamp: str) -> tuple[dict[str, dict], dict, dict[str, int]] | None:
        """(manifest, model identity, counts) as the last ingest left them, or None when
        there is none, an ingest is running or was interrupted since, Chroma's files changed
        since (``stamp``: another session, or damage), or the documents it lists are not
        the ones written here (the index was written by an older version)."""
        try:
            meta = self._meta(self.db)
            if meta.get("snapshot") != "1" or meta.get("stamp") != stamp:
                return None
            manifest = {d: json.loads(m) for d, m in self.db.execute("SELECT doc_id, meta FROM manifest")}
        except (sqlite3.Error, ValueError):
            return None
        complete = {d: m.get("sha256", "") for d, m in manifest.items() if m.get("status") == "complete"}
        if len(complete) != len(manifest) or complete != self.doc_shas():
            return None
        counts = {"documents": len(manifest), "chunks": self.stats()[0], "units": int(meta.get("units", "0"))}
        return manifest, json.loads(meta.get("identity", "{}")), counts

    def clear_snapshot(self) -> None:
        """Before a writer touches Chroma: readers go to Chroma until ``write_snapshot``."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('snapshot', '0')")

    def write_snapshot(self, manifest: dict[str, dict], identity: dict, units: int, stamp: str,
                       generation: str | None = None) -> None:
        """``stamp``: Chroma's files as left (``chroma_stamp``); ``generation``: its record
        of writes (``chroma_generation``), what ``confirm_stamp`` compares."""
        with _transaction(self.db) as db:
            db.execute("DELETE FROM manifest")
            db.executemany("INSERT INTO manifest VALUES (?, ?)",
                           ((d, json.dumps(m, sort_keys=True)) for d, m in manifest.items()))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [("identity", json.dumps(identity, sort_keys=True)), ("units", str(units)),
                            ("stamp", stamp), ("generation", generation or ""), ("snapshot", "1")])

    def snapshot_stamp(self) -> str | None:
        """The stamp of Chroma's files the snapshot was written or confirmed with (None: no snapshot)."""
        try:
            meta = self._meta(self.db)
        except sqlite3.Error:
            return None
        return meta.get("stamp") if meta.get("snapshot") == "1" else None

    def confirm_stamp(self, seen: str, stamp: str, generation: Callable[[], str | None]) -> bool:
        """After a Chroma client of a process that answered from the snapshot (stamp
        ``seen``) opened the index, which rewrites Chroma's file: the snapshot holds
        with Chroma's files as they are now (``stamp``, taken after the client opened)
        when Chroma's record of writes (``generation()``, read inside this transaction,
        so an ingest clearing the snapshot waits for it) is still the one it was written
        with. False (nothing changed) otherwise: the next ask opens Chroma."""
        with _transaction(self.db) as db:
            meta = self._meta(db)
            recorded = meta.get("generation")
            if meta.get("snapshot") != "1" or meta.get("stamp") != seen or not recorded:
                return False
            if generation() != recorded:
                return False
            db.execute("INSERT OR REPLACE INTO meta VALUES ('stamp', ?)", (stamp,))
        return True

    def search(self, tokens: list[str], k: int, doc_ids: tuple[str, ...] = (), date_from: str | None = None,
               date_to: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` best chunks for the query tokens (repeats count, as in bm25s), best first;
        ties by chunk id. Only chunks that pass the filters, only positive scores.

        Exact top k without scoring every chunk that shares a common word (MaxScore): the
        chunks having the rarer terms are scored first, on every term; a chunk having none
        of them scores less than the idf sum of the common terms it has (a term adds less
        than its idf), so only chunks having all terms of a set whose sum beats the k-th
        score found can still enter (FTS5 AND). Approximate only where such a set is in
        more than FETCH_ALL chunks (a question of common words alone in a large
        collection): there FTS5's own bm25() picks the RESCORE chunks scored."""
        n, total = self.stats()
        df = {t: self.df(t) for t in set(tokens)}
        query = [t for t in tokens if df[t] > 0]  # bm25s leaves out tokens it has never seen
        if not query or not n:
            return []
        scorer = _Scorer(query, df, n, total)
        terms = sorted(set(query), key=lambda t: (df[t], t))  # rarest first
        filters, args = _filter_sql(doc_ids, date_from, date_to)
        scored: dict[str, float] = {}

        def fetch(match: str, limit: bool) -> None:
            if limit:  # too many chunks to score them all: FTS5's own bm25() picks RESCORE of them
                rows = self.db.execute(f"SELECT c.id, c.tokens, c.length FROM fts JOIN chunks c ON c.rowid = fts.rowid "
                                       f"WHERE fts MATCH ?{filters} ORDER BY bm25(fts) LIMIT ?", [match, *args, RESCORE])
            else:
                rows = self.db.execute(f"SELECT c.id, c.tokens, c.length FROM chunks c WHERE c.rowid IN "
                                       f"(SELECT rowid FROM fts WHERE fts MATCH ?){filters}", [match, *args])
            new = [r for r in rows if r[0] not in scored]
            scored.update(zip((r[0] for r in new), scorer.scores(new)))

        def kth() -> float:
            return sorted(scored.values(), reverse=True)[k - 1] if len(scored) >= k else 0.0

        # 1. every chunk that has one of the rarer terms, scored on all terms
        m = 0
        while m < len(terms) and df[terms[m]] <= FETCH_ALL and (m == 0 or kth() <= scorer.bound(terms[m:])):
            fetch(f'"{fts_token(terms[m])}"', limit=False)
            m += 1
        # 2. a chunk with none of them scores less than the idf sum of the common terms it has:
        # only chunks having every term of a set whose sum beats the k-th score can enter.
        rest = terms[m:]
        if rest and kth() <= scorer.bound(rest):
            for group in _needed_sets(rest, scorer, kth()):
                size = min(df[t] for t in group)
                fetch(" AND ".join(f'"{fts_token(t)}"' for t in group), limit=size > FETCH_ALL)
        ranked = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(cid, s) for cid, s in ranked[:k] if s > 0]

    # --- writes ------------------------------------------------------------------------------

    def writer(self) -> KeywordWriter:
        return KeywordWriter(self)

    def remove_docs(self, doc_ids: list[str]) -> None:
        with self.writer() as w:
            w.remove(doc_ids)


def _needed_sets(terms: list[str], scorer: _Scorer, kth: float) -> list[tuple[str, ...]]:
    """The smallest sets of ``terms`` whose idf sum beats ``kth`` (a chunk scoring above
    ``kth`` from these terms alone has every term of one of them)."""
    import itertools

    if len(terms) > 10:
        return [(t,) for t in terms]
    found: list[tuple[str, ...]] = []
    for size in range(1, len(terms) + 1):
        for group in itertools.combinations(terms, size):
            if scorer.bound(list(group)) > kth and not any(set(f) <= set(group) for f in found):
                found.append(group)
    return found


def _filter_sql(doc_ids: tuple[str, ...], date_from: str | None, date_to: str | None) -> tuple[str, list]:
    where, args = [], []
    if doc_ids:
        where.append(f"c.doc_id IN ({','.join('?' * len(doc_ids))})")
        args += list(doc_ids)
    if date_from:
        where.append("c.date >= ?")
        args.append(date_from)
    if date_to:
        where.append("c.date <= ?")
        args.append(date_to)
    return "".join(f" AND {w}" for w in where), args


class _Scorer:
    """bm25s's Lucene BM25 of one chunk, bit for bit: per-term scores in float32 (idf in
    float32, the tf part in float64), summed in float32 in the query's token order."""

    def __init__(self, query: list[str], df: dict[str, int], n: int, total: int):
        import numpy as np

        self.np = np
        self.query = [(fts_token(t), np.float32(_idf(df[t], n))) for t in query]
        self.avgdl = np.float64(total) / n
        self.idf = {t: float(np.float32(_idf(df[t], n))) for t in set(query)}
        self.repeats = Counter(query)

    def scores(self, rows: list[tuple[str, str, int]]) -> list[float]:
        """The scores of (id, tokens, length) rows."""
        np = self.np
        if not rows:
            return []
        coded = list(dict.fromkeys(c for c, _ in self.query))
        tf = np.zeros((len(rows), len(coded)), dtype=np.float32)
        for i, (_, toks, _) in enumerate(rows):
            parts = toks.split(" ")
            tf[i] = [parts.count(c) for c in coded]
        norm = K1 * ((1 - B) + B * np.asarray([r[2] for r in rows], dtype=np.float64) / self.avgdl)
        total = np.zeros(len(rows), dtype=np.float32)
        for c, idf in self.query:
            f = tf[:, coded.index(c)]
            total += (idf * (f / (norm + f))).astype(np.float32)  # (f = 0 adds an exact 0)
        return total.tolist()

    def bound(self, terms: list[str]) -> float:
        """More than any chunk can get from these terms alone (each adds less than its idf)."""
        return sum(self.idf[t] * self.repeats[t] for t in terms) * (1 + 1e-5)


def _idf(df: int, n: int) -> float:
    import math

    return math.log(1 + (n - df + 0.5) / (df + 0.5))


class _transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on an exception) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, exc, tb):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False


class KeywordWriter:
    """One transaction: ``remove(doc_ids)``, ``add(chunks)`` (any number of slices), then
    ``finish({doc_id: sha256})`` on leaving the ``with`` block. Nothing is visible to
    readers before the commit; an exception (or a kill) leaves the store as it was."""

    def __init__(self, store: KeywordStore):
        self.store = store
        self.db = store.db
        self.df: Counter[str] = Counter()
        self.n = 0
        self.total = 0
        self.words: dict[str, set[str]] = {}
        self.chunks: Counter[str] = Counter()
        self.shas: dict[str, str] = {}

    def __enter__(self) -> KeywordWriter:
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None:
            self.db.execute("ROLLBACK")
            return False
        try:
            self._finish()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return False

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Take documents' rows out (a re-ingest replaces them; a removed file's go)."""
        for doc_id in doc_ids:
            row = self.db.execute("SELECT words FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
            for toks, length in self.db.execute("SELECT tokens, length FROM chunks WHERE doc_id = ?", (doc_id,)):
                self.df.subtract(_decode(t) for t in set(toks.split(" ")) if t)
                self.n -= 1
                self.total -= length
            self.db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            self.db.execute("DELETE FROM units WHERE doc_id = ?", (doc_id,))
            if row is not None:
                gone = [w for w in row[0].split(" ") if w]
                self.db.executemany("UPDATE words SET docs = docs - 1 WHERE word = ?", ((w,) for w in gone))
                self.db.executemany("DELETE FROM words WHERE word = ? AND docs <= 0", ((w,) for w in gone))
                self.db.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))
            self.words.pop(doc_id, None)
            self.chunks.pop(doc_id, None)

    def add(self, chunks: list[Chunk]) -> None:
        if not chunks:
            return
        tokens = tokenize([c.search_text for c in chunks])
        rows = []
        for c, toks in zip(chunks, tokens):
            rows.append((c.id, c.doc_id, c.date, c.text, json.dumps(c.metadata()),
                         " ".join(fts_token(t) for t in toks), len(toks)))
            self.df.update(set(toks))
            self.n += 1
            self.total += len(toks)
            self.words.setdefault(c.doc_id, set()).update(_doc_words([c.text]))
            self.chunks[c.doc_id] += 1
        self.db.executemany("INSERT INTO chunks(id, doc_id, date, text, meta, tokens, length) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def add_units(self, rows: Iterable[tuple[str, int, int, bytes]]) -> None:
        """Sentences' (units') vectors: (doc_id, start, end, float32 bytes)."""
        self.db.executemany("INSERT OR REPLACE INTO units VALUES (?, ?, ?, ?)", rows)

    def done(self, doc_id: str, sha256: str) -> None:
        """Record a document as written (with its sha256) when the transaction commits."""
        self.shas[doc_id] = sha256

    def _finish(self) -> None:
        db = self.db
        for doc_id, sha in self.shas.items():
            words = sorted(self.words.get(doc_id, ()))
            db.execute("INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?)",
                       (doc_id, sha, self.chunks.get(doc_id, 0), " ".join(words)))
            db.executemany("INSERT INTO words VALUES (?, 1) ON CONFLICT(word) DO UPDATE SET docs = docs + 1",
                           ((w,) for w in words))
        up = [(t, d) for t, d in self.df.items() if d > 0]
        down = [(-d, t) for t, d in self.df.items() if d < 0]
        db.executemany("INSERT INTO terms VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET df = df + excluded.df", up)
        db.executemany("UPDATE terms SET df = df - ? WHERE term = ?", down)
        db.executemany("DELETE FROM terms WHERE term = ? AND df <= 0", ((t,) for _, t in down))
        n, total = self.store.stats()
        db.executemany("UPDATE meta SET value = ? WHERE key = ?",
                       [(str(n + self.n), "n"), (str(total + self.total), "total")])


def _decode(token: str) -> str:
    return bytes.fromhex(token[1:]).decode("utf-8") if token.startswith("_") else token


class TermCounts(Mapping[str, int]):
    """Document frequencies read from the store on demand (``stem in df``, ``df.get(stem)``)."""

    def __init__(self, store: KeywordStore):
        self.store = store
        self._cache: dict[str, int] = {}

    def __getitem__(self, term: str) -> int:
        if term not in self._cache:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[term] = self.store.df(term)
        if not self._cache[term]:
            raise KeyError(term)
        return self._cache[term]

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.get(term, 0) > 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.terms())

    def __len__(self) -> int:
        return int(self.store.db.execute("SELECT count(*) FROM terms").fetchone()[0])


class WordSet:
    """The word keys the documents use, read from the store on demand: ``key in vocab``,
    ``keys & vocab`` (a frozenset of the keys it has)."""

    def __init__(self, store: KeywordStore):
        self.store = store

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.store.has_word(key)

    def __and__(self, keys: Iterable[str]) -> frozenset[str]:
        return frozenset(k for k in keys if k in self)

    __rand__ = __and__


def keyword_path(folder: Path, collection: str) -> Path:
    return folder / f"{collection}.sqlite"


def writable(path: Path) -> bool:
    """Whether this process may write the store (its folder, when it does not exist yet)."""
    target = path if path.exists() else path.parent
    while not target.exists():
        target = target.parent
    return os.access(target, os.W_OK)
