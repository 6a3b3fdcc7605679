"""Embedded execution: a sweep's chunks spread over a local pool of processes.

``run_local`` runs one sweep to completion for the CLI; ``LocalExecutor`` runs the chunks of
sweeps stored in the SQLite job store for ``gradsweep serve`` in embedded mode.

The sweep is validated once, cut into chunks (``optimizers.chunk_bounds``), and each chunk runs
in a worker process through ``optimizers.run_chunk`` — the same code path as the Celery workers —
with the spec passed as JSON-ready data. The records come back as chunks finish and
``optimizers.assemble`` merges them into the document that ``optimizers.run_sweep`` would have
produced in one process, to the last digit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from functools import lru_cache
from pathlib import Path
from typing import Any

from optimizers import Limits, SweepSpec, assemble, chunk_bounds, parse_spec, run_chunk, run_sweep
from optimizers.runner import Progress, StopCheck

from .jobs import execute_chunk
from .store_sqlite import SQLiteStore

log = logging.getLogger(__name__)

CHUNKS_PER_JOB = 4  # more chunks than processes: an even finish and a smooth progress bar
STOP_POLL_SECONDS = 0.2


def run_local(spec: SweepSpec | Mapping[str, Any] | str | bytes, *, jobs: int | None = None,
              limits: Limits | None = None, progress: Progress | None = None,
              should_stop: StopCheck | None = None,
              chunk_size: int | None = None) -> dict[str, Any]:
    """Run a sweep on ``jobs`` local processes; return the results document.

    Args:
      spec: the sweep (model, dict or JSON text); validated against ``limits`` first.
      jobs: worker processes (default: one per core). With one job, or one chunk, the sweep
        runs in this process.
      progress: called as ``progress(done, total)`` in trials as chunks finish.
      should_stop: polled while chunks run; when it returns True the chunks not yet started are
        dropped, and the document has status "cancelled" with the trials finished so far.
      chunk_size: trials per chunk (default: ``chunk_bounds``'s choice).

    Raises:
      pydantic.ValidationError: the spec is invalid.
    """
    spec = parse_spec(spec, limits)
    jobs = jobs or os.cpu_count() or 1
    bounds = chunk_bounds(spec, chunk_size, min_chunks=jobs * CHUNKS_PER_JOB)
    if jobs == 1 or len(bounds) == 1:
        return run_sweep(spec, limits=limits, progress=progress, should_stop=should_stop,
                         chunk_size=chunk_size)
    data = spec.model_dump(mode="json")
    records: list[dict[str, Any]] = []
    status = "succeeded"
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["optimizers"])
    with ProcessPoolExecutor(min(jobs, len(bounds)), mp_context=context) as pool:
        pending: set[Future[list[dict[str, Any]]]] = {
            pool.submit(_run_chunk, data, limits, start, stop) for start, stop in bounds}
        try:
            while pending:
                done, pending = wait(pending, timeout=STOP_POLL_SECONDS,
                                     return_when=FIRST_COMPLETED)
                for future in done:
                    records += future.result()
                if done and progress is not None:
                    progress(len(records), spec.n_trials)
                if pending and should_stop is not None and should_stop():
                    status = "cancelled"
                    break
        finally:
            for future in pending:
                future.cancel()
    if status == "cancelled":  # chunks already running when asked to stop still count
        records += [r for f in pending if f.done() and not f.cancelled() for r in f.result()]
    return assemble(spec, records, status=status)


def _run_chunk(data: dict[str, Any], limits: Limits | None, start: int,
               stop: int) -> list[dict[str, Any]]:
    """Worker-process side: rebuild the spec from data and run one chunk on one thread."""
    return run_chunk(parse_spec(data, limits), start, stop, threads=1)




class LocalExecutor:
    """Embedded mode's executor: chunks of stored sweeps run in a local process pool.

    Each worker process opens its own connection to the SQLite store at ``store_path`` and runs
    ``workers.jobs.execute_chunk``, exactly what a Celery worker does with a Redis store. Chunks
    run in the order they were submitted; the queue lives in this process, so after a restart
    ``workers.jobs.resume_unfinished`` queues again what was not saved.
    """

    def __init__(self, store_path: Path, jobs: int | None = None) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["optimizers", "workers.jobs", "workers.store_sqlite"])
        self._pool = ProcessPoolExecutor(jobs or os.cpu_count() or 1, mp_context=context)
        self._store_path = str(store_path)
        self._lock = threading.Lock()
        self._pending = 0

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        """Queue these chunks of the sweep."""
        for chunk in chunks:
            future = self._pool.submit(_execute_stored_chunk, self._store_path, sweep_id, chunk)
            with self._lock:
                self._pending += 1
            future.add_done_callback(self._done)

    def _done(self, future: Future[int]) -> None:
        with self._lock:
            self._pending -= 1
        if not future.cancelled() and future.exception() is not None:
            log.error("a chunk failed outside the engine", exc_info=future.exception())

    def queue_depth(self) -> int:
        """Chunks queued or running."""
        with self._lock:
            return self._pending

    def close(self) -> None:
        """Stop the pool: chunks not started are dropped (they resume at the next start)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


@lru_cache(maxsize=4)
def _child_store(path: str) -> SQLiteStore:
    """The worker process's connection to the store (one per process, opened on first use)."""
    return SQLiteStore(path)


def _execute_stored_chunk(store_path: str, sweep_id: str, chunk: int) -> int:
    """Worker-process side of ``LocalExecutor``: run one chunk; how many trials ran."""
    return execute_chunk(_child_store(store_path), sweep_id, chunk)


__all__ = ["LocalExecutor", "run_local"]
