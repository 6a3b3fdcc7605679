"""The sweep service: what can be done to sweeps, in one place, for the API, the CLI and tests.

A route validates its input, calls one method here and turns the answer into its model; every
rule about sweeps — the backlog limit, which sweeps may be cancelled, what the best so far is,
when the service is ready — lives here, on top of the job store (``workers.store``) and the
life cycle of ``workers.jobs``. The service raises its own exceptions, which the API maps to
statuses once (``service.errors``):

=====================  ======  ===============================================================
exception              status  when
=====================  ======  ===============================================================
``SweepNotFound``      404     no sweep has this id (never existed, or deleted by retention)
``AlreadyFinished``    409     cancel of a sweep that succeeded or failed
``Backlogged``         429     submit while the chunks waiting to run would exceed the limit
``StoreUnavailable``   503     the job store (or, in cluster mode, the broker) cannot be reached
=====================  ======  ===============================================================
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from optimizers import SweepSpec, SweepStatus
from optimizers.records import TrialRow
from optimizers.results import Best
from optimizers.runner import TARGET_CHUNK_WORK

from .jobs import Executor, csv_rows, results_document, stored_spec, submit_sweep
from .overview import overview
from .store import BEST_TRIALS, Backlogged, JobStore, StoreUnavailable, SweepRecord, TrialOrder
from .trials import PAGE_DEFAULT, Item, TrialPage, iter_trials, one_trial, trial_page


class SweepNotFound(LookupError):
    """No sweep has this id."""

    def __init__(self, sweep_id: str) -> None:
        super().__init__(f"no sweep {sweep_id}")
        self.sweep_id = sweep_id


class AlreadyFinished(Exception):
    """The sweep cannot be cancelled: it has already succeeded or failed."""

    def __init__(self, record: SweepRecord) -> None:
        super().__init__(f"sweep {record.id} has already {record.status.value}")
        self.record = record


@dataclass(frozen=True)
class SweepState:
    """A sweep's record and its best grid point so far (None before any chunk has a score),
    with the best's first ``BEST_TRIALS`` trial indices and their count."""

    record: SweepRecord
    best: Best | None


