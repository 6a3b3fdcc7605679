"""The job store contract (``workers.store``), checked on ``SQLiteStore`` and ``RedisStore`` alike.

The Redis half uses database 15 of the local server, under a fresh random key prefix per test
whose keys are deleted afterwards; without a server those tests fail (they do not skip).
"""

from __future__ import annotations

import random
import socket
import sqlite3
import threading
import time
from pathlib import Path
from queue import Queue
from typing import Any

import pytest
from harness import private_redis
from store_backends import Backend, at_once

from optimizers import SweepStatus
from workers.store import (
    CHUNK_SECONDS_BUCKETS,
    Backlogged,
    JobStore,
    StoreRejected,
    StoreUnavailable,
    SweepRecord,
    chunk_seconds_bucket,
)
from workers.store_redis import RedisStore
from workers.store_sqlite import SQLiteStore

N_PROCESSES = 4
N_CHUNKS = 20


def sweep(sweep_id: str, created_at: float = 1000.0, **changes: Any) -> SweepRecord:
    """A new (queued) sweep record."""
    fields: dict[str, Any] = {
        "id": sweep_id, "name": f"sweep {sweep_id}", "status": SweepStatus.QUEUED,
        "spec": {"optimizer": "adam", "grid": {"lr": [0.001, 0.01]}, "seeds": 2},
        "total": 40, "done": 0, "n_chunks": N_CHUNKS, "chunks_done": 0,
        "created_at": created_at}
    return SweepRecord(**{**fields, **changes})


def chunk_records(chunk: int) -> list[dict[str, Any]]:
    """Chunk ``chunk``'s trial records: 1 to 4 of them."""
    return [{"index": chunk * 10 + i, "chunk": chunk, "status": "ok", "final_loss": 0.5 / (i + 1),
             "curve": {"step": [0, 10], "loss": [1.0, 0.5]}} for i in range(chunk % 4 + 1)]


def by_index(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: int(r["index"]))


# -- the contract ------------------------------------------------------------------------------

def test_store_has_every_method_of_the_protocol(store: JobStore) -> None:
    members = [name for name in vars(JobStore) if not name.startswith("_")]
    assert members and all(callable(getattr(store, name, None)) for name in members)


def test_create_get_round_trip_keeps_every_field(store: JobStore) -> None:
    full = sweep("full", 1712345678.123456, name="ünïcode — sweep", status=SweepStatus.FAILED,
                 spec={"nested": {"a": [1, 2.5, None, True, "x"]}, "big": 2**53 + 1},
                 total=12345, done=17, n_chunks=7, chunks_done=3, started_at=1712345679.5,
                 finished_at=1712345690.25, error="boom: ∞")
    bare = sweep("bare")
    store.create(full)
    store.create(bare)
    assert store.get("full") == full
    assert store.get("bare") == bare
    got = store.get("full")
    assert got is not None and type(got.status) is SweepStatus
    assert got.started_at is not None and bare.started_at is None


def test_create_keeps_an_existing_sweep(store: JobStore) -> None:
    store.create(sweep("a", name="first"))
    store.create(sweep("a", name="second"))
    got = store.get("a")
    assert got is not None and got.name == "first"
    assert store.list() == ([got], 1)


def test_unknown_sweep(store: JobStore) -> None:
    assert store.get("nope") is None
    assert store.results("nope") is None
    assert store.saved_chunks("nope") == set()
    assert store.records("nope") == []
    assert store.mark_running("nope", 1.0) is False
    assert store.finish("nope", SweepStatus.SUCCEEDED, 1.0) is False
    assert store.cancel("nope", 1.0) is False
    assert store.save_chunk("nope", 0, chunk_records(0)) is None
    assert store.saved_chunks("nope") == set() and store.get("nope") is None


