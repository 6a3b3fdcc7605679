"""bench/search.py's checks hold on a small sweep and fail loudly when the contract is broken:
a survivor that is not the unpruned trial, a pruned curve that is not its prefix, a pruned set
that is not the by-hand one. Its expected trial-steps are the engine's count."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from optimizers import run_sweep

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the script imports its sibling ``engine``
    try:
        spec = importlib.util.spec_from_file_location("gradsweep_bench_search",
                                                      BENCH / "search.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


SIZES = {"steps": 81, "min_steps": 3, "record_every": 3}
GRID = {"lr": [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0], "beta1": [0.0, 0.9, 0.99]}


def spec_of(bench: ModuleType, run: str) -> dict[str, Any]:
    return bench.sweep_spec({"name": "rastrigin", "dim": 3}, run, 0, **SIZES, grid=GRID)


@pytest.fixture(scope="module")
def runs(bench: ModuleType) -> dict[str, dict[str, Any]]:
    return {run: dict(run_sweep(spec_of(bench, run))) for run in bench.RUNS}


@pytest.mark.parametrize("run", ["successive halving", "hyperband"])
def test_a_pruned_run_passes_and_its_count_is_the_expected_one(
        bench: ModuleType, runs: dict[str, dict[str, Any]], run: str) -> None:
    plan = bench.plan_of(spec_of(bench, run))
    survivors = bench.check_pruned(runs["unpruned"], runs[run], plan, run)
    statuses = [t["status"] for t in runs[run]["trials"]]
    assert survivors == statuses.count("ok") > 0
    assert "pruned" in statuses
    if "diverged" not in statuses:
        assert runs[run]["summary"]["trial_steps"] == bench.expected_trial_steps(
            plan, len(bench.SEEDS))
    rank, score = bench.rank_in(runs["unpruned"], runs[run]["best"])
    assert score == runs[run]["best"]["score"] and rank >= 1
    assert bench.rank_in(runs["unpruned"], runs["unpruned"]["best"])[0] == 1


def test_the_closed_form_is_the_plan_count_for_a_power_of_eta(bench: ModuleType) -> None:
    plan = bench.plan_of(bench.sweep_spec({"name": "rosenbrock", "dim": 2},
                                          "successive halving", 0, **bench.QUICK))
    fraction = bench.expected_trial_steps(plan, 3) / (3 * 729 * plan.steps)
    assert fraction == pytest.approx(bench.closed_form_fraction(len(plan.rungs), 3), rel=1e-12)
    assert bench.stage_trials(plan, 3) == [2187, 729, 243, 81, 27]


def _first(doc: dict[str, Any], status: str) -> dict[str, Any]:
    return next(t for t in doc["trials"] if t["status"] == status)


def test_a_broken_survivor_stops_the_bench(bench: ModuleType,
                                           runs: dict[str, dict[str, Any]]) -> None:
    plan = bench.plan_of(spec_of(bench, "successive halving"))
    doc = copy.deepcopy(runs["successive halving"])
    survivor = _first(doc, "ok")
    survivor["final_loss"] = survivor["final_loss"] * (1 + 2 ** -52)  # the last bit
    with pytest.raises(bench.ContractBroken, match="survivor"):
        bench.check_pruned(runs["unpruned"], doc, plan, "tampered")


def test_a_pruned_curve_that_is_not_the_prefix_stops_the_bench(
        bench: ModuleType, runs: dict[str, dict[str, Any]]) -> None:
    plan = bench.plan_of(spec_of(bench, "successive halving"))
    doc = copy.deepcopy(runs["successive halving"])
    _first(doc, "pruned")["curve"]["loss"][-1] += 1.0
    with pytest.raises(bench.ContractBroken, match="prefix|curve"):
        bench.check_pruned(runs["unpruned"], doc, plan, "tampered")


def test_a_wrong_pruned_set_stops_the_bench(bench: ModuleType,
                                            runs: dict[str, dict[str, Any]]) -> None:
    plan = bench.plan_of(spec_of(bench, "successive halving"))
    doc = copy.deepcopy(runs["successive halving"])
    n = len(doc["settings"])
    pruned_first = _first(doc, "pruned")["index"] % n
    # a grid point that went on past the first rung, ended as if pruned there
    later = next(t["index"] % n for t in doc["trials"]
                 if t["status"] == "ok" or (t["status"] == "pruned"
                                            and t["pruned_at"] > plan.rungs[0]))
    assert later != pruned_first
    rung = plan.rungs[0]
    for trial in doc["trials"]:
        if trial["index"] % n == later:
            kept = trial["curve"]["step"].index(rung) + 1
            trial.update(status="pruned", pruned_at=rung,
                         curve={"step": trial["curve"]["step"][:kept],
                                "loss": trial["curve"]["loss"][:kept]})
    with pytest.raises(bench.ContractBroken, match="pruned set"):
        bench.check_pruned(runs["unpruned"], doc, plan, "tampered")
