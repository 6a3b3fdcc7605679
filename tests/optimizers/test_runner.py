"""The batched runner against a trial-by-trial loop, and its bookkeeping."""

from __future__ import annotations

import json
import random
import warnings
from typing import Any

import numpy as np
import pytest

from optimizers import assemble, chunk_bounds, parse_spec, run_chunk, run_sweep
from optimizers.objectives import Rosenbrock
from optimizers.runner import WINDOW, recorded_steps

GRIDS = {
    "sgd": {"lr": [1e-4, 5e-4, 1e-3]},
    "momentum": {"lr": [1e-4, 5e-4], "momentum": [0.5, 0.9]},
    "nesterov": {"lr": [1e-4, 5e-4], "momentum": [0.5, 0.9]},
    "adagrad": {"lr": [0.01, 0.1], "eps": [1e-8, 1e-3]},
    "rmsprop": {"lr": [1e-3, 1e-2], "decay": [0.9, 0.99]},
    "adam": {"lr": [1e-3, 1e-2, 1e-1], "beta1": [0.8, 0.9], "beta2": [0.99, 0.999]},
}


def loop_reference(spec_data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each trial alone, with the pure ``update``: a plain loop over trials and steps."""
    spec = parse_spec(spec_data)
    rule, f = spec.rule, spec.objective
    out = []
    for trial in spec.trials():
        x = spec.start_point(trial.seed)[None, :]
        state = rule.init(x)
        losses = []
        with np.errstate(all="ignore"):
            for step in range(spec.steps + 1):
                losses.append(float(f.value(x)[0]))
                if step < spec.steps:
                    g = f.grad(rule.lookahead_point(state, x, trial.params))
                    x, state = rule.update(g, state, x, trial.params)
        out.append({"index": trial.index, "losses": losses})
    return out


@pytest.mark.parametrize("name", list(GRIDS))
def test_batched_chunk_equals_trial_by_trial_loop(name: str) -> None:
    spec = {"objective": {"name": "rosenbrock", "dim": 3}, "optimizer": name,
            "grid": GRIDS[name], "steps": 300, "seeds": 2,
            "init": {"distribution": "uniform", "scale": 0.5}}
    result = run_sweep(spec)
    every = recorded_steps(300, 1)
    for trial, ref in zip(result["trials"], loop_reference(spec), strict=True):
        assert trial["status"] == "ok"
        assert trial["curve"]["step"] == every
        assert trial["curve"]["loss"] == ref["losses"]  # bit for bit
        assert trial["final_loss"] == ref["losses"][-1]
        assert trial["min_loss"] == min(ref["losses"])
        assert trial["mean_loss"] == pytest.approx(np.mean(ref["losses"]), rel=1e-13)


@pytest.mark.parametrize("objective", [
    {"name": "rosenbrock", "dim": 4}, {"name": "sphere", "dim": 3},
    {"name": "quadratic", "dim": 5, "condition": 100.0}, {"name": "rastrigin", "dim": 3},
    {"name": "ackley", "dim": 3}, {"name": "styblinski_tang", "dim": 3}, "beale", "booth",
    "himmelblau",
])
def test_results_do_not_depend_on_chunk_size(objective: object) -> None:
    spec = {"objective": objective, "optimizer": "adam",
            "grid": {"lr": [1e-3, 1e-2, 0.1], "beta1": [0.5, 0.9]}, "steps": 260, "seeds": 3,
            "record_every": 7, "init": {"distribution": "normal", "scale": 0.3}}
    whole = run_sweep(spec)
    assert whole["progress"] == {"done": 18, "total": 18}
    for size in (1, 4, 7):
        assert run_sweep(spec, chunk_size=size) == whole


def test_chunks_run_in_any_order_merge_into_the_same_document() -> None:
    spec = parse_spec({"objective": "himmelblau", "optimizer": "momentum",
                       "grid": {"lr": [1e-3, 3e-3, 1e-2], "momentum": [0.0, 0.5, 0.9]},
                       "seeds": 2, "steps": 150, "init": {"distribution": "normal"}})
    bounds = chunk_bounds(spec, chunk_size=4)
    assert bounds[0] == (0, 4) and bounds[-1] == (16, 18)
    random.Random(0).shuffle(bounds)
    records = [r for start, stop in bounds for r in run_chunk(spec, start, stop)]
    assert assemble(spec, records) == run_sweep(spec)


def test_large_batches_step_in_blocks_on_threads_with_identical_numbers() -> None:
    spec = {"objective": {"name": "quadratic", "dim": 3000, "condition": 50.0},
            "optimizer": "rmsprop", "grid": {"lr": list(np.geomspace(1e-3, 1e-1, 200))},
            "steps": 12, "init": {"distribution": "normal"}}
    threaded = run_sweep(spec, threads=2)  # 600,000 parameters: blocked, two threads
    assert run_sweep(spec, threads=1, chunk_size=50) == threaded


def test_a_diverging_trial_is_a_result_not_a_crash() -> None:
    spec = {"objective": "rosenbrock", "optimizer": "sgd", "grid": {"lr": [1e-3, 1e6]},
            "steps": 50}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may escape
        result = run_sweep(spec)
    sane, bad = result["trials"]
    assert sane["status"] == "ok" and sane["final_loss"] < sane["curve"]["loss"][0]
    assert bad["status"] == "diverged" and bad["diverged_at"] == 1
    assert bad["final_loss"] is None and bad["mean_loss"] is None
    start = Rosenbrock(name="rosenbrock").value(np.array([[-1.2, 1.0]]))[0]
    assert bad["curve"] == {"step": [0], "loss": [start]}
    assert result["best"]["params"]["lr"] == 1e-3
    assert result["settings"][1]["score"] is None
    json.dumps(result, allow_nan=False)  # standard JSON: no NaN, no Infinity


def test_divergence_is_found_at_its_exact_step_across_windows() -> None:
    # sgd on x² with lr > 1 multiplies x by 1 − 2·lr, |1 − 2·lr| > 1, per step: find the first step
    # above the threshold by hand and check the runner reports exactly it, past one window.
    lr, threshold = 1.025, 1e6
    spec = {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd",
            "grid": {"lr": [0.1, lr]}, "steps": 3 * WINDOW, "record_every": 10,
            "divergence_threshold": threshold, "init": [1.0]}
    x, step = 1.0, 0
    while x * x <= threshold:
        x -= lr * 2 * x
        step += 1
    assert WINDOW < step < 3 * WINDOW
    ok, bad = run_sweep(spec)["trials"]
    assert ok["status"] == "ok"
    assert bad["diverged_at"] == step
    assert bad["curve"]["step"][-1] == (step - 1) // 10 * 10
    assert max(bad["curve"]["loss"]) <= threshold


def test_curve_records_every_r_steps_and_always_the_last() -> None:
    assert recorded_steps(10, 3) == [0, 3, 6, 9, 10]
    assert recorded_steps(9, 3) == [0, 3, 6, 9]
    assert recorded_steps(1, 5) == [0, 1]
    trial = run_sweep({"objective": "booth", "optimizer": "sgd", "grid": {"lr": 0.01},
                       "steps": 10, "record_every": 3})["trials"][0]
    assert trial["curve"]["step"] == [0, 3, 6, 9, 10]


@pytest.mark.parametrize("metric", ["final_loss", "min_loss", "mean_loss"])
def test_scores_are_the_metric_averaged_over_seeds_and_best_is_lowest(metric: str) -> None:
    spec = {"objective": {"name": "rastrigin", "dim": 2}, "optimizer": "momentum",
            "grid": {"lr": [1e-4, 1e-3, 3e-3]}, "seeds": 4, "steps": 80, "metric": metric,
            "init": {"distribution": "uniform", "scale": 2.0}}
    result = run_sweep(spec)
    for setting in result["settings"]:
        values = [result["trials"][i][metric] for i in setting["trials"]]
        assert setting["trials"] == [setting["index"] + 3 * s for s in range(4)]
        assert setting["score"] == pytest.approx(np.mean(values), rel=1e-14)
        assert setting["score_std"] == pytest.approx(np.std(values), rel=1e-9, abs=1e-15)
    best = min(result["settings"], key=lambda s: s["score"])
    assert result["best"] == {**{k: best[k] for k in ("params", "score", "score_std", "trials")},
                              "n_trials": len(best["trials"])}


def test_progress_is_reported_per_chunk_and_ends_at_total() -> None:
    seen: list[tuple[int, int]] = []
    run_sweep({"objective": "sphere", "optimizer": "sgd", "grid": {"lr": [0.1, 0.2, 0.3]},
               "seeds": 3, "steps": 5}, chunk_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 9), (4, 9), (6, 9), (8, 9), (9, 9)]


def test_should_stop_cancels_between_chunks_and_inside_one() -> None:
    spec = {"objective": "sphere", "optimizer": "sgd", "grid": {"lr": [0.1, 0.2, 0.3]},
            "seeds": 2, "steps": 5 * WINDOW}
    calls = {"n": 0}

    def stop_after(n: int) -> Any:
        def should_stop() -> bool:
            calls["n"] += 1
            return calls["n"] > n
        return should_stop

    # 641 losses per trial make 6 windows: a chunk polls once before it and once per window.
    between = run_sweep(spec, chunk_size=2, should_stop=stop_after(7))
    assert between["status"] == "cancelled"
    assert between["progress"] == {"done": 2, "total": 6}
    assert [t["index"] for t in between["trials"]] == [0, 1]
    calls["n"] = 0
    inside = run_sweep(spec, should_stop=stop_after(3))
    assert inside["status"] == "cancelled" and inside["progress"]["done"] == 0
    assert inside["best"] is None


def test_an_error_inside_the_engine_fails_its_trials_not_the_sweep(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Rosenbrock, x: Any) -> Any:
        raise FloatingPointError("the objective broke")

    monkeypatch.setattr(Rosenbrock, "value_and_grad", broken)
    monkeypatch.setattr(Rosenbrock, "evaluator", broken)  # the runner's hot path
    result = run_sweep({"objective": "rosenbrock", "optimizer": "adam",
                        "grid": {"lr": [0.1, 0.2]}, "steps": 3})
    assert result["status"] == "succeeded"
    assert [t["status"] for t in result["trials"]] == ["failed", "failed"]
    assert result["trials"][0]["error"] == "FloatingPointError: the objective broke"
    assert result["best"] is None


def test_results_validate_against_the_published_models() -> None:
    from optimizers import SweepResults
    result = run_sweep({"objective": "beale", "optimizer": "adam",
                        "grid": {"lr": [0.01, 1e5]}, "steps": 20, "seeds": 2})
    model = SweepResults.model_validate(result)
    assert model.model_dump(mode="json", exclude_unset=True)["trials"] == result["trials"]


def test_scoreboard_fed_chunk_by_chunk_agrees_with_the_assembled_best() -> None:
    from optimizers.results import ScoreBoard, score_summaries

    spec = parse_spec({"objective": "rastrigin", "optimizer": "adam",
                       "grid": {"lr": [1e-3, 1e-2, 0.1, 1e6], "beta1": [0.5, 0.9]},
                       "seeds": 3, "steps": 60, "init": {"distribution": "normal"}})
    board = ScoreBoard(spec)
    seen: list[dict[str, Any]] = []
    bounds = chunk_bounds(spec, chunk_size=5)
    random.Random(1).shuffle(bounds)
    for start, stop in bounds:
        records = run_chunk(spec, start, stop)
        board.add(score_summaries(records))
        seen += records
        assert board.best() == assemble(spec, seen)["best"]
    assert board.best() == run_sweep(spec)["best"]