def test_list_newest_first_with_status_filter_and_pages(store: JobStore) -> None:
    for i in range(1, 6):
        store.create(sweep(f"s{i}", created_at=100.0 + i))
    store.mark_running("s2", 200.0)
    store.mark_running("s4", 200.0)

    def ids(page: tuple[list[SweepRecord], int]) -> tuple[list[str], int]:
        return [r.id for r in page[0]], page[1]

    assert ids(store.list()) == (["s5", "s4", "s3", "s2", "s1"], 5)
    assert ids(store.list(limit=2)) == (["s5", "s4"], 5)
    assert ids(store.list(limit=2, offset=1)) == (["s4", "s3"], 5)
    assert ids(store.list(limit=10, offset=4)) == (["s1"], 5)
    assert ids(store.list(offset=5)) == ([], 5)
    assert ids(store.list(limit=0)) == ([], 5)
    assert ids(store.list(SweepStatus.RUNNING)) == (["s4", "s2"], 2)
    assert ids(store.list(SweepStatus.QUEUED, limit=1, offset=1)) == (["s3"], 3)
    assert ids(store.list(SweepStatus.SUCCEEDED)) == ([], 0)
    page, _ = store.list(SweepStatus.RUNNING)
    assert all(r.status is SweepStatus.RUNNING and r.started_at == 200.0 for r in page)
    with pytest.raises(ValueError):
        store.list(limit=-1)


def test_mark_running_only_from_queued(store: JobStore) -> None:
    store.create(sweep("a"))
    assert store.mark_running("a", 1234.5) is True
    got = store.get("a")
    assert got is not None and got.status is SweepStatus.RUNNING and got.started_at == 1234.5
    assert store.mark_running("a", 9999.0) is False
    got = store.get("a")
    assert got is not None and got.started_at == 1234.5
    store.create(sweep("b"))
    assert store.cancel("b", 2000.0) is True
    assert store.mark_running("b", 2001.0) is False
    got = store.get("b")
    assert got is not None and got.status is SweepStatus.CANCELLED and got.started_at is None


def test_save_chunk_is_idempotent_and_counts_distinct_chunks(store: JobStore) -> None:
    store.create(sweep("a"))
    assert store.save_chunk("a", 3, chunk_records(3)) == 1
    assert store.save_chunk("a", 3, chunk_records(5)) is None  # a redelivered chunk
    got = store.get("a")
    assert got is not None and (got.done, got.chunks_done) == (4, 1)
    assert by_index(store.records("a")) == chunk_records(3)
    assert store.save_chunk("a", 0, chunk_records(0)) == 2
    assert store.save_chunk("a", 6, chunk_records(6)) == 3
    assert store.save_chunk("a", 0, chunk_records(0)) is None
    got = store.get("a")
    assert got is not None and (got.done, got.chunks_done) == (4 + 1 + 3, 3)
    assert store.saved_chunks("a") == {0, 3, 6}
    assert by_index(store.records("a")) == by_index(
        chunk_records(0) + chunk_records(3) + chunk_records(6))
    assert store.save_chunk("a", 7, []) == 4  # an empty chunk still counts as done
    got = store.get("a")
    assert got is not None and (got.done, got.chunks_done) == (8, 4)


def test_chunk_records_of_some_chunks(store: JobStore) -> None:
    store.create(sweep("a"))
    for chunk in (1, 2, 5):
        store.save_chunk("a", chunk, chunk_records(chunk))
    assert by_index(store.chunk_records("a", [5, 1, 9])) == by_index(
        chunk_records(1) + chunk_records(5))
    assert store.chunk_records("a", iter([2])) == chunk_records(2)
    assert store.chunk_records("a", []) == []
    assert store.chunk_records("nope", [1]) == []


def test_chunk_scores_are_the_records_without_params_and_curves(store: JobStore) -> None:
    from optimizers.results import score_summaries

    store.create(sweep("a"))
    for chunk in (1, 2, 5):
        store.save_chunk("a", chunk, chunk_records(chunk))
    assert store.chunk_scores("a", [5, 1]) == score_summaries(
        chunk_records(1) + chunk_records(5))
    assert store.chunk_scores("a", []) == [] and store.chunk_scores("nope", [1]) == []
    store.save_chunk("a", 1, chunk_records(2))  # a redelivery changes nothing
    assert store.chunk_scores("a", [1]) == score_summaries(chunk_records(1))


