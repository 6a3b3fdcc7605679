"""A sweep's trials a page at a time and as a stream (``workers.trials``), on both stores: every
index exactly once in index order while the chunks land in any order, under concurrent
readers; score order equal to a full sort; status filters; cursors that stay valid and refuse
to be misused; the summary document of a sweep too large to inline."""

from __future__ import annotations

import base64
import math
import random
import sqlite3
import threading
from typing import Any

import orjson
import pytest
from store_backends import Recorder

from optimizers import Limits, SweepSpec, SweepStatus, assemble, parse_spec, run_sweep
from optimizers.results import failed_records, trial_value
from optimizers.spec import rank_key
from workers.jobs import (
    chunk_range,
    execute_chunk,
    fail_chunk,
    stored_spec,
    submit_sweep,
    summary_document,
)
from workers.store import TRIAL_STATUSES, JobStore, SweepRecord
from workers.store_redis import RedisStore
from workers.store_sqlite import SQLiteStore
from workers.sweeps import SweepService
from workers.trials import BadCursor, Cursor, iter_trials, one_trial, trial_page

# 4 lr × 3 momentum × 2 seeds = 24 trials; lr 3.0 diverges on rosenbrock
SPEC = parse_spec({"objective": "rosenbrock", "optimizer": "momentum",
                   "grid": {"lr": [1e-4, 1e-3, 2e-3, 3.0], "momentum": [0.0, 0.5, 0.9]},
                   "steps": 40, "seeds": 2, "record_every": 10}, Limits())
CHUNK = 5  # trials per chunk: 5 chunks, the last of 4


def submitted(store: JobStore, spec: SweepSpec = SPEC, chunk_size: int = CHUNK) -> SweepRecord:
    return submit_sweep(store, Recorder(), spec, chunk_work=1.0, chunk_size=chunk_size)


def finished(store: JobStore, spec: SweepSpec = SPEC, chunk_size: int = CHUNK,
             seed: int | None = None) -> SweepRecord:
    """A sweep submitted and run to the end, its chunks in order or shuffled by ``seed``."""
    record = submitted(store, spec, chunk_size)
    chunks = list(range(record.n_chunks))
    if seed is not None:
        random.Random(seed).shuffle(chunks)
    for chunk in chunks:
        execute_chunk(store, record.id, chunk)
    done = store.get(record.id)
    assert done is not None
    return done


def everything(spec: SweepSpec = SPEC) -> list[Any]:
    return run_sweep(spec)["trials"]


def key(trial: Any, metric: str = "final_loss") -> tuple[float, int]:
    value = trial_value(trial, metric)  # type: ignore[arg-type]
    return (math.inf if value is None else rank_key(value, metric), trial["index"])


def pages(store: JobStore, record: SweepRecord, **query: Any) -> list[Any]:
    """Every item, following next until it is null (the sweep must be finished)."""
    items, cursor = [], None
    spec = stored_spec(record, store)
    for _ in range(1000):
        page = trial_page(store, store.get(record.id) or record, spec, cursor=cursor, **query)
        items += page.items
        if page.next is None:
            return items
        cursor = page.next
    raise AssertionError("next never became null")


def test_pages_in_index_order_are_the_trials_of_run_sweep(store: JobStore) -> None:
    done = finished(store, seed=1)
    assert done.status == SweepStatus.SUCCEEDED
    expected = everything()
    assert {t["status"] for t in expected} == {"ok", "diverged"}
    for limit in (1, 3, 7, 1000):
        assert pages(store, done, limit=limit) == expected
    rows = pages(store, done, limit=4, curves=False)
    assert rows == [{k: v for k, v in t.items() if k != "curve"} for t in expected]
    assert list(iter_trials(store, done, SPEC, batch=2)) == expected


def test_score_order_is_a_full_sort_and_status_filters_select(store: JobStore) -> None:
    done = finished(store)
    expected = everything()
    for limit in (1, 4, 100):
        assert pages(store, done, limit=limit, order="score") == sorted(expected, key=key)
    for status in ("ok", "diverged", "failed", "pruned"):
        chosen = [t for t in expected if t["status"] == status]
        for order in ("index", "score"):
            ordered = sorted(chosen, key=key) if order == "score" else chosen
            assert pages(store, done, limit=3, order=order, status=status) == ordered
        page = trial_page(store, done, SPEC, limit=1, status=status)
        assert page.total == len(chosen)
    top = trial_page(store, done, SPEC, limit=3, order="score")
    assert [t["index"] for t in top.items] == [t["index"] for t in sorted(expected, key=key)[:3]]
    assert top.total == len(expected)


