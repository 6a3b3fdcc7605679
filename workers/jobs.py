"""A sweep's life in the store: submitted, cut into chunks, each chunk run and saved, finished.

The same functions serve both modes: the Celery task and the local pool's worker processes both
call ``execute_chunk``; the sweep service (``workers.sweeps``, what the API calls) builds on
``submit_sweep``, ``results_document`` and ``csv_rows``.

- ``submit_sweep`` stores the normalised spec and its chunking — unless the backlog is over the
  limit (``Backlogged``, checked by the store atomically with the insert) — then hands every
  chunk to an executor (Celery or the local pool).
- ``execute_chunk`` skips a chunk whose sweep is finished (cancelled) or already saved, runs it
  through ``optimizers.run_chunk`` — polling the store for a cancel mark every
  ``CANCEL_POLL_SECONDS`` between windows — saves its records idempotently, and, when it was the
  sweep's last chunk, assembles and stores the results document once.
- ``results_document`` is the stored document of a succeeded sweep, or one assembled from the
  chunks saved so far for any other status (partial results of a cancelled sweep are kept).
- ``csv_rows`` is the same trials without their curves, for results.csv: read from the chunks'
  score summaries a bounded batch at a time, never from the document.
- A store error is never silent: ``StoreUnavailable`` (transient) escapes to the executor,
  which runs the chunk again later; ``StoreRejected`` (a chunk or a results document the store
  refuses for good, e.g. too big) ends the sweep ``failed`` with the reason, and so does a
  stored spec that no longer parses — never a sweep left running, never a redelivery loop.
- ``resume_unfinished`` (embedded mode's start-up) marks a sweep it cannot resume failed and
  goes on with the others.
- Leases: ``execute_chunk`` given a ``Lease`` records it in the store before it runs the
  chunk, gives up at its next cancel poll once the lease is no longer its own (expired and
  queued again elsewhere, or handed back at shutdown: the other copy counts), and releases it
  when it is done. Its owner renews it (a Celery worker node's heartbeat thread, for every
  chunk the node holds). ``requeue_expired`` — run by every live worker's heartbeat and by the
  API's housekeeping — claims the expired leases (each claimed by exactly one scanner) and
  queues those chunks again unless they are saved: a chunk whose worker died or froze runs
  again within about lease_seconds + heartbeat_seconds, whatever its length.
- ``Watchdog`` (cluster mode, run by the API's housekeeping) finds unfinished sweeps whose
  progress has stopped, queues their missing chunks again and, if that does not help, marks
  them failed with a reason: no sweep stays queued or running forever.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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
from optimizers.moments import Factors, Moments
from optimizers.pruning import trial_steps
from optimizers.records import (
    BestRecord,
    OptimizerSummary,
    ResultsLinks,
    SettingRecord,
    TrialRecord,
    TrialRow,
)
from optimizers.results import best_setting, failed_records
from optimizers.spec import UNLIMITED

from .datasets import StoreDatasets
from .overview import save_sketch
from .settings import get_settings
from .stages import (
    Submit,
    chunk_plan,
    first_stage,
    forget_stages,
    plan_trials,
    run_promote,
    run_stage,
)
from .store import (
    SPEC_CACHE_BYTES,
    Backlogged,
    ByteBoundedCache,
    JobStore,
    StoredBest,
    StoreRejected,
    StoreUnavailable,
    SweepDocument,
    SweepRecord,
    SweepSummaryDocument,
    WatchState,
)
from .trials import STREAM_BATCH, iter_trials

log = logging.getLogger(__name__)
CANCEL_POLL_SECONDS = 0.5
#: Seconds after its creation before a sweep's chunks can count as orphans (``requeue_orphans``):
#: the API may still be queueing them.
ORPHAN_GRACE_SECONDS = 5.0


class QueueUnavailable(StoreUnavailable):
    """The executor could not queue chunks (cluster mode: the broker, the same Redis as the
    store, cannot be reached). The API answers 503, as for the store."""


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
                 min_chunks: int = 1, chunk_size: int | None = None, now: float | None = None,
                 max_pending_chunks: int | None = None) -> SweepRecord:
    """Store a validated sweep as queued and queue all its chunks; its record.

    With ``max_pending_chunks``, the store refuses the sweep — ``Backlogged``, nothing stored
    or queued — when the chunks not yet done of the unfinished sweeps, plus this sweep's, would
    exceed it (an idle store takes any sweep): ``JobStore.create``'s check-and-reserve."""
    bounds = chunk_bounds(spec, chunk_size, min_chunks=min_chunks, target_work=chunk_work)
    n_chunks, plans = len(bounds), dict[str, bytes]()
    first_chunks = list(range(n_chunks))
    if spec.plan is not None:  # stage 0's chunks, then its rung's
        n_chunks, plans = first_stage(bounds)
        first_chunks = list(range(n_chunks - 1))
    record = SweepRecord(id=new_sweep_id(), name=spec.name, status=SweepStatus.QUEUED,
                         spec=spec.data(), total=spec.n_trials, done=0,
                         n_chunks=n_chunks, chunks_done=0,
                         created_at=time.time() if now is None else now)
    store.create(record, max_pending_chunks)
    try:
        store.put_blobs(record.id, plans)
        executor.submit(record.id, first_chunks)
    except StoreUnavailable as exc:
        # Not queued (or only in part): mark it failed so that it does not wait forever. If
        # even that fails, it stays queued and the watchdog queues its chunks later.
        reason = f"its chunks could not be queued: {exc}"
        try:
            store.finish(record.id, SweepStatus.FAILED, time.time(), error=reason)
        except StoreUnavailable:
            log.warning("sweep %s: %s; left queued for the watchdog", record.id, reason)
        raise QueueUnavailable(f"sweep {record.id} was not queued: {exc}") from exc
    return record