def test_create_refuses_a_sweep_that_takes_the_backlog_over_the_limit(store: JobStore) -> None:
    assert store.create(sweep("a", n_chunks=6), max_pending_chunks=10) is True
    assert store.create(sweep("b", n_chunks=4), max_pending_chunks=10) is True  # 6 + 4 <= 10
    with pytest.raises(Backlogged) as refused:
        store.create(sweep("c", n_chunks=1), max_pending_chunks=10)
    assert (refused.value.pending, refused.value.n_chunks, refused.value.limit) == (10, 1, 10)
    assert store.get("c") is None and store.list() == ([sweep("b", n_chunks=4),
                                                       sweep("a", n_chunks=6)], 2)
    # the backlog is what is not done yet: a saved chunk, a finished sweep free their share
    store.mark_running("a", 1.0)
    store.save_chunk("a", 0, chunk_records(0))
    assert store.create(sweep("c", n_chunks=1), max_pending_chunks=10) is True
    with pytest.raises(Backlogged):
        store.create(sweep("d", n_chunks=4), max_pending_chunks=10)
    store.cancel("b", 2.0)
    assert store.create(sweep("d", n_chunks=4), max_pending_chunks=10) is True
    with pytest.raises(Backlogged) as refused:
        store.create(sweep("e", n_chunks=1), max_pending_chunks=10)
    assert refused.value.pending == 5 + 1 + 4
    assert store.create(sweep("e", n_chunks=1)) is True  # no limit: no check


def test_an_idle_store_takes_a_sweep_larger_than_the_limit(store: JobStore) -> None:
    store.create(sweep("done", status=SweepStatus.SUCCEEDED, n_chunks=50, chunks_done=50))
    assert store.create(sweep("big", n_chunks=50), max_pending_chunks=10) is True
    with pytest.raises(Backlogged):
        store.create(sweep("small", n_chunks=1), max_pending_chunks=10)


def test_create_of_an_existing_id_keeps_it_even_when_backlogged(store: JobStore) -> None:
    assert store.create(sweep("a", name="first", n_chunks=20), max_pending_chunks=10) is True
    assert store.create(sweep("a", name="second", n_chunks=20), max_pending_chunks=10) is False
    assert store.create(sweep("a", name="third")) is False
    got = store.get("a")
    assert got is not None and got.name == "first"


def test_finish_stores_results_and_never_leaves_a_finished_status(store: JobStore) -> None:
    store.create(sweep("a"))
    store.mark_running("a", 1001.0)
    document = b'{"status": "succeeded", "trials": []}'
    assert store.finish("a", SweepStatus.SUCCEEDED, 1002.0, results=document) is True
    got = store.get("a")
    assert got is not None and got.status is SweepStatus.SUCCEEDED
    assert (got.started_at, got.finished_at, got.error) == (1001.0, 1002.0, None)
    assert store.results("a") == document
    assert store.finish("a", SweepStatus.FAILED, 1003.0, results=b"{}", error="late") is False
    assert store.cancel("a", 1004.0) is False
    assert store.mark_running("a", 1005.0) is False
    assert store.get("a") == got and store.results("a") == document

    store.create(sweep("b"))
    assert store.cancel("b", 1010.0) is True
    got = store.get("b")
    assert got is not None and got.status is SweepStatus.CANCELLED and got.finished_at == 1010.0
    assert store.finish("b", SweepStatus.SUCCEEDED, 1011.0, results=document) is False
    assert store.get("b") == got and store.results("b") is None

    with pytest.raises(ValueError):
        store.finish("b", SweepStatus.RUNNING, 1012.0)


def test_results_and_error_round_trip(store: JobStore) -> None:
    store.create(sweep("a"))
    blob = bytes(range(256)) * 3
    assert store.finish("a", SweepStatus.FAILED, 5.0, results=blob, error="chunk 3: ∅ diverged")
    assert store.results("a") == blob
    got = store.get("a")
    assert got is not None and got.error == "chunk 3: ∅ diverged"
    store.create(sweep("b"))
    assert store.finish("b", SweepStatus.FAILED, 6.0, error="no results") is True
    assert store.results("b") is None


