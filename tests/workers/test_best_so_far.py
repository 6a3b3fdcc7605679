"""The store keeps the best grid point so far (``JobStore.best``), equal to ``assemble``'s best.

Checked on ``SQLiteStore`` and ``RedisStore`` alike: after every save of a sequence of chunk
saves — in random order, with redeliveries, with diverged and failed trials, with a grid point's
seeds split across chunks, with equal scores — ``store.best`` names the same grid point, score,
spread and trials as ``optimizers.assemble`` over the records saved so far (compared with
``==``); concurrent saves from threads and processes lose no trial. The Redis half uses database
14 under a fresh key prefix per test, deleted afterwards.
"""

from __future__ import annotations

import random
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from store_backends import Backend, at_once

from optimizers import SweepSpec, SweepStatus, assemble, parse_spec, run_chunk
from optimizers.results import moments_of, score_settings
from workers.store import (
    BEST_TRIALS,
    SPEC_CACHE_BYTES,
    ByteBoundedCache,
    JobStore,
    StoredBest,
    SweepRecord,
)
from workers.store_sqlite import SQLiteStore

ALL = 10**9  # max_trials that returns every trial index


def record_of(spec: SweepSpec, n_chunks: int, sweep_id: str = "a") -> SweepRecord:
    return SweepRecord(id=sweep_id, name=spec.name, status=SweepStatus.RUNNING,
                       spec=spec.model_dump(mode="json"), total=spec.n_trials, done=0,
                       n_chunks=n_chunks, chunks_done=0, created_at=1000.0)


