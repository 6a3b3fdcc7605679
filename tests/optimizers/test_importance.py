"""``summary.importance``: each swept hyperparameter's share of the scores' variance."""

from __future__ import annotations

import math
from typing import Any

import pytest

from optimizers import SweepResults, assemble, parse_spec, run_sweep
from optimizers.results import importance


def spec(grid: dict[str, Any], seeds: int = 1) -> Any:
    return parse_spec({"objective": "sphere", "optimizer": "momentum", "grid": grid,
                       "steps": 5, "seeds": seeds})


def settings_with(s: Any, score: Any) -> list[dict[str, Any]]:
    """Grid points scored by ``score(params)`` (None: no score)."""
    return [{"index": i, "params": p, "score": score(p), "score_std": 0.0, "trials": [i]}
            for i, p in enumerate(s.settings())]


def test_a_score_that_depends_on_lr_only_is_all_lr() -> None:
    s = spec({"lr": [0.01, 0.1, 0.3], "momentum": [0.5, 0.9]})
    shares = importance(s, settings_with(s, lambda p: 10.0 * p["lr"] ** 2 + 1.0))
    assert shares == {"lr": pytest.approx(1.0), "momentum": pytest.approx(0.0, abs=1e-12)}


def test_an_additive_two_factor_score_matches_the_hand_computed_shares() -> None:
    # y = a(lr) + b(momentum) with a = (0, 2) and b = (0, 1, 5): on the full 2 × 3 grid
    # V_lr = var of (0, 2) = 1; V_m = var of (0, 1, 5): mean 2, deviations (-2, -1, 3),
    # V_m = 14/3; V = V_lr + V_m (no interaction) = 17/3
    s = spec({"lr": [0.1, 0.2], "momentum": [0.1, 0.5, 0.9]})
    a = {0.1: 0.0, 0.2: 2.0}
    b = {0.1: 0.0, 0.5: 1.0, 0.9: 5.0}
    shares = importance(s, settings_with(s, lambda p: a[p["lr"]] + b[p["momentum"]]))
    assert shares["lr"] == pytest.approx(3 / 17, rel=1e-12)
    assert shares["momentum"] == pytest.approx(14 / 17, rel=1e-12)
    assert math.fsum(shares.values()) == pytest.approx(1.0, rel=1e-12)


def test_an_interaction_leaves_a_remainder() -> None:
    # y = lr-sign × momentum-sign: no main effect at all, all interaction
    s = spec({"lr": [0.1, 0.2], "momentum": [0.1, 0.9]})
    sign = {0.1: -1.0, 0.2: 1.0, 0.9: 1.0}
    shares = importance(s, settings_with(s, lambda p: sign[p["lr"]] * sign[p["momentum"]]))
    assert shares == {"lr": 0.0, "momentum": 0.0}


def test_unscored_points_are_left_out_and_weights_follow_the_counts() -> None:
    s = spec({"lr": [0.1, 0.2], "momentum": [0.1, 0.9]})
    # (0.2, 0.9) diverged: points (0.1,0.1)=0, (0.1,0.9)=3, (0.2,0.1)=6
    values = {(0.1, 0.1): 0.0, (0.1, 0.9): 3.0, (0.2, 0.1): 6.0, (0.2, 0.9): None}
    shares = importance(s, settings_with(s, lambda p: values[(p["lr"], p["momentum"])]))
    # mean 3, V = (9 + 0 + 9)/3 = 6; lr groups: {0, 3} mean 1.5 (n 2), {6} (n 1):
    # V_lr = (2·1.5² + 1·3²)/3 = 4.5; momentum groups: {0, 6} mean 3, {3}: V_m = 0
    assert shares["lr"] == pytest.approx(4.5 / 6, rel=1e-12)
    assert shares["momentum"] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("score", [lambda p: None, lambda p: 2.5])
def test_no_scores_or_no_variance_gives_zeros(score: Any) -> None:
    s = spec({"lr": [0.1, 0.2], "momentum": [0.1, 0.9]})
    assert importance(s, settings_with(s, score)) == {"lr": 0.0, "momentum": 0.0}


def test_only_lists_of_two_or_more_values_are_swept() -> None:
    s = spec({"lr": [0.1, 0.2], "momentum": [0.9]})
    assert list(importance(s, settings_with(s, lambda p: p["lr"]))) == ["lr"]
    fixed = spec({"lr": 0.1})
    assert importance(fixed, settings_with(fixed, lambda p: 1.0)) == {}


def test_huge_scores_do_not_overflow() -> None:
    s = spec({"lr": [0.1, 0.2], "momentum": [0.1, 0.9]})
    shares = importance(s, settings_with(s, lambda p: 1e300 * (1.0 + p["lr"])))
    assert shares == {"lr": pytest.approx(1.0), "momentum": pytest.approx(0.0, abs=1e-12)}


def test_the_document_carries_the_summary_and_it_validates() -> None:
    result = run_sweep({"objective": "sphere", "optimizer": "momentum",
                        "grid": {"lr": [0.01, 0.05, 0.1], "momentum": [0.0, 0.5]},
                        "steps": 20, "seeds": 2})
    shares = result["summary"]["importance"]
    assert set(shares) == {"lr", "momentum"}
    assert all(0.0 <= v <= 1.0 for v in shares.values())
    assert shares["lr"] > 0.5  # the step size matters most on a sphere with few steps
    model = SweepResults.model_validate(result)
    assert model.summary.importance == shares
    assert model.model_dump(mode="json")["summary"] == result["summary"]


def test_assembled_from_chunks_in_any_order_the_summary_is_the_same() -> None:
    from optimizers import run_chunk

    s = parse_spec({"objective": "rosenbrock", "optimizer": "adam",
                    "grid": {"lr": [0.001, 0.01, 0.1], "beta1": [0.8, 0.9]}, "steps": 30,
                    "seeds": 2})
    records = run_chunk(s, 5, 12) + run_chunk(s, 0, 5)
    assert assemble(s, records)["summary"] == run_sweep(s)["summary"]


def test_a_sampled_key_is_binned_so_only_the_one_that_matters_counts() -> None:
    spec = parse_spec({"objective": "sphere", "optimizer": "adam", "samples": 400,
                       "grid": {"lr": {"distribution": "log_uniform_values", "min": 1e-4,
                                       "max": 1.0},
                                "beta1": {"distribution": "uniform", "min": 0.5, "max": 0.9}}})
    # a score of lr alone: beta1's bins all hold the same spread of lr, lr's bins differ
    settings = [{"index": i, "params": p, "score": math.log10(p["lr"]) ** 2, "score_std": 0.0,
                 "trials": [i]} for i, p in enumerate(spec.settings())]
    shares = importance(spec, settings)  # type: ignore[arg-type]
    assert shares["lr"] > 0.9
    assert shares["beta1"] < 0.1  # chance: about (bins − 1)/(N − 1) = 0.02
