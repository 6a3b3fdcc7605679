"""Chunk leases, on both stores: taken, renewed, released, and claimed once when expired."""

from __future__ import annotations

import threading
import time
from typing import Any

from store_backends import Backend, Recorder

from optimizers import Limits, SweepStatus, parse_spec
from workers.jobs import Lease, execute_chunk, requeue_expired, submit_sweep
from workers.store import JobStore

SMALL: dict[str, Any] = {
    "name": "small", "objective": {"name": "sphere", "dim": 3}, "optimizer": "sgd",
    "grid": {"lr": [0.01, 0.1]}, "seeds": 2, "steps": 10, "record_every": 5,
}  # 4 trials


def test_a_lease_is_held_renewed_and_released_by_its_owner_only(store: JobStore) -> None:
    store.lease("s1", 0, "node-a", 30)
    assert store.lease_owner("s1", 0) == "node-a"
    assert store.lease_owner("s1", 1) is None
    assert not store.release_lease("s1", 0, "node-b")  # not its lease
    assert store.lease_owner("s1", 0) == "node-a"
    store.lease("s1", 0, "node-b", 30)  # a second delivery takes it over
    assert store.lease_owner("s1", 0) == "node-b"
    assert store.renew_leases("node-a", 30, [("s1", 0)]) == 0  # node-a no longer holds it
    assert store.renew_leases("node-b", 30, [("s1", 0), ("s1", 1)]) == 1
    assert not store.release_lease("s1", 0, "node-a")
    assert store.release_lease("s1", 0, "node-b")
    assert store.lease_owner("s1", 0) is None
    assert store.claim_expired() == []


def test_an_expired_lease_is_claimed_once_and_a_renewed_one_never(store: JobStore) -> None:
    store.lease("s1", 0, "dead", 0.3)
    store.lease("s1", 1, "alive", 0.3)
    store.lease("s2", 5, "dead", 0.3)
    assert store.claim_expired() == []  # none expired yet
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:  # "alive" renews, "dead" does not
        assert store.renew_leases("alive", 0.3, [("s1", 1), ("s1", 0)]) == 1
        time.sleep(0.05)
    assert sorted(store.claim_expired()) == [("s1", 0), ("s2", 5)]
    assert store.claim_expired() == []  # claimed already
    assert store.lease_owner("s1", 0) is None and store.lease_owner("s1", 1) == "alive"
    assert store.renew_leases("dead", 30, [("s1", 0)]) == 0  # claimed: not renewed back


def test_a_lease_its_owner_no_longer_names_expires(store: JobStore) -> None:
    """A chunk handed back while the broker was down: its node renews only what it holds."""
    store.lease("s1", 0, "node-a", 0.3)
    store.lease("s1", 1, "node-a", 0.3)
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        assert store.renew_leases("node-a", 0.3, [("s1", 1)]) == 1
        time.sleep(0.05)
    assert store.claim_expired() == [("s1", 0)]


def test_concurrent_scanners_claim_each_expired_lease_exactly_once(backend: Backend) -> None:
    setup = backend.open()
    for chunk in range(200):
        setup.lease("s1", chunk, f"node-{chunk % 3}", 0.0)
    time.sleep(0.05)
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()
    stores = [backend.open() for _ in range(6)]
    start = threading.Barrier(len(stores))

    def scan(s: JobStore) -> None:
        start.wait()
        for _ in range(20):
            got = s.claim_expired(limit=7)
            with lock:
                claimed.extend(got)

    threads = [threading.Thread(target=scan, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [("s1", chunk) for chunk in range(200)]  # each once
    for s in [setup, *stores]:
        s.close()


def test_release_owner_hands_back_every_lease_of_a_node(store: JobStore) -> None:
    store.lease("s1", 0, "node-a", 30)
    store.lease("s1", 1, "node-a", 30)
    store.lease("s2", 0, "node-b", 30)
    store.lease("s1", 1, "node-b", 30)  # taken over: node-a's no more
    assert sorted(store.release_owner("node-a")) == [("s1", 0)]
    assert store.release_owner("node-a") == []
    assert store.lease_owner("s2", 0) == "node-b" and store.lease_owner("s1", 1) == "node-b"


def test_requeue_expired_queues_only_unsaved_chunks_of_unfinished_sweeps(
        store: JobStore) -> None:
    spec = parse_spec(SMALL, Limits())
    running = submit_sweep(store, Recorder(), spec, chunk_work=30, min_chunks=4)
    over = submit_sweep(store, Recorder(), spec, chunk_work=30, min_chunks=4)
    assert running.n_chunks == 4
    store.save_chunk(running.id, 1, [])
    store.cancel(over.id, time.time())
    for chunk in (0, 1, 2):
        store.lease(running.id, chunk, "dead", 0.0)
    store.lease(over.id, 0, "dead", 0.0)
    store.lease(running.id, 3, "alive", 60)
    time.sleep(0.05)
    executor = Recorder()
    assert requeue_expired(store, executor) == [(running.id, 0), (running.id, 2)]
    assert executor.sent == [(running.id, [0, 2])]
    assert requeue_expired(store, executor) == []  # claimed: nobody queues them twice


def test_execute_chunk_leases_its_chunk_and_releases_it(store: JobStore) -> None:
    record = submit_sweep(store, Recorder(), parse_spec(SMALL, Limits()), chunk_work=30,
                          min_chunks=4)
    seen: list[str | None] = []
    original = store.save_chunk

    def save_chunk(sweep_id: str, chunk: int, records: list[dict[str, Any]],
                   **counts: int) -> int | None:
        seen.append(store.lease_owner(sweep_id, chunk))  # held while it runs and saves
        return original(sweep_id, chunk, records, **counts)  # type: ignore[arg-type]

    store.save_chunk = save_chunk  # type: ignore[method-assign]
    assert execute_chunk(store, record.id, 0, Lease("node-a", 30)) == 1
    assert seen == ["node-a"]
    assert store.lease_owner(record.id, 0) is None  # released once saved
    assert execute_chunk(store, record.id, 0, Lease("node-a", 30)) == 0  # saved already
    assert store.lease_owner(record.id, 0) is None
    assert store.get(record.id).status == SweepStatus.RUNNING  # type: ignore[union-attr]
