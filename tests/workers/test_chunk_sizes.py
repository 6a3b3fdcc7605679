"""Chunks are small values: ``chunk_bounds`` caps a chunk's recorded curve points, and the
store's cut (``workers.jobs.chunk_range``, from the chunk count alone) agrees with it.

A chunk's records are one value in the store; before the cap, a sweep of few trials with long
curves (1,000,000 steps recorded at every step) made chunks of 595 MB, over Redis's 512 MB
limit.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from optimizers import Limits, SweepStatus, chunk_bounds, parse_spec, run_chunk
from optimizers.runner import MAX_CHUNK_POINTS, MAX_CHUNK_TRIALS, TARGET_CHUNK_WORK
from optimizers.spec import UNLIMITED
from workers.jobs import chunk_range
from workers.store import MAX_VALUE_BYTES, SweepRecord

SPECS: list[dict[str, Any]] = [
    # the sweeps of the report: few trials, every step recorded
    {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd", "grid": {"lr": 1e-12},
     "init": [1e-100], "steps": 1_000_000, "record_every": 1, "seeds": 40},
    {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd", "grid": {"lr": 1e-12},
     "init": [1e-100], "steps": 1_000_000, "record_every": 1, "seeds": 20},
    # long curves, cheap steps: the work alone would put thousands of trials in a chunk
    {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd",
     "grid": {"lr": [1e-3 * 1.01**i for i in range(500)]}, "steps": 20_000, "record_every": 1,
     "seeds": 10},
    {"objective": {"name": "sphere", "dim": 2}, "optimizer": "adam",
     "grid": {"lr": [1e-3, 1e-2, 0.1]}, "steps": 5000, "record_every": 7, "seeds": 33},
    # short curves: the work or MAX_CHUNK_TRIALS decide, as before
    {"objective": {"name": "rastrigin", "dim": 100}, "optimizer": "adam",
     "grid": {"lr": [1e-3 * 1.3**i for i in range(12)]}, "steps": 20000, "record_every": 500,
     "seeds": 2},
    {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd",
     "grid": {"lr": [1e-4 * 1.001**i for i in range(5000)]}, "steps": 10, "seeds": 4},
    {"objective": {"name": "sphere", "dim": 1000}, "optimizer": "sgd", "grid": {"lr": 1e-3},
     "steps": 1, "seeds": 7},
    # one trial records more than MAX_CHUNK_POINTS on its own: one trial per chunk
    {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd", "grid": {"lr": [1e-3, 1e-2]},
     "steps": 999_999, "record_every": 1, "seeds": 3},
]
MIN_CHUNKS = (1, 8)


def _record(spec_data: dict[str, Any], n_chunks: int) -> SweepRecord:
    spec = parse_spec(spec_data, UNLIMITED)
    return SweepRecord(id="x", name="x", status=SweepStatus.QUEUED,
                       spec=spec.model_dump(mode="json"), total=spec.n_trials, done=0,
                       n_chunks=n_chunks, chunks_done=0, created_at=0.0)


@pytest.mark.parametrize("min_chunks", MIN_CHUNKS)
@pytest.mark.parametrize("index", range(len(SPECS)))
def test_every_chunk_records_at_most_max_chunk_points_or_one_trial(index: int,
                                                                   min_chunks: int) -> None:
    spec = parse_spec(SPECS[index], UNLIMITED)
    bounds = chunk_bounds(spec, min_chunks=min_chunks)
    assert bounds[0][0] == 0 and bounds[-1][1] == spec.n_trials
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    for start, stop in bounds:
        assert stop > start
        assert (stop - start) * spec.curve_length <= MAX_CHUNK_POINTS or stop - start == 1
        assert stop - start <= MAX_CHUNK_TRIALS
        assert stop - start == 1 or (
            (stop - start) * spec.objective.dim * spec.steps <= TARGET_CHUNK_WORK)


@pytest.mark.parametrize("min_chunks", MIN_CHUNKS)
@pytest.mark.parametrize("index", range(len(SPECS)))
def test_chunk_range_agrees_with_chunk_bounds(index: int, min_chunks: int) -> None:
    """The store keeps only the count n; its cut into ⌈T/n⌉-trial chunks makes exactly n
    non-empty chunks covering every trial once, none bigger than chunk_bounds' own."""
    spec = parse_spec(SPECS[index], UNLIMITED)
    bounds = chunk_bounds(spec, min_chunks=min_chunks)
    record = _record(SPECS[index], len(bounds))
    ranges = [chunk_range(record, i) for i in range(record.n_chunks)]
    assert ranges[0][0] == 0 and ranges[-1][1] == spec.n_trials
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    biggest = max(stop - start for start, stop in bounds)
    for start, stop in ranges:
        assert 0 < stop - start <= biggest


def test_the_reported_sweep_is_now_cut_into_small_chunks() -> None:
    """40 trials of 1,000,001 recorded points: 40 one-trial chunks of ~24 MB, not two of
    595 MB — and the sweep is refused by the default limits anyway (max_curve_points)."""
    spec = parse_spec(SPECS[0], UNLIMITED)
    assert len(chunk_bounds(spec)) == 40
    with pytest.raises(ValueError, match="max_curve_points"):
        parse_spec(SPECS[0], Limits())


def test_a_chunk_at_max_chunk_points_is_far_below_the_value_limit() -> None:
    """A real chunk of MAX_CHUNK_POINTS curve points serialises to about 12 MB (measured on
    one of 1/20th the points, scaled), a twentieth of MAX_VALUE_BYTES."""
    spec = parse_spec({"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd",
                       "grid": {"lr": [1e-3 * 1.01**i for i in range(25)]}, "steps": 999,
                       "record_every": 1}, UNLIMITED)
    assert spec.curve_points == MAX_CHUNK_POINTS // 20
    size = len(orjson.dumps(run_chunk(spec, 0, spec.n_trials)))
    assert size * 20 < MAX_VALUE_BYTES / 10