#: Parsed specs by (id, created_at, total) — a spec never changes once stored — bounded by the
#: size of their JSON, so a large spec is not parsed again on every status poll and many sweeps
#: do not grow a process without bound.
_SPECS: ByteBoundedCache[tuple[str, float, int], SweepSpec] = ByteBoundedCache(SPEC_CACHE_BYTES)


def stored_spec(record: SweepRecord, store: JobStore) -> SweepSpec:
    """The sweep's spec, as normalised and checked against the limits when it was submitted
    (parsed once per process while it stays in the cache); an uploaded dataset it names is
    read from ``store``."""
    key = (record.id, record.created_at, record.total)
    spec = _SPECS.get(key)
    if spec is None:
        spec = parse_spec(record.spec, UNLIMITED, datasets=StoreDatasets(store))
        _SPECS.put(key, spec, len(orjson.dumps(record.spec)))
    return spec


def fail_sweep(store: JobStore, sweep_id: str, reason: str) -> bool:
    """Mark an unfinished sweep failed with ``reason`` (and log it); False if it was finished
    already. ``StoreUnavailable`` escapes: the caller retries or leaves it to the watchdog."""
    failed = store.finish(sweep_id, SweepStatus.FAILED, time.time(), error=reason)
    if failed:
        log.error("sweep %s failed: %s", sweep_id, reason)
    return failed


@dataclass(frozen=True)
class Lease:
    """Who runs a chunk (a worker node's name) and how long its lease lives unrenewed."""

    owner: str
    seconds: float


