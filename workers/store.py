"""The job store: what the API and the workers share about every sweep.

A store holds each sweep's normalised spec, its status and timestamps, its progress counters, the
trial records of every chunk that has finished, and — once the sweep is over — its assembled
results document. Two implementations keep the same contract: ``RedisStore`` (cluster mode; any
number of API replicas and workers on any number of machines) and ``SQLiteStore`` (embedded mode;
one file in the data directory, shared by the server and its local worker processes).

The contract, which ``tests/workers/test_store.py`` checks on both:

- Records are frozen snapshots (``SweepRecord``); changing a sweep goes through the store.
- ``save_chunk`` is idempotent, keyed by (sweep, chunk): the first save of a chunk stores its
  records and adds them to ``done`` and one to ``chunks_done``, atomically; a second save of the
  same chunk (a redelivered task) changes nothing. So progress counts distinct chunks only.
- Status moves queued → running → succeeded | failed | cancelled and never leaves a finished
  status; ``finish`` and ``cancel`` on a finished sweep change nothing and return False.
- Every method is safe to call from several processes at once.
- Creating an id that exists keeps the stored sweep (a retried ``create`` must not fail).
- Backpressure is a check-and-reserve inside ``create``: given a limit, it refuses the new sweep
  (``Backlogged``) when the backlog — Σ over queued and running sweeps of ``n_chunks −
  chunks_done``, derived from the records, never a counter that could drift — plus the new
  sweep's chunks would exceed it, atomically with the insert; so concurrent submissions never
  queue more than the limit, and a cancelled or finished sweep frees its share at once. An idle
  store (backlog 0) takes any sweep, even one with more chunks than the limit alone.
- A call retried after a lost reply may answer as if it had done nothing (``save_chunk`` None,
  ``finish`` False) although it did: callers re-read the record instead of trusting that.
- A store that cannot be reached raises ``StoreUnavailable`` (after its own retries), never a
  backend-specific error: a transient error, worth retrying.
- A value the store refuses raises ``StoreRejected``: a permanent error, which retrying cannot
  cure (the sweep is failed with its reason). Both stores refuse — before sending anything —
  any single value (a chunk's records, a results document) over ``max_value_bytes()``, at most
  ``MAX_VALUE_BYTES``: far below what Redis (512 MB) and SQLite (1 GB) can hold, so that no
  valid sweep ever meets their own limits; and they translate their own refusals (SQLite's
  "string or blob too big", Redis's "exceeds maximum allowed size" or OOM) to it.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from optimizers import SweepStatus

#: The most bytes of one stored value (a chunk's records, a results document): half of Redis's
#: 512 MB string limit, a quarter of SQLite's 1 GB default. ``GRADSWEEP_MAX_VALUE_BYTES`` may
#: only lower it.
MAX_VALUE_BYTES = 256 * 2**20


class StoreUnavailable(Exception):
    """The store cannot be reached right now (the API answers 503)."""


class Backlogged(Exception):
    """``create`` refused a sweep: ``pending`` chunks of unfinished sweeps are not done yet, and
    the sweep's ``n_chunks`` more would take them over ``limit`` (the API answers 429)."""

    def __init__(self, pending: int, n_chunks: int, limit: int) -> None:
        super().__init__(f"{pending} chunks are waiting to run and the sweep has {n_chunks} "
                         f"more (the limit is {limit})")
        self.pending = pending
        self.n_chunks = n_chunks
        self.limit = limit


def over_limit(pending: int, n_chunks: int, limit: int | None) -> bool:
    """Whether a sweep of ``n_chunks`` must wait behind a backlog of ``pending`` chunks: the
    rule both stores apply inside ``create`` (an idle store takes any sweep)."""
    return limit is not None and pending > 0 and pending + n_chunks > limit


class StoreRejected(Exception):
    """The store refuses a value for good (too big): retrying cannot help, so the sweep that
    produced it is failed with this message as its reason."""


def max_value_bytes() -> int:
    """The most bytes a store accepts in one value: ``MAX_VALUE_BYTES``, or the lower
    ``GRADSWEEP_MAX_VALUE_BYTES`` setting."""
    from .settings import get_settings  # not at the top: the settings import this module

    lowered = get_settings().max_value_bytes
    return MAX_VALUE_BYTES if lowered is None else min(MAX_VALUE_BYTES, lowered)


def check_value_size(what: str, value: bytes | None) -> None:
    """Raise ``StoreRejected`` if ``value`` (``what``, for the message) is over
    ``max_value_bytes()``; called by both stores before they send a value anywhere."""
    limit = max_value_bytes()
    if value is not None and len(value) > limit:
        raise StoreRejected(f"{what} is {len(value):,} bytes, over the store's limit of "
                            f"{limit:,} bytes per value (max_value_bytes)")


