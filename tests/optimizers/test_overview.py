"""The per-chunk sketches of a sweep's curves (``optimizers.overview``): bands within the stated
error of ``numpy.quantile`` over every curve, merging in any order, the sample, the size."""

from __future__ import annotations

import random

import numpy as np
import pytest

from optimizers import Limits, parse_spec, run_sweep
from optimizers.overview import (
    MAX_POSITIONS,
    QUANTILES,
    RELATIVE_ERROR,
    Sketch,
    bins_of,
    curve_steps,
    merge,
    overview,
    position_indices,
    representatives,
    sample_indices,
    sketch_of,
)
from optimizers.results import failed_records

LRS = [float(x) for x in np.geomspace(1e-5, 1e-2, 40)]  # the largest diverge on rosenbrock


def sweep(**changes: object) -> tuple[object, list[dict]]:
    body = {"objective": {"name": "rosenbrock", "dim": 2}, "optimizer": "momentum",
            "grid": {"lr": LRS, "momentum": [0.0, 0.5, 0.9]}, "seeds": 3, "steps": 500,
            "record_every": 1, **changes}
    spec = parse_spec(body, Limits())
    return spec, run_sweep(spec)["trials"]


def exact_quantiles(records: list[dict], steps: list[int]) -> list[list[float | None]]:
    out: list[list[float | None]] = [[] for _ in QUANTILES]
    for s in steps:
        values = [v for r in records for st, v in zip(r["curve"]["step"], r["curve"]["loss"])
                  if st == s]
        for k, q in enumerate(QUANTILES):
            out[k].append(float(np.quantile(values, q)) if values else None)
    return out


def chunks(records: list[dict], size: int) -> list[list[dict]]:
    return [records[i:i + size] for i in range(0, len(records), size)]


def assert_within_bound(estimate: list[list[float | None]],
                        exact: list[list[float | None]]) -> None:
    for est_row, true_row in zip(estimate, exact):
        for est, true in zip(est_row, true_row):
            if true is None:
                assert est is None
                continue
            assert est is not None
            assert abs(est / true - 1) <= RELATIVE_ERROR + 1e-12, (est, true)


def test_bins_order_values_and_representatives_are_within_the_bound() -> None:
    values = np.array([-1e45, -3.0, -1e-3, -1e-50, 0.0, 1e-50, 1e-39, 1e-3, 0.999, 1.0, 7.5,
                       1e39, 1e45])
    bins = bins_of(values)
    assert list(bins) == sorted(bins)
    reps = representatives()[bins]
    inside = (np.abs(values) >= 1e-40) & (np.abs(values) < 1e40)
    assert np.all(np.abs(reps[inside] / values[inside] - 1) <= RELATIVE_ERROR + 1e-12)
    assert reps[3] == 0.0 and reps[5] == 0.0  # |v| < 1e-40: the zero bin
    rng = np.random.default_rng(0)
    x = 10.0 ** rng.uniform(-39, 39, 100_000) * rng.choice([-1, 1], 100_000)
    assert np.max(np.abs(representatives()[bins_of(x)] / x - 1)) <= RELATIVE_ERROR + 1e-12


def test_positions_are_fixed_by_the_spec() -> None:
    assert position_indices(5) == [0, 1, 2, 3, 4]
    kept = position_indices(501)
    assert len(kept) == MAX_POSITIONS and kept[0] == 0 and kept[-1] == 500
    assert curve_steps(10, 3) == [0, 3, 6, 9, 10]
    assert sample_indices(12) == list(range(12))
    big = sample_indices(10**6)
    assert len(big) == 200 and big[0] == 0 and big[1] == 5000 and big[-1] == 995_000


def test_bands_match_numpy_quantile_over_every_curve_of_a_real_sweep() -> None:
    spec, records = sweep()
    assert {r["status"] for r in records} == {"ok", "diverged"}
    sketch = merge(Sketch.from_bytes(sketch_of(c, spec.steps, spec.record_every,
                                               spec.n_trials).to_bytes())
                   for c in chunks(records, 70))
    assert sketch is not None
    doc = overview(sketch, spec.steps, spec.record_every)
    assert doc["trials"] == len(records) == 360
    assert len(doc["steps"]) == MAX_POSITIONS and doc["steps"][-1] == 500
    assert_within_bound(doc["bands"], exact_quantiles(records, doc["steps"]))
    # a diverged trial has no value after it diverged
    for p, s in enumerate(doc["steps"]):
        assert doc["counts"][p] == sum(s in r["curve"]["step"] for r in records)
    assert doc["counts"][0] == 360 > doc["counts"][-1]
    # the sample: every trial's index at i·T//200, curves cut to the positions and the last
    assert [r["index"] for r in doc["sample"]] == sample_indices(360)
    for r in doc["sample"]:
        whole = records[r["index"]]
        assert r["curve"]["step"][-1] == whole["curve"]["step"][-1]
        assert len(r["curve"]["step"]) <= MAX_POSITIONS + 1
        assert set(r["curve"]["step"]) <= set(whole["curve"]["step"])