def test_a_metric_where_higher_is_better_ranks_highest_first(store: JobStore) -> None:
    spec = parse_spec({"objective": {"name": "logistic_regression", "dataset": "breast_cancer",
                                     "validation": 0.25},
                       "optimizer": "adam", "grid": {"lr": [1e-3, 1e-2, 1e-1]},
                       "steps": 10, "metric": "max_val_accuracy"}, Limits())
    done = finished(store, spec, chunk_size=1)
    items = pages(store, done, order="score")
    accuracies = [t["max_val_accuracy"] for t in items]
    assert accuracies == sorted(accuracies, reverse=True)
    assert [t["index"] for t in items] == [
        t["index"] for t in sorted(run_sweep(spec)["trials"],
                                   key=lambda t: key(t, "max_val_accuracy"))]


def test_following_a_running_sweep_gives_every_index_once_in_order(store: JobStore) -> None:
    """Chunks land in a random order between the pages of three readers; each reader, following
    next, sees every trial exactly once and in index order — a page stops at the first trial
    not saved yet."""
    record = submitted(store)
    order = random.Random(7).sample(range(record.n_chunks), record.n_chunks)
    readers: list[dict[str, Any]] = [{"cursor": None, "items": [], "limit": n} for n in (1, 2, 6)]
    spec = stored_spec(record, store)

    def read_once(reader: dict[str, Any]) -> None:
        now = store.get(record.id)
        assert now is not None
        page = trial_page(store, now, spec, limit=reader["limit"], cursor=reader["cursor"])
        reader["items"] += page.items
        if now.status.is_finished():
            reader["done"] = page.next is None
        else:
            assert page.next is not None  # a running sweep: always more to ask for
        reader["cursor"] = page.next

    for chunk in order:
        for reader in readers:
            read_once(reader)
        execute_chunk(store, record.id, chunk)
    expected = everything()
    for reader in readers:
        for _ in range(100):
            if reader.get("done"):
                break
            read_once(reader)
        assert reader.get("done")
        assert reader["items"] == expected


def test_concurrent_readers_while_chunks_land(store: JobStore) -> None:
    record = submitted(store)
    spec = stored_spec(record, store)
    got: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def follow(number: int, limit: int) -> None:
        try:
            cursor, seen = None, []
            for _ in range(10_000):
                now = store.get(record.id)
                assert now is not None
                page = trial_page(store, now, spec, limit=limit, cursor=cursor,
                                  curves=number % 2 == 0)
                seen += [t["index"] for t in page.items]
                if page.next is None:
                    break
                cursor = page.next
            got[number] = seen
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=follow, args=(n, 1 + n)) for n in range(4)]
    for thread in threads:
        thread.start()
    for chunk in random.Random(3).sample(range(record.n_chunks), record.n_chunks):
        execute_chunk(store, record.id, chunk)
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert got == {n: list(range(SPEC.n_trials)) for n in range(4)}


def test_a_cancelled_sweeps_pages_skip_the_chunks_that_never_ran(store: JobStore) -> None:
    record = submitted(store)
    for chunk in (0, 2):
        execute_chunk(store, record.id, chunk)
    fail_chunk(store, record.id, 4, "RuntimeError: out of luck")
    store.cancel(record.id, 1.0)
    cancelled = store.get(record.id)
    assert cancelled is not None
    saved = [i for c in (0, 2, 4) for i in range(*chunk_range(cancelled, c))]
    items = pages(store, cancelled, limit=3)
    assert [t["index"] for t in items] == saved
    failed = pages(store, cancelled, status="failed")
    assert [t["index"] for t in failed] == list(range(*chunk_range(cancelled, 4)))
    assert all(t["error"] == "RuntimeError: out of luck" for t in failed)
    assert failed == failed_records(SPEC, SPEC.trials(*chunk_range(cancelled, 4)),
                                    "RuntimeError: out of luck")


def test_one_trial_is_the_page_s_and_none_where_nothing_was_saved(store: JobStore) -> None:
    record = submitted(store)
    for chunk in (0, 3):
        execute_chunk(store, record.id, chunk)
    running = store.get(record.id)
    assert running is not None
    expected = everything()
    saved = {i for c in (0, 3) for i in range(*chunk_range(running, c))}
    for index in range(SPEC.n_trials + 2):
        got = one_trial(store, running, SPEC, index)
        assert got == (expected[index] if index in saved else None), index
    row = one_trial(store, running, SPEC, min(saved), curves=False)
    assert row == {k: v for k, v in expected[min(saved)].items() if k != "curve"}


