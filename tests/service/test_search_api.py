"""Random and Sobol search through the API in both modes (embedded: its pool and SQLite store;
cluster: Redis and a real ``gradsweep worker``), chunks small enough that each holds a few
trials: the normalised spec shows the drawn values, every trial's params are those values (each
worker re-parses the stored spec, ``drawn`` included, and draws the same), the engine's numbers
to the last digit, results.csv has the drawn numbers, and a bad distribution is a 422 naming its
field."""

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
    "name": "sobol search", "objective": "rosenbrock", "optimizer": "adam", "steps": 60,
    "seeds": 2, "record_every": 10, "init": {"distribution": "normal", "scale": 0.2},
    "grid": {"lr": {"distribution": "log_uniform_values", "min": 1e-3, "max": 0.1},
             "beta1": {"distribution": "uniform", "min": 0.8, "max": 0.95},
             "beta2": [0.99, 0.999]},
    "schedule": {"name": "step", "step_size": {"distribution": "int_uniform", "min": 5,
                                               "max": 30}},
    "samples": 8, "sampler": "sobol", "search_seed": 42,
}


@pytest.fixture(params=["embedded", "cluster"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A running API (in cluster mode with one worker of two processes) and chunks of a few
    trials, spread over the processes."""
    with cluster(tmp_path, redis=request.param == "cluster", jobs=2, chunk_work=4e3) as c:
        c.start_server()
        if request.param == "cluster":
            c.start_worker(concurrency=2)
        yield c


@pytest.mark.integration
def test_a_search_shows_its_draws_and_runs_them(api: Cluster) -> None:
    expected = run_sweep(SPEC)
    with api.client() as client:
        response = client.post("/v1/sweeps", json=SPEC)
        assert response.status_code == 202, response.text
        sweep_id = response.json()["id"]
        view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 120)
        assert view["status"] == "succeeded", view
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
        rows = list(csv.DictReader(io.StringIO(
            client.get(f"/v1/sweeps/{sweep_id}/results.csv").text)))
        bad = client.post("/v1/sweeps", json={**SPEC, "grid": {
            **SPEC["grid"], "lr": {"distribution": "log_uniform_values", "min": 0.1,
                                   "max": 0.001}}})
        unknown = client.post("/v1/sweeps", json={**SPEC, "grid": {
            **SPEC["grid"], "beta1": {"distribution": "normal", "min": 0.8, "max": 0.95}}})
    spec = document["spec"]
    assert (spec["samples"], spec["sampler"], spec["search_seed"]) == (8, "sobol", 42)
    lr, beta1 = spec["grid"]["lr"]["drawn"], spec["grid"]["beta1"]["drawn"]
    step_size = spec["schedule"]["step_size"]["drawn"]
    assert len(lr) == len(beta1) == len(step_size) == 8
    assert all(1e-3 <= v <= 0.1 for v in lr) and all(5 <= v <= 30 for v in step_size)
    # settings: beta2's two values × the 8 samples, the sample fastest; the seeds outermost
    samples = list(zip(lr, beta1, step_size, strict=True))
    assert [(t["params"]["lr"], t["params"]["beta1"], t["params"]["schedule.step_size"])
            for t in document["trials"]] == samples * 2 * 2
    assert [t["params"]["beta2"] for t in document["trials"][:16]] == [0.99] * 8 + [0.999] * 8
    assert document["progress"] == {"done": 32, "total": 32}
    assert document["spec"] == expected["spec"]
    assert document["trials"] == expected["trials"]  # every curve, to the last digit
    assert document["best"] == expected["best"] == view["best"]
    assert [float(row["lr"]) for row in rows] == [t["params"]["lr"] for t in document["trials"]]
    assert rows[0]["schedule.step_size"] == str(step_size[0])
    assert bad.status_code == 422
    (detail,) = bad.json()["error"]["details"]
    assert detail["field"] == "grid.lr.max"
    assert "max = 0.001 is below min = 0.1" in detail["message"]
    assert unknown.status_code == 422
    (detail,) = unknown.json()["error"]["details"]
    assert detail["field"] == "grid.beta1.distribution"
    assert "unknown distribution 'normal'; valid choices: uniform, log_uniform_values" in (
        detail["message"])