def execute_chunk(store: JobStore, sweep_id: str, chunk: int, lease: Lease | None = None,
                  submit: Submit | None = None) -> int:
    """Run one chunk of a sweep and save it; how many trials it ran (0 if skipped).

    With ``lease``, the chunk's lease is taken first (in the store: its owner renews it), the
    run stops at a cancel poll that finds the lease no longer ``lease.owner``'s (another copy
    runs it), and the lease is released at the end — but not when ``StoreUnavailable`` escapes:
    the chunk is handed back, and the lease, still renewed, covers it until it runs again.

    A chunk (or results document) the store rejects, or a stored spec that does not parse,
    fails the sweep with the reason; ``StoreUnavailable`` escapes (run the chunk again later).

    ``submit`` queues chunks that this one makes due: in a sweep with early stopping, the
    rung once its stage is saved, and the next stage after a rung (``workers.stages``).
    """
    if lease is None:
        return _execute_chunk(store, sweep_id, chunk, None, submit)
    store.lease(sweep_id, chunk, lease.owner, lease.seconds)
    try:
        ran = _execute_chunk(store, sweep_id, chunk, lease, submit)
    except StoreUnavailable:
        raise
    except BaseException:
        _release(store, sweep_id, chunk, lease)
        raise
    _release(store, sweep_id, chunk, lease)
    return ran


def _release(store: JobStore, sweep_id: str, chunk: int, lease: Lease) -> None:
    try:
        store.release_lease(sweep_id, chunk, lease.owner)
    except StoreUnavailable as exc:  # it expires by itself; a scanner finds the chunk saved
        log.warning("chunk %d of sweep %s: its lease could not be released (%s)", chunk,
                    sweep_id, exc)


def _execute_chunk(store: JobStore, sweep_id: str, chunk: int, lease: Lease | None,
                   submit: Submit | None) -> int:
    record = store.get(sweep_id)
    if record is None or record.status.is_finished():
        return 0
    if chunk in store.saved_chunks(sweep_id):  # delivered again: saved already
        if record.spec.get("pruning") and submit is not None:
            _rung_due(store, record, chunk, submit)
        _finish_if_complete(store, record, record.chunks_done)
        return 0
    try:
        spec = stored_spec(record, store)
    except ValueError as exc:  # pydantic's ValidationError: stored by another version?
        fail_sweep(store, sweep_id, f"its stored spec no longer parses: {exc}")
        return 0
    store.mark_running(sweep_id, time.time())
    if spec.plan is not None:
        return _execute_stage_chunk(store, record, spec, chunk, lease, submit)
    start, stop = chunk_range(record, chunk)
    started = time.perf_counter()
    try:
        records = run_chunk(spec, start, stop,
                            should_stop=_cancel_poll(store, sweep_id, chunk, lease))
    except SweepCancelled:
        return 0
    seconds = time.perf_counter() - started
    try:
        save_sketch(store, sweep_id, chunk, spec, records)
        chunks_done = store.save_chunk(sweep_id, chunk, records,
                                       trial_steps=trial_steps(records, spec.steps))
    except StoreRejected as exc:
        fail_sweep(store, sweep_id, f"chunk {chunk} (trials {start} to {stop - 1}) could not "
                   f"be stored: {exc}")
        return 0
    if chunks_done is None:  # saved by another delivery — or by this call, its reply lost
        latest = store.get(sweep_id)
        if latest is not None:
            _finish_if_complete(store, latest, latest.chunks_done)
        return 0
    store.record_chunk_run(seconds, len(records))
    _finish_if_complete(store, record, chunks_done)
    return len(records)


def _rung_due(store: JobStore, record: SweepRecord, chunk: int, submit: Submit) -> None:
    """A saved run chunk delivered again: if its stage is saved and its rung is not (the saver
    died before queueing the rung), queue the rung."""
    plan = chunk_plan(store, record.id, chunk)
    due = plan.get("promote") if plan is not None else None
    if due is not None and record.chunks_done == due:
        submit(record.id, [due])


