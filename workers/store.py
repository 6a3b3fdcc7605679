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
- The best grid point so far is kept by the store itself: the first save of a chunk merges its
  trials into per-grid-point aggregates (every trial's ``trial_value``, the point's score) and an
  index of the scored points ordered by (score, grid index), in the same transaction. So
  ``best`` costs the same at 10 trials and at a million, on every API replica, and equals the
  ``best`` of ``optimizers.assemble`` over the saved records (``tests/workers/
  test_best_so_far.py``).
- The same transaction applies the merged points' score changes to the sweep's exact
  ``Moments`` (``merge_moments``): importance and the marginal means of the scored settings,
  equal to ``assemble``'s to the last bit whatever the order of the chunks.
- Every saved trial is in the store's **trial index** too, written by the same ``save_chunk``:
  its index, chunk, status and rank (``TrialRef``). ``trial_page`` reads a page of it in index
  or score order, of one status or all, after a cursor (``TrialKey``), in O(log n + page):
  so a page of a million-trial sweep reads one page of the index and the few chunks its trials
  are in, never the sweep; ``trial_counts`` and ``count_saved`` count it.
- The watchdog's clocks are the store's (``watch_step``): per unfinished sweep, the
  ``chunks_done`` it last saw, when that last moved, when its current wait started and how many
  re-queues it made, read and updated in one atomic step by whichever API replica checks — so
  N replicas re-queue a stuck sweep once per period, and an API restart neither resets nor
  repeats them. ``decide_watch`` is the rule both stores apply.
- A chunk being run holds a **lease**: (sweep, chunk) → owner (a worker node) and an expiry.
  ``lease`` takes it (or takes it over), ``renew_leases`` extends the leases an owner still holds of
  the chunks it names, ``release_lease`` drops one if its owner still holds it, ``release_owner``
  drops all of an owner's (its shutdown). ``claim_expired`` removes the leases past their expiry and
  returns them, atomically: however many workers and API replicas scan at once, each expired lease
  is claimed by exactly one of them, which queues the chunk again (``workers.jobs``). Redis measures
  lease time on its own clock (one clock for every machine); SQLite on the host's.
"""

from __future__ import annotations

import builtins
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar, get_args

import orjson

from optimizers import SweepStatus
from optimizers.moments import Factors, Moments
from optimizers.records import (
    ResultsDocument,
    ScoreSummary,
    SummaryDocument,
    TrialRecord,
    TrialStatus,
)
from optimizers.results import point_score, trial_value
from optimizers.spec import Metric, SpecData, rank_key, settings_count

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
    spec: SpecData  # the normalised spec, as stored
    total: int
    done: int
    n_chunks: int
    chunks_done: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    trial_steps: int = 0  # the steps its saved chunks ran, over all their trials

    @property
    def chunk_size(self) -> int:
        """Trials per chunk (the last chunk may hold fewer)."""
        return -(-self.total // self.n_chunks) if self.n_chunks else 0


class SweepDocument(ResultsDocument):
    """The results document as the store keeps it and the API serves it: the engine's
    (``optimizers.assemble``) with the sweep's id (``service.models.SweepResultsDocument``)."""

    id: str


class SweepSummaryDocument(SummaryDocument):
    """The summary document of a sweep over the inline limit, with its id."""

    id: str


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


@dataclass(frozen=True)
class WatchState:
    """The watchdog's clocks of one sweep, as stored (wall-clock seconds)."""

    chunks_done: int
    moved_at: float  # when chunks_done last changed (or when a watchdog first saw the sweep)
    since: float  # start of the current wait: moved_at, the last re-queue, or the last reset
    requeues: int = 0


@dataclass(frozen=True)
class WatchStep:
    """What ``watch_step`` decided: ``action`` "requeue", "fail" or None, and the clocks."""

    action: str | None
    state: WatchState