@dataclass(frozen=True)
class SweepRecord:
    """A snapshot of one sweep's bookkeeping (not its trial records)."""

    id: str
    name: str
    status: SweepStatus
    spec: dict[str, Any]
    total: int
    done: int
    n_chunks: int
    chunks_done: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None

    @property
    def chunk_size(self) -> int:
        """Trials per chunk (the last chunk may hold fewer)."""
        return -(-self.total // self.n_chunks) if self.n_chunks else 0


CHUNK_SECONDS_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                                             120.0, math.inf)


def chunk_seconds_bucket(seconds: float) -> float:
    """The upper bound of the run-time histogram bucket that ``seconds`` falls in."""
    return next(b for b in CHUNK_SECONDS_BUCKETS if seconds <= b)


@dataclass(frozen=True)
class ChunkStats:
    """Totals over every chunk any worker ran: the source of the Prometheus metrics."""

    chunks: int = 0
    trials: int = 0
    seconds: float = 0.0
    buckets: dict[float, int] = field(default_factory=dict)  # bound → chunks in that bucket


class JobStore(Protocol):
    """What the API and the workers need from a store. See the module docstring."""

    def ping(self) -> None:
        """Return if the store answers; raise ``StoreUnavailable`` otherwise."""

    def create(self, record: SweepRecord, max_pending_chunks: int | None = None) -> bool:
        """Store a new sweep (status queued, counters zero); True if stored, False if a sweep
        with its id was stored already (kept as is, whatever the backlog).

        With ``max_pending_chunks``, atomically with the insert: raise ``Backlogged`` instead
        when ``over_limit(backlog, record.n_chunks, max_pending_chunks)``, the backlog being
        Σ (n_chunks − chunks_done) over the queued and running sweeps."""

    def get(self, sweep_id: str) -> SweepRecord | None:
        """The sweep's snapshot, or None if there is no such sweep."""

    def list(self, status: SweepStatus | None = None, limit: int = 50,
             offset: int = 0) -> tuple[builtins.list[SweepRecord], int]:
        """A page of sweeps, newest first, optionally of one status; and how many match."""

    def mark_running(self, sweep_id: str, now: float) -> bool:
        """queued → running with ``started_at = now``; False if it was not queued."""

    def save_chunk(self, sweep_id: str, chunk: int,
                   records: builtins.list[dict[str, Any]]) -> int | None:
        """Store a chunk's trial records once; ``chunks_done`` after this save if it was the
        first save of that chunk, None if the chunk was already stored."""

    def saved_chunks(self, sweep_id: str) -> set[int]:
        """The indices of the chunks stored so far."""

    def chunk_records(self, sweep_id: str,
                      chunks: Iterable[int]) -> builtins.list[dict[str, Any]]:
        """The trial records of these stored chunks (chunks not stored are skipped)."""

    def chunk_scores(self, sweep_id: str,
                     chunks: Iterable[int]) -> builtins.list[dict[str, Any]]:
        """``optimizers.results.score_summaries`` of these stored chunks' records — kept beside
        the records when the chunk is saved, so scoring never parses the curves."""

    def records(self, sweep_id: str) -> builtins.list[dict[str, Any]]:
        """Every trial record of every stored chunk, in no particular order."""

    def finish(self, sweep_id: str, status: SweepStatus, now: float,
               results: bytes | None = None, error: str | None = None) -> bool:
        """Move an unfinished sweep to a finished ``status`` at ``now``, storing its results
        document (JSON bytes) and error; False, and no change, if it was finished already."""

    def results(self, sweep_id: str) -> bytes | None:
        """The results document stored by ``finish``, if any."""

    def cancel(self, sweep_id: str, now: float) -> bool:
        """Mark an unfinished sweep cancelled; False if it was finished already or unknown."""

    def unfinished(self) -> builtins.list[SweepRecord]:
        """Every queued or running sweep, oldest first."""

    def delete_finished_before(self, before: float) -> int:
        """Delete sweeps that finished before ``before`` (retention); how many were deleted."""

    def count_by_status(self) -> dict[SweepStatus, int]:
        """How many sweeps there are of each status (statuses with none may be left out)."""

    def record_chunk_run(self, seconds: float, trials: int) -> None:
        """Add one chunk's run time (to its ``chunk_seconds_bucket``) and trial count."""

    def chunk_stats(self) -> ChunkStats:
        """The totals ``record_chunk_run`` has added up."""

    def heartbeat(self, worker: str, now: float) -> None:
        """Record that ``worker`` is alive at ``now``."""

    def live_workers(self, since: float) -> builtins.list[str]:
        """Workers whose last heartbeat is at or after ``since``."""

    def close(self) -> None:
        """Release connections."""


def finished_statuses() -> Iterable[SweepStatus]:
    """The statuses a sweep never leaves."""
    return [s for s in SweepStatus if s.is_finished()]


__all__ = ["CHUNK_SECONDS_BUCKETS", "MAX_VALUE_BYTES", "Backlogged", "ChunkStats", "JobStore",
           "StoreRejected", "StoreUnavailable", "SweepRecord", "check_value_size",
           "chunk_seconds_bucket", "finished_statuses", "max_value_bytes", "over_limit"]
