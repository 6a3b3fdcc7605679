"""``GET /v1/sweeps/{id}/overview`` on a real ``gradsweep serve``: embedded (SQLite, local pool)
and cluster mode (Redis, a worker): bands within the stated error of ``numpy.quantile`` over
every curve of the results document, the sample, and the same answer in both modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from harness import cluster, wait_for_status

from optimizers.overview import QUANTILES, RELATIVE_ERROR, sample_indices

SPEC: dict[str, Any] = {
    "name": "overview", "objective": {"name": "rosenbrock", "dim": 2}, "optimizer": "momentum",
    "grid": {"lr": [float(x) for x in np.geomspace(1e-5, 1e-2, 100)],
             "momentum": [0.0, 0.5, 0.9, 0.95, 0.99]},
    "seeds": 2, "steps": 400, "record_every": 1}  # 1,000 trials, some diverged, several chunks
PRUNED: dict[str, Any] = {**SPEC, "name": "pruned overview", "seeds": 1, "record_every": 10,
                          "pruning": {"kind": "successive_halving", "min_steps": 10}}


def check(client: Any, spec: dict[str, Any]) -> dict[str, Any]:
    created = client.post("/v1/sweeps", json=spec)
    assert created.status_code == 202, created.text
    sweep_id = created.json()["id"]
    assert wait_for_status(client, sweep_id, {"succeeded", "failed"}, 180)["status"] == \
        "succeeded"
    response = client.get(f"/v1/sweeps/{sweep_id}/overview")
    assert response.status_code == 200
    doc = response.json()
    trials = client.get(f"/v1/sweeps/{sweep_id}/results").json()["trials"]
    assert doc["trials"] == len(trials)
    assert doc["quantiles"] == list(QUANTILES)
    assert doc["steps"][0] == 0 and doc["steps"][-1] == spec["steps"]
    assert len(doc["steps"]) <= 200
    for p, step in enumerate(doc["steps"]):
        values = [v for t in trials for s, v in zip(t["curve"]["step"], t["curve"]["loss"])
                  if s == step]
        assert doc["counts"][p] == len(values)
        for k, q in enumerate(QUANTILES):
            true = float(np.quantile(values, q))
            assert abs(doc["bands"][k][p] / true - 1) <= RELATIVE_ERROR + 1e-12
    assert [t["index"] for t in doc["sample"]] == sample_indices(len(trials))
    # the sample's curves: at most 100 points by default, the first and the last kept; all
    # that the sketch keeps (its positions and the last point) with points=201
    whole = client.get(f"/v1/sweeps/{sweep_id}/overview", params={"points": 201}).json()
    assert whole["bands"] == doc["bands"]
    by_index = {t["index"]: t for t in trials}
    for thin, kept in zip(doc["sample"], whole["sample"], strict=True):
        steps, kept_steps = thin["curve"]["step"], kept["curve"]["step"]
        assert len(steps) <= 100 and set(steps) <= set(kept_steps)
        if kept_steps:
            assert steps[0] == kept_steps[0] and steps[-1] == kept_steps[-1] == \
                by_index[thin["index"]]["curve"]["step"][-1]
        assert thin["curve"]["loss"] == [kept["curve"]["loss"][kept_steps.index(x)] for x in steps]
    assert client.get(f"/v1/sweeps/{sweep_id}/overview", params={"points": 1}).status_code == 422
    assert client.get("/v1/sweeps/" + "0" * 32 + "/overview").status_code == 404
    assert client.get("/v1/sweeps/nope/overview").status_code == 422
    assert "/v1/sweeps/{sweep_id}/overview" in client.get("/openapi.json").json()["paths"]
    return doc


def test_embedded_overview_of_1000_trials_and_of_a_pruned_sweep(tmp_path: Path) -> None:
    with cluster(tmp_path, redis=False, jobs=2) as c:
        c.start_server()
        with c.client() as client:
            doc = check(client, SPEC)
            assert doc["counts"][0] == 1000 > doc["counts"][-1]  # some diverged
            assert doc["rungs"] == [] and doc["metric"] == "final_loss"
            pruned = check(client, PRUNED)
            assert pruned["rungs"] == [10, 30, 90, 270]
            assert pruned["counts"][0] == 500 and pruned["counts"][-1] < 100


def test_cluster_overview_matches_the_embedded_one(tmp_path: Path) -> None:
    for name in ("embedded", "cluster"):
        (tmp_path / name).mkdir()
    with cluster(tmp_path / "embedded", redis=False, jobs=2) as e:
        e.start_server()
        with e.client() as client:
            embedded = check(client, {**SPEC, "seeds": 1})
    with cluster(tmp_path / "cluster", redis=True) as c:
        c.start_server()
        c.start_worker(concurrency=2)
        with c.client() as client:
            clustered = check(client, {**SPEC, "seeds": 1})
    assert clustered == embedded
