"""Embedded execution: a sweep's chunks spread over a local pool of processes.

``LocalExecutor`` runs the chunks of sweeps stored in a SQLite job store: those of
``gradsweep serve`` in embedded mode, and — in a private store of its own — the one sweep of
``run_local`` (``gradsweep run``). So both run a chunk the same way, with the same recovery: each
pool process runs ``workers.jobs.execute_chunk`` (what a Celery worker runs) under a lease it
renews, a hung process is killed, a dead one's chunks run again in a new pool (a chunk caught
in ``MAX_CRASHES`` broken pools is saved as failed trials), and an interrupt is the parent's to
handle (pool processes ignore SIGINT). The last chunk's save assembles the document
(``optimizers.assemble``) that ``optimizers.run_sweep`` would have produced in one process, to
the last digit.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, cast

import orjson

from optimizers import Limits, ResultsDocument, SweepSpec, chunk_bounds, parse_spec, run_sweep
from optimizers.models import LocalDataset, Model
from optimizers.runner import Progress, StopCheck

from .datasets import DatasetCatalog, local_alias
from .jobs import Lease, execute_chunk, fail_chunk, fail_sweep
from .memory import release_memory, rss_bytes
from .settings import get_settings
from .store import StoreUnavailable
from .store_sqlite import SQLiteStore
from .sweeps import SweepService

log = logging.getLogger(__name__)

MAX_CRASHES = 3  # broken pools a chunk may be caught in before its trials are marked failed
CHUNKS_PER_JOB = 4  # more chunks than processes: an even finish and a smooth progress bar
#: How often ``run_local`` reads its sweep's record (progress, the end, a stop request).
WAIT_POLL_SECONDS = 0.02
#: Times a chunk whose store was unavailable (locked past its busy timeout) is run again, each
#: after ``STORE_RETRY_PAUSE`` seconds, before its sweep is marked failed.
MAX_STORE_RETRIES = 5
STORE_RETRY_PAUSE = 1.0


def run_local(spec: SweepSpec | Mapping[str, Any] | str | bytes, *, jobs: int | None = None,
              limits: Limits | None = None, progress: Progress | None = None,
              should_stop: StopCheck | None = None,
              chunk_size: int | None = None) -> ResultsDocument:
    """Run a sweep on ``jobs`` local processes; return the results document.

    The chunks run exactly as embedded ``gradsweep serve`` runs them: the sweep is stored in a
    private SQLite job store (in a temporary directory, deleted afterwards) and its chunks go
    to a ``LocalExecutor`` on it — the same leases, the same supervisor of hung processes, the
    same recovery when a pool process dies (a new pool, the lost chunks run again; a chunk
    caught in ``MAX_CRASHES`` broken pools ends as failed trials). With one job, or one
    chunk, the sweep runs in this process (``optimizers.run_sweep``, the engine's own loop):
    there is no pool to recover and no process to start.

    Args:
      spec: the sweep (model, dict or JSON text); validated against ``limits`` first.
      jobs: worker processes (default: one per core).
      progress: called as ``progress(done, total)`` in trials as chunks finish.
      should_stop: polled while chunks run; when it returns True the sweep is cancelled:
        chunks not started never run, running ones stop at their next cancel poll, and the
        document has status "cancelled" with the trials finished so far.
      chunk_size: trials per chunk (default: ``chunk_bounds``'s choice, at least
        ``CHUNKS_PER_JOB`` chunks per job).

    Raises:
      pydantic.ValidationError: the spec is invalid.
    """
    spec = parse_spec(spec, limits)
    jobs = jobs or os.cpu_count() or 1
    n_chunks = len(chunk_bounds(spec, chunk_size, min_chunks=jobs * CHUNKS_PER_JOB))
    if jobs == 1 or n_chunks == 1:
        return run_sweep(spec, limits=limits, progress=progress, should_stop=should_stop,
                         chunk_size=chunk_size)
    with tempfile.TemporaryDirectory(prefix="gradsweep-run-") as tmp:
        path = Path(tmp) / "sweeps.sqlite3"
        store = SQLiteStore(path)
        executor = LocalExecutor(path, min(jobs, n_chunks))
        sweeps = SweepService(store, executor, chunk_size=chunk_size,
                              min_chunks=jobs * CHUNKS_PER_JOB)
        sweep_id: str | None = None
        try:
            _store_local_dataset(store, spec)
            sweep_id = sweeps.submit(spec).id
            _wait(sweeps, sweep_id, progress, should_stop)
            executor.close()  # chunks still running after a cancel stop at their next poll
            document = orjson.loads(sweeps.results(sweep_id))
        except BaseException:
            if sweep_id is not None:  # Ctrl-C: running chunks stop at their next poll
                with contextlib.suppress(Exception):
                    store.cancel(sweep_id, time.time())
            raise
        finally:
            executor.close()
            store.close()
    del document["id"]
    return cast(ResultsDocument, document)


def _store_local_dataset(store: SQLiteStore, spec: SweepSpec) -> None:
    """A model's local file (``{"path": …}``), read once here, goes into the private store under
    its alias, where the pool processes read it (``workers.datasets.StoreDatasets``)."""
    objective = spec.objective
    if isinstance(objective, Model) and isinstance(objective.dataset, LocalDataset):
        data = objective.source.load(objective.dataset)
        DatasetCatalog(store).put(data, local_alias(objective.dataset), time.time())


def _wait(sweeps: SweepService, sweep_id: str, progress: Progress | None,
          should_stop: StopCheck | None) -> None:
    """Poll the sweep every ``WAIT_POLL_SECONDS`` until it is finished (cancelling it once
    ``should_stop`` says so), reporting progress as it changes."""
    done = -1
    while True:
        record = sweeps.record(sweep_id)
        if progress is not None and record.done != done:
            done = record.done
            progress(done, record.total)
        if record.status.is_finished():
            return
        if should_stop is not None and should_stop():
            sweeps.cancel(sweep_id)
            return
        time.sleep(WAIT_POLL_SECONDS)


class LocalExecutor:
    """Embedded mode's executor: chunks of stored sweeps run in a local process pool.

    Each worker process opens its own connection to the SQLite store at ``store_path`` and runs
    ``workers.jobs.execute_chunk``, exactly what a Celery worker does with a Redis store. Chunks
    run in the order they were submitted; the queue lives in this process, so after a restart
    ``workers.jobs.resume_unfinished`` queues again what was not saved.

    A pool process that hangs (frozen, stopped, deadlocked) is bounded like one that dies: each
    process leases its chunk in the store (owner ``local-{executor token}-{pid}``) and renews it
    from a thread of its own every ``heartbeat_seconds``; the executor's supervisor thread looks
    for expired leases as often and SIGKILLs the process that let its lease expire, which breaks
    the pool: the recovery below starts a new pool and runs its chunks again. So a hung chunk
    runs again within about ``lease_seconds + 2 × heartbeat_seconds``. (Leases left by the
    processes of an earlier server run expire and are dropped; their token is not this
    executor's, so no process of the new pool is ever mistaken for their owner.)

    Pool processes ignore SIGINT (a terminal's Ctrl-C reaches the whole process group): an
    interrupt is this process's to act on — ``gradsweep run`` cancels its sweep, ``gradsweep
    serve`` shuts down — and a chunk interrupted in a pool process would otherwise count as a
    chunk failed outside the engine, which fails its sweep.

    No chunk's error is only logged: a store that was unavailable gets the chunk again after a
    pause (``MAX_STORE_RETRIES`` times), any other error fails the sweep with the reason (the
    store's refusals are already handled so by ``execute_chunk``). After each chunk the worker
    process gives its memory back (``workers.memory``): a ``concurrent.futures`` pool cannot
    replace a process by its size, so the heap trim is what keeps its RSS bounded.
    """

    def __init__(self, store_path: Path, jobs: int | None = None) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["optimizers", "workers.jobs",
                                              "workers.store_sqlite"])
        self._jobs = jobs or os.cpu_count() or 1
        self._pool = self._new_pool()
        self._generation = 0
        self._store_path = str(store_path)
        self._lock = threading.Lock()
        self._pending = 0
        self._crashes: Counter[tuple[str, int]] = Counter()
        self._unavailable: Counter[tuple[str, int]] = Counter()
        self._token = uuid.uuid4().hex[:12]
        settings = get_settings()
        self._lease_seconds = settings.lease_seconds
        self._heartbeat_seconds = settings.heartbeat_seconds
        self._stop = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="gradsweep-supervisor",
                                            daemon=True)
        self._supervisor.start()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self._jobs, mp_context=self._context,
                                   initializer=_ignore_interrupts)

    def _supervise(self) -> None:
        """Every heartbeat: kill the pool processes whose chunk lease expired (hung), drop
        the expired leases of processes gone."""
        store = SQLiteStore(self._store_path)
        try:
            while not self._stop.wait(self._heartbeat_seconds):
                try:
                    self._kill_hung(store)
                except StoreUnavailable as exc:
                    log.warning("lease check skipped: %s", exc)
                except Exception:  # noqa: BLE001 — never let the supervisor die
                    log.exception("lease check failed")
        finally:
            store.close()

    def _kill_hung(self, store: SQLiteStore) -> None:
        prefix = f"local-{self._token}-"
        with self._lock:
            pids = set(getattr(self._pool, "_processes", None) or {})
        for sweep_id, chunk, owner in store.expired_leases():
            pid = int(owner[len(prefix):]) if owner.startswith(prefix) else None
            if pid is not None and pid in pids:
                log.error("local worker process %d stopped renewing the lease of chunk %d of "
                          "sweep %s (hung); killing it, its chunks run again", pid, chunk,
                          sweep_id)
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.kill(pid, signal.SIGCONT)  # a stopped process dies only once resumed
                except ProcessLookupError:
                    pass
            store.release_lease(sweep_id, chunk, owner)

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        """Queue these chunks of the sweep."""
        for chunk in chunks:
            with self._lock:
                future = self._pool.submit(_execute_stored_chunk, self._store_path, sweep_id,
                                           chunk, self._token)
                self._pending += 1
                generation = self._generation
            future.add_done_callback(partial(self._done, sweep_id, chunk, generation))

    def _done(self, sweep_id: str, chunk: int, generation: int,
              future: Future[tuple[int, list[int]]]) -> None:
        with self._lock:
            self._pending -= 1
        if future.cancelled():
            return
        if future.exception() is None:
            due = future.result()[1]  # chunks the chunk made due (a pruned sweep's)
            if due:
                try:
                    self.submit(sweep_id, due)
                except RuntimeError:  # shut down meanwhile: resumed at the next start
                    pass
            return
        error = future.exception()
        if isinstance(error, StoreUnavailable):
            self._store_unavailable(sweep_id, chunk, error)
            return
        if not isinstance(error, BrokenProcessPool):
            log.error("chunk %d of sweep %s failed outside the engine", chunk, sweep_id,
                      exc_info=error)
            self._fail(sweep_id, f"chunk {chunk} failed outside the engine: "
                       f"{type(error).__name__}: {error}")
            return
        # A worker process died (killed, out of memory): every chunk it had queued fails with
        # BrokenProcessPool. Start a new pool once, and run those chunks again — unless one has
        # now been in MAX_CRASHES broken pools, which marks its trials failed.
        with self._lock:
            if generation == self._generation:
                log.error("a local worker process died; starting a new pool")
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                self._generation += 1
            self._crashes[(sweep_id, chunk)] += 1
            crashes = self._crashes[(sweep_id, chunk)]
        if crashes < MAX_CRASHES:
            self.submit(sweep_id, [chunk])
        else:
            fail_chunk(_child_store(self._store_path), sweep_id, chunk,
                       f"the worker process died {crashes} times while this chunk ran")

    def _store_unavailable(self, sweep_id: str, chunk: int, error: StoreUnavailable) -> None:
        """Run the chunk again after a pause, or fail its sweep after ``MAX_STORE_RETRIES``."""
        with self._lock:
            self._unavailable[(sweep_id, chunk)] += 1
            tries = self._unavailable[(sweep_id, chunk)]
        if tries > MAX_STORE_RETRIES:
            self._fail(sweep_id, f"chunk {chunk}: the store stayed unavailable through "
                       f"{tries} tries: {error}")
            return
        log.warning("chunk %d of sweep %s: the store is unavailable (%s); running it again in "
                    "%g s", chunk, sweep_id, error, STORE_RETRY_PAUSE)

        def again() -> None:
            try:
                self.submit(sweep_id, [chunk])
            except RuntimeError:  # the pool was shut down meanwhile: resumed at the next start
                pass

        timer = threading.Timer(STORE_RETRY_PAUSE, again)
        timer.daemon = True
        timer.start()

    def _fail(self, sweep_id: str, reason: str) -> None:
        """Mark the sweep failed; if even the store is unavailable, log it (the sweep is
        resumed, or failed, at the next start)."""
        try:
            fail_sweep(_child_store(self._store_path), sweep_id, reason)
        except StoreUnavailable:
            log.exception("sweep %s could not be marked failed (%s)", sweep_id, reason)

    def queue_depth(self) -> int:
        """Chunks queued or running."""
        with self._lock:
            return self._pending

    def close(self) -> None:
        """Stop the pool: chunks not started are dropped (they resume at the next start)."""
        self._stop.set()
        self._supervisor.join()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Pool-process start: ignore SIGINT. Ctrl-C in a terminal reaches the whole process
    group, and is the parent's to handle: ``gradsweep run`` cancels its sweep, so running chunks
    stop at their next cancel poll; ``gradsweep serve`` shuts down, letting running chunks save.
    Were a pool process to raise KeyboardInterrupt inside a chunk instead, the executor would
    take it for a chunk that failed outside the engine and fail the sweep.

    Then freeze what the imports made (the engine, pydantic's models, NumPy): the full
    collection ``release_memory`` runs after each chunk then skips it, which took ~25 ms a
    chunk — most of a short stage of a pruned sweep."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()


@lru_cache(maxsize=4)
def _child_store(path: str) -> SQLiteStore:
    """This process's connection to the store (one per process, opened on first use)."""
    return SQLiteStore(path)


def _execute_stored_chunk(store_path: str, sweep_id: str, chunk: int,
                          token: str) -> tuple[int, list[int]]:
    """Worker-process side of ``LocalExecutor``: run one chunk under a lease renewed by a
    thread of this process; how many trials ran, and the chunks it made due (a pruned sweep's
    rung, or the stage after it), which the executor queues. Then give the memory back, and
    say so if the
    process stays over ``worker_max_memory_mb``.

    The store's connections are closed first: SQLite keeps the last value bound to each cached
    statement (the chunk's records, the results document) alive until the statement is used
    again, which would pin tens of MB per process; the next chunk opens a fresh connection."""
    store = _child_store(store_path)
    settings = get_settings()
    lease = Lease(f"local-{token}-{os.getpid()}", settings.lease_seconds)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(settings.heartbeat_seconds):
            try:
                store.renew_leases(lease.owner, lease.seconds, [(sweep_id, chunk)])
            except StoreUnavailable as exc:
                log.warning("lease of chunk %d of sweep %s not renewed: %s", chunk, sweep_id,
                            exc)

    renewer = threading.Thread(target=renew, name="gradsweep-lease", daemon=True)
    renewer.start()
    try:
        due: list[int] = []
        ran = execute_chunk(store, sweep_id, chunk, lease,
                            lambda _sweep_id, chunks: due.extend(chunks))
        return ran, due
    finally:
        done.set()
        renewer.join()
        store.close()
        release_memory()
        rss, limit = rss_bytes(), get_settings().worker_max_memory_mb * 2**20
        if rss is not None and rss > limit:
            log.warning("local worker process %d holds %d MB after a chunk, over "
                        "GRADSWEEP_WORKER_MAX_MEMORY_MB (%d)", os.getpid(), rss // 2**20,
                        limit // 2**20)


__all__ = ["LocalExecutor", "run_local"]
