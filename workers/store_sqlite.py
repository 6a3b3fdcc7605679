"""``SQLiteStore``: the embedded mode's job store, one SQLite file shared by local processes.

Layout (created if missing)::

    sweeps(id TEXT PRIMARY KEY, name TEXT, status TEXT, spec TEXT,       -- spec: JSON text
           total INTEGER, done INTEGER, n_chunks INTEGER, chunks_done INTEGER,
           created_at REAL, started_at REAL, finished_at REAL, error TEXT,
           results BLOB)                                                   -- results document
        index (status, created_at), index (created_at)
    chunks(sweep_id TEXT, chunk INTEGER, records BLOB,                     -- records: orjson list
           scores BLOB, PRIMARY KEY (sweep_id, chunk))                     -- their score summaries
    points(sweep_id TEXT, setting INTEGER, vals BLOB,                      -- a grid point's trials:
           score REAL, summary BLOB,                                       -- encode_point; score
           PRIMARY KEY (sweep_id, setting))                                -- NULL: no candidate;
        index (sweep_id, score, setting)                                   -- MergedPoint.summary
    trials(sweep_id TEXT, trial INTEGER, chunk INTEGER,                    -- the trial index:
           status TEXT, rank REAL, PRIMARY KEY (sweep_id, trial))          -- every saved trial
        index (sweep_id, status, trial), index (sweep_id, rank, trial)     -- (TrialRef)
    trial_counts(sweep_id TEXT, status TEXT, n INTEGER)                    -- saved per status
    moments(sweep_id TEXT PRIMARY KEY, blob BLOB)                          -- Moments.to_bytes
    workers(name TEXT PRIMARY KEY, seen REAL)                              -- last heartbeat
    chunk_runs(bound REAL PRIMARY KEY,                                     -- run-time bucket
               chunks INTEGER, trials INTEGER, seconds REAL)               -- totals in it
    watch(sweep_id TEXT PRIMARY KEY, chunks_done INTEGER,                  -- the watchdog's
          moved_at REAL, since REAL, requeues INTEGER)                     -- clocks (WatchState)
    leases(sweep_id TEXT, chunk INTEGER, owner TEXT, expires_at REAL,      -- a running chunk's
           PRIMARY KEY (sweep_id, chunk))                                  -- lease (host clock)
        index (expires_at), index (owner)

The file is in WAL mode (readers never wait for the writer) with ``synchronous=NORMAL``. Every
thread of every process has its own connection, with a busy timeout (10 s by default) during
which it waits for another writer. Read-modify-write goes through ``BEGIN IMMEDIATE``
transactions, so it is atomic across processes; single-statement updates are atomic anyway. A
database that stays locked past the busy timeout, or that cannot be opened, read or written,
raises ``StoreUnavailable``. A value SQLite refuses ("string or blob too big") raises
``StoreRejected``, and so does one over ``max_value_bytes()``, before SQLite sees it.

``save_chunk`` merges the chunk's trials into ``points`` in its own transaction, so ``best`` is
one step down the (sweep_id, score, setting) index. Specs never change once stored: each store
keeps the parsed ones it read (``ByteBoundedCache``, ``SPEC_CACHE_BYTES`` of their JSON), so a
status poll does not read and parse a large spec again.
"""

from __future__ import annotations

import builtins
import functools
import math
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

import orjson

from optimizers import SweepStatus
from optimizers.records import ScoreSummary, TrialRecord
from optimizers.results import score_summaries
from optimizers.spec import SpecData