def chunks_of(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    records = sorted(records, key=lambda r: r["index"])
    return [records[i:i + size] for i in range(0, len(records), size)]


def as_best(spec: SweepSpec, stored: StoredBest | None, max_trials: int = ALL) -> Any:
    """``store.best`` in the shape of ``assemble``'s best (its trials cut to ``max_trials``)."""
    if stored is None:
        return None
    return {"params": spec.setting(stored.setting), "score": stored.score,
            "score_std": stored.score_std, "trials": stored.trials, "n_trials": stored.n_trials}


def expected_best(spec: SweepSpec, records: list[dict[str, Any]],
                  max_trials: int = ALL) -> Any:
    best = assemble(spec, records)["best"]
    return None if best is None else {**best, "trials": best["trials"][:max_trials]}


def check_every_save(store: JobStore, spec: SweepSpec, chunks: list[list[dict[str, Any]]],
                     order: list[int]) -> None:
    """Save ``chunks`` in ``order`` (repeats are redeliveries); after each save, the store's
    best is assemble's best over what was saved."""
    store.create(record_of(spec, len(chunks)))
    assert store.best("a") is None
    saved: dict[int, list[dict[str, Any]]] = {}
    for chunk in order:
        first = chunk not in saved
        assert (store.save_chunk("a", chunk, chunks[chunk]) is not None) == first
        saved.setdefault(chunk, chunks[chunk])
        records = [r for c in saved.values() for r in c]
        assert as_best(spec, store.best("a", ALL)) == expected_best(spec, records)
        assert as_best(spec, store.best("a")) == expected_best(spec, records, BEST_TRIALS)


def real_spec(seeds: int = 3) -> SweepSpec:
    """momentum on sphere from seeded random starts: lr 5 and 8 diverge, the others converge, each
    seed to its own loss."""
    return parse_spec({"objective": {"name": "sphere", "dim": 2}, "optimizer": "momentum",
                       "init": {"distribution": "normal"}, "steps": 30, "seeds": seeds,
                       "grid": {"lr": [0.01, 5.0, 0.1, 0.2, 8.0, 0.05], "momentum": [0.0, 0.5]},
                       "metric": "mean_loss"})


def test_best_follows_real_trials_saved_in_any_order_and_again(store: JobStore) -> None:
    spec = real_spec()
    records = run_chunk(spec, 0, spec.n_trials)
    assert {r["status"] for r in records} == {"ok", "diverged"}
    chunks = chunks_of(records, 5)  # a grid point's 3 seeds lie in different chunks
    order = list(range(len(chunks))) * 2
    random.Random(1).shuffle(order)
    check_every_save(store, spec, chunks, order)
    assert as_best(spec, store.best("a", ALL)) == expected_best(spec, records)


def synthetic(spec: SweepSpec, seed: int) -> list[dict[str, Any]]:
    """Records with few distinct values (many equal scores), some diverged or failed."""
    rng = random.Random(seed)
    out = []
    for index in range(spec.n_trials):
        status = rng.choices(["ok", "diverged", "failed"], [8, 1, 1])[0]
        value = rng.choice([0.5, 1.0, 0.1 + 0.2, 1e-300, 3.0]) if status == "ok" else None
        out.append({"index": index, "params": {}, "status": status, "final_loss": value,
                    "min_loss": value, "mean_loss": value, "curve": {"step": [], "loss": []}})
    return out


@pytest.mark.parametrize("seed", range(4))
def test_best_of_synthetic_records_with_ties_and_failures(store: JobStore, seed: int) -> None:
    spec = parse_spec({"objective": "sphere", "optimizer": "momentum", "seeds": 4,
                       "grid": {"lr": [0.1, 0.2, 0.3, 0.4, 0.5], "momentum": [0.0, 0.9]}})
    chunks = chunks_of(synthetic(spec, seed), 3)
    order = [random.Random(seed).randrange(len(chunks)) for _ in range(3 * len(chunks))]
    check_every_save(store, spec, chunks, order)


def test_many_seeds_list_the_first_trials_and_count_them_all(store: JobStore) -> None:
    spec = parse_spec({"objective": "sphere", "optimizer": "sgd", "seeds": 30,
                       "grid": {"lr": [0.1, 0.2]}})
    records = [{"index": i, "status": "ok", "final_loss": 1.0 + (i % 2)}
               for i in range(spec.n_trials)]
    chunks = chunks_of(records, 7)
    check_every_save(store, spec, chunks, list(range(len(chunks)))[::-1])
    best = store.best("a")
    assert best is not None and best.n_trials == 30 and best.trials == list(range(0, 20, 2))


def test_a_failed_trial_takes_its_grid_point_out_for_good(store: JobStore) -> None:
    spec = parse_spec({"objective": "sphere", "optimizer": "sgd", "seeds": 2,
                       "grid": {"lr": [0.1, 0.2]}})
    store.create(record_of(spec, 3))
    store.save_chunk("a", 0, [{"index": 0, "status": "ok", "final_loss": 0.1},
                              {"index": 1, "status": "ok", "final_loss": 0.5}])
    assert (store.best("a") or StoredBest(-1, 0, 0, [], 0)).setting == 0
    store.save_chunk("a", 1, [{"index": 2, "status": "failed", "final_loss": None}])
    assert store.best("a") == StoredBest(1, 0.5, 0.0, [1], 1)
    store.save_chunk("a", 2, [{"index": 3, "status": "diverged", "final_loss": None}])
    assert store.best("a") is None


def test_unknown_sweep_has_no_best_and_retention_deletes_it(store: JobStore) -> None:
    assert store.best("nope") is None
    spec = real_spec(seeds=1)
    store.create(record_of(spec, 1))
    store.save_chunk("a", 0, run_chunk(spec, 0, spec.n_trials))
    assert store.best("a") is not None
    store.finish("a", SweepStatus.SUCCEEDED, 2000.0)
    assert store.delete_finished_before(3000.0) == 1
    assert store.best("a") is None


# -- concurrency -------------------------------------------------------------------------------

N_CHUNKS = 24


def concurrent_spec() -> SweepSpec:
    return parse_spec({"objective": "sphere", "optimizer": "sgd", "seeds": 6,
                       "grid": {"lr": [0.1, 0.2, 0.3, 0.4]}})


def concurrent_chunks() -> list[list[dict[str, Any]]]:
    """24 chunks of one trial each: every grid point's 6 seeds are saved by 6 saves."""
    rng = random.Random(7)
    return [[{"index": i, "status": "ok", "final_loss": rng.choice([0.25, 0.5, 0.75])}]
            for i in range(N_CHUNKS)]


def _save_all(backend: Backend, seed: int, barrier: Any, out: Any) -> None:
    store = backend.open()
    try:
        chunks = concurrent_chunks()
        order = list(range(N_CHUNKS))
        random.Random(seed).shuffle(order)
        barrier.wait(timeout=60)
        out.put([store.save_chunk("a", chunk, chunks[chunk]) for chunk in order])
    finally:
        store.close()


def _check_all_merged(store: JobStore, answers: list[list[int | None]]) -> None:
    spec, chunks = concurrent_spec(), concurrent_chunks()
    assert sorted(n for answer in answers for n in answer if n is not None) == list(
        range(1, N_CHUNKS + 1))
    records = [r for chunk in chunks for r in chunk]
    assert as_best(spec, store.best("a", ALL)) == expected_best(spec, records)
    best = store.best("a", ALL)
    assert best is not None and best.n_trials == 6  # no seed of the best point was lost
    # the importance sums: every score change counted once, whatever the interleaving
    expected = moments_of(spec, score_settings(spec, records)).to_bytes()  # type: ignore[arg-type]
    assert store.moments("a") == expected


def test_processes_saving_at_once_lose_no_trial(backend: Backend, store: JobStore) -> None:
    store.create(record_of(concurrent_spec(), N_CHUNKS))
    answers = at_once(_save_all, [(backend, seed) for seed in range(4)])
    _check_all_merged(store, answers)


def test_threads_saving_at_once_lose_no_trial(store: JobStore) -> None:
    store.create(record_of(concurrent_spec(), N_CHUNKS))
    chunks = concurrent_chunks()
    barrier = threading.Barrier(8)
    answers: list[list[int | None]] = []

    def work(seed: int) -> None:
        order = list(range(N_CHUNKS))
        random.Random(seed).shuffle(order)
        barrier.wait(timeout=30)
        answers.append([store.save_chunk("a", chunk, chunks[chunk]) for chunk in order])

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 8
    _check_all_merged(store, answers)


# -- the spec caches ---------------------------------------------------------------------------

def test_byte_bounded_cache_drops_the_least_recently_used_past_its_bytes() -> None:
    cache: ByteBoundedCache[str, int] = ByteBoundedCache(100)
    cache.put("a", 1, 40)
    cache.put("b", 2, 40)
    assert cache.get("a") == 1  # now b is the least recently used
    cache.put("c", 3, 40)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    cache.put("huge", 4, 101)  # larger than the whole cache: not kept, nothing dropped
    assert cache.get("huge") is None and len(cache) == 2 and cache.size_bytes == 80


def test_a_store_caches_specs_within_its_byte_bound(store: JobStore) -> None:
    big = {"optimizer": "sgd", "grid": {"lr": 0.1}, "pad": "x" * (SPEC_CACHE_BYTES // 8)}
    for i in range(12):
        store.create(SweepRecord(id=f"s{i}", name="", status=SweepStatus.QUEUED, spec=big,
                                 total=1, done=0, n_chunks=1, chunks_done=0, created_at=1.0))
        got = store.get(f"s{i}")
        assert got is not None and got.spec == big
    cache = store._specs  # type: ignore[attr-defined]
    assert 0 < cache.size_bytes <= SPEC_CACHE_BYTES and len(cache) < 12
    first, again = store.get("s11"), store.get("s11")
    assert first is not None and again is not None and first.spec is again.spec  # not re-parsed


def test_stored_spec_is_parsed_once_and_its_cache_bounded_in_bytes(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from workers import jobs

    spec = real_spec()
    record = record_of(spec, 1, sweep_id=uuid.uuid4().hex)
    store = SQLiteStore(tmp_path / "store.sqlite3")
    assert jobs.stored_spec(record, store) is jobs.stored_spec(record, store) == spec
    size = len(orjson.dumps(record.spec))
    monkeypatch.setattr(jobs, "_SPECS", ByteBoundedCache(50 * size))
    for _ in range(200):  # many sweeps: the cache stays within its bytes
        jobs.stored_spec(record_of(spec, 1, sweep_id=uuid.uuid4().hex), store)
    assert len(jobs._SPECS) == 50 and jobs._SPECS.size_bytes == 50 * size


def test_a_best_stored_before_n_trials_existed_still_reads() -> None:
    from optimizers.results import Best

    old = {"params": {"lr": 0.1}, "score": 1.0, "score_std": 0.0, "trials": [3, 7]}
    assert Best.model_validate(old).n_trials == 2
