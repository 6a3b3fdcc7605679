"""The spec is bounded by construction: every integer fits 64 bits, a bad list or a flood of
unknown keys is one error, and the normalised spec is as small as the posted one.

A spec that passed validation but held ``record_every = 2**64`` could not be stored (orjson takes
64-bit integers only), a list of 200,000 bad numbers made 200,000 errors, and a random init of
``dim = 10**6`` was stored with 10**6 numbers of center filled in.
"""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest
from pydantic import BaseModel, ValidationError

from optimizers import Limits, describe_errors, parse_spec, run_sweep
from optimizers.objectives import OBJECTIVES
from optimizers.search import Distribution, IntDistribution
from optimizers.spec import MAX_EXTRA_KEYS, MAX_INT, UNLIMITED, RandomInit, SweepSpec

OK = {"objective": "sphere", "optimizer": "sgd", "grid": {"lr": 0.1}, "steps": 10}
SAMPLED_LR = {"distribution": "uniform", "min": 0.01, "max": 0.1}


def messages(data: object, limits: Limits | None = None) -> list[str]:
    with pytest.raises(ValidationError) as info:
        parse_spec(data, limits)  # type: ignore[arg-type]
    return describe_errors(info.value)


BY_MAX_STEPS = {(SweepSpec, "steps"), (SweepSpec, "record_every")}


@pytest.mark.parametrize("model", [Limits, SweepSpec, RandomInit, IntDistribution,
                                   *OBJECTIVES.values()], ids=lambda m: m.__name__)
def test_every_integer_field_has_an_upper_bound_within_int64(model: type[BaseModel]) -> None:
    """Catches a new integer field added without a bound. Seeds (a count or a list) are checked
    by their validator; steps and record_every by the limit max_steps, itself at most MAX_INT."""
    for name, field in model.model_fields.items():
        if field.annotation is not int or (model, name) in BY_MAX_STEPS:
            continue
        bounds = [getattr(m, "le", None) for m in field.metadata]
        bounds = [b for b in bounds if b is not None]
        assert bounds and max(bounds) <= MAX_INT, f"{model.__name__}.{name} has no upper bound"


@pytest.mark.parametrize(("changes", "field"), [
    ({"record_every": 2**64}, "record_every"),
    ({"record_every": 10**30}, "record_every"),
    ({"steps": 2**64}, "steps"),
    ({"objective": {"name": "sphere", "dim": 2**64}}, "objective.dim"),
    ({"seeds": 2**64}, "seeds"),
    ({"seeds": [2**64]}, "seeds"),
    ({"schedule": {"name": "step", "step_size": 2**64}}, "schedule.step_size"),
    ({"schedule": {"name": "cosine", "t_max": [10, 2**64]}}, "schedule.t_max.1"),
    ({"grid": {"lr": SAMPLED_LR}, "samples": 2**64}, "samples"),
    ({"grid": {"lr": SAMPLED_LR}, "samples": 4, "search_seed": 2**64}, "search_seed"),
    ({"schedule": {"name": "step", "step_size": {"distribution": "int_uniform", "min": 1,
                                                 "max": 2**64}}, "samples": 2},
     "schedule.step_size.max"),
])
def test_integers_over_64_bits_are_refused_even_without_limits(changes: dict[str, object],
                                                               field: str) -> None:
    for limits in (Limits(), UNLIMITED):
        lines = messages({**OK, **changes}, limits)
        assert any(line.startswith(f"{field}:") for line in lines), lines


def test_record_every_is_bounded_by_max_steps_and_named() -> None:
    lines = messages({**OK, "record_every": 2**40}, Limits(max_steps=1000))
    assert lines == ["record_every: record_every = 1099511627776 is over the limit "
                     "max_steps = 1000"]
    lines = messages({**OK, "record_every": 2**64}, UNLIMITED)
    assert lines == ["record_every: record_every = 18446744073709551616 is over the limit "
                     f"max_steps = {MAX_INT}"]
    with pytest.raises(ValidationError):
        Limits(max_steps=2**63)
    assert parse_spec({**OK, "record_every": 1000}, Limits(max_steps=1000)).record_every == 1000


def test_every_accepted_spec_serialises_with_orjson() -> None:
    spec = parse_spec({**OK, "record_every": 1_000_000, "steps": 1_000_000,
                       "seeds": [2**32 - 1], "objective": {"name": "sphere", "dim": 1}})
    assert orjson.loads(orjson.dumps(spec.model_dump(mode="json")))["record_every"] == 1_000_000
    sampled = parse_spec({**OK, "samples": 3, "search_seed": 2**32 - 1, "schedule": {
        "name": "step", "step_size": {"distribution": "int_uniform", "min": MAX_INT - 5,
                                      "max": MAX_INT}}})
    data = orjson.loads(orjson.dumps(sampled.model_dump(mode="json")))
    assert all(MAX_INT - 5 <= v <= MAX_INT for v in data["schedule"]["step_size"]["drawn"])


def test_a_distribution_of_a_real_parameter_takes_any_finite_bounds() -> None:
    """Distribution's bounds are floats (finite, by the strict config); its int_uniform ones are
    whole floats, drawn as Python integers then converted: no overflow at the float limit."""
    assert Distribution.model_config.get("allow_inf_nan") is False
    spec = parse_spec({**OK, "samples": 4, "grid": {"lr": {
        "distribution": "int_uniform", "min": 1.0, "max": 1.7976931348623157e308}}})
    assert spec.grid is not None
    lr = spec.grid["lr"]
    assert isinstance(lr, Distribution) and lr.drawn is not None
    assert all(1.0 <= v <= 1.7976931348623157e308 for v in lr.drawn)


