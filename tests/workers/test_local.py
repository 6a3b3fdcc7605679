"""The local process pool gives exactly the document that one process gives, and its worker
processes give back the memory of a large chunk."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from optimizers import SweepStatus, parse_spec, run_sweep
from optimizers.spec import UNLIMITED
from workers.local import LocalExecutor, run_local
from workers.store import SweepRecord
from workers.store_sqlite import SQLiteStore

SPEC = {"objective": {"name": "rastrigin", "dim": 3}, "optimizer": "rmsprop",
        "grid": {"lr": [1e-3, 1e-2, 0.1, 1e7], "decay": [0.5, 0.9, 0.99]}, "seeds": 3,
        "steps": 200, "record_every": 10, "init": {"distribution": "normal", "scale": 1.0}}


def test_pool_over_chunks_equals_one_process_to_the_last_digit() -> None:
    seen: list[int] = []
    pooled = run_local(SPEC, jobs=2, chunk_size=5, progress=lambda done, total: seen.append(done))
    assert pooled == run_sweep(SPEC)
    assert pooled["progress"] == {"done": 36, "total": 36}
    assert seen == sorted(seen) and seen[-1] == 36 and len(seen) > 1
    assert {t["status"] for t in pooled["trials"]} == {"ok", "diverged"}


def test_stop_request_cancels_the_chunks_not_yet_started() -> None:
    pooled = run_local(SPEC, jobs=2, chunk_size=1, should_stop=lambda: True)
    assert pooled["status"] == "cancelled"
    assert pooled["progress"]["done"] < pooled["progress"]["total"]
    done = pooled["trials"]
    assert [t["index"] for t in done] == sorted(t["index"] for t in done)


def _vm(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of process ``pid``, in bytes."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmHWM")}


def test_a_pool_process_gives_back_the_memory_of_a_large_chunk(tmp_path: Path) -> None:
    """One chunk of 40 trials × 50,001 recorded steps (2 million curve points, ~50 MB of
    records and as much of results document: one chunk, stored as such, bypassing the cap of
    chunk_bounds) peaks at hundreds of MB; afterwards the process is back near its size at
    rest. Without the trim and the closed connection it kept ~200 MB: SQLite's cached
    statements pinned both 50 MB values, glibc's heap the rest."""
    spec = parse_spec({"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd",
                       "grid": {"lr": [1e-4 * 1.01**i for i in range(40)]}, "steps": 50_000,
                       "record_every": 1}, UNLIMITED)
    path = tmp_path / "sweeps.sqlite3"
    store = SQLiteStore(path)
    store.create(SweepRecord(id="big", name="big", status=SweepStatus.QUEUED,
                             spec=spec.model_dump(mode="json"), total=spec.n_trials, done=0,
                             n_chunks=1, chunks_done=0, created_at=time.time()))
    executor = LocalExecutor(path, jobs=1)
    try:
        executor.submit("big", [0])
        deadline = time.monotonic() + 120
        while executor.queue_depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        record = store.get("big")
        assert record is not None and record.status == SweepStatus.SUCCEEDED
        (pid,) = executor._pool._processes  # the pool's one worker process
        vm = _vm(pid)
        assert vm["VmHWM"] > 300 * 2**20  # the chunk was large
        assert vm["VmRSS"] < 150 * 2**20, vm
    finally:
        executor.close()
        store.close()


def test_a_chunk_that_fails_outside_the_engine_fails_its_sweep(tmp_path: Path) -> None:
    """An error no layer foresaw (here: a stored spec that is not even JSON, so reading the
    sweep raises in the worker process) used to be logged by the pool and forgotten, the sweep
    left queued for good; now the sweep fails with the reason."""
    path = tmp_path / "sweeps.sqlite3"
    store = SQLiteStore(path)
    store.create(SweepRecord(id="bad", name="bad", status=SweepStatus.QUEUED, spec={},
                             total=1, done=0, n_chunks=1, chunks_done=0, created_at=time.time()))
    store.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE sweeps SET spec = 'not json' WHERE id = 'bad'")
    executor = LocalExecutor(path, jobs=1)
    try:
        executor.submit("bad", [0])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, error = db.execute("SELECT status, error FROM sweeps").fetchone()
            if status != "queued":
                break
            time.sleep(0.1)
        assert status == "failed"
        assert error.startswith("chunk 0 failed outside the engine: JSONDecodeError")
    finally:
        executor.close()
        db.close()


def test_a_hung_pool_process_is_killed_and_its_chunk_runs_again(tmp_path: Path) -> None:
    """A pool process frozen mid-chunk (SIGSTOP: it neither dies nor answers) stops renewing its
    chunk's lease; at the default lease and heartbeat the executor's supervisor kills it, the
    pool is replaced and the chunk runs again: the sweep finishes, every number as one process
    gives it. Before leases such a sweep waited for the frozen process for ever."""
    import json
    import os
    import signal

    from optimizers import Limits
    from workers.jobs import results_document, submit_sweep

    spec = parse_spec({"name": "hang", "objective": {"name": "rastrigin", "dim": 50},
                       "optimizer": "adam", "grid": {"lr": [1e-3 * 1.3**i for i in range(8)]},
                       "steps": 40000, "record_every": 1000}, Limits())
    path = tmp_path / "sweeps.sqlite3"
    store = SQLiteStore(path)
    executor = LocalExecutor(path, jobs=2)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        record = submit_sweep(store, executor, spec, chunk_work=2e6)  # one trial per chunk
        assert record.n_chunks == 8
        deadline = time.monotonic() + 60
        owner = None
        while owner is None and time.monotonic() < deadline:
            row = db.execute("SELECT chunk, owner FROM leases WHERE sweep_id = ?",
                             (record.id,)).fetchone()
            owner = row and (row[0], row[1])
            time.sleep(0.02)
        assert owner is not None
        chunk, name = owner
        pid = int(name.rsplit("-", 1)[1])
        os.kill(pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        while time.monotonic() < stopped_at + 60:
            if chunk in store.saved_chunks(record.id):
                break
            time.sleep(0.1)
        again = time.monotonic() - stopped_at
        assert chunk in store.saved_chunks(record.id), "the hung chunk never ran again"
        while store.get(record.id).status != SweepStatus.SUCCEEDED:  # type: ignore[union-attr]
            assert time.monotonic() < stopped_at + 90
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status").read_text() or "(dead)" in Path(
            f"/proc/{pid}/status").read_text()
        document = json.loads(results_document(store, store.get(record.id)))  # type: ignore
        assert document.pop("id") == record.id
        assert json.dumps(document, sort_keys=True) == json.dumps(run_sweep(spec),
                                                                  sort_keys=True)
        print(f"\nFIGURE embedded: pool process SIGSTOP -> its chunk saved again: {again:.2f} s")
        assert again < 30
    finally:
        db.close()
        executor.close()
        store.close()