from .store import (
    BEST_TRIALS,
    SPEC_CACHE_BYTES,
    Backlogged,
    ByteBoundedCache,
    ChunkStats,
    FactorsCache,
    StoredBest,
    StoreRejected,
    StoreUnavailable,
    SweepRecord,
    TrialKey,
    TrialOrder,
    TrialRef,
    WatchState,
    WatchStep,
    best_of,
    check_value_size,
    chunk_seconds_bucket,
    decide_watch,
    merge_moments,
    merge_points,
    over_limit,
    scoring_of,
    touched_points,
    trial_refs,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL,
    chunks_done INTEGER NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error TEXT,
    trial_steps INTEGER NOT NULL DEFAULT 0,
    results BLOB  -- last: reading a column after a large document would walk its pages
);
CREATE INDEX IF NOT EXISTS sweeps_status_created ON sweeps (status, created_at);
CREATE INDEX IF NOT EXISTS sweeps_created ON sweeps (created_at);
CREATE TABLE IF NOT EXISTS chunks (
    sweep_id TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    records BLOB NOT NULL,
    scores BLOB NOT NULL,
    PRIMARY KEY (sweep_id, chunk)
);
CREATE TABLE IF NOT EXISTS points (
    sweep_id TEXT NOT NULL,
    setting INTEGER NOT NULL,
    vals BLOB NOT NULL,
    score REAL,  -- the rank: the score, negated where higher is better (None: not scored)
    summary BLOB,
    PRIMARY KEY (sweep_id, setting)
);
CREATE INDEX IF NOT EXISTS points_ranking ON points (sweep_id, score, setting);
CREATE TABLE IF NOT EXISTS trials (
    sweep_id TEXT NOT NULL,
    trial INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    status TEXT NOT NULL,
    rank REAL NOT NULL,  -- TrialKey.rank: inf without a value
    PRIMARY KEY (sweep_id, trial)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trials_status ON trials (sweep_id, status, trial);
CREATE INDEX IF NOT EXISTS trials_ranking ON trials (sweep_id, rank, trial);
CREATE TABLE IF NOT EXISTS moments (
    sweep_id TEXT PRIMARY KEY,
    blob BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trial_counts (
    sweep_id TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (sweep_id, status)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY,
    seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    sweep_id TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (sweep_id, chunk)
);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases (expires_at);
CREATE INDEX IF NOT EXISTS leases_owner ON leases (owner);
CREATE TABLE IF NOT EXISTS watch (
    sweep_id TEXT PRIMARY KEY,
    chunks_done INTEGER NOT NULL,
    moved_at REAL NOT NULL,
    since REAL NOT NULL,
    requeues INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    meta BLOB NOT NULL,
    data BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    sweep_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (sweep_id, name)
);
CREATE TABLE IF NOT EXISTS chunk_runs (
    bound REAL PRIMARY KEY,
    chunks INTEGER NOT NULL,
    trials INTEGER NOT NULL,
    seconds REAL NOT NULL
);
"""

#: The columns of a ``SweepRecord``, in the order of its fields (``results`` is apart).
COLUMNS = ("id", "name", "status", "spec", "total", "done", "n_chunks", "chunks_done",
           "created_at", "started_at", "finished_at", "error", "trial_steps")
#: ``COLUMNS`` but the spec, which ``_spec`` reads (once per sweep and store).
_BARE_COLUMNS = tuple(c for c in COLUMNS if c != "spec")
_SELECT_BARE = f"SELECT {', '.join(_BARE_COLUMNS)} FROM sweeps"
_UNFINISHED = tuple(s.value for s in SweepStatus if not s.is_finished())
_FINISHED = tuple(s.value for s in SweepStatus if s.is_finished())

#: Workers silent this long are forgotten at the next heartbeat (keeps ``workers`` small).
FORGET_WORKER_SECONDS = 86400.0

#: Primary SQLite result codes that mean "cannot be reached right now", not "bad SQL".
_UNAVAILABLE_CODES = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT,
})

P = ParamSpec("P")
R = TypeVar("R")


def _unavailable(error: sqlite3.Error) -> bool:
    """Whether ``error`` is about the database file rather than about our SQL."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # errors raised by the sqlite3 module itself carry no code
        return isinstance(error, sqlite3.OperationalError)
    return code & 0xFF in _UNAVAILABLE_CODES


def _rejected(error: sqlite3.Error) -> bool:
    """Whether ``error`` is SQLite refusing a value: too big (the sqlite3 module's own check
    raises ``DataError`` without a code; the library's is ``SQLITE_TOOBIG``)."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.DataError) or (code is not None
                                                    and code & 0xFF == sqlite3.SQLITE_TOOBIG)


def _translating(method: Callable[P, R]) -> Callable[P, R]:
    """Turn SQLite's "locked / cannot open / I/O error" into ``StoreUnavailable``, and its
    "string or blob too big" into ``StoreRejected``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as error:
            if _rejected(error):
                raise StoreRejected(f"SQLite store refused a value: {error}") from error
            if _unavailable(error):
                raise StoreUnavailable(f"SQLite store: {error}") from error
            raise

    return wrapper


def _to_row(record: SweepRecord) -> tuple[Any, ...]:
    """A record as the values of ``COLUMNS``."""
    return (record.id, record.name, record.status.value, orjson.dumps(record.spec).decode(),
            record.total, record.done, record.n_chunks, record.chunks_done, record.created_at,
            record.started_at, record.finished_at, record.error, record.trial_steps)


def _from_row(row: tuple[Any, ...]) -> SweepRecord:
    """A row of ``COLUMNS`` as a record (the spec as JSON text, or parsed already)."""
    (id_, name, status, spec, total, done, n_chunks, chunks_done, created_at, started_at,
     finished_at, error, trial_steps) = row
    return SweepRecord(id=id_, name=name, status=SweepStatus(status),
                       spec=orjson.loads(spec) if isinstance(spec, str) else spec,
                       total=total, done=done, n_chunks=n_chunks, chunks_done=chunks_done,
                       created_at=created_at, started_at=started_at, finished_at=finished_at,
                       error=error, trial_steps=trial_steps)


def _from_bare_row(row: tuple[Any, ...], spec: SpecData) -> SweepRecord:
    """A row of ``_BARE_COLUMNS`` and the sweep's spec as a record."""
    return _from_row((*row[:3], spec, *row[3:]))


class SQLiteStore:
    """The job store in one SQLite file (see the module docstring for the layout).

    Safe to share between threads (each has its own connection) and to open from several
    processes on the same file (each opens its own ``SQLiteStore``; a store inherited through
    ``fork`` opens fresh connections in the child).

    Args:
      path: the database file; its parent directories and the schema are created if missing.
      timeout: seconds a write waits for another process's write before ``StoreUnavailable``.
    """

    @_translating
    def __init__(self, path: Path | str, *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: builtins.list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._specs: ByteBoundedCache[str, SpecData] = ByteBoundedCache(SPEC_CACHE_BYTES)
        self._factors = FactorsCache()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._db()
        if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise StoreUnavailable(f"SQLite store: {self.path} cannot use WAL journal mode")
        with self._write() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(sweeps)")}
            if "trial_steps" not in columns:  # a store made before sweeps counted it (there
                # the column comes after results: reading it walks a finished sweep's document)
                db.execute("ALTER TABLE sweeps ADD COLUMN trial_steps INTEGER NOT NULL DEFAULT 0")

    # -- connections and transactions --------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, and anew in a forked child)."""
        if self._pid != os.getpid():  # inherited through fork: never touch the parent's
            self._local = threading.local()
            self._lock = threading.Lock()
            self._connections = []
            self._pid = os.getpid()
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                 check_same_thread=False)  # only close() crosses threads
            db.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        finally:
            if db.in_transaction:  # the body or COMMIT failed (SQLite may have rolled back)
                db.execute("ROLLBACK")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: its statements see one snapshot."""
        db = self._db()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            if db.in_transaction:
                db.execute("COMMIT")

    # -- JobStore ----------------------------------------------------------------------------

    @_translating
    def ping(self) -> None:
        """Return if the file answers a query; raise ``StoreUnavailable`` otherwise."""
        self._db().execute("SELECT 1 FROM sweeps LIMIT 1").fetchall()

    @_translating
    def create(self, record: SweepRecord, max_pending_chunks: int | None = None) -> bool:
        """Store a new sweep as given, True; a sweep with the same id already stored is kept as
        is, False. With ``max_pending_chunks``, raise ``Backlogged`` instead when the backlog
        and the sweep's chunks exceed it (``workers.store.over_limit``): the sum and the insert
        are one ``BEGIN IMMEDIATE`` transaction, so no other writer comes in between."""
        placeholders = ", ".join("?" * len(COLUMNS))
        with self._write() as db:
            if db.execute("SELECT 1 FROM sweeps WHERE id = ?", (record.id,)).fetchone():
                return False
            if max_pending_chunks is not None:
                (pending,) = db.execute(
                    "SELECT COALESCE(SUM(n_chunks - chunks_done), 0) FROM sweeps "
                    f"WHERE status IN ({', '.join('?' * len(_UNFINISHED))})",
                    _UNFINISHED).fetchone()
                if over_limit(pending, record.n_chunks, max_pending_chunks):
                    raise Backlogged(int(pending), record.n_chunks, max_pending_chunks)
            db.execute(f"INSERT INTO sweeps ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                       _to_row(record))
        return True

    @_translating
    def get(self, sweep_id: str) -> SweepRecord | None:
        """The sweep's snapshot, or None."""
        db = self._db()  # no transaction needed: the spec never changes once stored
        row = db.execute(f"{_SELECT_BARE} WHERE id = ?", (sweep_id,)).fetchone()
        spec = None if row is None else self._spec(db, sweep_id)
        return None if row is None or spec is None else _from_bare_row(row, spec)

    @_translating
    def list(self, status: SweepStatus | None = None, limit: int = 50,
             offset: int = 0) -> tuple[builtins.list[SweepRecord], int]:
        """A page of sweeps, newest first (ties: greater id first); and how many match."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        where, params = ("WHERE status = ?", (status.value,)) if status is not None else ("", ())
        with self._read() as db:
            rows = db.execute(f"{_SELECT_BARE} {where} ORDER BY created_at DESC, id DESC "
                              "LIMIT ? OFFSET ?", (*params, limit, offset)).fetchall()
            (total,) = db.execute(f"SELECT COUNT(*) FROM sweeps {where}", params).fetchone()
            specs = [self._spec(db, row[0]) for row in rows]
        return [_from_bare_row(row, spec) for row, spec in zip(rows, specs)
                if spec is not None], total

    def _spec(self, db: sqlite3.Connection, sweep_id: str) -> SpecData | None:
        """The sweep's parsed spec, from this store's cache or the file (it never changes);
        None if there is no such sweep."""
        spec = self._specs.get(sweep_id)
        if spec is None:
            row = db.execute("SELECT spec FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            if row is None:
                return None
            spec = cast(SpecData, orjson.loads(row[0]))
            self._specs.put(sweep_id, spec, len(row[0]))
        return spec

    @_translating
    def mark_running(self, sweep_id: str, now: float) -> bool:
        """queued → running with ``started_at = now``; False if it was not queued."""
        cursor = self._db().execute(
            "UPDATE sweeps SET status = ?, started_at = ? WHERE id = ? AND status = ?",
            (SweepStatus.RUNNING.value, now, sweep_id, SweepStatus.QUEUED.value))
        return cursor.rowcount == 1

    @_translating
    def save_chunk(self, sweep_id: str, chunk: int, records: Sequence[TrialRecord],
                   add_chunks: int = 0, trial_steps: int = 0) -> int | None:
        """Store a chunk once (and grow ``n_chunks`` by ``add_chunks``); ``chunks_done`` after
        a first save, None otherwise (or if the sweep is unknown)."""
        blob = orjson.dumps(records)
        check_value_size(f"chunk {chunk} of sweep {sweep_id}", blob)
        with self._write() as db:
            if db.execute("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)).fetchone() is None:
                return None
            spec = self._spec(db, sweep_id)
            assert spec is not None  # the sweep exists, in this transaction
            inserted = db.execute(
                "INSERT OR IGNORE INTO chunks (sweep_id, chunk, records, scores) "
                "VALUES (?, ?, ?, ?)",
                (sweep_id, chunk, blob, orjson.dumps(score_summaries(records)))).rowcount
            if inserted != 1:
                return None
            self._merge_points(db, sweep_id, spec, records)
            self._index_trials(db, sweep_id, chunk, spec, records)
            (chunks_done,) = db.execute(
                "UPDATE sweeps SET done = done + ?, chunks_done = chunks_done + 1, "
                "n_chunks = n_chunks + ?, trial_steps = trial_steps + ? WHERE id = ? "
                "RETURNING chunks_done", (len(records), add_chunks, trial_steps,
                                          sweep_id)).fetchone()
        return int(chunks_done)

    @_translating
    def put_blobs(self, sweep_id: str, blobs: Mapping[str, bytes]) -> None:
        """Store values under names of the sweep's (table ``blobs``)."""
        for name, value in blobs.items():
            check_value_size(f"{name} of sweep {sweep_id}", value)
        if blobs:
            with self._write() as db:
                db.executemany("INSERT OR REPLACE INTO blobs (sweep_id, name, value) "
                               "VALUES (?, ?, ?)",
                               [(sweep_id, name, value) for name, value in blobs.items()])

    @_translating
    def blobs(self, sweep_id: str, names: Iterable[str]) -> dict[str, bytes]:
        """The values stored under these names (names with none left out)."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        with self._read() as db:
            rows = db.execute("SELECT name, value FROM blobs WHERE sweep_id = ? AND name IN "
                              "(SELECT value FROM json_each(?))",
                              (sweep_id, orjson.dumps(wanted).decode())).fetchall()
        return {str(name): bytes(value) for name, value in rows}

    @_translating
    def delete_blobs(self, sweep_id: str, names: Iterable[str]) -> None:
        """Delete the values stored under these names."""
        wanted = list(names)
        if wanted:
            with self._write() as db:
                db.execute("DELETE FROM blobs WHERE sweep_id = ? AND name IN "
                           "(SELECT value FROM json_each(?))",
                           (sweep_id, orjson.dumps(wanted).decode()))

    def _merge_points(self, db: sqlite3.Connection, sweep_id: str, spec: SpecData,
                      records: Sequence[TrialRecord]) -> None:
        """Merge a chunk's trials into the ``points`` of the grid points they touch (inside
        ``save_chunk``'s transaction)."""
        metric, n_settings = scoring_of(spec)
        touched = touched_points(records, n_settings)
        if not touched:
            return
        rows = db.execute(
            "SELECT setting, vals FROM points WHERE sweep_id = ? AND setting IN "
            "(SELECT value FROM json_each(?))", (sweep_id, orjson.dumps(touched).decode()))
        stored: dict[int, bytes | None] = dict.fromkeys(touched)
        stored.update({int(setting): bytes(vals) for setting, vals in rows})
        merged = merge_points(stored, records, metric, n_settings)
        db.executemany(
            "INSERT OR REPLACE INTO points (sweep_id, setting, vals, score, summary) "
            "VALUES (?, ?, ?, ?, ?)",
            [(sweep_id, p.setting, p.blob, p.rank, None if p.score is None else p.summary)
             for p in merged])
        row = db.execute("SELECT blob FROM moments WHERE sweep_id = ?", (sweep_id,)).fetchone()
        before = None if row is None else bytes(row[0])
        after = merge_moments(before, self._factors.get(sweep_id, spec), merged)
        if after is not None and after != before:
            db.execute("INSERT OR REPLACE INTO moments (sweep_id, blob) VALUES (?, ?)",
                       (sweep_id, after))

    def _index_trials(self, db: sqlite3.Connection, sweep_id: str, chunk: int, spec: SpecData,
                      records: Sequence[ScoreSummary]) -> None:
        """Add a chunk's trials to the trial index and the counts per status (inside
        ``save_chunk``'s transaction)."""
        metric, _ = scoring_of(spec)
        by_status: dict[str, builtins.list[TrialRef]] = {}
        for ref in trial_refs(records, chunk, metric):
            by_status.setdefault(ref.status, []).append(ref)
        for status, refs in by_status.items():
            added = db.executemany(
                "INSERT OR IGNORE INTO trials (sweep_id, trial, chunk, status, rank) "
                "VALUES (?, ?, ?, ?, ?)",
                [(sweep_id, r.index, r.chunk, r.status, r.rank) for r in refs]).rowcount
            db.execute("INSERT INTO trial_counts (sweep_id, status, n) VALUES (?, ?, ?) "
                       "ON CONFLICT (sweep_id, status) DO UPDATE SET n = n + excluded.n",
                       (sweep_id, status, added))

    @_translating
    def trial_page(self, sweep_id: str, order: TrialOrder, status: str | None,
                   after: TrialKey | None, limit: int) -> builtins.list[TrialRef]:
        """A page of the trial index: one range scan of its primary key (order=index), of
        (status, trial), or of (rank, trial). Trials without a value all rank inf, so a page of
        one such status in score order is its page in index order."""
        where, params = ["sweep_id = ?"], list[object]([sweep_id])
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if order == "score" and status is not None and status != "ok":
            order = "index"  # every trial of this status ranks inf: by index
        if order == "index":
            if after is not None:
                where.append("trial > ?")
                params.append(after.index)
            sort = "trial"
        else:
            if after is not None:
                where.append("(rank, trial) > (?, ?)")
                params += [after.rank, after.index]
            if status == "ok":  # every ok trial has a value: the scan ends where inf begins
                where.append("rank < ?")
                params.append(math.inf)
            sort = "rank, trial"
        rows = self._db().execute(
            f"SELECT trial, chunk, status, rank FROM trials WHERE {' AND '.join(where)} "
            f"ORDER BY {sort} LIMIT ?", (*params, int(limit))).fetchall()
        return [TrialRef(int(t), int(c), str(st), float(r)) for t, c, st, r in rows]

    @_translating
    def reindex_trials(self, sweep_id: str) -> int:
        """The trial index rebuilt from the chunks' summaries, in one transaction."""
        with self._write() as db:
            spec = self._spec(db, sweep_id)
            if spec is None:
                return 0
            for chunk, scores in db.execute("SELECT chunk, scores FROM chunks WHERE "
                                            "sweep_id = ?", (sweep_id,)).fetchall():
                self._index_trials(db, sweep_id, int(chunk), spec, orjson.loads(scores))
            db.execute("DELETE FROM trial_counts WHERE sweep_id = ?", (sweep_id,))
            db.execute("INSERT INTO trial_counts (sweep_id, status, n) SELECT sweep_id, status, "
                       "COUNT(*) FROM trials WHERE sweep_id = ? GROUP BY status", (sweep_id,))
            (n,) = db.execute("SELECT COUNT(*) FROM trials WHERE sweep_id = ?",
                              (sweep_id,)).fetchone()
        return int(n)

    @_translating
    def trial_counts(self, sweep_id: str) -> dict[str, int]:
        """Saved trials per status (statuses with none left out)."""
        rows = self._db().execute("SELECT status, n FROM trial_counts WHERE sweep_id = ? "
                                  "AND n > 0", (sweep_id,)).fetchall()
        return {str(status): int(n) for status, n in rows}

    @_translating
    def count_saved(self, sweep_id: str, lo: int, hi: int) -> int:
        """Saved trials with ``lo <= index < hi``: a count over a range of the primary key."""
        (n,) = self._db().execute("SELECT COUNT(*) FROM trials WHERE sweep_id = ? AND "
                                  "trial >= ? AND trial < ?", (sweep_id, lo, hi)).fetchone()
        return int(n)

    @_translating
    def moments(self, sweep_id: str) -> bytes | None:
        """The sweep's exact ``Moments``, as ``save_chunk`` keeps them."""
        row = self._db().execute("SELECT blob FROM moments WHERE sweep_id = ?",
                                 (sweep_id,)).fetchone()
        return None if row is None else bytes(row[0])

    @_translating
    def top_points(self, sweep_id: str, limit: int) -> builtins.list[StoredBest]:
        """The best ``limit`` grid points: the first rows of the (sweep_id, score, setting)
        index, with each point's aggregate for its trial list."""
        rows = self._db().execute(
            "SELECT setting, summary, vals FROM points WHERE sweep_id = ? AND score IS NOT NULL "
            "ORDER BY score, setting LIMIT ?", (sweep_id, int(limit))).fetchall()
        return [best_of(int(setting), bytes(summary), functools.partial(bytes, vals), sys.maxsize)
                for setting, summary, vals in rows]

    @_translating
    def best(self, sweep_id: str, max_trials: int = BEST_TRIALS) -> StoredBest | None:
        """The best grid point so far (the lowest rank: the score, negated where higher is
        better; ties: the lowest index): one index step."""
        db = self._db()
        row = db.execute(
            "SELECT setting, summary FROM points WHERE sweep_id = ? AND score IS NOT NULL "
            "ORDER BY score, setting LIMIT 1", (sweep_id,)).fetchone()
        if row is None:
            return None
        setting, summary = int(row[0]), bytes(row[1])

        def blob() -> bytes | None:
            found = db.execute("SELECT vals FROM points WHERE sweep_id = ? AND setting = ?",
                               (sweep_id, setting)).fetchone()
            return None if found is None else bytes(found[0])

        return best_of(setting, summary, blob, max_trials)

    @_translating
    def saved_chunks(self, sweep_id: str) -> set[int]:
        """The indices of the chunks stored so far."""
        rows = self._db().execute("SELECT chunk FROM chunks WHERE sweep_id = ?",
                                  (sweep_id,)).fetchall()
        return {chunk for (chunk,) in rows}

    @_translating
    def chunk_records(self, sweep_id: str,
                      chunks: Iterable[int]) -> builtins.list[TrialRecord]:
        """The trial records of these stored chunks, in chunk order (others are skipped)."""
        return self._chunk_lists(sweep_id, chunks, "records")

    @_translating
    def chunk_scores(self, sweep_id: str,
                     chunks: Iterable[int]) -> builtins.list[ScoreSummary]:
        """The score summaries of these stored chunks, in chunk order (others are skipped)."""
        return self._chunk_lists(sweep_id, chunks, "scores")

    def _chunk_lists(self, sweep_id: str, chunks: Iterable[int],
                     column: str) -> builtins.list[Any]:
        """The lists in ``column`` ("records" or "scores") of these chunks, concatenated (the
        JSON the store wrote: records or their summaries, as the caller's type says)."""
        wanted = orjson.dumps(sorted({int(chunk) for chunk in chunks})).decode()
        rows = self._db().execute(
            f"SELECT {column} FROM chunks WHERE sweep_id = ? AND chunk IN "
            "(SELECT value FROM json_each(?)) ORDER BY chunk", (sweep_id, wanted)).fetchall()
        return [item for (blob,) in rows for item in orjson.loads(blob)]

    @_translating
    def records(self, sweep_id: str) -> builtins.list[TrialRecord]:
        """Every trial record of every stored chunk (in chunk order)."""
        rows = self._db().execute("SELECT records FROM chunks WHERE sweep_id = ? ORDER BY chunk",
                                  (sweep_id,)).fetchall()
        return [record for (blob,) in rows for record in orjson.loads(blob)]

    @_translating
    def finish(self, sweep_id: str, status: SweepStatus, now: float,
               results: bytes | None = None, error: str | None = None) -> bool:
        """Unfinished → finished ``status`` at ``now`` with ``results`` and ``error`` (None
        clears them); False, and no change, if it was finished already or is unknown."""
        if not status.is_finished():
            raise ValueError(f"finish needs a finished status, not {status.value!r}")
        check_value_size(f"the results document of sweep {sweep_id}", results)
        cursor = self._db().execute(
            "UPDATE sweeps SET status = ?, finished_at = ?, results = ?, error = ? "
            f"WHERE id = ? AND status IN ({', '.join('?' * len(_UNFINISHED))})",
            (status.value, now, results, error, sweep_id, *_UNFINISHED))
        return cursor.rowcount == 1

    @_translating
    def results(self, sweep_id: str) -> bytes | None:
        """The results document stored by ``finish``, if any."""
        row = self._db().execute("SELECT results FROM sweeps WHERE id = ?",
                                 (sweep_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def cancel(self, sweep_id: str, now: float) -> bool:
        """``finish(sweep_id, CANCELLED, now)``: False if finished already or unknown."""
        return self.finish(sweep_id, SweepStatus.CANCELLED, now)

    @_translating
    def unfinished(self) -> builtins.list[SweepRecord]:
        """Every queued or running sweep, oldest first (ties: smaller id first)."""
        with self._read() as db:
            rows = db.execute(
                f"{_SELECT_BARE} WHERE status IN ({', '.join('?' * len(_UNFINISHED))}) "
                "ORDER BY created_at, id", _UNFINISHED).fetchall()
            specs = [self._spec(db, row[0]) for row in rows]
        return [_from_bare_row(row, spec) for row, spec in zip(rows, specs) if spec is not None]

    @_translating
    def delete_finished_before(self, before: float) -> int:
        """Delete the sweeps (and their chunks) finished before ``before``; how many."""
        condition = (f"status IN ({', '.join('?' * len(_FINISHED))}) AND finished_at < ?",
                     (*_FINISHED, before))
        with self._write() as db:
            for table in ("chunks", "points", "trials", "trial_counts", "moments", "watch",
                          "leases", "blobs"):
                db.execute(f"DELETE FROM {table} WHERE sweep_id IN "
                           f"(SELECT id FROM sweeps WHERE {condition[0]})", condition[1])
            deleted = db.execute(f"DELETE FROM sweeps WHERE {condition[0]}",
                                 condition[1]).rowcount
        return int(deleted)

    @_translating
    def put_dataset(self, dataset_id: str, meta: bytes, data: bytes, now: float) -> bool:
        """Store a dataset once; False (and no change) if one with its id is stored."""
        check_value_size(f"dataset {dataset_id}", data)
        with self._write() as db:
            return bool(db.execute(
                "INSERT OR IGNORE INTO datasets (id, meta, data, created_at) VALUES (?, ?, ?, ?)",
                (dataset_id, meta, data, now)).rowcount)

    @_translating
    def dataset_meta(self, dataset_id: str) -> bytes | None:
        """A stored dataset's description (JSON), or None."""
        row = self._db().execute("SELECT meta FROM datasets WHERE id = ?",
                                 (dataset_id,)).fetchone()
        return None if row is None else bytes(row[0])

    @_translating
    def dataset_data(self, dataset_id: str) -> bytes | None:
        """A stored dataset's data (``optimizers.datasets.canonical_bytes``), or None."""
        row = self._db().execute("SELECT data FROM datasets WHERE id = ?",
                                 (dataset_id,)).fetchone()
        return None if row is None else bytes(row[0])

    @_translating
    def datasets(self) -> builtins.list[bytes]:
        """Every stored dataset's description, oldest first."""
        return [bytes(meta) for (meta,) in self._db().execute(
            "SELECT meta FROM datasets ORDER BY created_at, id")]

    @_translating
    def delete_dataset(self, dataset_id: str) -> bool:
        """Delete a stored dataset; False if there was none."""
        with self._write() as db:
            return bool(db.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,)).rowcount)

    @_translating
    def count_by_status(self) -> dict[SweepStatus, int]:
        """How many sweeps there are of each status (statuses with none are left out)."""
        rows = self._db().execute("SELECT status, COUNT(*) FROM sweeps GROUP BY status")
        return {SweepStatus(status): count for status, count in rows}

    @_translating
    def record_chunk_run(self, seconds: float, trials: int) -> None:
        """Add one chunk's run time (to its ``chunk_seconds_bucket``) and trial count."""
        self._db().execute(
            "INSERT INTO chunk_runs (bound, chunks, trials, seconds) VALUES (?, 1, ?, ?) "
            "ON CONFLICT (bound) DO UPDATE SET chunks = chunks + 1, "
            "trials = trials + excluded.trials, seconds = seconds + excluded.seconds",
            (chunk_seconds_bucket(seconds), trials, seconds))

    @_translating
    def chunk_stats(self) -> ChunkStats:
        """The totals ``record_chunk_run`` has added up (buckets with no chunk left out)."""
        rows = self._db().execute("SELECT bound, chunks, trials, seconds FROM chunk_runs "
                                  "ORDER BY bound").fetchall()
        return ChunkStats(chunks=sum(row[1] for row in rows), trials=sum(row[2] for row in rows),
                          seconds=math.fsum(row[3] for row in rows),
                          buckets={float(row[0]): row[1] for row in rows})

    @_translating
    def heartbeat(self, worker: str, now: float) -> None:
        """Record that ``worker`` is alive at ``now`` (and forget workers silent for a day)."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO workers (name, seen) VALUES (?, ?)", (worker, now))
            db.execute("DELETE FROM workers WHERE seen < ?", (now - FORGET_WORKER_SECONDS,))

    @_translating
    def live_workers(self, since: float) -> builtins.list[str]:
        """Workers whose last heartbeat is at or after ``since``, by name."""
        rows = self._db().execute("SELECT name FROM workers WHERE seen >= ? ORDER BY name",
                                  (since,)).fetchall()
        return [name for (name,) in rows]

    @_translating
    def watch_step(self, sweep_id: str, chunks_done: int, now: float, stuck_seconds: float,
                   max_requeues: int, reset: bool) -> WatchStep:
        """``decide_watch`` on the stored clocks, in one ``BEGIN IMMEDIATE`` transaction."""
        with self._write() as db:
            row = db.execute("SELECT chunks_done, moved_at, since, requeues FROM watch "
                             "WHERE sweep_id = ?", (sweep_id,)).fetchone()
            step = decide_watch(None if row is None else WatchState(*row), chunks_done, now,
                                stuck_seconds, max_requeues, reset)
            state = step.state
            db.execute("INSERT OR REPLACE INTO watch (sweep_id, chunks_done, moved_at, since, "
                       "requeues) VALUES (?, ?, ?, ?, ?)", (sweep_id, state.chunks_done,
                                                            state.moved_at, state.since,
                                                            state.requeues))
        return step

    # -- leases (single statements: each is atomic; the claim is a conditional DELETE) -------

    @_translating
    def lease(self, sweep_id: str, chunk: int, owner: str, seconds: float) -> None:
        """``owner`` holds the chunk's lease for ``seconds`` (this host's clock)."""
        self._db().execute(
            "INSERT OR REPLACE INTO leases (sweep_id, chunk, owner, expires_at) "
            "VALUES (?, ?, ?, ?)", (sweep_id, int(chunk), owner, time.time() + seconds))

    @_translating
    def leased(self) -> set[tuple[str, int]]:
        """The (sweep, chunk) of every lease (expired or not)."""
        rows = self._db().execute("SELECT sweep_id, chunk FROM leases").fetchall()
        return {(str(sweep_id), int(chunk)) for sweep_id, chunk in rows}

    @_translating
    def lease_owner(self, sweep_id: str, chunk: int) -> str | None:
        """Who holds the chunk's lease; None: nobody."""
        row = self._db().execute("SELECT owner FROM leases WHERE sweep_id = ? AND chunk = ?",
                                 (sweep_id, int(chunk))).fetchone()
        return None if row is None else str(row[0])

    @_translating
    def renew_leases(self, owner: str, seconds: float,
                     chunks: Iterable[tuple[str, int]]) -> int:
        """Extend the leases of ``chunks`` that ``owner`` still holds; how many."""
        wanted = orjson.dumps([[sweep_id, int(chunk)] for sweep_id, chunk in chunks]).decode()
        cursor = self._db().execute(
            "UPDATE leases SET expires_at = ? WHERE owner = ? AND (sweep_id, chunk) IN "
            "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
            "FROM json_each(?))",
            (time.time() + seconds, owner, wanted))
        return int(cursor.rowcount)

    @_translating
    def release_lease(self, sweep_id: str, chunk: int, owner: str) -> bool:
        """Drop the chunk's lease if ``owner`` still holds it."""
        cursor = self._db().execute(
            "DELETE FROM leases WHERE sweep_id = ? AND chunk = ? AND owner = ?",
            (sweep_id, int(chunk), owner))
        return cursor.rowcount == 1

    @_translating
    def release_owner(self, owner: str) -> builtins.list[tuple[str, int]]:
        """Drop every lease ``owner`` holds; their (sweep, chunk)."""
        rows = self._db().execute("DELETE FROM leases WHERE owner = ? RETURNING sweep_id, chunk",
                                  (owner,)).fetchall()
        return [(str(sweep_id), int(chunk)) for sweep_id, chunk in rows]

    @_translating
    def expired_leases(self) -> builtins.list[tuple[str, int, str]]:
        """The (sweep, chunk, owner) of the leases past their expiry, not claimed (embedded
        mode's supervisor: it knows the owners, its own pool processes)."""
        rows = self._db().execute("SELECT sweep_id, chunk, owner FROM leases "
                                  "WHERE expires_at < ?", (time.time(),)).fetchall()
        return [(str(sweep_id), int(chunk), str(owner)) for sweep_id, chunk, owner in rows]

    @_translating
    def claim_expired(self, limit: int = 1000) -> builtins.list[tuple[str, int]]:
        """Remove up to ``limit`` expired leases in one DELETE; their (sweep, chunk)."""
        rows = self._db().execute(
            "DELETE FROM leases WHERE rowid IN (SELECT rowid FROM leases WHERE expires_at < ? "
            "LIMIT ?) RETURNING sweep_id, chunk", (time.time(), int(limit))).fetchall()
        return [(str(sweep_id), int(chunk)) for sweep_id, chunk in rows]

    def close(self) -> None:
        """Close every thread's connection (a later call opens a new one)."""
        with self._lock:
            connections, self._connections = self._connections, []
        self._local = threading.local()
        for db in connections:
            db.close()


__all__ = ["SQLiteStore"]