@pytest.mark.parametrize(("changes", "field"), [
    ({"grid": {"lr": ["x"] * 200_000}}, "grid.lr.0"),
    ({"grid": {"lr": [0.1] + [None] * 200_000}}, "grid.lr.1"),
    ({"seeds": ["x"] * 200_000}, "seeds.0"),
    ({"init": ["x"] * 200_000}, "init.0"),
    ({"init": {"distribution": "normal", "center": ["x"] * 200_000}}, "init.center.0"),
    ({"grid": {"lr": {**SAMPLED_LR, "drawn": ["x"] * 200_000}}, "samples": 2}, "grid.lr.drawn.0"),
    ({"schedule": {"name": "step", "step_size": {"distribution": "int_uniform", "min": 1,
                                                 "max": 9, "drawn": [1.5] * 200_000}},
      "samples": 2}, "schedule.step_size.drawn.0"),
])
def test_a_list_of_bad_numbers_is_one_error(changes: dict[str, object], field: str) -> None:
    start = time.perf_counter()
    lines = messages({**OK, **changes})
    assert len(lines) == 1 and lines[0].startswith(f"{field}:"), lines[:3]
    assert time.perf_counter() - start < 2.0  # generous: it took well over a second before


@pytest.mark.parametrize(("changes", "fragment"), [
    ({f"k{i}": 1 for i in range(100_000)}, "the spec has 100000 unknown keys ('k0', 'k1', 'k2'"),
    ({"objective": {"name": "sphere", **{f"k{i}": 1 for i in range(100_000)}}},
     "objective: objective has 100000 unknown keys"),
    ({"optimizer": {"name": "sgd", **{f"k{i}": 1 for i in range(100_000)}}},
     "optimizer: optimizer has 100000 unknown keys"),
    ({"init": {"distribution": "normal", **{f"k{i}": 1 for i in range(100_000)}}},
     "init: init has 100000 unknown keys"),
    ({"grid": {f"k{i}": "x" for i in range(100_000)}},
     "grid: unknown hyperparameters 'k0', 'k1', 'k2', 'k3', 'k4', ... for sgd; valid choices: lr"),
    ({"optimizer": "nope", "grid": {f"k{i}": "x" for i in range(100_000)}},
     "grid: grid has 100000 keys"),
    ({"grid": {"lr": {**SAMPLED_LR, **{f"k{i}": 1 for i in range(100_000)}}}, "samples": 2},
     "grid.lr: a distribution has 100000 unknown keys"),
])
def test_a_flood_of_unknown_keys_is_one_error(changes: dict[str, object], fragment: str) -> None:
    lines = messages({**OK, **changes})
    assert len(lines) <= 2 and any(fragment in line for line in lines), lines[:3]


def test_a_few_unknown_keys_are_still_named_one_by_one() -> None:
    extra = {f"k{i}": 1 for i in range(MAX_EXTRA_KEYS)}
    lines = messages({**OK, **extra})
    assert len(lines) == MAX_EXTRA_KEYS and lines[0] == "k0: Extra inputs are not permitted"


def test_a_random_init_of_a_million_coordinates_is_stored_small() -> None:
    posted = {**OK, "objective": {"name": "sphere", "dim": 10**6},
              "init": {"distribution": "normal"}, "seeds": 3}
    spec = parse_spec(posted, Limits(max_work=1e12))
    stored = orjson.dumps(spec.model_dump(mode="json"))
    assert len(stored) < 500, stored[:500]
    assert spec.init == RandomInit(distribution="normal") and spec.seeds == 3
    assert spec.seed_list == [0, 1, 2] and spec.n_trials == 3
    assert parse_spec(stored, Limits(max_work=1e12)) == spec  # the record re-parses as itself


def test_a_seed_count_stays_a_count_and_means_0_to_n_minus_1() -> None:
    spec = parse_spec({**OK, "grid": {"lr": [0.1, 0.2]}, "seeds": 3})
    assert spec.model_dump()["seeds"] == 3
    listed = parse_spec({**OK, "grid": {"lr": [0.1, 0.2]}, "seeds": [0, 1, 2]})
    assert spec.trials() == listed.trials() and spec.n_trials == listed.n_trials == 6
    assert spec.trials(3, 5) == listed.trials(3, 5)


@pytest.mark.parametrize("objective", [{"name": "rosenbrock", "dim": 3}, "rastrigin"])
def test_a_random_start_runs_as_it_did_with_the_center_filled_in(
        objective: object) -> None:
    """The old normalisation filled in ``center = objective.start()``: the same spec with that
    center given explicitly is what ran before, number for number."""
    base = {"objective": objective, "optimizer": "adam", "grid": {"lr": [0.01, 0.1]},
            "steps": 30, "seeds": 3, "init": {"distribution": "uniform", "scale": 0.5}}
    spec = parse_spec(base)
    center = spec.objective.start().tolist()
    explicit = {**base, "init": {"distribution": "uniform", "scale": 0.5, "center": center}}
    new, old = run_sweep(base), run_sweep(explicit)
    assert new["trials"] == old["trials"] and new["settings"] == old["settings"]
    assert new["best"] == old["best"]
    for seed in (0, 1, 2):
        assert np.array_equal(spec.start_point(seed), parse_spec(explicit).start_point(seed))
