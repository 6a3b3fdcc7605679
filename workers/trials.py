"""A sweep's trials a page at a time, and as one stream: what ``GET …/trials``,
``…/trials.ndjson`` and ``…/results.csv`` serve, never holding a large sweep in memory.

A page is read from the store's trial index (``JobStore.trial_page``: index, chunk, status and
rank of every saved trial, O(log n + page)) and then from the few chunks its trials are in.
Saved chunks never change, so the chunks parsed for one page are kept for the next ones
(``CHUNK_CACHE_BYTES``, least recently used first): paging a sweep from start to end parses
each chunk once.

Orders, and what the cursor promises:

- ``index``: by trial index. While the sweep runs, a page stops before the first trial not yet
  saved (its ``next`` is set, its items may be empty): a reader that follows ``next`` gets every
  trial exactly once, in index order, however the chunks land. A finished sweep's pages skip
  the trials that never ran (a cancelled sweep's).
- ``score``: best first by the trial's own metric (``TrialKey``: the spec's metric, negated
  where higher is better; ties by index), then the trials without a value (diverged, pruned,
  failed) by index. A running sweep's trials that land before the cursor's place are not
  returned to a reader past it.

A cursor is opaque text (URL-safe base64 of JSON): the order, the status filter and the key of
the last trial given. ``next`` is null once a finished sweep has no more trials after it; while
the sweep runs it is always set. A cursor of another order or filter is refused (``BadCursor``).
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from optimizers import SweepSpec
from optimizers.records import ScoreSummary, TrialRecord, TrialRow
from optimizers.results import validation_metrics

from .store import ByteBoundedCache, JobStore, SweepRecord, TrialKey, TrialOrder, TrialRef

#: The largest page ``trial_page`` gives, and its default.
PAGE_MAX = 1000
PAGE_DEFAULT = 100
#: What the parsed chunks kept for the next pages may hold, in (estimated) bytes of Python
#: objects: a trial's dicts, and each recorded point of its curve (a step and a loss, with
#: their list slots).
CHUNK_CACHE_BYTES = 64 * 2**20
PARSED_TRIAL_BYTES = 1500
PARSED_POINT_BYTES = 64
#: Trials ``iter_trials`` reads from the index at a time.
STREAM_BATCH = 1000

Item = TrialRecord | TrialRow


class BadCursor(ValueError):
    """A cursor that is not one ``trial_page`` gave for this order and status filter."""


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: its order and status filter, and the last trial's key (None: before
    the first trial)."""

    order: TrialOrder
    status: str | None
    key: TrialKey | None

    def encode(self) -> str:
        """The cursor as opaque URL-safe text."""
        key = None if self.key is None else [_finite(self.key.rank), self.key.index]
        return base64.urlsafe_b64encode(orjson.dumps([self.order, self.status, key])).decode(
        ).rstrip("=")

    @classmethod
    def decode(cls, text: str, order: TrialOrder, status: str | None) -> Cursor:
        """The cursor ``encode`` wrote, checked against the page's ``order`` and ``status``."""
        try:
            data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            got_order, got_status, key = data
            parsed = None if key is None else TrialKey(_infinite(key[0]), _index(key[1]))
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError, IndexError):
            raise BadCursor("not a cursor this endpoint gave (use a page's next)") from None
        if got_order != order or got_status != status:
            raise BadCursor(f"a cursor of order={got_order}"
                            f"{'' if got_status is None else f' and status={got_status}'}: "
                            "ask with the same order and status as the page that gave it")
        return cls(order, status, parsed)


def _finite(rank: float) -> float | str:
    return "inf" if rank == math.inf else rank  # JSON has no infinity


def _infinite(rank: Any) -> float:
    if rank == "inf":
        return math.inf
    if not isinstance(rank, (int, float)) or isinstance(rank, bool):
        raise TypeError(rank)
    return float(rank)


