"""A pruned sweep in the store (``workers.stages``), on both stores: its chunks delivered in
any order, early, twice, by processes at once — the document is ``run_sweep``'s, a rung is
promoted once, and the next stage is queued once."""

from __future__ import annotations

import random
from typing import Any

import orjson
from store_backends import Backend, at_once

from optimizers import parse_spec, run_sweep
from workers.jobs import execute_chunk, results_document, submit_sweep
from workers.stages import chunk_plan
from workers.store import JobStore

SPEC: dict[str, Any] = {
    "objective": "rosenbrock", "optimizer": "adam", "steps": 120, "seeds": 2,
    "record_every": 4, "init": {"distribution": "normal", "scale": 0.3},
    "grid": {"lr": [0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4, 3e-5]},
    "pruning": {"kind": "successive_halving", "min_steps": 4, "reduction": 3},
}


class Queue:
    """An executor whose queue the test drains itself, in any order."""

    def __init__(self) -> None:
        self.waiting: list[tuple[str, int]] = []

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        self.waiting += [(sweep_id, chunk) for chunk in chunks]

    def queue_depth(self) -> int:
        return len(self.waiting)


def test_chunks_in_any_order_twice_and_early_give_run_sweeps_document(store: JobStore) -> None:
    spec = parse_spec(SPEC)
    queue = Queue()
    record = submit_sweep(store, queue, spec, chunk_work=1, chunk_size=5)
    assert record.n_chunks == 5  # 18 trials in 4 chunks, then the first rung
    assert sorted(c for _, c in queue.waiting) == [0, 1, 2, 3]
    rng = random.Random(7)
    rungs: set[int] = set()
    while queue.waiting:
        rng.shuffle(queue.waiting)
        sweep_id, chunk = queue.waiting.pop()
        latest = store.get(sweep_id)
        assert latest is not None
        if rng.random() < 0.3:  # a rung queued early (as the watchdog would): it waits
            rung = latest.n_chunks - 1
            plan = chunk_plan(store, sweep_id, rung)
            if plan is not None and plan["kind"] == "promote":
                assert execute_chunk(store, sweep_id, rung, submit=queue.submit) == 0 or \
                    rung in store.saved_chunks(sweep_id)
        execute_chunk(store, sweep_id, chunk, submit=queue.submit)
        execute_chunk(store, sweep_id, chunk, submit=queue.submit)  # delivered twice
        if chunk_plan(store, sweep_id, chunk)["kind"] == "promote":  # type: ignore[index]
            rungs.add(chunk)
    final = store.get(record.id)
    assert final is not None and final.status.value == "succeeded"
    document = orjson.loads(results_document(store, final))
    expected = run_sweep(SPEC)
    assert document["trials"] == expected["trials"]
    assert document["summary"] == expected["summary"]
    assert final.trial_steps == expected["summary"]["trial_steps"]
    assert final.done == final.total == 18
    # rungs at steps 4, 12, 36, 108: 9 grid points → 3 → 1 → 1 → 1
    assert len(rungs) == 4
    assert store.blobs(record.id, [f"checkpoint:{c}" for c in range(final.n_chunks)]) == {}


def _promote_at_once(backend: Backend, sweep_id: str, chunk: int, barrier: Any,
                     out: Any) -> None:
    store = backend.open()
    submitted: list[int] = []
    barrier.wait()
    execute_chunk(store, sweep_id, chunk, submit=lambda _s, chunks: submitted.extend(chunks))
    out.put(submitted)
    store.close()


def test_processes_running_one_rung_at_once_promote_it_once(backend: Backend,
                                                             store: JobStore) -> None:
    queue = Queue()
    record = submit_sweep(store, queue, parse_spec(SPEC), chunk_work=1, chunk_size=5)
    for sweep_id, chunk in list(queue.waiting):
        execute_chunk(store, sweep_id, chunk)  # stage 0, without queueing its rung
    before = store.get(record.id)
    assert before is not None and before.chunks_done == 4 and before.n_chunks == 5
    answers = at_once(_promote_at_once, [(backend, record.id, 4)] * 4)
    assert sorted(answers, key=len) == [[], [], [], [5, 6]]  # one promotion queued the next stage
    after = store.get(record.id)
    assert after is not None
    assert after.n_chunks == 5 + 2 + 1  # the next stage's 6 trials in 2 chunks and its rung
    assert after.chunks_done == 5 and after.done == 18 - 6  # 12 pruned, counted once