def decide_watch(stored: WatchState | None, chunks_done: int, now: float, stuck_seconds: float,
                 max_requeues: int, reset: bool) -> WatchStep:
    """The watchdog's rule for one sweep, applied by the stores inside their atomic step.

    New or progressed: the clocks start at ``now`` (no action). ``reset`` (the cluster is busy,
    or this watchdog cannot tell yet): the wait starts again. Otherwise, once the wait reaches
    ``stuck_seconds``: "requeue" while fewer than ``max_requeues`` were made, else "fail"; the
    wait starts again either way (so another replica checking just after does nothing)."""
    if stored is None or stored.chunks_done != chunks_done:
        return WatchStep(None, WatchState(chunks_done, now, now, 0))
    if reset:
        return WatchStep(None, WatchState(chunks_done, stored.moved_at, now, stored.requeues))
    if now - stored.since < stuck_seconds:
        return WatchStep(None, stored)
    if stored.requeues < max_requeues:
        return WatchStep("requeue", WatchState(chunks_done, stored.moved_at, now,
                                               stored.requeues + 1))
    return WatchStep("fail", WatchState(chunks_done, stored.moved_at, now, stored.requeues))


#: Trial indices ``JobStore.best`` returns at most, unless asked for more (a status view's share).
BEST_TRIALS = 10


@dataclass(frozen=True)
class StoredBest:
    """The best grid point among a sweep's saved chunks, as the store keeps it.

    ``trials`` are the first of its trial indices (at most what ``best`` was asked for), in
    order; ``n_trials`` counts them all.
    """

    setting: int
    score: float
    score_std: float
    trials: builtins.list[int]
    n_trials: int


#: A grid point's aggregate: (trial index, trial_value) of each of its saved trials, by index.
PointValues = builtins.list[tuple[int, float | None]]


@dataclass(frozen=True)
class MergedPoint:
    """A grid point after a chunk's trials were merged in: what the store writes back."""

    setting: int
    blob: bytes  # ``encode_point`` of its values: what the next merge reads
    score: float | None  # None: not a candidate (a trial not ok)
    score_std: float | None
    rank: float | None  # what the ranking orders by, lowest first (``optimizers.spec.rank_key``)
    n_trials: int
    head: builtins.list[int]  # its first ``BEST_TRIALS`` trial indices: what a view reads
    old_score: float | None = None  # its score before the merge (None: none)

    @property
    def summary(self) -> bytes:
        """What ``best`` reads of a scored point, whatever its size: score, spread (exact:
        orjson writes the shortest repr that reads back as the same float), trial count and
        first trials."""
        return orjson.dumps([self.score, self.score_std, self.n_trials, self.head])


def scoring_of(spec: SpecData) -> tuple[Metric, int]:
    """The metric and the number of grid points of a stored (normalised) spec: what merging
    trials into grid points needs, read off the JSON without parsing it as a ``SweepSpec``
    (every entry's grid, schedule and clip lists)."""
    return spec.get("metric", "final_loss"), max(1, settings_count(spec))


def encode_point(values: PointValues) -> bytes:
    """A grid point's aggregate as stored: a JSON list of [trial, value] (floats exact)."""
    return orjson.dumps(values)


def decode_point(blob: bytes | None) -> PointValues:
    """``encode_point`` reversed; nothing stored is no trial."""
    return [] if blob is None else [(int(i), v) for i, v in orjson.loads(blob)]


def touched_points(records: Iterable[ScoreSummary], n_settings: int) -> builtins.list[int]:
    """The grid points a chunk's records (or their summaries) belong to, in order."""
    return sorted({int(r["index"]) % n_settings for r in records})


def merge_points(stored: Mapping[int, bytes | None], records: Iterable[ScoreSummary],
                 metric: Metric, n_settings: int) -> builtins.list[MergedPoint]:
    """Merge a chunk's records (or their score summaries) into the stored aggregates of the grid
    points they touch (``stored``: setting → its blob, None if it has none yet).

    The score is ``optimizers.results.point_score`` over the merged values in trial order — the
    score ``assemble`` gives over the same records. A trial already in an aggregate is kept
    once.
    """
    new: dict[int, builtins.list[tuple[int, float | None]]] = {}
    for record in records:
        index = int(record["index"])
        new.setdefault(index % n_settings, []).append((index, trial_value(record, metric)))
    points = []
    for setting in sorted(new.keys() | stored.keys()):
        blob, arrived = stored.get(setting), new.get(setting, [])
        old: tuple[float, float] | None = None
        if blob is None and len(arrived) == 1:  # a point's first trial: most points, most saves
            values = arrived
            scored = None if arrived[0][1] is None else (arrived[0][1], 0.0)  # point_score's
        else:
            known = dict(decode_point(blob))
            if known:
                old = point_score([v for _, v in sorted(known.items())])
            for index, value in arrived:
                known.setdefault(index, value)
            values = sorted(known.items())
            scored = point_score([v for _, v in values])
        points.append(MergedPoint(setting, encode_point(values),
                                  None if scored is None else scored[0],
                                  None if scored is None else scored[1],
                                  None if scored is None else rank_key(scored[0], metric),
                                  len(values), [i for i, _ in values[:BEST_TRIALS]],
                                  None if old is None else old[0]))
    return points