def test_unfinished_lists_queued_and_running_oldest_first(store: JobStore) -> None:
    for i, name in enumerate(["q1", "r1", "done", "q2", "r2", "gone"]):
        store.create(sweep(name, created_at=50.0 - i))
    store.mark_running("r1", 60.0)
    store.mark_running("r2", 60.0)
    store.finish("done", SweepStatus.SUCCEEDED, 61.0)
    store.cancel("gone", 61.0)
    unfinished = store.unfinished()
    assert [r.id for r in unfinished] == ["r2", "q2", "r1", "q1"]
    assert {r.status for r in unfinished} == {SweepStatus.QUEUED, SweepStatus.RUNNING}


def test_delete_finished_before(store: JobStore) -> None:
    for name in ("old", "recent", "running", "queued"):
        store.create(sweep(name, created_at=1.0))
        store.save_chunk(name, 0, chunk_records(0))
    store.mark_running("old", 2.0)
    store.finish("old", SweepStatus.SUCCEEDED, 10.0, results=b"{}")
    store.finish("recent", SweepStatus.FAILED, 20.0, results=b"{}", error="x")
    store.mark_running("running", 2.0)

    assert store.delete_finished_before(10.0) == 0  # finished *before*
    assert store.delete_finished_before(15.0) == 1
    assert store.get("old") is None and store.results("old") is None
    assert store.records("old") == [] and store.saved_chunks("old") == set()
    assert store.list(SweepStatus.SUCCEEDED) == ([], 0)
    assert sorted(r.id for r in store.list()[0]) == ["queued", "recent", "running"]
    assert store.results("recent") == b"{}"
    assert store.delete_finished_before(1e12) == 1
    assert sorted(r.id for r in store.list()[0]) == ["queued", "running"]
    assert store.records("running") == chunk_records(0)
    assert store.delete_finished_before(1e12) == 0


def test_count_by_status(store: JobStore) -> None:
    assert {s: n for s, n in store.count_by_status().items() if n} == {}
    for name in "abcde":
        store.create(sweep(name))
    store.mark_running("a", 1.0)
    store.mark_running("b", 1.0)
    store.finish("b", SweepStatus.SUCCEEDED, 2.0)
    store.cancel("c", 2.0)
    counts = {s: n for s, n in store.count_by_status().items() if n}
    assert counts == {SweepStatus.QUEUED: 2, SweepStatus.RUNNING: 1,
                      SweepStatus.SUCCEEDED: 1, SweepStatus.CANCELLED: 1}


def test_chunk_stats_add_up(store: JobStore) -> None:
    empty = store.chunk_stats()
    assert (empty.chunks, empty.trials, empty.seconds) == (0, 0, 0.0)
    assert not any(empty.buckets.values())
    runs = [(0.01, 3), (0.3, 5), (0.4, 5), (1e6, 1)]
    for seconds, trials in runs:
        store.record_chunk_run(seconds, trials)
    stats = store.chunk_stats()
    assert (stats.chunks, stats.trials) == (4, 14)
    assert stats.seconds == pytest.approx(sum(s for s, _ in runs))
    assert {b: n for b, n in stats.buckets.items() if n} == {
        CHUNK_SECONDS_BUCKETS[0]: 1, chunk_seconds_bucket(0.3): 2, CHUNK_SECONDS_BUCKETS[-1]: 1}


def test_heartbeat_and_live_workers(store: JobStore) -> None:
    assert store.live_workers(0.0) == []
    store.heartbeat("w-a", 100.0)
    store.heartbeat("w-b", 105.0)
    assert store.live_workers(101.0) == ["w-b"]
    assert store.live_workers(105.0) == ["w-b"]
    store.heartbeat("w-a", 110.0)
    assert store.live_workers(101.0) == ["w-a", "w-b"]
    assert store.live_workers(200.0) == []


# -- concurrency -------------------------------------------------------------------------------

