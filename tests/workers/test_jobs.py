"""A sweep's life in the store (``workers.jobs``), on both stores: a chunk run, skipped,
failed, resumed, watched; the CSV rows read from the chunks' score summaries; retention."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from store_backends import Recorder

from optimizers import Limits, SweepSpec, SweepStatus, assemble, parse_spec, run_chunk, run_sweep
from optimizers.results import failed_records
from service.routes.export import csv_chunks, results_csv
from workers.jobs import (
    Watchdog,
    chunk_range,
    csv_rows,
    delete_expired,
    execute_chunk,
    fail_chunk,
    results_document,
    resume_unfinished,
    stored_spec,
    submit_sweep,
)
from workers.store import JobStore, SweepRecord
from workers.store_sqlite import SQLiteStore

SPEC = parse_spec({"objective": "beale", "optimizer": "adam",
                   "grid": {"lr": [0.01, 1e5], "beta1": [0.8, 0.9], "eps": 1e-8}, "steps": 25,
                   "seeds": 2}, Limits())
ONE_TRIAL_CHUNKS = 1.0  # chunk_work: one trial per chunk


def submitted(store: JobStore, spec: SweepSpec = SPEC, now: float = 1_000.0) -> SweepRecord:
    return submit_sweep(store, Recorder(), spec, chunk_work=ONE_TRIAL_CHUNKS, now=now)


def stored_records(store: JobStore, record: SweepRecord) -> list[Any]:
    return sorted(store.records(record.id), key=lambda r: r["index"])


# --- execute_chunk ------------------------------------------------------------------------------

def test_each_chunk_runs_once_and_the_last_stores_run_sweeps_document(store: JobStore) -> None:
    record = submitted(store)
    assert record.n_chunks == SPEC.n_trials == 8
    for chunk in (5, 0, 7, 1, 2, 3, 4):
        assert execute_chunk(store, record.id, chunk) == 1
    assert execute_chunk(store, record.id, 5) == 0  # saved already: a redelivery counts once
    running = store.get(record.id)
    assert running is not None and running.status == SweepStatus.RUNNING
    assert running.done == running.chunks_done == 7
    assert execute_chunk(store, record.id, 6) == 1
    done = store.get(record.id)
    assert done is not None and done.status == SweepStatus.SUCCEEDED and done.done == 8
    expected = run_sweep(SPEC)
    assert stored_records(store, record) == sorted(run_chunk(SPEC, 0, 8), key=lambda r: r["index"])
    document = orjson.loads(results_document(store, done))
    assert document["trials"] == expected["trials"] and document["best"] == expected["best"]
    assert document["status"] == "succeeded"


def test_a_cancelled_sweeps_chunks_do_not_run_and_its_partial_results_stay(
        store: JobStore) -> None:
    record = submitted(store)
    execute_chunk(store, record.id, 0)
    execute_chunk(store, record.id, 3)
    assert store.cancel(record.id, 2_000.0)
    assert execute_chunk(store, record.id, 1) == 0
    assert store.saved_chunks(record.id) == {0, 3}
    cancelled = store.get(record.id)
    assert cancelled is not None
    document = orjson.loads(results_document(store, cancelled))
    assert document["status"] == "cancelled"
    assert [t["index"] for t in document["trials"]] == [0, 3]
    assert document["progress"] == {"done": 2, "total": 8}


def test_a_stored_spec_that_no_longer_parses_fails_the_sweep_with_the_reason(
        store: JobStore) -> None:
    record = submitted(store)
    broken = SweepRecord(**{**record.__dict__, "id": "b" * 32,
                            "spec": {**record.spec, "optimizer": {"name": "nonexistent"}}})
    with pytest.raises(ValueError):
        stored_spec(broken, store)
    store.create(broken)
    assert execute_chunk(store, broken.id, 0) == 0
    failed = store.get(broken.id)
    assert failed is not None and failed.status == SweepStatus.FAILED
    assert failed.error is not None and "nonexistent" in failed.error


def test_fail_chunk_saves_its_trials_failed_and_the_last_one_finishes_the_sweep(
        store: JobStore) -> None:
    record = submitted(store)
    for chunk in range(7):
        execute_chunk(store, record.id, chunk)
    fail_chunk(store, record.id, 7, "the worker process died 3 times")
    done = store.get(record.id)
    assert done is not None and done.status == SweepStatus.SUCCEEDED and done.done == 8
    last = stored_records(store, record)[7]
    assert last == failed_records(SPEC, SPEC.trials(7, 8), "the worker process died 3 times")[0]
    assert last["status"] == "failed" and last["error"] == "the worker process died 3 times"
    fail_chunk(store, record.id, 7, "again")  # a finished sweep: nothing changes
    assert stored_records(store, record)[7] == last


def test_chunk_range_cuts_n_chunks_of_ceil_t_over_n_from_the_count_alone() -> None:
    record = SweepRecord(id="c" * 32, name="x", status=SweepStatus.QUEUED, spec=SPEC.data(),
                         total=10, done=0, n_chunks=4, chunks_done=0, created_at=1.0)
    assert [chunk_range(record, c) for c in range(4)] == [(0, 3), (3, 6), (6, 9), (9, 10)]


# --- resume, watchdog, retention ----------------------------------------------------------------

def test_resume_queues_the_unsaved_chunks_of_unfinished_sweeps_and_fails_what_cannot_resume(
        store: JobStore) -> None:
    running, finished = submitted(store, now=1_000.0), submitted(store, now=1_001.0)
    execute_chunk(store, running.id, 2)
    for chunk in range(8):
        execute_chunk(store, finished.id, chunk)
    broken = SweepRecord(**{**running.__dict__, "id": "d" * 32, "created_at": 1_002.0,
                            "spec": {**running.spec, "steps": -1}})
    store.create(broken)
    executor = Recorder()
    assert resume_unfinished(store, executor) == [running.id]
    assert executor.sent == [(running.id, [0, 1, 3, 4, 5, 6, 7])]
    failed = store.get(broken.id)
    assert failed is not None and failed.status == SweepStatus.FAILED
    assert failed.error is not None and failed.error.startswith("it could not be resumed")


def test_the_watchdog_requeues_a_stuck_sweeps_missing_chunks_then_fails_it(
        store: JobStore) -> None:
    record = submitted(store)
    execute_chunk(store, record.id, 0)
    executor = Recorder()
    watchdog = Watchdog(store, executor, stuck_seconds=10, max_requeues=2)
    assert watchdog.check(now=5_000.0).requeued == []  # the first check only starts the clocks
    assert watchdog.check(now=5_005.0).requeued == []  # not stuck for 10 s yet
    assert watchdog.check(now=5_011.0).requeued == [record.id]
    assert executor.sent == [(record.id, [1, 2, 3, 4, 5, 6, 7])]
    execute_chunk(store, record.id, 1)  # progress starts the clock again
    assert watchdog.check(now=5_015.0).requeued == []
    assert watchdog.check(now=5_026.0).requeued == [record.id]
    assert watchdog.check(now=5_037.0).requeued == [record.id]
    report = watchdog.check(now=5_048.0)
    assert report.failed == [record.id] and report.requeued == []
    failed = store.get(record.id)
    assert failed is not None and failed.status == SweepStatus.FAILED
    assert failed.error is not None and failed.error.startswith("stuck: no progress for")
    assert "2 of 8 chunks done" in failed.error


def test_delete_expired_drops_only_sweeps_finished_before_the_retention(store: JobStore) -> None:
    old, recent, unfinished = (submitted(store, now=t) for t in (1_000.0, 1_001.0, 1_002.0))
    store.finish(old.id, SweepStatus.CANCELLED, 10_000.0)
    store.finish(recent.id, SweepStatus.CANCELLED, 10_000.0 + 86_400)
    assert delete_expired(store, retention_days=1, now=10_001.0 + 86_400) == 1
    assert store.get(old.id) is None
    assert store.get(recent.id) is not None and store.get(unfinished.id) is not None


# --- csv_rows -----------------------------------------------------------------------------------

def _stored_sweep(tmp_path: Path) -> tuple[SweepSpec, SweepRecord, SQLiteStore]:
    """A SQLite store with a running sweep of SPEC (8 trials, 4 chunks of 2): chunks 0 and 1 run,
    chunk 2 failed with a message that needs quoting, chunk 3 not saved yet."""
    record = SweepRecord(id="a" * 32, name="x", status=SweepStatus.RUNNING, spec=SPEC.data(),
                         total=SPEC.n_trials, done=0, n_chunks=4, chunks_done=0, created_at=1.0)
    store = SQLiteStore(tmp_path / "sweeps.sqlite3")
    store.create(record)
    for chunk in (2, 1, 0):
        start, stop = chunk_range(record, chunk)
        records = (failed_records(SPEC, SPEC.trials(start, stop), 'ValueError: "x", then\nmore')
                   if chunk == 2 else run_chunk(SPEC, start, stop))
        store.save_chunk(record.id, chunk, records)
    return SPEC, record, store


def test_csv_rows_from_the_score_summaries_are_the_documents_csv(tmp_path: Path) -> None:
    spec, record, store = _stored_sweep(tmp_path)
    document = assemble(spec, store.records(record.id), status="running")
    assert {t["status"] for t in document["trials"]} == {"ok", "diverged", "failed"}
    for batch in (1, 2, 5, 1000):
        text = "".join(csv_chunks(list(spec.grid), csv_rows(store, record, batch=batch)))
        assert text == results_csv(document)
    store.close()


def test_summaries_saved_before_diverged_at_and_error_give_empty_cells(tmp_path: Path) -> None:
    spec, record, store = _stored_sweep(tmp_path)
    old_keys = ("index", "status", "final_loss", "min_loss", "mean_loss")
    with sqlite3.connect(store.path) as db:
        for chunk, blob in db.execute("SELECT chunk, scores FROM chunks").fetchall():
            old = [{k: s[k] for k in old_keys} for s in orjson.loads(blob)]
            db.execute("UPDATE chunks SET scores = ? WHERE chunk = ?", (orjson.dumps(old), chunk))
    rows = list(csv.DictReader(io.StringIO(
        "".join(csv_chunks(list(spec.grid), csv_rows(store, record))))))
    assert [int(r["index"]) for r in rows] == list(range(6))
    assert {r["status"] for r in rows} == {"ok", "diverged", "failed"}
    assert all(r["diverged_at"] == "" and r["error"] == "" for r in rows)
    store.close()
