"""Successive halving and Hyperband through the API in both modes (embedded: its pool and
SQLite store; cluster: Redis and a real ``gradsweep worker`` of two processes), with chunks of
a few trials so that every rung's stage crosses chunks and processes: the pruned set is the one
an unpruned run of the same sweep gives, and every survivor's numbers are the unpruned trial's
to the last bit."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, cluster, wait_for_status

from optimizers import run_sweep

GRID = {"lr": [0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4, 3e-5], "beta1": [0.5, 0.9, 0.99]}
BASE: dict[str, Any] = {"objective": "rosenbrock", "optimizer": "adam", "grid": GRID,
                        "steps": 300, "seeds": 2, "record_every": 5,
                        "init": {"distribution": "normal", "scale": 0.3}}
HALVING = {**BASE, "pruning": {"kind": "successive_halving", "min_steps": 10, "reduction": 3}}
HYPERBAND = {**BASE, "pruning": {"kind": "hyperband", "min_steps": 10, "reduction": 3}}


def pruned_by_hand(full: dict[str, Any], rungs: list[int], eta: int,
                   brackets: dict[int, list[int]] | None = None) -> dict[int, int]:
    """Setting → the rung that prunes it, computed from an unpruned run's curves alone:
    synchronous successive halving (per bracket: its settings and its first rung)."""
    n = len(full["settings"])
    by_setting: dict[int, list[dict[str, Any]]] = {}
    for trial in full["trials"]:
        by_setting.setdefault(trial["index"] % n, []).append(trial)

    def loss_at(trial: dict[str, Any], step: int) -> float:
        steps = trial["curve"]["step"]
        return trial["curve"]["loss"][steps.index(step)] if step in steps else math.inf

    out: dict[int, int] = {}
    for first, settings in (brackets or {0: list(range(n))}).items():
        alive = list(settings)
        for rung in rungs[first:]:
            score = {s: math.fsum(loss_at(t, rung) for t in by_setting[s]) / len(by_setting[s])
                     for s in alive}
            ranked = sorted(alive, key=lambda s: (score[s], s))
            keep = ranked[:math.ceil(len(ranked) / eta)]
            out.update({s: rung for s in alive if s not in keep})
            alive = keep
    return out


@pytest.fixture(params=["embedded", "cluster"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    with cluster(tmp_path, redis=request.param == "cluster", jobs=2, chunk_work=3e3) as c:
        c.start_server()
        if request.param == "cluster":
            c.start_worker(concurrency=2)
        yield c


def _run(api: Cluster, spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    with api.client() as client:
        response = client.post("/v1/sweeps", json=spec)
        assert response.status_code == 202, response.text
        sweep_id = response.json()["id"]
        view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 120)
        assert view["status"] == "succeeded", view
        return view, client.get(f"/v1/sweeps/{sweep_id}/results").json()


@pytest.mark.integration
def test_successive_halving_prunes_what_the_unpruned_run_says_and_survivors_are_exact(
        api: Cluster) -> None:
    full = run_sweep(BASE)
    view, document = _run(api, HALVING)
    assert document["trials"] == run_sweep(HALVING, chunk_size=4)["trials"]
    expected = pruned_by_hand(full, [10, 30, 90, 270], 3)
    n = len(full["settings"])
    got = {t["index"] % n: t["pruned_at"] for t in document["trials"] if t["status"] == "pruned"}
    assert got == expected
    assert len(expected) == 26  # 27 → 9 → 3 → 1 → 1
    for trial, unpruned in zip(document["trials"], full["trials"], strict=True):
        if trial["status"] == "ok":
            assert trial == unpruned  # every number, to the last bit
        else:  # the curve so far, ending at the rung
            kept = len(trial["curve"]["step"])
            assert trial["curve"]["step"][-1] == trial["pruned_at"]
            assert trial["curve"]["loss"] == unpruned["curve"]["loss"][:kept]
    summary = document["summary"]
    assert summary["full_trial_steps"] == 54 * 300
    assert summary["trial_steps"] == sum(300 if t["status"] == "ok" else t["pruned_at"]
                                         for t in document["trials"])
    assert view["progress"] == {"done": 54, "total": 54}
    assert (view["trial_steps"], view["full_trial_steps"]) == (summary["trial_steps"], 54 * 300)
    assert view["best"] == document["best"]


@pytest.mark.integration
def test_hyperband_runs_each_bracket_as_its_own_halving(api: Cluster) -> None:
    from optimizers import parse_spec

    full = run_sweep(BASE)
    _, document = _run(api, HYPERBAND)
    assert document["trials"] == run_sweep(HYPERBAND)["trials"]
    plan = parse_spec(HYPERBAND).plan
    assert plan is not None
    brackets: dict[int, list[int]] = {}
    for setting, bracket in enumerate(plan.bracket_of):
        brackets.setdefault(plan.starts[bracket], []).append(setting)
    assert len(brackets) == 5  # brackets s = 4 … 0, each with some grid points
    n = len(full["settings"])
    got = {t["index"] % n: t["pruned_at"] for t in document["trials"] if t["status"] == "pruned"}
    assert got == pruned_by_hand(full, [10, 30, 90, 270], 3, brackets)
    survivors = [t for t in document["trials"] if t["status"] == "ok"]
    assert survivors == [full["trials"][t["index"]] for t in survivors]
