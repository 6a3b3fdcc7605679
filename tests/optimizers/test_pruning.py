"""Early stopping in the engine (``optimizers.pruning``, ``run_sweep``): the rungs, Hyperband's
brackets, the choice at a rung against one made by hand from an unpruned run, survivors equal to
their unpruned trials to the last bit (analytic objectives, nesterov's look-ahead, schedules, a
model on mini-batches with validation metrics), and bad pruning specs refused naming the field."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from optimizers import describe_errors, parse_spec, run_sweep
from optimizers.checkpoint import from_bytes, to_bytes
from optimizers.pruning import bracket_sizes, deal, ladder
from optimizers.runner import run_segment

BASE: dict[str, Any] = {
    "objective": "rosenbrock", "optimizer": "adam", "steps": 200, "seeds": 3,
    "record_every": 2, "init": {"distribution": "normal", "scale": 0.4},
    "grid": {"lr": [0.2, 0.05, 0.01, 0.002, 5e-4], "beta1": [0.6, 0.9, 0.97]},
}


def halving(**pruning: Any) -> dict[str, Any]:
    return {**BASE, "pruning": {"kind": "successive_halving", "min_steps": 6, **pruning}}


def test_the_ladder_and_hyperbands_brackets() -> None:
    assert ladder(200, 6, 3) == [6, 18, 54, 162]
    assert ladder(100, 5, 2) == [5, 10, 20, 40, 80]
    assert ladder(10, 9, 3) == [9]
    # Li et al. with s_max = 4, η = 3: n_s = ⌈5/(s+1)·3^s⌉ for s = 4 … 0
    assert bracket_sizes(4, 3) == [81, 34, 15, 8, 5]
    dealt = deal(143, bracket_sizes(4, 3))
    assert [dealt.count(b) for b in range(5)] == [81, 34, 15, 8, 5]
    assert dealt[:5] == [0, 1, 0, 2, 0]  # interleaved: each bracket spans the whole grid


@pytest.mark.parametrize("metric", ["final_loss", "min_loss", "mean_loss"])
def test_the_pruned_set_is_the_one_an_unpruned_run_gives(metric: str) -> None:
    base = {**BASE, "record_every": 1, "metric": metric}
    full = run_sweep(base)
    pruned = run_sweep({**base, "pruning": {"kind": "successive_halving", "min_steps": 6}},
                       chunk_size=7)
    n = len(full["settings"])
    by_setting: dict[int, list[dict[str, Any]]] = {}
    for trial in full["trials"]:
        by_setting.setdefault(trial["index"] % n, []).append(trial)

    def value(trial: dict[str, Any], rung: int) -> float:
        losses = trial["curve"]["loss"][:rung + 1]  # every step is recorded
        return {"final_loss": losses[-1], "min_loss": min(losses),
                "mean_loss": math.fsum(losses) / len(losses)}[metric]

    alive, expected = list(range(n)), {}
    for rung in ladder(200, 6, 3):
        score = {s: sum(value(t, rung) for t in by_setting[s]) / 3 for s in alive}
        keep = sorted(alive, key=lambda s: (score[s], s))[:math.ceil(len(alive) / 3)]
        expected.update({s: rung for s in alive if s not in keep})
        alive = keep
    got = {t["index"] % n: t["pruned_at"] for t in pruned["trials"] if t["status"] == "pruned"}
    assert got == expected
    ok = [t for t in pruned["trials"] if t["status"] == "ok"]
    assert len(ok) == 3 * len(alive)
    assert ok == [full["trials"][t["index"]] for t in ok]  # every number to the last bit


@pytest.mark.parametrize("spec", [
    {"optimizer": "nesterov", "grid": {"lr": [1e-3, 3e-4, 1e-4], "momentum": [0.5, 0.9]}},
    {"optimizer": "nadam", "grid": {"lr": [0.1, 0.01, 0.001]},
     "schedule": {"name": "warmup_cosine", "warmup_steps": [5, 40]},
     "clip": {"global_norm": 5.0}},
    {"optimizers": [{"optimizer": "sgd", "grid": {"lr": [1e-4, 3e-4, 1e-3]}},
                    {"optimizer": "lion", "grid": {"lr": [1e-3, 1e-2]}}]},
], ids=["nesterov", "nadam-schedule-clip", "compare"])
@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_survivors_equal_their_unpruned_trials(spec: dict[str, Any], chunk_size: int) -> None:
    base = {key: value for key, value in BASE.items() if key not in ("grid", "optimizer")} | spec
    full = run_sweep(base)
    pruned = run_sweep({**base, "pruning": {"kind": "hyperband", "min_steps": 4,
                                            "reduction": 2}}, chunk_size=chunk_size)
    for trial in pruned["trials"]:
        unpruned = full["trials"][trial["index"]]
        if trial["status"] == "pruned":
            kept = len(trial["curve"]["step"])
            assert trial["curve"]["step"] == unpruned["curve"]["step"][:kept]
            assert trial["curve"]["loss"] == unpruned["curve"]["loss"][:kept]
            assert trial["curve"]["step"][-1] == trial["pruned_at"]
        else:
            assert trial == unpruned
    assert any(t["status"] == "pruned" for t in pruned["trials"])


def test_a_model_on_mini_batches_with_validation_survives_exactly() -> None:
    base = {"objective": {"name": "mlp", "dataset": "iris", "hidden": [6], "batch_size": 16,
                          "validation": 0.2},
            "optimizer": "adam", "grid": {"lr": [0.3, 0.1, 0.03, 0.01, 0.003, 0.001]},
            "steps": 90, "seeds": 2, "record_every": 3, "metric": "max_val_accuracy"}
    full = run_sweep(base)
    pruned = run_sweep({**base, "pruning": {"kind": "successive_halving", "min_steps": 9}},
                       chunk_size=5)
    ok = [t for t in pruned["trials"] if t["status"] == "ok"]
    assert ok and ok == [full["trials"][t["index"]] for t in ok]
    for trial in pruned["trials"]:
        if trial["status"] == "pruned":  # its metrics as they stood at the rung
            steps = full["trials"][trial["index"]]["curve"]["step"]
            at = steps.index(trial["pruned_at"]) + 1
            assert trial["max_val_accuracy"] == max(
                full["trials"][trial["index"]]["curve"]["val_accuracy"][:at])


def test_a_checkpoint_round_trips_exactly_and_resumes_as_one_run() -> None:
    spec = parse_spec(halving())
    trials = spec.trials(0, 10)
    first = run_segment(spec, trials, stop=18)
    (restored,) = from_bytes(to_bytes(first.checkpoints))
    assert (restored.params == first.checkpoints[0].params).all()
    resumed = run_segment(spec, trials, resume=[restored])
    whole = run_segment(spec, trials)
    assert resumed.records == whole.records
    assert first.trial_steps + resumed.trial_steps == whole.trial_steps == 10 * 200


@pytest.mark.parametrize(("pruning", "field", "words"), [
    ({"kind": "successive_halving", "min_steps": 200}, "pruning",
     "must be less than steps = 200"),
    ({"kind": "successive_halving", "min_steps": 7}, "pruning", "a multiple of record_every"),
    ({"kind": "successive_halving", "min_steps": 6, "reduction": 1}, "pruning.reduction",
     "greater than or equal to 2"),
    ({"kind": "asha", "min_steps": 6}, "pruning.kind", "'successive_halving' or 'hyperband'"),
    ({"kind": "hyperband"}, "pruning.min_steps", "Field required"),
    ({"kind": "hyperband", "min_steps": 0}, "pruning.min_steps", "greater than or equal to 1"),
    ({"kind": "hyperband", "min_steps": 6, "eta": 3}, "pruning.eta", "Extra inputs"),
])
def test_a_bad_pruning_spec_is_refused_naming_its_field(pruning: dict[str, Any], field: str,
                                                        words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec({**BASE, "pruning": pruning})
    (line,) = describe_errors(caught.value)
    assert line.startswith(f"{field}: "), line
    assert words in line