def _execute_stage_chunk(store: JobStore, record: SweepRecord, spec: SweepSpec, chunk: int,
                         lease: Lease | None, submit: Submit | None) -> int:
    """A chunk of a sweep with early stopping: a stage's run chunk or a rung."""
    plan = chunk_plan(store, record.id, chunk)
    if plan is None:
        fail_sweep(store, record.id, f"chunk {chunk} has no plan in the store")
        return 0
    started = time.perf_counter()
    try:
        if plan["kind"] == "promote":
            ran, chunks_done = run_promote(store, record, spec, chunk, plan, submit), None
        else:
            ran, chunks_done = run_stage(store, record, spec, chunk, plan,
                                         _cancel_poll(store, record.id, chunk, lease))
    except SweepCancelled:
        return 0
    except StoreRejected as exc:
        fail_sweep(store, record.id, f"chunk {chunk} could not be stored: {exc}")
        return 0
    if plan["kind"] == "run" and chunks_done is not None:
        store.record_chunk_run(time.perf_counter() - started, ran)
        if chunks_done == plan["promote"] and submit is not None:
            submit(record.id, [chunks_done])  # its stage is saved: the rung is due
    latest = store.get(record.id)  # a rung grows n_chunks
    if latest is not None:
        _finish_if_complete(store, latest, latest.chunks_done)
    return ran


def fail_chunk(store: JobStore, sweep_id: str, chunk: int, message: str) -> None:
    """Save a chunk that cannot run as failed trials with ``message``, so the sweep ends."""
    record = store.get(sweep_id)
    if record is None or record.status.is_finished():
        return
    try:
        spec = stored_spec(record, store)
        if spec.plan is None:
            trials = spec.trials(*chunk_range(record, chunk))
        else:
            plan = chunk_plan(store, sweep_id, chunk)
            if plan is None or plan["kind"] == "promote":
                fail_sweep(store, sweep_id, f"chunk {chunk} (a rung) failed: {message}")
                return
            trials = plan_trials(spec, plan)
        records = failed_records(spec, trials, message)
        save_sketch(store, sweep_id, chunk, spec, records)
        chunks_done = store.save_chunk(sweep_id, chunk, records)
    except (StoreRejected, ValueError) as exc:  # ValueError: the stored spec does not parse
        fail_sweep(store, sweep_id, f"chunk {chunk} failed ({message}) and could not be "
                   f"stored as failed trials: {exc}")
        return
    latest = store.get(sweep_id) if chunks_done is None else record
    if latest is not None:
        _finish_if_complete(store, latest, chunks_done or latest.chunks_done)


def _cancel_poll(store: JobStore, sweep_id: str, chunk: int,
                 lease: Lease | None) -> Callable[[], bool]:
    """A ``should_stop`` that asks the store at most every ``CANCEL_POLL_SECONDS``: stop when
    the sweep is cancelled (or gone), or when ``lease`` is no longer held by its owner."""
    next_poll = time.monotonic() + CANCEL_POLL_SECONDS

    def should_stop() -> bool:
        nonlocal next_poll
        if time.monotonic() < next_poll:
            return False
        next_poll = time.monotonic() + CANCEL_POLL_SECONDS
        record = store.get(sweep_id)
        if record is None or record.status == SweepStatus.CANCELLED:
            return True
        if lease is not None:
            owner = store.lease_owner(sweep_id, chunk)
            if owner != lease.owner:
                log.warning("chunk %d of sweep %s: lease lost (now held by %s); stopping, the "
                            "other copy runs it", chunk, sweep_id, owner or "nobody")
                return True
        return False

    return should_stop


