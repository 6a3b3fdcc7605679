"""The watchdog's clocks live in the store: replicas share them, a restart keeps them."""

from __future__ import annotations

from typing import Any

from store_backends import Backend, Recorder

from optimizers import Limits, SweepStatus, parse_spec
from workers.jobs import Watchdog, submit_sweep
from workers.store import JobStore

SMALL: dict[str, Any] = {
    "name": "small", "objective": {"name": "sphere", "dim": 3}, "optimizer": "sgd",
    "grid": {"lr": [0.01, 0.1]}, "seeds": 2, "steps": 10, "record_every": 5,
}


def test_replicas_requeue_once_per_period_and_a_restart_keeps_the_count(
        backend: Backend) -> None:
    stores = [backend.open() for _ in range(3)]
    executor = Recorder()
    record = submit_sweep(stores[0], Recorder(), parse_spec(SMALL, Limits()), chunk_work=30)
    dogs = [Watchdog(s, executor, stuck_seconds=10, max_requeues=2) for s in stores[:2]]
    for dog in dogs:
        dog.check(now=1000)  # first checks: look only
    for now in (1011, 1011.5):  # both replicas, just after one another
        reports = [dog.check(now=now) for dog in dogs]
    assert executor.sent == [(record.id, list(range(record.n_chunks)))]  # once, not twice
    assert sum(len(r.requeued) for r in reports) == 0
    restarted = Watchdog(stores[2], executor, stuck_seconds=10, max_requeues=2)  # replaces one
    restarted.check(now=1015)  # its first check: does not reset the clocks
    assert restarted.check(now=1022).requeued == [record.id]  # 11 s after the last re-queue
    assert dogs[1].check(now=1022.5).requeued == []
    assert len(executor.sent) == 2
    failed = [r for dog in (dogs[1], restarted) for r in dog.check(now=1033).failed]
    assert failed == [record.id]  # the count survived the restart: failed after 2 re-queues
    stored = stores[0].get(record.id)
    assert stored is not None and stored.status == SweepStatus.FAILED
    assert "no progress for 33 s" in (stored.error or "")
    assert "queued again 2 time(s)" in (stored.error or "")
    for s in stores:
        s.close()


def test_progress_starts_the_clocks_again(store: JobStore) -> None:
    executor = Recorder()
    record = submit_sweep(store, Recorder(), parse_spec(SMALL, Limits()), chunk_work=30)
    dog = Watchdog(store, executor, stuck_seconds=10, max_requeues=1)
    dog.check(now=0)
    assert dog.check(now=11).requeued == [record.id]
    store.save_chunk(record.id, 0, [])
    assert dog.check(now=12).requeued == []  # moved: a new wait, re-queues counted afresh
    assert dog.check(now=23).requeued == [record.id]
    assert dog.check(now=34).failed == [record.id]