class FactorsCache:
    """The ``optimizers.moments.Factors`` of the sweeps a store saves chunks of, by sweep id:
    the last ``size`` (a sampled key's factors hold a byte per setting)."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._entries: OrderedDict[str, Factors] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sweep_id: str, spec: SpecData) -> Factors:
        with self._lock:
            factors = self._entries.get(sweep_id)
            if factors is not None:
                self._entries.move_to_end(sweep_id)
                return factors
        factors = Factors(spec)
        with self._lock:
            self._entries[sweep_id] = factors
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return factors


def merge_moments(stored: bytes | None, factors: Factors,
                  merged: Iterable[MergedPoint]) -> bytes | None:
    """The sweep's ``Moments`` (as stored: None for none yet) with the score changes of the
    merged grid points applied — what importance and the marginal means are read from; None if
    no score changed and none was stored. Exact sums: any order of chunks gives the same bytes.
    With ``stored`` None it is the chunk's *delta* alone (old scores removed, new added), which
    a store may keep per chunk and add up (``Moments.add``) instead of one shared state."""
    changes = [(p.setting, p.old_score, p.score) for p in merged if p.old_score != p.score]
    if not changes:
        return stored
    moments = Moments(factors) if stored is None else Moments.from_bytes(stored, factors)
    moments.update_many(changes)
    return moments.to_bytes()


def best_of(setting: int, summary: bytes, blob: Callable[[], bytes | None],
            max_trials: int) -> StoredBest:
    """A ``StoredBest`` from a scored grid point's ``MergedPoint.summary``; its full aggregate
    (``blob``) is read only if more than its first trials are asked for."""
    score, std, n_trials, head = orjson.loads(summary)
    trials = head if max_trials <= len(head) or n_trials == len(head) else [
        index for index, _ in decode_point(blob())]
    return StoredBest(setting, float(score), float(std), trials[:max_trials], int(n_trials))


#: How a page of a sweep's trials is ordered: by trial index, or best first by the trial's own
#: metric (``TrialKey.rank``).
TrialOrder = Literal["index", "score"]
#: A trial's statuses, the values of ``TrialRef.status``.
TRIAL_STATUSES: tuple[str, ...] = get_args(TrialStatus)


@dataclass(frozen=True, order=True)
class TrialKey:
    """Where a trial sits in a page order: its rank, then its index (the order=score key; the
    order=index key is the index alone).

    ``rank`` is ``optimizers.spec.rank_key`` of its ``trial_value`` (the metric, negated where
    higher is better), so the best ranks lowest; ``math.inf`` for a trial without a value (not
    ok), which therefore come last, by index."""

    rank: float
    index: int


@dataclass(frozen=True)
class TrialRef:
    """A saved trial as the store's trial index holds it: where its record is, and its key."""

    index: int
    chunk: int
    status: str
    rank: float

    @property
    def key(self) -> TrialKey:
        """Its place in the order=score order."""
        return TrialKey(self.rank, self.index)


def trial_refs(records: Iterable[ScoreSummary], chunk: int, metric: Metric) -> builtins.list[TrialRef]:
    """The trial index's entries for a chunk's records (or their summaries)."""
    refs = []
    for record in records:
        value = trial_value(record, metric)
        refs.append(TrialRef(int(record["index"]), int(chunk), record["status"],
                             math.inf if value is None else rank_key(value, metric) + 0.0))  # no -0.0
    return refs


K = TypeVar("K")
V = TypeVar("V")