def _index(value: Any) -> int:
    """A cursor's trial index: an integer every store and JSON client holds exactly."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
        raise ValueError(value)
    return value


@dataclass(frozen=True)
class TrialPage:
    """A page of trials; ``next`` the cursor of the page after it (None: nothing more);
    ``total`` the saved trials that match the status filter."""

    items: list[Item]
    next: str | None
    total: int


ChunkCache = ByteBoundedCache[tuple[str, float, int, bool], dict[int, Item]]
#: Each store's parsed chunks, by (sweep id, created_at, chunk, with curves).
_CACHES: weakref.WeakKeyDictionary[JobStore, ChunkCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache(store: JobStore) -> ChunkCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = ByteBoundedCache(CHUNK_CACHE_BYTES)
        return cache


def trial_page(store: JobStore, record: SweepRecord, spec: SweepSpec, *, limit: int = PAGE_DEFAULT,
               cursor: str | None = None, order: TrialOrder = "index",
               status: str | None = None, curves: bool = True) -> TrialPage:
    """A page of the sweep's saved trials (see the module docstring for the orders and the
    cursor); items are results-document trials, without ``curve`` when ``curves`` is False.

    Raises:
      BadCursor: ``cursor`` is not a ``next`` of a page of this order and status filter.
    """
    if not 1 <= limit <= PAGE_MAX:
        raise ValueError(f"limit must be in 1..{PAGE_MAX}")
    after = Cursor.decode(cursor, order, status) if cursor is not None else Cursor(
        order, status, None)
    running = not record.status.is_finished()
    gap = None
    if running and order == "index":  # found before the page is read: see _first_unsaved
        start = 0 if after.key is None else after.key.index + 1
        gap = _first_unsaved(store, record.id, start,
                             start + limit + 1 if status is None else record.total)
    fetched = store.trial_page(record.id, order, status, after.key, limit + 1)
    refs, more = fetched[:limit], len(fetched) > limit
    if gap is not None and any(ref.index >= gap for ref in refs):
        refs, more = [ref for ref in refs if ref.index < gap], True
    counts = store.trial_counts(record.id)
    total = counts.get(status, 0) if status is not None else sum(counts.values())
    last = refs[-1].key if refs else after.key
    following = more or running
    next_cursor = Cursor(order, status, last).encode() if following else None
    return TrialPage(items=read_trials(store, record, spec, refs, curves), next=next_cursor,
                     total=total)


def _first_unsaved(store: JobStore, sweep_id: str, start: int, stop: int) -> int:
    """The first index in ``start..stop-1`` that is not saved (``stop`` if there is none), by
    ``count_saved`` over ranges doubling from ``start``, then halving into the first range
    with a gap.

    Read before the page itself: whatever was saved then is saved when the page is read, so a
    page cut below this index holds every trial of its range — read the other way round, a
    trial saved in between (below a trial the page holds) would be skipped for good."""
    lo, width = start, 1  # every index in start..lo-1 is saved
    while lo < stop:
        hi = min(stop, lo + width)
        if store.count_saved(sweep_id, lo, hi) == hi - lo:
            lo, width = hi, width * 2
            continue
        while hi - lo > 1:  # a gap in lo..hi-1
            mid = (lo + hi) // 2
            if store.count_saved(sweep_id, lo, mid) == mid - lo:
                lo = mid
            else:
                hi = mid
        return lo
    return stop


def read_trials(store: JobStore, record: SweepRecord, spec: SweepSpec,
                refs: Sequence[TrialRef], curves: bool) -> list[Item]:
    """The trials ``refs`` point to, in their order: from each chunk they are in, one chunk at
    a time (a page in score order may take one trial from each of many chunks: only the
    trials are kept, and the chunks the cache keeps, ``CHUNK_CACHE_BYTES``)."""
    wanted: dict[int, list[int]] = {}
    for ref in refs:
        wanted.setdefault(ref.chunk, []).append(ref.index)
    found: dict[int, Item] = {}
    for chunk, indices in wanted.items():
        items = _chunk_trials(store, record, spec, chunk, curves)
        found.update((index, items[index]) for index in indices)
        del items
    return [found[ref.index] for ref in refs]


def _chunk_trials(store: JobStore, record: SweepRecord, spec: SweepSpec, chunk: int,
                  curves: bool) -> dict[int, Item]:
    """A saved chunk's trials by index: its records, or rows built from its score summaries."""
    key, cache = (record.id, record.created_at, chunk, curves), _cache(store)
    found = cache.get(key)
    if found is not None:
        return found
    items: dict[int, Item]
    if curves:
        items = {int(r["index"]): r for r in store.chunk_records(record.id, [chunk])}
        size = len(items) * (PARSED_TRIAL_BYTES + PARSED_POINT_BYTES * spec.curve_length)
    else:
        items = {int(s["index"]): trial_row(spec, s)
                 for s in store.chunk_scores(record.id, [chunk])}
        size = len(items) * PARSED_TRIAL_BYTES
    cache.put(key, items, size)
    return items


def one_trial(store: JobStore, record: SweepRecord, spec: SweepSpec, index: int,
              curves: bool = True) -> Item | None:
    """Trial ``index`` as a page holds it, or None when it is not saved (not yet, or never:
    a cancelled sweep's, or past the last): the trial index's first entry after ``index`` − 1,
    read from its chunk."""
    refs = store.trial_page(record.id, "index", None, TrialKey(math.inf, index - 1), 1)
    if not refs or refs[0].index != index:
        return None
    return read_trials(store, record, spec, refs, curves)[0]


def trial_row(spec: SweepSpec, summary: ScoreSummary) -> TrialRow:
    """A trial without its curve, from its score summary and the spec: trial i is grid point
    i mod n_settings with seed number i div n_settings. Summaries saved before they held
    diverged_at and error give None for them."""
    index = int(summary["index"])
    setting = index % spec.n_settings
    row: TrialRow = {
        "index": index, "seed": spec.seed_list[index // spec.n_settings],
        "params": spec.setting(setting), "optimizer": spec.entry_of(setting).name,
        "status": summary["status"], "final_loss": summary.get("final_loss"),
        "min_loss": summary.get("min_loss"), "mean_loss": summary.get("mean_loss"),
        "diverged_at": summary.get("diverged_at"), "pruned_at": summary.get("pruned_at"),
        "error": summary.get("error")}
    row.update(validation_metrics(summary))  # type: ignore[typeddict-item]
    return row


def iter_trials(store: JobStore, record: SweepRecord, spec: SweepSpec, *, curves: bool = True,
                status: str | None = None, batch: int = STREAM_BATCH) -> Iterator[Item]:
    """Every trial saved so far (of ``status``, if given), in index order, ``batch`` at a time:
    what the sweep holds when each batch is read (a running sweep's trials saved later, behind
    the stream's place, are not in it). The first batch is read now, so a missing sweep or an
    unreachable store is raised here, not while iterating."""
    first = store.trial_page(record.id, "index", status, None, batch)

    def stream(refs: list[TrialRef]) -> Iterator[Item]:
        while refs:
            yield from read_trials(store, record, spec, refs, curves)
            if len(refs) < batch:
                return
            refs = store.trial_page(record.id, "index", status, refs[-1].key, batch)

    return stream(first)


__all__ = ["CHUNK_CACHE_BYTES", "PAGE_DEFAULT", "PAGE_MAX", "STREAM_BATCH", "BadCursor", "Cursor",
           "TrialPage", "iter_trials", "one_trial", "read_trials", "trial_page", "trial_row"]
