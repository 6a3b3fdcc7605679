"""A sweep that compares optimizers, with schedules and clipping, through the API in both modes
(embedded: its pool and SQLite store; cluster: Redis and a real ``gradsweep worker``), chunks
small enough that they cut across the entries: the engine's numbers to the last digit, each
optimizer's best, the optimizer column of results.csv, the catalogue of schedules, and a bad
entry refused naming its field."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, cluster, wait_for_status

from optimizers import run_sweep

SPEC: dict[str, Any] = {
    "name": "three optimizers", "objective": "rosenbrock", "steps": 150, "seeds": 2,
    "record_every": 10, "init": {"distribution": "normal", "scale": 0.2},
    "optimizers": [
        {"optimizer": "sgd", "grid": {"lr": [1e-4, 3e-4, 1e-3]}},
        {"optimizer": "adamw", "grid": {"lr": [0.01, 0.1], "weight_decay": [0.0, 0.01]},
         "schedule": {"name": "warmup_cosine", "warmup_steps": [10, 30]}},
        {"optimizer": "lion", "grid": {"lr": [1e-3, 1e-2]}, "clip": {"global_norm": 10.0}},
    ],
}


@pytest.fixture(params=["embedded", "cluster"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A running API (in cluster mode with one worker of two processes) and chunks of a few
    trials, so that chunks hold trials of two entries and spread over the processes."""
    with cluster(tmp_path, redis=request.param == "cluster", jobs=2, chunk_work=4e3) as c:
        c.start_server()
        if request.param == "cluster":
            c.start_worker(concurrency=2)
        yield c


@pytest.mark.integration
def test_a_comparing_sweep_gives_the_engines_numbers_and_each_optimizers_best(
        api: Cluster) -> None:
    expected = run_sweep(SPEC)
    with api.client() as client:
        response = client.post("/v1/sweeps", json=SPEC)
        assert response.status_code == 202, response.text
        assert response.json()["optimizer"] == "sgd, adamw, lion"
        sweep_id = response.json()["id"]
        view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 120)
        assert view["status"] == "succeeded"
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
        rows = list(csv.DictReader(io.StringIO(
            client.get(f"/v1/sweeps/{sweep_id}/results.csv").text)))
        schedules = client.get("/v1/schedules").json()
        bad = client.post("/v1/sweeps", json={**SPEC, "optimizers": [
            SPEC["optimizers"][0], {"optimizer": "lion", "grid": {"lr": 0.1, "eps": 1e-8}}]})
    assert document["trials"] == expected["trials"]  # every curve, to the last digit
    assert document["summary"] == expected["summary"]
    assert document["best"] == expected["best"] == view["best"]
    by = document["summary"]["by_optimizer"]
    assert list(by) == ["sgd", "adamw", "lion"]
    assert [by[n]["settings"] for n in by] == [3, 8, 2]
    assert [t["optimizer"] for t in document["trials"][:13]] == ["sgd"] * 3 + ["adamw"] * 8 + [
        "lion"] * 2
    assert [row["optimizer"] for row in rows] == [t["optimizer"] for t in document["trials"]]
    assert rows[3]["schedule.warmup_steps"] == "10" and rows[0]["schedule.warmup_steps"] == ""
    assert [s["name"] for s in schedules][-1] == "warmup_cosine"
    assert bad.status_code == 422
    (detail,) = bad.json()["error"]["details"]
    assert detail["field"] == "optimizers.1.grid"
    assert "unknown hyperparameter 'eps' for lion" in detail["message"]