class ByteBoundedCache(Generic[K, V]):
    """A thread-safe LRU cache bounded by the bytes its entries stand for, not their count.

    Each entry is put with its size (e.g. the JSON it was parsed from); least recently used
    entries go once the sizes add up to more than ``max_bytes``; an entry larger than that is
    not kept at all. So 10,000 small sweeps and one huge one cost at most ``max_bytes`` (times
    what a parsed byte costs) however long the process lives.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The entry, now the most recently used; None if absent."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` as standing for ``size`` bytes (not if that is over the bound)."""
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    @property
    def size_bytes(self) -> int:
        """The sizes of the entries kept, added up."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


#: What a store's cache of parsed specs may stand for, in bytes of their JSON.
SPEC_CACHE_BYTES = 32 * 2**20


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

    def save_chunk(self, sweep_id: str, chunk: int, records: Sequence[TrialRecord],
                   add_chunks: int = 0, trial_steps: int = 0) -> int | None:
        """Store a chunk's trial records once; ``chunks_done`` after this save if it was the
        first save of that chunk, None if the chunk was already stored. The first save also
        adds ``trial_steps`` (the steps the chunk ran, over its trials) to the sweep's and
        ``add_chunks`` to ``n_chunks``, in the same atomic step (a pruned sweep's rung
        adds the next stage's chunks: once, however many workers save it)."""

    def put_blobs(self, sweep_id: str, blobs: Mapping[str, bytes]) -> None:
        """Store values under names of the sweep's (a pruned sweep's chunk plans, the
        checkpoints and paused records of its stages), replacing any under the same name;
        each value at most ``max_value_bytes()``. Deleted with the sweep."""

    def blobs(self, sweep_id: str, names: Iterable[str]) -> dict[str, bytes]:
        """The values stored under these names (names with none left out)."""

    def delete_blobs(self, sweep_id: str, names: Iterable[str]) -> None:
        """Delete the values stored under these names (none: nothing)."""

    def saved_chunks(self, sweep_id: str) -> set[int]:
        """The indices of the chunks stored so far."""

    def chunk_records(self, sweep_id: str,
                      chunks: Iterable[int]) -> builtins.list[TrialRecord]:
        """The trial records of these stored chunks (chunks not stored are skipped)."""

    def chunk_scores(self, sweep_id: str,
                     chunks: Iterable[int]) -> builtins.list[ScoreSummary]:
        """``optimizers.results.score_summaries`` of these stored chunks' records — kept beside
        the records when the chunk is saved, so scoring never parses the curves. (Summaries
        saved before they held diverged_at and error lack those two: read them with ``get``.)"""

    def records(self, sweep_id: str) -> builtins.list[TrialRecord]:
        """Every trial record of every stored chunk, in no particular order."""

    def trial_page(self, sweep_id: str, order: TrialOrder, status: str | None,
                   after: TrialKey | None, limit: int) -> builtins.list[TrialRef]:
        """Up to ``limit`` saved trials (of ``status`` only, if given) that come after ``after``
        (None: from the first) in ``order``: by index, or by ``TrialKey`` (rank, then index).
        Read from the trial index ``save_chunk`` keeps: O(log n + limit) at any sweep size."""

    def trial_counts(self, sweep_id: str) -> dict[str, int]:
        """How many saved trials the sweep has of each status (statuses with none left out)."""

    def reindex_trials(self, sweep_id: str) -> int:
        """Rebuild the trial index and its counts from the stored chunks' score summaries (a
        sweep saved before stores kept the index); how many trials it holds. Idempotent; for
        finished sweeps, whose chunks no longer change."""

    def count_saved(self, sweep_id: str, lo: int, hi: int) -> int:
        """How many trials with ``lo <= index < hi`` are saved."""

    def moments(self, sweep_id: str) -> bytes | None:
        """The sweep's ``optimizers.moments.Moments`` as ``save_chunk`` keeps them (None before
        any grid point has a score): importance and marginal means at any sweep size."""

    def top_points(self, sweep_id: str, limit: int) -> builtins.list[StoredBest]:
        """The ``limit`` best-scoring grid points (``best``'s order), best first, each with all
        its trial indices."""

    def best(self, sweep_id: str, max_trials: int = BEST_TRIALS) -> StoredBest | None:
        """The lowest-scoring grid point among the stored chunks (ties: the lowest grid index),
        with its first ``max_trials`` trial indices; None before any point has a score. Read
        from the aggregates ``save_chunk`` keeps: the same cost at any sweep size."""

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

    def put_dataset(self, dataset_id: str, meta: bytes, data: bytes, now: float) -> bool:
        """Store an uploaded dataset once: its description (JSON) and its data
        (``optimizers.datasets.canonical_bytes``); False, and no change, if its id is stored."""

    def dataset_meta(self, dataset_id: str) -> bytes | None:
        """A stored dataset's description, or None if there is no such dataset."""

    def dataset_data(self, dataset_id: str) -> bytes | None:
        """A stored dataset's data, or None if there is no such dataset."""

    def datasets(self) -> builtins.list[bytes]:
        """Every stored dataset's description, oldest first."""

    def delete_dataset(self, dataset_id: str) -> bool:
        """Delete a stored dataset; False if there was none."""

    def record_chunk_run(self, seconds: float, trials: int) -> None:
        """Add one chunk's run time (to its ``chunk_seconds_bucket``) and trial count."""

    def chunk_stats(self) -> ChunkStats:
        """The totals ``record_chunk_run`` has added up."""

    def heartbeat(self, worker: str, now: float) -> None:
        """Record that ``worker`` is alive at ``now``."""

    def live_workers(self, since: float) -> builtins.list[str]:
        """Workers whose last heartbeat is at or after ``since``."""

    def watch_step(self, sweep_id: str, chunks_done: int, now: float, stuck_seconds: float,
                   max_requeues: int, reset: bool) -> WatchStep:
        """Read the sweep's watchdog clocks, apply ``decide_watch`` and store the result, in
        one atomic step; what it decided."""

    def lease(self, sweep_id: str, chunk: int, owner: str, seconds: float) -> None:
        """``owner`` holds the chunk's lease for ``seconds`` from now (taken over from any
        other owner: the last to start a chunk holds it)."""

    def leased(self) -> set[tuple[str, int]]:
        """The (sweep, chunk) of every lease (expired or not)."""

    def lease_owner(self, sweep_id: str, chunk: int) -> str | None:
        """Who holds the chunk's lease (even if expired but not claimed yet); None: nobody."""

    def renew_leases(self, owner: str, seconds: float,
                     chunks: Iterable[tuple[str, int]]) -> int:
        """Extend the leases of these (sweep, chunk) that ``owner`` still holds to ``seconds``
        from now; how many. (Its other leases are left to expire: a chunk the owner handed
        back while the broker was unreachable must not stay covered by its lease forever.)"""

    def release_lease(self, sweep_id: str, chunk: int, owner: str) -> bool:
        """Drop the chunk's lease if ``owner`` still holds it; whether it did."""

    def release_owner(self, owner: str) -> builtins.list[tuple[str, int]]:
        """Drop every lease ``owner`` holds; the (sweep, chunk) of each."""

    def claim_expired(self, limit: int = 1000) -> builtins.list[tuple[str, int]]:
        """Remove up to ``limit`` leases past their expiry and return their (sweep, chunk): one
        atomic step, so two scanners never claim the same lease."""

    def close(self) -> None:
        """Release connections."""


def finished_statuses() -> Iterable[SweepStatus]:
    """The statuses a sweep never leaves."""
    return [s for s in SweepStatus if s.is_finished()]


__all__ = ["BEST_TRIALS", "CHUNK_SECONDS_BUCKETS", "MAX_VALUE_BYTES", "SPEC_CACHE_BYTES",
           "Backlogged", "ByteBoundedCache", "ChunkStats", "FactorsCache", "JobStore", "MergedPoint",
           "PointValues", "StoreRejected", "StoreUnavailable", "StoredBest", "SweepDocument",
           "SweepRecord", "SweepSummaryDocument",
           "TRIAL_STATUSES", "TrialKey", "TrialOrder", "TrialRef", "WatchState", "WatchStep", "best_of", "check_value_size", "chunk_seconds_bucket",
           "decide_watch", "decode_point",
           "encode_point", "finished_statuses", "max_value_bytes", "merge_moments", "merge_points",
           "over_limit", "scoring_of", "touched_points", "trial_refs"]
