"""The sweep spec: normalisation, expansion into trials, and refusal of malformed specs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from optimizers import Limits, describe_errors, parse_spec

BASE = {"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": [0.01, 0.1]}}


def spec_with(**changes: object) -> dict[str, object]:
    return {**BASE, **changes}


def test_normalised_spec_fills_every_default() -> None:
    spec = parse_spec(BASE).model_dump(mode="json")
    assert spec == {
        "name": "adam on rosenbrock",
        "objective": {"name": "rosenbrock", "dim": 2, "a": 1.0, "b": 100.0},
        "optimizer": {"name": "adam", "eps_placement": "inside"},
        "init": None,
        "grid": {"lr": [0.01, 0.1], "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                 "weight_decay": 0.0},
        "schedule": None,
        "clip": None,
        "optimizers": None,
        "steps": 100,
        "seeds": 1,  # a count stays a count: seed_list gives 0..n-1
        "record_every": 1,
        "metric": "final_loss",
        "divergence_threshold": 1e12,
        "pruning": None,
    }


def test_normalisation_is_idempotent_and_key_order_free() -> None:
    once = parse_spec(spec_with(grid={"eps": 1e-7, "lr": [0.1, 0.2], "beta1": [0.8, 0.9]}))
    again = parse_spec(once.model_dump(mode="json"))
    assert again == once
    assert once.grid is not None
    assert list(once.grid) == ["lr", "beta1", "beta2", "eps", "weight_decay"]  # the rule's order


def test_json_text_and_dict_agree() -> None:
    assert parse_spec(json.dumps(BASE)) == parse_spec(BASE)


def test_trials_are_grid_product_times_seeds_seeds_outermost() -> None:
    spec = parse_spec(spec_with(grid={"lr": [0.001, 0.01, 0.1], "beta1": [0.8, 0.9]}, seeds=3))
    trials = spec.trials()
    assert spec.n_settings == 6 and spec.n_trials == 18 and len(trials) == 18
    assert trials[0].params == {"lr": 0.001, "beta1": 0.8, "beta2": 0.999, "eps": 1e-8,
                                "weight_decay": 0.0}
    assert trials[5].params["lr"] == 0.1 and trials[5].params["beta1"] == 0.9
    assert [t.index for t in trials if t.setting == 5] == [5, 11, 17]
    assert [t.seed for t in trials[::6]] == [0, 1, 2]
    assert spec.trials(4, 8) == trials[4:8]


def test_explicit_seed_list_and_random_init_are_reproducible() -> None:
    spec = parse_spec(spec_with(seeds=[7, 3], objective={"name": "sphere", "dim": 4},
                                init={"distribution": "normal", "scale": 0.5}))
    assert spec.seeds == [7, 3]
    assert spec.init is not None and not isinstance(spec.init, list)
    assert spec.init.center is None  # not filled in: start_point takes the objective's start
    a, b = spec.start_point(7), spec.start_point(3)
    assert a.shape == (4,) and not np.array_equal(a, b)
    assert np.array_equal(a, parse_spec(spec.model_dump()).start_point(7))
    explicit = parse_spec(spec_with(seeds=[7, 3], objective={"name": "sphere", "dim": 4},
                                    init={"distribution": "normal", "scale": 0.5,
                                          "center": [1.0] * 4}))
    assert np.array_equal(a, explicit.start_point(7))


def test_fixed_init_list_and_eps_placement() -> None:
    spec = parse_spec(spec_with(init=[-1.5, 2], optimizer={"name": "adam",
                                                           "eps_placement": "outside"}))
    assert spec.init == [-1.5, 2.0]
    assert spec.rule.eps_placement == "outside"


# Each malformed spec, and a piece of the message that must name the field / the valid choices.
MALFORMED = [
    ("unknown top-level key", spec_with(step=10), "step: Extra inputs are not permitted"),
    ("missing objective", {"optimizer": "adam", "grid": {"lr": 0.1}}, "objective: Field required"),
    ("missing grid", {"objective": "sphere", "optimizer": "sgd"}, "grid: Field required"),
    ("unknown objective", spec_with(objective="banana"), "rosenbrock"),
    ("unknown optimizer", spec_with(optimizer="adamx"),
     "unknown optimizer 'adamx'; valid choices: sgd, momentum, nesterov"),
    ("unknown hyperparameter", spec_with(grid={"lr": 0.1, "beta3": 0.5}),
     "grid: unknown hyperparameter 'beta3' for adam; valid choices: lr, beta1, beta2, eps"),
    ("lr missing", spec_with(grid={"beta1": 0.9}), "grid: adam needs lr"),
    ("string lr", spec_with(grid={"lr": "0.1"}), "grid.lr: Input should be a valid number"),
    ("float steps", spec_with(steps=10.0), "steps: Input should be a valid integer"),
    ("negative lr", spec_with(grid={"lr": [0.1, -1.0]}), "lr = -1.0 is out of range; valid: 0 < lr"),
    ("beta1 = 1", spec_with(grid={"lr": 0.1, "beta1": 1.0}), "valid: 0 <= beta1 < 1"),
    ("empty grid list", spec_with(grid={"lr": []}), "lr: the list is empty"),
    ("duplicate grid values", spec_with(grid={"lr": [0.1, 0.1]}), "lr: the list repeats a value"),
    ("zero steps", spec_with(steps=0), "steps: Input should be greater than or equal to 1"),
    ("zero record_every", spec_with(record_every=0), "record_every: Input should be greater"),
    ("bad metric", spec_with(metric="max_loss"),
     "metric: Input should be 'final_loss', 'min_loss', 'mean_loss', 'final_val_loss'"),
    ("init of the wrong length", spec_with(init=[1.0, 2.0, 3.0]),
     "init: init has 3 numbers but the objective has dim = 2"),
    ("unknown init distribution", spec_with(init={"distribution": "cauchy"}),
     "init.distribution: Input should be 'normal' or 'uniform'"),
    ("zero seeds", spec_with(seeds=0), "seeds: seeds = 0: give a count >= 1"),
    ("negative seed", spec_with(seeds=[1, -2]), "seeds must lie in 0.."),
    ("2-D-only objective at dim 3", spec_with(objective={"name": "beale", "dim": 3}),
     "beale is defined for dim = 2 only"),
    ("rosenbrock at dim 1", spec_with(objective={"name": "rosenbrock", "dim": 1}),
     "rosenbrock needs dim >= 2"),
    ("unknown objective parameter", spec_with(objective={"name": "sphere", "radius": 2}),
     "objective.radius: Extra inputs are not permitted"),
    ("eps_placement on sgd", spec_with(optimizer={"name": "sgd", "eps_placement": "outside"},
                                       grid={"lr": 0.1}),
     "eps_placement applies to adagrad, rmsprop, adam, adamw, amsgrad, nadam, radam only"),
    ("bad eps_placement", spec_with(optimizer={"name": "adam", "eps_placement": "middle"}),
     "optimizer.eps_placement: Input should be 'inside' or 'outside'"),
    ("non-object body", [1, 2, 3], "Input should be a valid dictionary"),
    ("boolean steps", spec_with(steps=True), "steps: Input should be a valid integer"),
    ("negative divergence threshold", spec_with(divergence_threshold=-1.0),
     "divergence_threshold: Input should be greater than 0"),
]


@pytest.mark.parametrize(("case", "data", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_spec_is_refused_with_a_message_naming_the_field(
        case: str, data: object, expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec(data)  # type: ignore[arg-type]
    message = "\n".join(describe_errors(info.value))
    assert expected in message, message


@pytest.mark.parametrize("text", [
    '{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": NaN}}',
    '{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": Infinity}}',
    '{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": 0.1}',
])
def test_non_finite_numbers_and_broken_json_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec(text)
    assert describe_errors(info.value)


@pytest.mark.parametrize(("limits", "changes", "expected"), [
    (Limits(max_trials=5), {"seeds": 3}, "gives 6 trials, over the limit max_trials = 5"),
    (Limits(max_steps=50), {"steps": 51}, "steps = 51 is over the limit max_steps = 50"),
    (Limits(max_dim=10), {"objective": {"name": "sphere", "dim": 11}},
     "dim = 11 is over the limit max_dim = 10"),
    (Limits(max_work=1000), {"steps": 300}, "over the limit max_work"),
])
def test_limits_are_named_when_exceeded(limits: Limits, changes: dict[str, object],
                                        expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec(spec_with(**changes), limits)
    assert expected in "\n".join(describe_errors(info.value))
    parse_spec(spec_with(**changes))  # fine under the default limits


def test_setting_decodes_one_grid_point_as_settings_lists_it() -> None:
    spec = parse_spec({"objective": "sphere", "optimizer": "adam",
                       "grid": {"lr": [1.0, 2.0, 3.0], "beta1": [0.5, 0.6], "beta2": 0.99,
                                "eps": [1e-8, 1e-7, 1e-6, 1e-5]}})
    assert [spec.setting(i) for i in range(spec.n_settings)] == spec.settings()
    with pytest.raises(IndexError):
        spec.setting(spec.n_settings)
