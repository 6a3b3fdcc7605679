"""Embedded execution: a sweep's chunks spread over a local pool of processes.

The sweep is validated once, cut into chunks (``optimizers.chunk_bounds``), and each chunk runs
in a worker process through ``optimizers.run_chunk`` — the same code path as the Celery workers —
with the spec passed as JSON-ready data. The records come back as chunks finish and
``optimizers.assemble`` merges them into the document that ``optimizers.run_sweep`` would have
produced in one process, to the last digit.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from optimizers import Limits, SweepSpec, assemble, chunk_bounds, parse_spec, run_chunk, run_sweep
from optimizers.runner import Progress, StopCheck

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


__all__ = ["run_local"]