def test_merge_order_does_not_matter_and_the_bytes_are_deterministic() -> None:
    spec, records = sweep(record_every=7, seeds=1)
    sketches = [sketch_of(c, spec.steps, spec.record_every, spec.n_trials)
                for c in chunks(records, 13)]
    again = [sketch_of(c, spec.steps, spec.record_every, spec.n_trials)
             for c in chunks(records, 13)]
    assert [s.to_bytes() for s in sketches] == [s.to_bytes() for s in again]
    forward = merge(sketches)
    shuffled = sketches[:]
    random.Random(1).shuffle(shuffled)
    backward = merge(shuffled)
    assert forward is not None and backward is not None
    assert np.array_equal(forward.counts, backward.counts)
    assert overview(forward, spec.steps, spec.record_every) == \
        overview(backward, spec.steps, spec.record_every)
    whole = sketch_of(records, spec.steps, spec.record_every, spec.n_trials)
    assert np.array_equal(whole.counts, forward.counts) and whole.sample == forward.sample


def test_a_mix_of_pruned_diverged_and_failed_trials() -> None:
    spec, records = sweep(record_every=10, seeds=2,
                          pruning={"kind": "successive_halving", "min_steps": 10})
    statuses = {r["status"] for r in records}
    assert {"ok", "pruned", "diverged"} <= statuses
    trials = spec.trials(0, 5)
    failed = failed_records(spec, trials, "boom")
    mixed = [r for r in records if r["index"] >= 5] + failed
    random.Random(2).shuffle(mixed)
    sketch = merge(sketch_of(c, spec.steps, spec.record_every, spec.n_trials)
                   for c in chunks(mixed, 17))
    doc = overview(sketch, spec.steps, spec.record_every)
    assert doc["trials"] == len(records)
    with_values = [r for r in mixed if r["status"] != "failed"]
    assert doc["counts"][0] == len(with_values)
    assert_within_bound(doc["bands"], exact_quantiles(with_values, doc["steps"]))
    assert doc["counts"][-1] == sum(r["status"] == "ok" for r in mixed)
    sampled = {r["index"]: r for r in doc["sample"]}
    assert sampled[0]["status"] == "failed" and sampled[0]["curve"] == {"step": [], "loss": []}


def test_no_values_give_nulls() -> None:
    doc = overview(None, 100, 50)
    assert doc["steps"] == [0, 50, 100] and doc["trials"] == 0 and doc["sample"] == []
    assert doc["bands"] == [[None] * 3] * 5 and doc["counts"] == [0, 0, 0]


def test_a_10000_trial_chunk_s_sketch_is_small() -> None:
    spec = parse_spec({"objective": {"name": "rosenbrock", "dim": 2}, "optimizer": "adam",
                       "grid": {"lr": [float(x) for x in np.geomspace(1e-4, 1, 100)],
                                "beta1": [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99,
                                          0.999]},
                       "seeds": 10, "steps": 500, "record_every": 2}, Limits())
    records = run_sweep(spec)["trials"]
    # a chunk of a sweep 100 times larger: its share of the sample is 2 trials
    blob = sketch_of(records, spec.steps, spec.record_every, 100 * spec.n_trials).to_bytes()
    assert len(blob) < 100_000, len(blob)
    # with the whole sample of 200 curves (a 10,000-trial sweep in one chunk), still bounded
    whole = sketch_of(records, spec.steps, spec.record_every, spec.n_trials).to_bytes()
    assert len(whole) < 1_000_000, len(whole)


@pytest.mark.parametrize("values", [[-2.0, -1.0, 3.0], [0.0, 0.0, 1.0], [5.0]])
def test_negative_and_zero_losses(values: list[float]) -> None:
    records = [{"index": i, "status": "ok", "curve": {"step": [0], "loss": [v]}}
               for i, v in enumerate(values)]
    sketch = sketch_of(records, 1, 1, len(values))  # type: ignore[arg-type]
    bands = sketch.bands()
    for k, q in enumerate(QUANTILES):
        true = float(np.quantile(values, q))
        span = max(abs(min(values)), abs(max(values)))
        assert bands[k][0] is not None
        assert abs(bands[k][0] - true) <= RELATIVE_ERROR * span + 1e-12