def test_cursors_are_refused_for_another_order_or_filter_and_when_garbled(
        store: JobStore) -> None:
    record = submitted(store)
    execute_chunk(store, record.id, 0)
    now = store.get(record.id)
    assert now is not None
    cursor = trial_page(store, now, SPEC, limit=2, order="score").next
    assert cursor is not None
    with pytest.raises(BadCursor, match="order=score"):
        trial_page(store, now, SPEC, cursor=cursor, order="index")
    with pytest.raises(BadCursor, match="order=score"):
        trial_page(store, now, SPEC, cursor=cursor, order="score", status="ok")
    forged = [base64.urlsafe_b64encode(orjson.dumps(["score", None, key])).decode()
              for key in ([0.5, 2**60], [0.5, -1], [0.5, 1.5], ["-inf", 0], [None, 0], [0.5])]
    for garbage in ("", "x", "e30", Cursor("index", None, None).encode()[:-2] + "!!", *forged):
        with pytest.raises(BadCursor):
            trial_page(store, now, SPEC, cursor=garbage, order="score")


def test_the_summary_document_reads_the_ranking_not_the_trials(store: JobStore) -> None:
    done = finished(store)
    document = summary_document(store, done)
    full = assemble(SPEC, everything())
    assert "trials" not in document and "settings" not in document
    assert document["best"] == full["best"]
    assert document["top_settings"] == sorted(
        (s for s in full["settings"] if s["score"] is not None),
        key=lambda s: (s["score"], s["index"]))
    assert document["summary"]["by_optimizer"] == full["summary"]["by_optimizer"]
    assert document["summary"]["importance"] == full["summary"]["importance"]
    assert document["summary"]["marginals"] == full["summary"]["marginals"]
    assert document["summary"]["trial_steps"] == full["summary"]["trial_steps"]
    assert document["links"]["trials"] == f"/v1/sweeps/{done.id}/trials"


COMPARING = parse_spec({
    "objective": "rosenbrock", "steps": 30, "seeds": 3, "samples": 6, "search_seed": 4,
    "optimizers": [
        {"optimizer": "sgd", "grid": {"lr": [1e-4, 1e-3, 3.0]}},
        {"optimizer": "adam", "grid": {"lr": {"distribution": "log_uniform_values",
                                              "min": 1e-4, "max": 0.3},
                                       "beta1": [0.5, 0.9]}}]}, Limits())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_importance_and_marginals_kept_by_the_store_are_assembles_for_any_chunk_order(
        store: JobStore, seed: int) -> None:
    """Comparing optimizers, a key of one optimizer only, a sampled key and seeds split across
    chunks (a setting's score changes as its seeds land): the exact sums the saves keep give
    ``assemble``'s numbers to the last bit, and the same bytes whatever the order."""
    done = finished(store, COMPARING, chunk_size=4, seed=seed)
    full = run_sweep(COMPARING)
    summary = summary_document(store, done)["summary"]
    assert set(summary["importance"]) == {"optimizer", "lr", "beta1"}
    assert summary["importance"] == full["summary"]["importance"]
    assert summary["marginals"] == full["summary"]["marginals"]
    assert summary["by_optimizer"] == full["summary"]["by_optimizer"]
    in_order = finished(store, COMPARING, chunk_size=4)
    assert store.moments(done.id) == store.moments(in_order.id)


def _forget_trial_index(store: JobStore, sweep_id: str) -> None:
    """Make the sweep look saved by a store from before the trial index."""
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as db:
            db.execute("DELETE FROM trials WHERE sweep_id = ?", (sweep_id,))
            db.execute("DELETE FROM trial_counts WHERE sweep_id = ?", (sweep_id,))
        return
    assert isinstance(store, RedisStore)
    store._redis.delete(*(store._sweep(sweep_id, part) for part in (
        "ranked", "counts", *(f"trials:{s}" for s in TRIAL_STATUSES))))


def test_a_sweep_saved_before_the_trial_index_is_indexed_when_first_read(
        store: JobStore) -> None:
    done = finished(store, seed=5)
    _forget_trial_index(store, done.id)
    assert store.trial_counts(done.id) == {}
    service = SweepService(store, Recorder())
    expected = everything()
    page = service.trials(done.id, limit=1000)
    assert page.items == expected and page.next is None and page.total == len(expected)
    assert store.trial_counts(done.id) == {
        s: sum(t["status"] == s for t in expected) for s in {t["status"] for t in expected}}
    assert [t["index"] for t in service.trials(done.id, limit=1000, order="score").items] == [
        t["index"] for t in sorted(expected, key=key)]
    _forget_trial_index(store, done.id)
    assert [row["index"] for row in service.csv(done.id)[2]] == list(range(SPEC.n_trials))
    assert store.reindex_trials(done.id) == SPEC.n_trials  # again: nothing changes
    assert list(service.stream(done.id)) == expected
