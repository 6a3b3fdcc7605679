"""A sweep's life in the store: submitted, cut into chunks, each chunk run and saved, finished.

The same functions serve both modes: the Celery task and the local pool's worker processes both
call ``execute_chunk``; the API calls ``submit_sweep``, ``results_document`` and ``cancel_sweep``.

- ``submit_sweep`` stores the normalised spec and its chunking, then hands every chunk to an
  executor (Celery or the local pool).
- ``execute_chunk`` skips a chunk whose sweep is finished (cancelled) or already saved, runs it
  through ``optimizers.run_chunk`` — polling the store for a cancel mark every
  ``CANCEL_POLL_SECONDS`` between windows — saves its records idempotently, and, when it was the
  sweep's last chunk, assembles and stores the results document once.
- ``results_document`` is the stored document of a succeeded sweep, or one assembled from the
  chunks saved so far for any other status (partial results of a cancelled sweep are kept).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from optimizers import (
    SweepCancelled,
    SweepSpec,
    SweepStatus,
    assemble,
    chunk_bounds,
    parse_spec,
    run_chunk,
)
from optimizers.results import failed_records
from optimizers.spec import UNLIMITED

from .store import JobStore, SweepRecord

CANCEL_POLL_SECONDS = 0.5


class Executor(Protocol):
    """Something that runs ``execute_chunk(store, sweep_id, chunk)`` somewhere, eventually."""

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        """Queue these chunks of the sweep."""

    def queue_depth(self) -> int:
        """Chunks waiting to run."""


def new_sweep_id() -> str:
    """A fresh sweep id: 32 hex digits."""
    return uuid.uuid4().hex


def chunk_range(record: SweepRecord, chunk: int) -> tuple[int, int]:
    """The trials ``(start, stop)`` of chunk number ``chunk``.

    The store keeps only the number of chunks n; chunk i holds trials [i·s, min((i+1)·s, T))
    with s = ⌈T/n⌉, which makes exactly n chunks, none empty, for any n that
    ``optimizers.chunk_bounds`` chose.
    """
    size = record.chunk_size
    return chunk * size, min((chunk + 1) * size, record.total)


def submit_sweep(store: JobStore, executor: Executor, spec: SweepSpec, *, chunk_work: float,
                 min_chunks: int = 1, now: float | None = None) -> SweepRecord:
    """Store a validated sweep as queued and queue all its chunks; its record."""
    n_chunks = len(chunk_bounds(spec, min_chunks=min_chunks, target_work=chunk_work))
    record = SweepRecord(id=new_sweep_id(), name=spec.name, status=SweepStatus.QUEUED,
                         spec=spec.model_dump(mode="json"), total=spec.n_trials, done=0,
                         n_chunks=n_chunks, chunks_done=0,
                         created_at=time.time() if now is None else now)
    store.create(record)
    executor.submit(record.id, list(range(record.n_chunks)))
    return record


def stored_spec(record: SweepRecord) -> SweepSpec:
    """The sweep's spec, as normalised and checked against the limits when it was submitted."""
    return parse_spec(record.spec, UNLIMITED)


def execute_chunk(store: JobStore, sweep_id: str, chunk: int) -> int:
    """Run one chunk of a sweep and save it; how many trials it ran (0 if skipped)."""
    record = store.get(sweep_id)
    if record is None or record.status.is_finished():
        return 0
    if chunk in store.saved_chunks(sweep_id):  # delivered again: saved already
        _finish_if_complete(store, record, record.chunks_done)
        return 0
    store.mark_running(sweep_id, time.time())
    start, stop = chunk_range(record, chunk)
    started = time.perf_counter()
    try:
        records = run_chunk(stored_spec(record), start, stop,
                            should_stop=_cancel_poll(store, sweep_id))
    except SweepCancelled:
        return 0
    seconds = time.perf_counter() - started
    chunks_done = store.save_chunk(sweep_id, chunk, records)
    if chunks_done is None:  # saved by another delivery — or by this call, its reply lost
        latest = store.get(sweep_id)
        if latest is not None:
            _finish_if_complete(store, latest, latest.chunks_done)
        return 0
    store.record_chunk_run(seconds, len(records))
    _finish_if_complete(store, record, chunks_done)
    return len(records)


def fail_chunk(store: JobStore, sweep_id: str, chunk: int, message: str) -> None:
    """Save a chunk that cannot run as failed trials with ``message``, so the sweep ends."""
    record = store.get(sweep_id)
    if record is None or record.status.is_finished():
        return
    start, stop = chunk_range(record, chunk)
    chunks_done = store.save_chunk(sweep_id, chunk,
                                   failed_records(stored_spec(record).trials(start, stop), message))
    latest = store.get(sweep_id) if chunks_done is None else record
    if latest is not None:
        _finish_if_complete(store, latest, chunks_done or latest.chunks_done)


def _cancel_poll(store: JobStore, sweep_id: str) -> Callable[[], bool]:
    """A ``should_stop`` that asks the store at most every ``CANCEL_POLL_SECONDS``."""
    next_poll = time.monotonic() + CANCEL_POLL_SECONDS

    def should_stop() -> bool:
        nonlocal next_poll
        if time.monotonic() < next_poll:
            return False
        next_poll = time.monotonic() + CANCEL_POLL_SECONDS
        record = store.get(sweep_id)
        return record is None or record.status == SweepStatus.CANCELLED

    return should_stop


def _finish_if_complete(store: JobStore, record: SweepRecord, chunks_done: int) -> None:
    """Once every chunk is saved: assemble the results document and store it, once."""
    if chunks_done < record.n_chunks:
        return
    document = _assemble(record, store.records(record.id), SweepStatus.SUCCEEDED)
    store.finish(record.id, SweepStatus.SUCCEEDED, time.time(), results=orjson.dumps(document))


def _assemble(record: SweepRecord, records: list[dict[str, Any]],
              status: SweepStatus) -> dict[str, Any]:
    return {"id": record.id, **assemble(stored_spec(record), records, status=status)}


def results_document(store: JobStore, record: SweepRecord) -> bytes:
    """The results document as JSON bytes: stored once the sweep succeeded, else assembled
    from the chunks saved so far, with the sweep's current status."""
    if record.status == SweepStatus.SUCCEEDED:
        stored = store.results(record.id)
        if stored is not None:
            return stored
    return orjson.dumps(_assemble(record, store.records(record.id), record.status))


def resume_unfinished(store: JobStore, executor: Executor) -> list[str]:
    """Queue again the chunks of every unfinished sweep that are not saved yet (after a
    restart of embedded mode, whose queue lived in the dead process); the ids resumed."""
    resumed = []
    for record in store.unfinished():
        missing = sorted(set(range(record.n_chunks)) - store.saved_chunks(record.id))
        if missing:
            executor.submit(record.id, missing)
        else:
            _finish_if_complete(store, record, record.n_chunks)
        resumed.append(record.id)
    return resumed


def delete_expired(store: JobStore, retention_days: float, now: float | None = None) -> int:
    """Delete sweeps that finished more than ``retention_days`` ago; how many."""
    now = time.time() if now is None else now
    return store.delete_finished_before(now - retention_days * 86_400)


__all__ = ["CANCEL_POLL_SECONDS", "delete_expired", "fail_chunk", "Executor", "chunk_range", "execute_chunk", "new_sweep_id",
           "results_document", "resume_unfinished", "stored_spec", "submit_sweep"]