def requeue_chunks(store: JobStore, executor: Executor,
                   chunks: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Queue again those of ``chunks`` (sweep, chunk) whose sweep is unfinished and which are
    not saved yet; the ones queued. ``StoreUnavailable`` escapes."""
    by_sweep: dict[str, list[int]] = {}
    for sweep_id, chunk in chunks:
        by_sweep.setdefault(sweep_id, []).append(chunk)
    queued: list[tuple[str, int]] = []
    for sweep_id, wanted in sorted(by_sweep.items()):
        record = store.get(sweep_id)
        if record is None or record.status.is_finished():
            continue
        missing = sorted(set(wanted) - store.saved_chunks(sweep_id))
        if missing:
            executor.submit(sweep_id, missing)
            queued += [(sweep_id, chunk) for chunk in missing]
    return queued


@runtime_checkable
class BrokerView(Protocol):
    """An executor that can say which chunk messages wait in its queue (``CeleryExecutor``)."""

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        """Queue these chunks of the sweep."""

    def queued_chunks(self) -> set[tuple[str, int]]:
        """The (sweep, chunk) of every chunk message waiting in the queue."""


def requeue_orphans(store: JobStore, executor: BrokerView,
                    now: float | None = None) -> list[tuple[str, int]]:
    """Queue again the chunks of unfinished sweeps that nothing holds any more: not saved, not
    leased, not waiting in the queue. Run after a broker outage and when a worker or the API
    starts: a message Redis popped for a worker just as it died is in no queue and reached no
    worker; a message a worker handed back (or failed to acknowledge) while Redis was down stays
    in kombu's ``unacked`` for the visibility timeout with no lease, if its lease could not be
    written either. Neither would come back for an hour. The (sweep, chunk) queued.

    kombu's ``unacked`` is not consulted: what a live worker runs is leased, what a dead one
    held has a lease that expires. The queue is read before the leases and the leases before
    the saved chunks — the order a chunk moves through them — so a chunk on its way is seen in
    one of them, but for the milliseconds between a worker's pop and its lease: such a chunk is
    queued twice, harmlessly (it counts once). Sweeps younger than ``ORPHAN_GRACE_SECONDS`` are
    left alone: their chunks may still be being queued."""
    now = time.time() if now is None else now
    unfinished = [r for r in store.unfinished() if r.created_at <= now - ORPHAN_GRACE_SECONDS]
    if not unfinished:
        return []
    queued = executor.queued_chunks()
    leased = store.leased()
    orphans: list[tuple[str, int]] = []
    for record in unfinished:
        held = {chunk for sweep_id, chunk in queued | leased if sweep_id == record.id}
        missing = set(range(record.n_chunks)) - held
        if missing:
            missing -= store.saved_chunks(record.id)
        if missing:
            executor.submit(record.id, sorted(missing))
            orphans += [(record.id, chunk) for chunk in sorted(missing)]
    for sweep_id, chunk in orphans:
        log.warning("chunk %d of sweep %s was held by nobody (its message lost or stranded by "
                    "the broker); queued again", chunk, sweep_id)
    return orphans


def requeue_expired(store: JobStore, executor: Executor, who: str = "") -> list[tuple[str, int]]:
    """Claim the expired leases and queue their chunks again (those not saved, of unfinished
    sweeps); the (sweep, chunk) queued. Each expired lease is claimed by one caller only, so
    any number of workers and API replicas may scan at once. If the chunks cannot be queued
    (``QueueUnavailable``), their leases are put back already expired, for the next scan."""
    claimed = store.claim_expired()
    if not claimed:
        return []
    try:
        queued = requeue_chunks(store, executor, claimed)
    except StoreUnavailable:
        for sweep_id, chunk in claimed:
            try:
                store.lease(sweep_id, chunk, "", 0.0)
            except StoreUnavailable:
                break  # the watchdog is the backstop
        raise
    for sweep_id, chunk in queued:
        log.warning("chunk %d of sweep %s: its lease expired (its worker died or froze); "
                    "queued again%s", chunk, sweep_id, f" by {who}" if who else "")
    return queued


def _finish_if_complete(store: JobStore, record: SweepRecord, chunks_done: int) -> None:
    """Once every chunk is saved: assemble the results document and store it, once; if the
    store rejects it (too big), the sweep fails with the reason instead. A sweep of more than
    ``results_inline_max`` trials stores its summary document (``summary_document``), never
    reading its trials."""
    if chunks_done < record.n_chunks:
        return
    if record.total > get_settings().results_inline_max:
        latest = store.get(record.id) or record
        document = orjson.dumps(summary_document(store, latest, SweepStatus.SUCCEEDED))
    else:
        document = orjson.dumps(_assemble(store, record, store.records(record.id),
                                          SweepStatus.SUCCEEDED))
    try:
        store.finish(record.id, SweepStatus.SUCCEEDED, time.time(), results=document)
    except StoreRejected as exc:
        del document
        fail_sweep(store, record.id, f"its results document could not be stored: {exc}")
    if record.spec.get("pruning"):
        forget_stages(store, record)


def _assemble(store: JobStore, record: SweepRecord, records: Sequence[TrialRecord],
              status: SweepStatus) -> SweepDocument:
    return {"id": record.id, **assemble(stored_spec(record, store), records, status=status)}


#: The settings a summary document lists, best first.
TOP_SETTINGS = 100


def links(sweep_id: str) -> ResultsLinks:
    """Where a sweep's trials are, a page at a time, as one NDJSON stream and as CSV."""
    base = f"/v1/sweeps/{sweep_id}"
    return {"trials": f"{base}/trials", "ndjson": f"{base}/trials.ndjson",
            "csv": f"{base}/results.csv"}


def summary_document(store: JobStore, record: SweepRecord,
                     status: SweepStatus | None = None) -> SweepSummaryDocument:
    """The results document of a sweep too large to inline its trials: the spec, progress,
    best, summary and the ``TOP_SETTINGS`` best settings, with ``links`` to the trials — read
    from what ``save_chunk`` keeps up to date (the grid points' ranking, the counters), in the
    same time at any sweep size."""
    spec = stored_spec(record, store)
    settings = [_setting_record(spec, p) for p in store.top_points(record.id, TOP_SETTINGS)]
    best = best_setting(settings[:1], spec.metric)
    stored = store.moments(record.id)
    factors = Factors.of(spec)
    moments = Moments(factors) if stored is None else Moments.from_bytes(stored, factors)
    return {
        "id": record.id, "status": (status or record.status).value, "spec": record.spec,
        "progress": {"done": record.done, "total": record.total}, "best": best,
        "summary": {"importance": moments.importance(), "marginals": moments.marginals(),
                    "by_optimizer": _by_optimizer(store, record, spec, best),
                    "trial_steps": record.trial_steps,
                    "full_trial_steps": record.total * spec.steps,
                    "statuses": store.trial_counts(record.id)},
        "top_settings": settings, "links": links(record.id)}


def _setting_record(spec: SweepSpec, point: StoredBest) -> SettingRecord:
    """A scored grid point as the document lists its settings."""
    return {"index": point.setting, "params": spec.setting(point.setting), "score": point.score,
            "score_std": point.score_std, "trials": point.trials}


def _by_optimizer(store: JobStore, record: SweepRecord, spec: SweepSpec,
                  best: BestRecord | None) -> dict[str, OptimizerSummary]:
    """Each optimizer's best setting and its number of settings, from the grid points'
    ranking: the sweep's best for one optimizer; else the ranking read in growing pages until
    each optimizer's best is found (or the ranking ends)."""
    if len(spec.entries) == 1:
        return {spec.entries[0].name: {"best": best, "settings": spec.n_settings}}
    counts: dict[str, int] = {}
    for entry in spec.entries:
        counts[entry.name] = counts.get(entry.name, 0) + entry.n_settings
    found: dict[str, BestRecord | None] = dict.fromkeys(counts)
    size, seen = TOP_SETTINGS, 0
    while any(b is None for b in found.values()):
        top = store.top_points(record.id, size)
        for p in top[seen:]:
            name = spec.entry_of(p.setting).name
            if found[name] is None:
                found[name] = best_setting([_setting_record(spec, p)], spec.metric)
        if len(top) < size:
            break
        seen, size = len(top), size * 10
    return {name: {"best": found[name], "settings": counts[name]} for name in counts}


def results_document(store: JobStore, record: SweepRecord) -> bytes:
    """The results document as JSON bytes: stored once the sweep succeeded, else assembled
    from the chunks saved so far, with the sweep's current status (without scores if its
    stored spec no longer parses); a sweep of more than ``results_inline_max`` trials gets
    its summary document."""
    if record.status == SweepStatus.SUCCEEDED:
        stored = store.results(record.id)
        if stored is not None:
            return stored
    inline = record.total <= get_settings().results_inline_max
    if not inline:
        try:
            return orjson.dumps(summary_document(store, record))
        except ValueError:  # a stored spec that does not parse: no trials to inline either
            pass
    records = store.records(record.id) if inline else []
    try:
        spec = stored_spec(record, store)
    except ValueError:  # a stored spec that does not parse (its sweep failed for that)
        unscored: SweepDocument = {
            "id": record.id, "status": record.status.value, "spec": record.spec,
            "progress": {"done": record.done, "total": record.total}, "best": None,
            "summary": {"importance": {}, "marginals": {}, "by_optimizer": {},
                        "trial_steps": record.trial_steps,
                        "full_trial_steps": record.total * record.spec["steps"]},
            "settings": [], "trials": records}
        return orjson.dumps(unscored)
    document: SweepDocument = {"id": record.id, **assemble(spec, records, status=record.status)}
    return orjson.dumps(document)


def csv_rows(store: JobStore, record: SweepRecord,
             batch: int = STREAM_BATCH) -> Iterator[TrialRow]:
    """The trials saved so far as results.csv rows, in index order: each trial of the results
    document without its curve — index, seed, params, status, the three losses (and a model's
    validation metrics), diverged_at and error — built from the chunks' score summaries and
    the spec, ``batch`` trials of the trial index at a time (``workers.trials.iter_trials``): the curves,
    most of a document, are never read. The first page is read now (a store error is raised
    here, before any row)."""
    return iter_trials(store, record, stored_spec(record, store), curves=False, batch=batch)


def resume_unfinished(store: JobStore, executor: Executor) -> list[str]:
    """Queue again the chunks of every unfinished sweep that are not saved yet (after a
    restart of embedded mode, whose queue lived in the dead process); the ids resumed.

    One sweep never stops the others (nor the server's start-up): a sweep that cannot be
    resumed — its spec no longer parses, its results cannot be stored — is marked failed with
    the reason and logged; one the store cannot answer about right now is left for the next
    start."""
    resumed = []
    for record in store.unfinished():
        try:
            stored_spec(record, store)
            missing = sorted(set(range(record.n_chunks)) - store.saved_chunks(record.id))
            if missing:
                executor.submit(record.id, missing)
            else:
                _finish_if_complete(store, record, record.n_chunks)
        except StoreUnavailable as exc:
            log.warning("sweep %s not resumed (the store is unavailable: %s); it will be at "
                        "the next start", record.id, exc)
            continue
        except Exception as exc:  # noqa: BLE001 — whatever it is, it is this sweep's alone
            log.exception("sweep %s cannot be resumed", record.id)
            try:
                fail_sweep(store, record.id,
                           f"it could not be resumed: {type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001
                log.exception("sweep %s could not be marked failed either", record.id)
            continue
        resumed.append(record.id)
    return resumed


@dataclass
class WatchdogReport:
    """What one ``Watchdog.check`` did."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    busy: bool = False


class Watchdog:
    """Keeps unfinished sweeps moving (cluster mode; RELIABILITY.md) — the backstop behind the
    chunks' leases, for work lost in ways a lease does not see (a message the broker lost).

    Every ``check`` looks at each queued or running sweep. A sweep whose ``chunks_done`` has not
    changed for ``stuck_seconds`` gets its missing chunks queued again (safe: a chunk that runs
    twice counts once); after ``max_requeues`` such re-queues, each followed by
    ``stuck_seconds`` without progress, it is marked failed with a reason. A sweep whose chunks
    are all saved but that is not finished (its last worker died between the two) is finished.

    While the cluster is busy — chunks waiting in the queue and chunks completed since the
    previous check — a sweep that does not move is waiting for its turn, not stuck: its clock
    starts again. The first check of a watchdog cannot tell whether the cluster is busy, so it
    does not act on a stuck sweep (nor reset its clock).

    The clocks live in the store (``JobStore.watch_step``, wall-clock time, read and updated
    atomically): any number of API replicas run a watchdog each, and a stuck sweep is re-queued
    once per ``stuck_seconds`` by whichever checks first, and failed once; an API restart
    neither resets the clocks nor repeats their re-queues.
    """

    def __init__(self, store: JobStore, executor: Executor, *, stuck_seconds: float,
                 max_requeues: int, worker_timeout: float = 10.0) -> None:
        self.store = store
        self.executor = executor
        self.stuck_seconds = stuck_seconds
        self.max_requeues = max_requeues
        self.worker_timeout = worker_timeout
        self._chunks_run: int | None = None  # the cluster's completed chunks at the last check

    def check(self, now: float | None = None) -> WatchdogReport:
        """Look at every unfinished sweep once; act on the stuck ones. ``now``: wall-clock
        seconds (``time.time()``), the store's clocks' time base."""
        now = time.time() if now is None else now
        report = WatchdogReport()
        first = self._chunks_run is None
        chunks_run = self.store.chunk_stats().chunks
        report.busy = (not first and chunks_run > (self._chunks_run or 0)
                       and self.executor.queue_depth() > 0)
        self._chunks_run = chunks_run
        for record in self.store.unfinished():
            if first:  # only record the new and the progressed; act from the next check on
                step = self.store.watch_step(record.id, record.chunks_done, now,
                                             math.inf, self.max_requeues, reset=False)
                continue
            step = self.store.watch_step(record.id, record.chunks_done, now,
                                         self.stuck_seconds, self.max_requeues,
                                         reset=report.busy)
            if step.action == "requeue":
                self._requeue(record, step.state, now)
                report.requeued.append(record.id)
            elif step.action == "fail" and self._fail(record, step.state, now):
                report.failed.append(record.id)
        return report

    def _requeue(self, record: SweepRecord, seen: WatchState, now: float) -> None:
        missing = sorted(set(range(record.n_chunks)) - self.store.saved_chunks(record.id))
        if not missing:
            log.warning("sweep %s: every chunk is saved but it is not finished; finishing it",
                        record.id)
            _finish_if_complete(self.store, record, record.n_chunks)
            return
        log.warning("sweep %s: no progress for %.0f s (%d of %d chunks done); queueing its %d "
                    "missing chunk(s) again (re-queue %d of %d)", record.id, now - seen.moved_at,
                    record.chunks_done, record.n_chunks, len(missing), seen.requeues,
                    self.max_requeues)
        self.executor.submit(record.id, missing)

    def _fail(self, record: SweepRecord, seen: WatchState, now: float) -> bool:
        workers = self.store.live_workers(time.time() - self.worker_timeout)
        reason = (f"stuck: no progress for {now - seen.moved_at:.0f} s "
                  f"({record.chunks_done} of {record.n_chunks} chunks done) although its "
                  f"missing chunks were queued again {seen.requeues} time(s); "
                  f"{len(workers)} worker(s) alive")
        failed = self.store.finish(record.id, SweepStatus.FAILED, time.time(), error=reason)
        if failed:
            log.error("sweep %s failed: %s", record.id, reason)
        return failed


def delete_expired(store: JobStore, retention_days: float, now: float | None = None) -> int:
    """Delete sweeps that finished more than ``retention_days`` ago; how many."""
    now = time.time() if now is None else now
    return store.delete_finished_before(now - retention_days * 86_400)


__all__ = ["CANCEL_POLL_SECONDS", "TOP_SETTINGS", "ORPHAN_GRACE_SECONDS", "Backlogged",
           "BrokerView", "Executor", "Lease", "QueueUnavailable", "Watchdog", "WatchdogReport", "chunk_range", "csv_rows",
           "delete_expired", "execute_chunk", "fail_chunk", "fail_sweep", "new_sweep_id",
           "links", "requeue_chunks", "requeue_expired", "requeue_orphans", "results_document",
           "resume_unfinished", "stored_spec", "submit_sweep", "summary_document"]
