"""The sweep service (``workers.sweeps``) on both stores: submit with the backlog limit, get,
list with the best so far, cancel, results, CSV rows and readiness — the rules the API's routes
only forward."""

from __future__ import annotations

import orjson
import pytest
from service.testing.procs import free_port
from store_backends import Recorder

from optimizers import SweepStatus, parse_spec, run_sweep
from workers.jobs import execute_chunk
from workers.store import BEST_TRIALS, Backlogged, JobStore
from workers.store_redis import RedisStore
from workers.sweeps import AlreadyFinished, SweepNotFound, SweepService

SPEC = parse_spec({"objective": "sphere", "optimizer": "sgd",
                   "init": {"distribution": "normal"}, "grid": {"lr": [0.05, 0.1, 0.2]}, "seeds": 12, "steps": 30})
TINY_CHUNKS = 1.0  # chunk_work: one trial per chunk


def service_on(store: JobStore, **options: object) -> tuple[SweepService, Recorder]:
    executor = Recorder()
    clock = iter(range(1_000, 10**6)).__next__
    return SweepService(store, executor, chunk_work=TINY_CHUNKS, clock=lambda: float(clock()),
                        **options), executor  # type: ignore[arg-type]


def run_all(store: JobStore, sweep_id: str, n_chunks: int) -> None:
    for chunk in range(n_chunks):
        execute_chunk(store, sweep_id, chunk)


def test_a_submitted_sweep_is_queued_chunk_by_chunk_and_ends_with_run_sweeps_results(
        store: JobStore) -> None:
    sweeps, executor = service_on(store)
    record = sweeps.submit(SPEC)
    assert record.status == SweepStatus.QUEUED and record.n_chunks == SPEC.n_trials == 36
    assert executor.sent == [(record.id, list(range(36)))]
    assert sweeps.get(record.id).best is None

    run_all(store, record.id, 18)
    half = sweeps.get(record.id)
    assert half.record.status == SweepStatus.RUNNING and half.record.done == 18
    assert half.best is not None and half.best.n_trials <= 12

    run_all(store, record.id, 36)
    done = sweeps.get(record.id)
    expected = run_sweep(SPEC)
    assert done.record.status == SweepStatus.SUCCEEDED
    assert done.best is not None
    assert done.best.model_dump() == {**expected["best"],
                                      "trials": expected["best"]["trials"][:BEST_TRIALS]}
    document = orjson.loads(sweeps.results(record.id))
    assert document["trials"] == expected["trials"] and document["best"] == expected["best"]
    keys, metrics, rows = sweeps.csv(record.id)
    assert keys == ["lr", "weight_decay"] and metrics == ("final_loss", "min_loss", "mean_loss")
    assert [(r["index"], r["final_loss"]) for r in rows] == [
        (t["index"], t["final_loss"]) for t in expected["trials"]]


def test_the_backlog_limit_refuses_a_sweep_and_stores_nothing(store: JobStore) -> None:
    sweeps, executor = service_on(store, max_pending_chunks=40)
    first = sweeps.submit(SPEC)  # 36 chunks waiting
    with pytest.raises(Backlogged) as refused:
        sweeps.submit(SPEC)
    assert (refused.value.pending, refused.value.n_chunks, refused.value.limit) == (36, 36, 40)
    assert [r.id for r in store.list()[0]] == [first.id]
    assert executor.sent == [(first.id, list(range(36)))]
    run_all(store, first.id, 36)  # the backlog drained: taken again
    assert sweeps.submit(SPEC).status == SweepStatus.QUEUED


def test_an_unknown_sweep_is_not_found_by_every_operation(store: JobStore) -> None:
    sweeps, _ = service_on(store)
    missing = "0" * 32
    for operation in (sweeps.record, sweeps.get, sweeps.cancel, sweeps.results, sweeps.csv):
        with pytest.raises(SweepNotFound, match=f"no sweep {missing}"):
            operation(missing)


def test_cancel_keeps_what_ran_allows_a_repeat_and_refuses_a_finished_sweep(
        store: JobStore) -> None:
    sweeps, _ = service_on(store)
    running = sweeps.submit(SPEC)
    run_all(store, running.id, 5)
    cancelled = sweeps.cancel(running.id)
    assert cancelled.record.status == SweepStatus.CANCELLED and cancelled.record.done == 5
    assert cancelled.best is not None
    assert sweeps.cancel(running.id) == cancelled  # again: allowed, changes nothing
    assert execute_chunk(store, running.id, 6) == 0  # its other chunks never run
    assert len(orjson.loads(sweeps.results(running.id))["trials"]) == 5

    finished = sweeps.submit(SPEC)
    run_all(store, finished.id, 36)
    with pytest.raises(AlreadyFinished, match="has already succeeded") as refused:
        sweeps.cancel(finished.id)
    assert refused.value.record.status == SweepStatus.SUCCEEDED
    assert sweeps.get(finished.id).record.status == SweepStatus.SUCCEEDED


def test_list_is_newest_first_with_each_best_and_filters_by_status(store: JobStore) -> None:
    sweeps, _ = service_on(store)
    old, new = sweeps.submit(SPEC), sweeps.submit(SPEC)
    run_all(store, old.id, 36)
    states, total = sweeps.list(None, 10, 0)
    assert total == 2 and [s.record.id for s in states] == [new.id, old.id]
    assert states[0].best is None and states[1].best == sweeps.get(old.id).best
    succeeded, count = sweeps.list(SweepStatus.SUCCEEDED, 10, 0)
    assert count == 1 and [s.record.id for s in succeeded] == [old.id]
    page, total = sweeps.list(None, 1, 1)
    assert total == 2 and [s.record.id for s in page] == [old.id]


def test_readiness_needs_the_store_and_in_a_cluster_a_live_worker(store: JobStore) -> None:
    embedded, _ = service_on(store)
    assert embedded.readiness().ready
    assert embedded.readiness().checks == {"mode": "embedded", "store": "ok"}

    cluster = SweepService(store, Recorder(), mode="cluster", worker_timeout=30,
                           clock=lambda: 5_000.0)
    alone = cluster.readiness()
    assert not alone.ready
    assert alone.checks == {"mode": "cluster", "store": "ok", "workers": 0,
                            "reason": "no worker has sent a heartbeat in the last 30 s"}
    store.heartbeat("w1", 4_960.0)  # 40 s ago: gone
    assert not cluster.readiness().ready
    store.heartbeat("w2", 4_980.0)
    assert cluster.readiness().checks == {"mode": "cluster", "store": "ok", "workers": 1}


def test_readiness_says_why_when_the_store_cannot_be_reached() -> None:
    nowhere = RedisStore(f"redis://127.0.0.1:{free_port()}/0", "gradsweep-test:", 0.2)
    try:
        readiness = SweepService(nowhere, Recorder(), mode="cluster").readiness()
    finally:
        nowhere.close()
    assert not readiness.ready
    assert readiness.checks["store"].startswith("unavailable: ")
    assert readiness.checks["reason"] == "the job store cannot be reached"