def _save_every_chunk(backend: Backend, sweep_id: str, seed: int, barrier: Any,
                      out: Any) -> None:
    """One worker: save every chunk (in its own order) once everyone is ready; report the
    answers as (chunk, chunks_done or None) pairs."""
    store = backend.open()
    try:
        order = list(range(N_CHUNKS))
        random.Random(seed).shuffle(order)
        barrier.wait(timeout=60)
        out.put([(chunk, store.save_chunk(sweep_id, chunk, chunk_records(chunk)))
                 for chunk in order])
    finally:
        store.close()


def _check_saved_once(store: JobStore, answers: list[list[tuple[int, int | None]]]) -> None:
    firsts = [(chunk, done) for answer in answers for chunk, done in answer if done is not None]
    assert sorted(chunk for chunk, _ in firsts) == list(range(N_CHUNKS))  # each saved once
    assert sorted(done for _, done in firsts) == list(range(1, N_CHUNKS + 1))
    got = store.get("a")
    expected = [r for chunk in range(N_CHUNKS) for r in chunk_records(chunk)]
    assert got is not None
    assert (got.chunks_done, got.done) == (N_CHUNKS, len(expected))
    assert store.saved_chunks("a") == set(range(N_CHUNKS))
    assert by_index(store.records("a")) == by_index(expected)


def test_processes_saving_the_same_chunks_store_each_once(backend: Backend,
                                                          store: JobStore) -> None:
    store.create(sweep("a"))
    answers = at_once(_save_every_chunk, [(backend, "a", seed) for seed in range(N_PROCESSES)])
    _check_saved_once(store, answers)


def test_threads_saving_the_same_chunks_store_each_once(backend: Backend,
                                                        store: JobStore) -> None:
    store.create(sweep("a"))
    barrier = threading.Barrier(8)
    out: Queue[list[tuple[int, int | None]]] = Queue()

    def work(seed: int) -> None:
        order = list(range(N_CHUNKS))
        random.Random(seed).shuffle(order)
        barrier.wait(timeout=30)
        out.put([(chunk, store.save_chunk("a", chunk, chunk_records(chunk)))
                 for chunk in order])

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    _check_saved_once(store, [out.get(timeout=1) for _ in threads])


def _create_many(backend: Backend, first: int, barrier: Any, out: Any) -> None:
    """One API replica: create sweeps of 3 chunks against a limit of 30, once all are ready;
    report the ids it stored."""
    store = backend.open()
    try:
        barrier.wait(timeout=60)
        stored = []
        for i in range(first, first + 10):
            try:
                if store.create(sweep(f"s{i}", n_chunks=3), max_pending_chunks=30):
                    stored.append(f"s{i}")
            except Backlogged:
                pass
        out.put(stored)
    finally:
        store.close()


def test_processes_creating_at_once_never_exceed_the_limit(backend: Backend,
                                                           store: JobStore) -> None:
    answers = at_once(_create_many, [(backend, 10 * n) for n in range(N_PROCESSES)])
    stored = [sweep_id for answer in answers for sweep_id in answer]
    assert len(stored) == 10  # 10 × 3 = 30 of the 40 × 3 asked for
    assert sorted(r.id for r in store.unfinished()) == sorted(stored)


# -- unavailability ----------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["ping", "get"])
def test_redis_without_retries_fails_fast(call: str) -> None:
    store = RedisStore("redis://127.0.0.1:1/0", retry_seconds=0)  # nothing listens on port 1
    start = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.ping() if call == "ping" else store.get("a")
    assert time.monotonic() - start < 3.0
    store.close()


def test_redis_retries_for_about_retry_seconds() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", retry_seconds=1.0)
    start = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.ping()
    assert 0.9 <= time.monotonic() - start < 3.0
    store.close()