@dataclass(frozen=True)
class Readiness:
    """Whether the service can do work, and the checks that say so (store, live workers)."""

    ready: bool
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepService:
    """Sweeps on one job store and one executor.

    Args:
      store: the job store (SQLite in embedded mode, Redis in cluster mode).
      executor: runs the chunks (the local pool, or Celery).
      mode: "embedded" or "cluster"; a cluster is ready only with a live worker.
      chunk_work: the work (trials × steps × dim) a chunk is cut to.
      min_chunks: cut a sweep into at least this many chunks where that leaves them big enough
        (``optimizers.chunk_bounds``).
      chunk_size: trials per chunk, whatever the work (None: cut by ``chunk_work``).
      max_pending_chunks: the backlog limit of ``submit`` (None: no limit).
      worker_timeout: seconds since its last heartbeat after which a worker counts as gone.
      clock: the wall clock (tests pass their own).
    """

    store: JobStore
    executor: Executor
    mode: str = "embedded"
    chunk_work: float = TARGET_CHUNK_WORK
    min_chunks: int = 1
    chunk_size: int | None = None
    max_pending_chunks: int | None = None
    worker_timeout: float = 30.0
    clock: Callable[[], float] = time.time

    def submit(self, spec: SweepSpec) -> SweepRecord:
        """Store a validated sweep and queue its chunks; its record (queued).

        Raises:
          Backlogged: the chunks waiting to run, with this sweep's, would exceed
            ``max_pending_chunks``; nothing was stored.
          StoreUnavailable: the store or the broker could not be reached.
        """
        return submit_sweep(self.store, self.executor, spec, chunk_work=self.chunk_work,
                            min_chunks=self.min_chunks, chunk_size=self.chunk_size,
                            max_pending_chunks=self.max_pending_chunks, now=self.clock())

    def record(self, sweep_id: str) -> SweepRecord:
        """The sweep's record; ``SweepNotFound`` if there is none."""
        record = self.store.get(sweep_id)
        if record is None:
            raise SweepNotFound(sweep_id)
        return record

    def get(self, sweep_id: str) -> SweepState:
        """The sweep's record and best so far; ``SweepNotFound`` if there is none."""
        return self.state(self.record(sweep_id))

    def state(self, record: SweepRecord) -> SweepState:
        """``record`` with its best so far."""
        return SweepState(record, self.best(record))

    def list(self, status: SweepStatus | None, limit: int,
             offset: int) -> tuple[builtins.list[SweepState], int]:
        """A page of sweeps, newest first, each with its best so far; and how many match."""
        records, total = self.store.list(status, limit, offset)
        return [self.state(r) for r in records], total

    def cancel(self, sweep_id: str) -> SweepState:
        """Cancel a queued or running sweep (chunks not started never run, running ones stop at
        their next check; the chunks done so far are kept); its state after.

        Cancelling a cancelled sweep again is allowed and changes nothing.

        Raises:
          SweepNotFound: no such sweep.
          AlreadyFinished: it has succeeded or failed.
        """
        record = self.record(sweep_id)
        if not record.status.is_finished() and self.store.cancel(sweep_id, self.clock()):
            return self.get(sweep_id)
        record = self.record(sweep_id)  # it may have finished in between
        if record.status != SweepStatus.CANCELLED:
            raise AlreadyFinished(record)
        return self.state(record)

    def results(self, sweep_id: str) -> bytes:
        """The results document as JSON: the stored one of a succeeded sweep, else one assembled
        from the chunks saved so far."""
        return results_document(self.store, self.record(sweep_id))

    def indexed(self, sweep_id: str) -> SweepRecord:
        """The sweep's record, its trial index rebuilt first if it is a finished sweep saved
        before stores kept one (its index holds fewer trials than it has done)."""
        record = self.record(sweep_id)
        if record.status.is_finished() and sum(
                self.store.trial_counts(sweep_id).values()) < record.done:
            self.store.reindex_trials(sweep_id)
        return record

    def trials(self, sweep_id: str, *, limit: int = PAGE_DEFAULT, cursor: str | None = None,
               order: TrialOrder = "index", status: str | None = None,
               curves: bool = True) -> TrialPage:
        """A page of the sweep's saved trials (``workers.trials.trial_page``).

        Raises:
          SweepNotFound: no such sweep.
          BadCursor: ``cursor`` is not a ``next`` of a page of this order and status.
        """
        record = self.indexed(sweep_id)
        return trial_page(self.store, record, stored_spec(record, self.store), limit=limit,
                          cursor=cursor, order=order, status=status, curves=curves)

    def trial(self, sweep_id: str, index: int, *, curves: bool = True) -> Item | None:
        """Trial ``index`` of the sweep, or None while it is not saved
        (``workers.trials.one_trial``).

        Raises:
          SweepNotFound: no such sweep.
        """
        record = self.indexed(sweep_id)
        return one_trial(self.store, record, stored_spec(record, self.store), index, curves)

    def stream(self, sweep_id: str, *, curves: bool = True,
               status: str | None = None) -> Iterator[Item]:
        """Every trial saved so far, in index order, read a page at a time
        (``workers.trials.iter_trials``: the first page is read now)."""
        record = self.indexed(sweep_id)
        return iter_trials(self.store, record, stored_spec(record, self.store), curves=curves,
                           status=status)

    def overview(self, sweep_id: str, sample_points: int) -> dict[str, Any]:
        """The quantile bands and sample of the sweep's curves saved so far
        (``workers.overview.overview``)."""
        record = self.record(sweep_id)
        return overview(self.store, record, stored_spec(record, self.store),
                        sample_points=sample_points)

    def csv(self, sweep_id: str) -> tuple[builtins.list[str], tuple[str, ...],
                                          Iterator[TrialRow]]:
        """The grid's keys, the metrics its objective records, and the sweep's trials without
        curves, in index order, read from the chunks' score summaries a page at a time (the
        first page is read now, so a missing sweep or an unreachable store is raised here, not
        while streaming)."""
        record = self.indexed(sweep_id)
        rows = csv_rows(self.store, record)
        spec = stored_spec(record, self.store)
        return spec.setting_keys, spec.objective.metrics(), rows

    def best(self, record: SweepRecord) -> Best | None:
        """The best grid point among the chunks of ``record`` saved so far (None before any
        has a score), with its first ``BEST_TRIALS`` trial indices and their count.

        The store keeps it (merged in as each chunk is saved, read in one index step), so this
        costs the same at 10 trials and at a million; the parsed spec that names the point's
        hyperparameters is cached, bounded in bytes (``workers.jobs.stored_spec``)."""
        if record.chunks_done == 0:
            return None
        best = self.store.best(record.id, BEST_TRIALS)
        if best is None:
            return None
        try:
            spec = stored_spec(record, self.store)
        except ValueError:  # a spec that no longer parses: its sweep is failed, it still answers
            return None
        return Best(params=spec.setting(best.setting), score=best.score,
                    score_std=best.score_std, trials=best.trials, n_trials=best.n_trials)

    def readiness(self) -> Readiness:
        """Ready: the job store answers and, in cluster mode, a worker sent a heartbeat within
        ``worker_timeout`` seconds. The checks name the mode, the store's state, the live
        workers and, when not ready, the reason."""
        checks: dict[str, Any] = {"mode": self.mode}
        try:
            self.store.ping()
        except StoreUnavailable as exc:
            checks.update(store=f"unavailable: {exc}", reason="the job store cannot be reached")
            return Readiness(False, checks)
        checks["store"] = "ok"
        if self.mode == "cluster":
            workers = self.store.live_workers(self.clock() - self.worker_timeout)
            checks["workers"] = len(workers)
            if not workers:
                checks["reason"] = (f"no worker has sent a heartbeat in the last "
                                    f"{self.worker_timeout:g} s")
                return Readiness(False, checks)
        return Readiness(True, checks)


__all__ = ["AlreadyFinished", "Backlogged", "Readiness", "SweepNotFound", "SweepService",
           "SweepState"]
