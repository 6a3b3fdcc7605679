"""Sweeps that compare optimizers, schedules and clipping in the spec, through ``run_sweep``.

- a mixed ``optimizers`` sweep gives each entry's trials exactly the numbers of that entry run
  alone (and whatever the chunks cut);
- every rule, schedule and clipping gives a trial the same numbers whatever its chunk (alone, or
  beside trials with other settings);
- weight decay 0 leaves the seed's rules' numbers as they were, bit for bit, also in a chunk
  whose other trials decay;
- bad schedules, clipping and entries are refused naming the field.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from optimizers import describe_errors, parse_spec, run_sweep
from optimizers.rules import RULE_NAMES

ENTRIES: list[dict[str, Any]] = [
    {"optimizer": "sgd", "grid": {"lr": [1e-4, 1e-3]}},
    {"optimizer": "adam", "grid": {"lr": [0.01, 0.1], "beta1": [0.8, 0.9]},
     "schedule": {"name": "step", "step_size": [7, 20]}},
    {"optimizer": "lion", "grid": {"lr": 3e-3}, "clip": {"global_norm": [0.5, 5.0]}},
    {"optimizer": {"name": "adamw", "eps_placement": "inside"}, "grid": {"lr": 0.05},
     "schedule": {"name": "warmup_cosine", "warmup_steps": 10}},
]
COMMON: dict[str, Any] = {"objective": "rosenbrock", "steps": 60, "seeds": 2, "record_every": 3,
                          "init": {"distribution": "normal", "scale": 0.3}}


def _curves(document: Any) -> list[tuple[Any, ...]]:
    return [(t["optimizer"], t["params"], t["seed"], t["status"], t["final_loss"],
             t["curve"]["loss"]) for t in document["trials"]]


@pytest.mark.parametrize("chunk_size", [3, 5, 1000])
def test_a_mixed_sweep_equals_each_entry_alone(chunk_size: int) -> None:
    mixed = run_sweep({**COMMON, "optimizers": ENTRIES}, chunk_size=chunk_size)
    spec = parse_spec({**COMMON, "optimizers": ENTRIES})
    alone = []
    for entry in ENTRIES:
        single = run_sweep({**COMMON, **entry})
        alone.append(single)
        assert single["spec"]["optimizer"] == spec.data()["optimizers"][len(alone) - 1]["optimizer"]
    # trials numbered entry by entry within each seed: the union of the entries' settings × seeds
    by_seed: list[tuple[Any, ...]] = []
    for seed in range(2):
        for single in alone:
            by_seed += [c for c in _curves(single) if c[2] == seed]
    assert _curves(mixed) == by_seed  # bit for bit: floats compared with ==
    assert [t["index"] for t in mixed["trials"]] == list(range(spec.n_trials))
    by = mixed["summary"]["by_optimizer"]
    assert list(by) == ["sgd", "adam", "lion", "adamw"]
    for name, single in zip(by, alone, strict=True):
        assert by[name]["settings"] == len(single["settings"])
        assert by[name]["best"]["score"] == single["best"]["score"]
    assert mixed["best"]["score"] == min(b["best"]["score"] for b in by.values())
    assert mixed["summary"]["importance"]["optimizer"] > 0


@pytest.mark.parametrize("name", RULE_NAMES)
def test_every_rule_gives_a_trial_the_same_numbers_whatever_its_chunk(name: str) -> None:
    grid: dict[str, Any] = {"lr": [1e-4, 3e-4, 1e-3], "weight_decay": [0.0, 0.05]}
    if name in ("adadelta",):
        grid["lr"] = [0.1, 0.5, 1.0]
    spec = {**COMMON, "optimizer": name, "grid": grid, "steps": 300}
    together = run_sweep(spec)
    alone = run_sweep(spec, chunk_size=1)
    assert _curves(together) == _curves(alone)
    assert any(t["status"] == "ok" for t in together["trials"])


@pytest.mark.parametrize("schedule", [
    {"name": "step", "step_size": [5, 9], "gamma": [0.5, 0.9]},
    {"name": "exponential", "gamma": [0.95, 0.99]},
    {"name": "cosine", "t_max": [30, 60], "eta_min": [0.0, 1e-4]},
    {"name": "linear", "start_factor": [0.1, 0.5], "total_iters": [10, 40]},
    {"name": "one_cycle", "pct_start": [0.2, 0.4], "div_factor": [10.0, 25.0]},
    {"name": "warmup_cosine", "warmup_steps": [0, 10], "eta_min": [0.0, 1e-4]},
    {"name": "constant"},
])
@pytest.mark.parametrize("clip", [None, {"global_norm": [1.0, 10.0]}, {"value": [0.5, 2.0]}])
def test_schedules_and_clipping_give_a_trial_the_same_numbers_whatever_its_chunk(
        schedule: dict[str, Any], clip: dict[str, Any] | None) -> None:
    spec = {**COMMON, "optimizer": "adam", "grid": {"lr": [0.01, 0.05]}, "schedule": schedule,
            "clip": clip}
    together = run_sweep(spec)
    alone = run_sweep(spec, chunk_size=1)
    assert _curves(together) == _curves(alone)
    trial = together["trials"][0]
    assert {k for k in schedule if k != "name"} <= {
        k.removeprefix("schedule.") for k in trial["params"]}
    if clip:
        assert set(clip) <= {k.removeprefix("clip.") for k in trial["params"]}


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_weight_decay_zero_leaves_the_seed_rules_numbers_bit_for_bit(name: str) -> None:
    """A trial at weight_decay 0 beside trials that decay (the L2 term is then an array with a
    0 in its row) equals the same trial in a sweep that never mentions weight decay."""
    plain = run_sweep({**COMMON, "optimizer": name, "grid": {"lr": 1e-4}, "steps": 200})
    mixed = run_sweep({**COMMON, "optimizer": name, "grid": {"lr": 1e-4,
                                                              "weight_decay": [0.0, 0.1]},
                       "steps": 200})
    at_zero = [c for c in _curves(mixed) if c[1]["weight_decay"] == 0.0]
    assert [c[3:] for c in at_zero] == [c[3:] for c in _curves(plain)]
    decayed = [c for c in _curves(mixed) if c[1]["weight_decay"] == 0.1]
    assert [c[5] for c in decayed] != [c[5] for c in at_zero]


def _errors(spec: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        parse_spec(spec)
    return describe_errors(info.value)


BASE: dict[str, Any] = {"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": 0.01},
                        "steps": 100}


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"schedule": {"name": "cosinus"}}, "unknown schedule 'cosinus'; valid choices: constant"),
    ({"schedule": {"name": "step"}}, "schedule.step_size: Field required"),
    ({"schedule": {"name": "step", "step_size": 0}}, "schedule.step_size = 0 is out of range"),
    ({"schedule": {"name": "step", "step_size": 2.5}}, "step_size"),
    ({"schedule": {"name": "exponential", "gamma": [0.9, 0.9]}}, "repeats a value"),
    ({"schedule": {"name": "cosine", "t_max": 10, "warmup": 3}}, "warmup"),
    ({"schedule": {"name": "one_cycle", "total_steps": 50}},
     "total_steps = 50 is less than steps = 100"),
    ({"schedule": {"name": "warmup_cosine", "warmup_steps": 100}},
     "warmup_steps = 100 must be less than t_max = 100"),
    ({"clip": {}}, "exactly one of global_norm and value"),
    ({"clip": {"global_norm": 1.0, "value": 1.0}}, "exactly one"),
    ({"clip": {"value": -1.0}}, "clip.value = -1.0 is out of range"),
    ({"optimizers": [{"optimizer": "sgd", "grid": {"lr": 0.1}}]}, "not both"),
    ({"optimizer": None, "grid": None, "optimizers": []}, "the list is empty"),
    ({"optimizer": None, "grid": None, "optimizers": [{"optimizer": "sgd", "grid": {"beta1": 0.9}}]},
     "optimizers.0.grid: unknown hyperparameter 'beta1' for sgd"),
    ({"optimizer": None, "grid": None, "optimizers": [{"optimizer": "lion", "grid": {"lr": 0.1},
                                                       "schedule": {"name": "step"}}]},
     "optimizers.0.schedule"),
    ({"optimizer": {"name": "lion", "eps_placement": "outside"}}, "eps_placement applies to"),
])
def test_bad_schedules_clipping_and_entries_are_refused_naming_the_field(
        changes: dict[str, Any], fragment: str) -> None:
    spec = {key: value for key, value in {**BASE, **changes}.items() if value is not None}
    messages = _errors(spec)
    assert any(fragment in m for m in messages), messages


def test_new_rules_take_their_own_eps_placement_and_defaults() -> None:
    spec = parse_spec({**BASE, "optimizer": "adamw"}).data()
    assert spec["optimizer"] == {"name": "adamw", "eps_placement": "outside"}
    assert spec["grid"] == {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                            "weight_decay": 0.01}
    schedule = parse_spec({**BASE, "schedule": "cosine"}).data()["schedule"]
    assert schedule == {"name": "cosine", "t_max": 100, "eta_min": 0.0}  # t_max = steps
