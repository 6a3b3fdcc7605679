"""Random and Sobol search: a grid value that is a distribution, drawn ``samples`` times.

The draws stay in their bounds and are the distributions they claim (a goodness-of-fit test),
Sobol's cover the space more evenly than random ones, the same spec draws the same numbers (a
normalised spec read back too, and a tampered ``drawn`` is refused), lists cross the samples
in the documented order, and each malformed distribution is one error naming its field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats
from scipy.stats import qmc

from optimizers import Limits, describe_errors, parse_spec, run_sweep
from optimizers.search import unit_draws, unit_to_value
from optimizers.spec import (
    SweepSpec,
    setting_keys,
    settings_count,
    shown_setting_keys,
    spec_swept_keys,
)


def uniform(low: float, high: float) -> dict[str, Any]:
    return {"distribution": "uniform", "min": low, "max": high}


def log_uniform(low: float, high: float) -> dict[str, Any]:
    return {"distribution": "log_uniform_values", "min": low, "max": high}


def int_uniform(low: float, high: float) -> dict[str, Any]:
    return {"distribution": "int_uniform", "min": low, "max": high}


ADAM = {"objective": "rosenbrock", "optimizer": "adam", "steps": 20}


def search(grid: dict[str, Any], samples: int = 16, **changes: Any) -> SweepSpec:
    return parse_spec({**ADAM, "grid": grid, "samples": samples, **changes})


def drawn(spec: SweepSpec, key: str) -> list[float]:
    assert spec.grid is not None
    value = spec.grid[key]
    assert not isinstance(value, (int, float, list)) and value.drawn is not None
    return list(value.drawn)


def messages(data: dict[str, Any], limits: Limits | None = None) -> list[str]:
    with pytest.raises(ValidationError) as info:
        parse_spec(data, limits)
    return describe_errors(info.value)


# -- the draws --------------------------------------------------------------------------------

@pytest.mark.parametrize("sampler", ["random", "sobol"])
@pytest.mark.parametrize(("key", "distribution"), [
    ("beta1", uniform(0.5, 0.99)),
    ("lr", log_uniform(1e-5, 1.0)),
    ("lr", int_uniform(1, 4)),
])
def test_every_draw_lies_within_its_bounds(sampler: str, key: str,
                                           distribution: dict[str, Any]) -> None:
    grid = {"lr": 0.01, key: distribution}
    values = drawn(search(grid, samples=500, sampler=sampler), key)
    assert len(values) == 500
    assert all(distribution["min"] <= v <= distribution["max"] for v in values)
    assert all(float(f"{v:.6g}") == v for v in values)  # 6 significant digits
    if distribution["distribution"] == "int_uniform":
        assert all(float(v).is_integer() for v in values)
        assert set(values) == {1, 2, 3, 4}  # both ends are drawn
    else:
        assert len(set(values)) > 450  # continuous: repeats only where 6 digits collide


def test_int_uniform_of_a_schedule_gives_whole_numbers_covering_both_ends() -> None:
    spec = parse_spec({**ADAM, "grid": {"lr": 0.01}, "samples": 200, "search_seed": 3,
                       "schedule": {"name": "step", "step_size": int_uniform(2, 6)}})
    values = [t.params["schedule.step_size"] for t in spec.trials()]
    assert all(type(v) is int for v in values)
    assert set(values) == {2, 3, 4, 5, 6}
    assert spec.swept == ["schedule.step_size"]
    data = spec.data()
    assert data["schedule"] is not None
    assert data["schedule"]["step_size"] == {"distribution": "int_uniform", "min": 2, "max": 6,
                                             "drawn": values}
    int_min_equals_max = parse_spec({**ADAM, "grid": {"lr": 0.01}, "samples": 3,
                                     "schedule": {"name": "step",
                                                  "step_size": int_uniform(5, 5)}})
    assert [t.params["schedule.step_size"] for t in int_min_equals_max.trials()] == [5, 5, 5]


def test_the_unit_map_hits_both_ends_and_rounds_to_six_digits() -> None:
    assert unit_to_value("uniform", 0.2, 0.7, 0.0) == 0.2
    assert unit_to_value("uniform", 0.2, 0.7, 1 - 2**-53) == 0.7  # rounded, then clamped
    assert unit_to_value("uniform", 0.0, 1.0, 0.123456789) == 0.123457
    assert unit_to_value("log_uniform_values", 1e-4, 1e-2, 0.5) == 0.001
    assert unit_to_value("log_uniform_values", 1e-4, 1e-2, 0.0) == 1e-4
    assert unit_to_value("int_uniform", -2, 2, 0.0) == -2
    assert unit_to_value("int_uniform", -2, 2, 1 - 2**-53) == 2
    assert unit_to_value("int_uniform", -2, 2, 0.5) == 0
    # bounds so far apart that max − min overflows still give a finite value between them
    assert -1e308 <= unit_to_value("uniform", -1e308, 1e308, 0.75) <= 1e308


def test_uniform_draws_fit_the_uniform_distribution() -> None:
    values = drawn(search({"lr": 0.01, "beta1": uniform(0.2, 0.95)}, samples=2000,
                          search_seed=11), "beta1")
    result = stats.kstest(values, stats.uniform(loc=0.2, scale=0.75).cdf)
    assert result.pvalue > 0.01, result
    # and the test can fail: the same numbers are far from uniform on a wider range
    assert stats.kstest(values, stats.uniform(loc=0.0, scale=1.0).cdf).pvalue < 1e-6


def test_log_uniform_draws_are_uniform_in_the_log() -> None:
    low, high = 1e-6, 1.0
    values = drawn(search({"lr": log_uniform(low, high)}, samples=2000, search_seed=11), "lr")
    logs = [math.log(v) for v in values]
    cdf = stats.uniform(loc=math.log(low), scale=math.log(high) - math.log(low)).cdf
    result = stats.kstest(logs, cdf)
    assert result.pvalue > 0.01, result
    # uniform in the value itself they are not: most of them are far below the middle
    assert stats.kstest(values, stats.uniform(loc=low, scale=high - low).cdf).pvalue < 1e-6


@pytest.mark.parametrize("d", [2, 3])
def test_sobol_covers_the_unit_cube_more_evenly_than_random(d: int) -> None:
    for n in (64, 256):
        sobol = qmc.discrepancy(unit_draws(d, n, 5, 0, "sobol"))
        random = qmc.discrepancy(unit_draws(d, n, 5, 0, "random"))
        assert sobol < random / 2, (n, sobol, random)


@pytest.mark.parametrize("d", [2, 3])
def test_sobol_draws_of_a_spec_cover_its_box_more_evenly(d: int) -> None:
    boxes = {"beta1": (0.1, 0.9), "beta2": (0.5, 0.99), "weight_decay": (0.0, 0.1)}
    keys = list(boxes)[:d]

    def rescaled(sampler: str) -> np.ndarray[Any, Any]:
        spec = parse_spec({"objective": "rosenbrock", "optimizer": "adamw", "samples": 128,
                           "sampler": sampler, "grid": {"lr": 0.01, **{
                               k: uniform(*boxes[k]) for k in keys}}})
        points = np.array([[t.params[k] for k in keys] for t in spec.trials()])
        low, high = np.array([boxes[k] for k in keys]).T
        return np.clip((points - low) / (high - low), 0.0, 1.0)

    assert qmc.discrepancy(rescaled("sobol")) < qmc.discrepancy(rescaled("random"))


def test_the_draws_are_pinned() -> None:
    """The numbers a search seed draws are part of the spec's meaning (a stored spec's
    ``drawn`` is checked against them): a change of NumPy's PCG64 stream or of scipy's Sobol'
    scrambling would show here first."""
    grid = {"lr": log_uniform(1e-4, 0.1), "beta1": uniform(0.8, 0.99)}
    spec = search(grid, samples=4)
    assert drawn(spec, "lr") == [0.00814489, 0.000132715, 0.0275303, 0.00660552]
    assert drawn(spec, "beta1") == [0.851259, 0.80314, 0.973424, 0.938604]
    sobol = search(grid, samples=4, sampler="sobol")
    assert drawn(sobol, "lr") == [0.00169765, 0.0146465, 0.0518321, 0.000448222]
    assert drawn(sobol, "beta1") == [0.983183, 0.82043, 0.900425, 0.878744]


# -- reproducibility ----------------------------------------------------------------------------

GRID = {"lr": log_uniform(1e-4, 0.1), "beta1": uniform(0.8, 0.99), "beta2": [0.99, 0.999]}


@pytest.mark.parametrize("sampler", ["random", "sobol"])
def test_the_same_spec_draws_the_same_trials_and_a_normalised_spec_reads_back(
        sampler: str) -> None:
    once = search(GRID, samples=10, sampler=sampler, seeds=2)
    again = search(GRID, samples=10, sampler=sampler, seeds=2)
    assert once.trials() == again.trials()
    data = once.data()
    assert data["samples"] == 10 and data["search_seed"] == 0 and data["sampler"] == sampler
    read_back = parse_spec(data)
    assert read_back == once and read_back.trials() == once.trials()
    assert read_back.data() == data


def test_another_search_seed_draws_other_trials() -> None:
    a = search(GRID, samples=10, search_seed=1)
    b = search(GRID, samples=10, search_seed=2)
    assert drawn(a, "lr") != drawn(b, "lr") and drawn(a, "beta1") != drawn(b, "beta1")
    assert {t.params["lr"] for t in a.trials()}.isdisjoint(t.params["lr"] for t in b.trials())
    assert drawn(search(GRID, samples=10, search_seed=1), "lr") == drawn(a, "lr")


def test_a_tampered_drawn_is_refused() -> None:
    data: dict[str, Any] = dict(search(GRID, samples=5).data())
    lr = dict(data["grid"]["lr"])
    lr["drawn"] = [*lr["drawn"][:-1], 0.05]
    lines = messages({**data, "grid": {**data["grid"], "lr": lr}})
    assert len(lines) == 1 and lines[0].startswith("grid.lr.drawn: drawn does not match"), lines
    short = {**data["grid"]["lr"], "drawn": data["grid"]["lr"]["drawn"][:4]}
    assert messages({**data, "grid": {**data["grid"], "lr": short}})[0].startswith(
        "grid.lr.drawn:")
    # another seed draws other numbers, so the same drawn does not match it
    assert messages({**data, "search_seed": 1})[0].startswith("grid.lr.drawn:")


# -- settings and trials ------------------------------------------------------------------------

def test_lists_cross_the_samples_the_sample_fastest() -> None:
    spec = search({"lr": uniform(0.001, 0.1), "beta1": [0.8, 0.9], "beta2": [0.99, 0.999]},
                  samples=3, seeds=2)
    lrs = drawn(spec, "lr")
    assert spec.n_settings == 2 * 2 * 3 and spec.n_trials == 24
    expected = [(beta1, beta2, lr) for beta1 in (0.8, 0.9) for beta2 in (0.99, 0.999)
                for lr in lrs]
    settings = spec.settings()
    assert [(s["beta1"], s["beta2"], s["lr"]) for s in settings] == expected
    assert [spec.setting(i) for i in range(spec.n_settings)] == settings
    assert list(settings[0]) == ["lr", "beta1", "beta2", "eps", "weight_decay"]  # rule order
    trials = spec.trials()
    assert [t.params for t in trials] == settings + settings  # seeds outermost
    assert [t.seed for t in trials] == [0] * 12 + [1] * 12
    assert spec.swept == ["lr", "beta1", "beta2"]


def test_several_distributions_zip_into_samples() -> None:
    spec = search({"lr": log_uniform(1e-4, 0.1), "beta1": uniform(0.8, 0.99)}, samples=6)
    assert spec.n_settings == 6
    assert [(s["lr"], s["beta1"]) for s in spec.settings()] == list(
        zip(drawn(spec, "lr"), drawn(spec, "beta1"), strict=True))


def test_one_sample_is_not_a_sweep() -> None:
    spec = search({"lr": log_uniform(1e-4, 0.1), "beta1": [0.8, 0.9]}, samples=1)
    assert spec.n_settings == 2 and spec.swept == ["beta1"]
    assert spec_swept_keys(spec.data()) == ["beta1"]


def test_an_optimizers_sweep_draws_each_entrys_own_samples() -> None:
    spec = parse_spec({
        "objective": "rosenbrock", "steps": 20, "samples": 4, "seeds": 2, "optimizers": [
            {"optimizer": "adam", "grid": {"lr": log_uniform(1e-4, 0.1),
                                           "beta1": [0.8, 0.9]}},
            {"optimizer": "sgd", "grid": {"lr": [0.001, 0.01]}},
            {"optimizer": "momentum", "grid": {"lr": log_uniform(1e-4, 0.1),
                                               "momentum": uniform(0.5, 0.95)}},
        ]})
    assert [e.n_settings for e in spec.entries] == [8, 2, 4]
    assert spec.n_settings == 14 and spec.n_trials == 28
    assert spec.optimizers is not None
    entries = [e.grid for e in spec.optimizers]
    adam_lr, momentum_lr = entries[0]["lr"], entries[2]["lr"]
    assert not isinstance(adam_lr, (int, float, list)) and adam_lr.drawn is not None
    assert not isinstance(momentum_lr, (int, float, list)) and momentum_lr.drawn is not None
    # the same distribution in two entries: each entry draws its own numbers
    assert adam_lr.drawn != momentum_lr.drawn
    settings = spec.settings()
    assert [s["lr"] for s in settings[:8]] == list(adam_lr.drawn) * 2
    assert [s["lr"] for s in settings[10:]] == list(momentum_lr.drawn)
    assert [spec.setting(i) for i in range(spec.n_settings)] == settings
    assert [t.entry for t in spec.trials()[:14]] == [0] * 8 + [1] * 2 + [2] * 4
    data = spec.data()
    assert settings_count(data) == 14
    assert spec_swept_keys(data) == ["lr", "beta1", "momentum"]
    assert parse_spec(data) == spec
    # an entry without distributions is its lists alone, even in a sweep that samples
    assert spec.entries[1].n_samples == 1


def test_a_sweeps_schedule_is_drawn_by_each_entry_that_takes_it() -> None:
    spec = parse_spec({
        "objective": "rosenbrock", "steps": 40, "samples": 3,
        "schedule": {"name": "step", "step_size": int_uniform(1, 40), "gamma": 0.5},
        "optimizers": [{"optimizer": "sgd", "grid": {"lr": 0.001}},
                       {"optimizer": "adam", "grid": {"lr": 0.01}}]})
    data = spec.data()
    assert data["schedule"] is not None and data["optimizers"] is not None
    template = data["schedule"]["step_size"]
    assert isinstance(template, dict) and template["drawn"] is None  # the entries draw
    sizes = [[t.params["schedule.step_size"] for t in spec.trials() if t.entry == i]
             for i in (0, 1)]
    assert all(len(s) == 3 for s in sizes) and sizes[0] != sizes[1]
    assert parse_spec(data) == spec


def test_a_clip_limit_may_be_sampled() -> None:
    spec = parse_spec({**ADAM, "grid": {"lr": 0.01}, "samples": 5,
                       "clip": {"global_norm": log_uniform(0.1, 10.0)}})
    norms = [t.params["clip.global_norm"] for t in spec.trials()]
    assert len(set(norms)) == 5 and all(0.1 <= v <= 10.0 for v in norms)
    assert spec.swept == ["clip.global_norm"]


def test_the_values_form_is_the_list() -> None:
    spec = parse_spec({**ADAM, "grid": {"lr": {"values": [0.1, 0.2]}}})
    assert spec == parse_spec({**ADAM, "grid": {"lr": [0.1, 0.2]}})
    assert spec.samples is None and "samples" not in spec.data()


def test_the_data_helpers_read_a_normalised_search_spec() -> None:
    spec = search({"lr": log_uniform(1e-4, 0.1), "beta1": [0.8, 0.9]}, samples=5,
                  schedule={"name": "step", "step_size": int_uniform(1, 10)})
    data = spec.data()
    assert settings_count(data) == spec.n_settings == 10
    assert spec_swept_keys(data) == ["lr", "beta1", "schedule.step_size"]
    assert shown_setting_keys(data) == ["lr", "beta1", "schedule.step_size"]
    assert setting_keys(data) == list(spec.settings()[0])


# -- refusals ----------------------------------------------------------------------------------

BAD = [
    ("min above max", {"grid": {"lr": uniform(0.1, 0.01)}, "samples": 4},
     "grid.lr.max: max = 0.01 is below min = 0.1"),
    ("uniform of one point", {"grid": {"lr": uniform(0.1, 0.1)}, "samples": 4},
     "grid.lr.max: max = min = 0.1: uniform needs min < max"),
    ("log of zero", {"grid": {"lr": log_uniform(0.0, 0.1)}, "samples": 4},
     "grid.lr.min: log_uniform_values needs min > 0"),
    ("log of a negative max", {"grid": {"lr": 0.1, "weight_decay": log_uniform(1e-3, -1.0)},
                               "samples": 4},
     "grid.weight_decay.max: log_uniform_values needs max > 0"),
    ("min out of the hyperparameter's range", {"grid": {"lr": uniform(0.0, 0.1)},
                                               "samples": 4},
     "grid.lr.min: min = 0.0 is out of range for lr; valid: 0 < lr"),
    ("max out of the hyperparameter's range", {"grid": {"lr": 0.1, "beta1": uniform(0.5, 1.0)},
                                               "samples": 4},
     "grid.beta1.max: max = 1.0 is out of range for beta1; valid: 0 <= beta1 < 1"),
    ("unknown distribution", {"grid": {"lr": {"distribution": "normal", "mu": 0.0,
                                              "sigma": 1.0}}, "samples": 4},
     ("grid.lr.distribution: unknown distribution 'normal'; valid choices: uniform, "
      "log_uniform_values, int_uniform (each with min and max), or {\"values\": [...]}")),
    ("an object that is no form", {"grid": {"lr": {"min": 0.1, "max": 0.2}}, "samples": 4},
     "grid.lr: an object here is a distribution"),
    ("values that are no list", {"grid": {"lr": {"values": 0.1}}},
     "grid.lr: the values form is {\"values\": [...]}"),
    ("fractional int_uniform bound", {"grid": {"lr": int_uniform(1.5, 3.0)}, "samples": 4},
     "grid.lr.min: int_uniform draws whole numbers: min = 1.5 is not one"),
    ("uniform on a whole-number parameter",
     {"grid": {"lr": 0.1}, "schedule": {"name": "step", "step_size": uniform(1, 10)},
      "samples": 4},
     ("schedule.step_size.distribution: uniform draws fractions, and this parameter is a "
      "whole number")),
    ("log-uniform on a whole-number parameter",
     {"grid": {"lr": 0.1}, "schedule": {"name": "step", "step_size": log_uniform(1, 10)},
      "samples": 4},
     "schedule.step_size.distribution: log_uniform_values draws fractions"),
    ("int_uniform out of a schedule parameter's range",
     {"grid": {"lr": 0.1}, "schedule": {"name": "step", "step_size": int_uniform(0, 10)},
      "samples": 4},
     ("schedule.step_size.min: min = 0 is out of range for schedule.step_size; valid: 1 <= "
      "step_size")),
    ("clip limit of zero", {"grid": {"lr": 0.1}, "clip": {"value": uniform(0.0, 1.0)},
                            "samples": 4},
     "clip.value.min: min = 0.0 is out of range for clip.value; valid: 0 < value"),
    ("a distribution without samples", {"grid": {"lr": uniform(0.01, 0.1)}},
     "samples: give samples, how many configurations to draw: grid.lr is a distribution"),
    ("samples without a distribution", {"grid": {"lr": [0.01, 0.1]}, "samples": 4},
     "samples: no grid value is a distribution"),
    ("a sampler without a distribution", {"grid": {"lr": 0.1}, "sampler": "sobol"},
     "sampler: no grid value is a distribution"),
    ("zero samples", {"grid": {"lr": uniform(0.01, 0.1)}, "samples": 0},
     "samples: Input should be greater than or equal to 1"),
    ("an unknown sampler", {"grid": {"lr": uniform(0.01, 0.1)}, "samples": 4, "sampler": "grid"},
     "sampler: Input should be 'random' or 'sobol'"),
    ("a search seed over 32 bits", {"grid": {"lr": uniform(0.01, 0.1)}, "samples": 4,
                                    "search_seed": 2**32},
     "search_seed: Input should be less than or equal to 4294967295"),
    ("samples over the trial limit", {"grid": {"lr": uniform(0.01, 0.1), "beta1": [0.8, 0.9]},
                                      "samples": 30, "seeds": 2},
     "spec: grid × samples × seeds gives 120 trials, over the limit max_trials = 100"),
    ("an entry's distribution", {"optimizer": None, "optimizers": [
        {"optimizer": "sgd", "grid": {"lr": 0.1}},
        {"optimizer": "sgd", "grid": {"lr": uniform(-1.0, 2.0)}}], "samples": 4},
     "optimizers.1.grid.lr.min: min = -1.0 is out of range for lr"),
    ("a drawn on the sweep's schedule in the optimizers form", {
        "optimizer": None, "samples": 1,
        "schedule": {"name": "step", "step_size": {**int_uniform(1, 10), "drawn": [3]}},
        "optimizers": [{"optimizer": "sgd", "grid": {"lr": 0.1}}]},
     "schedule.step_size.drawn: each entry that takes the sweep's schedule draws its own"),
]


@pytest.mark.parametrize(("changes", "line"), [(c, line) for _, c, line in BAD],
                         ids=[name for name, _, _ in BAD])
def test_each_malformed_search_is_one_error_naming_its_field(changes: dict[str, Any],
                                                             line: str) -> None:
    data = {key: value for key, value in {**ADAM, **changes}.items() if value is not None}
    lines = messages(data, Limits(max_trials=100))
    assert len(lines) == 1 and lines[0].startswith(line), lines


def test_a_huge_samples_is_refused_before_anything_is_drawn() -> None:
    lines = messages({**ADAM, "grid": {"lr": uniform(0.01, 0.1)}, "samples": 2**62})
    assert lines == [("spec: grid × samples × seeds gives 4611686018427387904 trials, over "
                      "the limit max_trials = 1000000")]


# -- running -----------------------------------------------------------------------------------

def test_a_random_search_runs_end_to_end_with_the_drawn_values() -> None:
    spec = {"objective": "rosenbrock", "optimizer": "adam", "steps": 30, "seeds": 2,
            "record_every": 10, "samples": 6, "search_seed": 7,
            "grid": {"lr": log_uniform(1e-3, 0.1), "beta1": uniform(0.8, 0.95),
                     "beta2": [0.99, 0.999]}}
    document = run_sweep(spec)
    assert document["status"] == "succeeded"
    grid = document["spec"]["grid"]
    assert grid is not None
    lr, beta1 = grid["lr"], grid["beta1"]
    assert isinstance(lr, dict) and isinstance(beta1, dict)
    assert lr["drawn"] is not None and beta1["drawn"] is not None
    assert document["progress"]["total"] == len(document["trials"]) == 2 * 6 * 2
    samples = list(zip(lr["drawn"], beta1["drawn"], strict=True))
    assert [(t["params"]["lr"], t["params"]["beta1"]) for t in document["trials"]] == (
        samples * 2 * 2)
    assert len(document["settings"]) == 12
    assert document["best"] is not None
    assert (document["best"]["params"]["lr"], document["best"]["params"]["beta1"]) in samples
    assert set(document["summary"]["importance"]) == {"lr", "beta1", "beta2"}
    # the results document's spec reads back as the same sweep
    assert parse_spec(document["spec"]) == parse_spec(spec)