def test_redis_that_does_not_answer_is_given_up_on_in_time() -> None:
    """A server that accepts connections and never answers: each attempt costs a socket
    timeout, and the deadline (not the retry count) ends the call."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:
        port = silent.getsockname()[1]
        store = RedisStore(f"redis://127.0.0.1:{port}/0", retry_seconds=1.0)
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.get("a")
        assert time.monotonic() - start < 4.5
        store.close()


def test_sqlite_locked_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "sweeps.sqlite3"
    store = SQLiteStore(path, timeout=0.2)
    store.create(sweep("a"))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        assert store.get("a") is not None  # WAL: reads go on
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.save_chunk("a", 0, chunk_records(0))
        assert time.monotonic() - start < 2.0
        other.execute("ROLLBACK")
        assert store.save_chunk("a", 0, chunk_records(0)) == 1
    finally:
        other.close()
        store.close()


# -- values a store refuses --------------------------------------------------------------------

def big_records(n_bytes: int) -> list[dict[str, Any]]:
    """One trial record whose JSON is about ``n_bytes`` long."""
    return [{"index": 0, "status": "ok", "curve": {"step": [], "loss": [0.25] * (n_bytes // 5)}}]


def test_a_chunk_over_max_value_bytes_is_rejected_and_nothing_is_stored(
        store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.store.MAX_VALUE_BYTES", 10_000)
    store.create(sweep("a"))
    with pytest.raises(StoreRejected, match=r"chunk 3 of sweep a is .* over the store's limit "
                       r"of 10,000 bytes per value \(max_value_bytes\)"):
        store.save_chunk("a", 3, big_records(20_000))
    assert store.saved_chunks("a") == set()
    got = store.get("a")
    assert got is not None and got.chunks_done == 0 and got.done == 0
    assert store.save_chunk("a", 3, big_records(5_000)) == 1  # under the limit: stored


def test_a_results_document_over_max_value_bytes_is_rejected_and_the_sweep_stays_unfinished(
        store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.store.MAX_VALUE_BYTES", 10_000)
    store.create(sweep("a"))
    with pytest.raises(StoreRejected, match="the results document of sweep a"):
        store.finish("a", SweepStatus.SUCCEEDED, 2000.0, results=b"x" * 10_001)
    got = store.get("a")
    assert got is not None and got.status == SweepStatus.QUEUED and store.results("a") is None
    assert store.finish("a", SweepStatus.FAILED, 2000.0, error="too big")
    assert store.finish("b", SweepStatus.SUCCEEDED, 2000.0, results=b"x" * 10_000) is False


def test_sqlite_refusing_a_value_raises_store_rejected(tmp_path: Path) -> None:
    """SQLite's own "string or blob too big" (here with its length limit lowered to 10 kB,
    as the 1 GB default would be met by a value over it) is a StoreRejected, not a bare
    sqlite3.DataError that nobody handles."""
    store = SQLiteStore(tmp_path / "sweeps.sqlite3")
    store.create(sweep("a"))
    store._db().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)
    try:
        with pytest.raises(StoreRejected, match="too big"):
            store.save_chunk("a", 0, big_records(20_000))
        with pytest.raises(StoreRejected, match="too big"):
            store.finish("a", SweepStatus.SUCCEEDED, 2000.0, results=b"x" * 20_000)
        assert store.saved_chunks("a") == set()
        assert store.finish("a", SweepStatus.FAILED, 2000.0, error="too big")
    finally:
        store.close()


def test_redis_out_of_memory_raises_store_rejected(tmp_path: Path) -> None:
    """A Redis at its maxmemory (noeviction) answers writes with an OOM error: refused for
    good, so StoreRejected — not a bare ResponseError, and not retried as an outage."""
    with private_redis(tmp_path) as server:
        client = server.client()
        store = RedisStore(server.url, retry_seconds=1.0)
        try:
            store.create(sweep("a"))
            client.config_set("maxmemory", 1)  # every write now finds Redis over maxmemory
            with pytest.raises(StoreRejected, match="maxmemory"):
                store.save_chunk("a", 0, chunk_records(0))
            with pytest.raises(StoreRejected, match="maxmemory"):
                store.finish("a", SweepStatus.SUCCEEDED, 2000.0, results=b"{}")
            client.config_set("maxmemory", 0)
            assert store.save_chunk("a", 0, chunk_records(0)) == 1
        finally:
            store.close()
            client.close()
