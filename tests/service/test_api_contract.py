"""The HTTP contract against real processes, in both modes.

Embedded: a real ``gradsweep serve`` with its local pool and SQLite store. Cluster: a real
``gradsweep serve`` on Redis, with real ``gradsweep worker`` processes (Celery, prefork).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, cluster, wait_for_status, wait_until

from optimizers import run_sweep

SPEC: dict[str, Any] = {
    "name": "contract", "objective": {"name": "rosenbrock", "dim": 10}, "optimizer": "adam",
    "grid": {"lr": [1e-3, 1e-2, 0.1, 1e4], "beta1": [0.8, 0.9]}, "seeds": 3, "steps": 2000,
    "record_every": 25, "init": {"distribution": "normal", "scale": 0.5},
}  # 24 trials in 4 chunks of 7 (chunk_work / (dim × steps))
# Many chunks (chunk_work is small) so that there is progress to watch and work to cancel.
LONG_SPEC: dict[str, Any] = {
    "name": "long", "objective": {"name": "rastrigin", "dim": 50}, "optimizer": "rmsprop",
    "grid": {"lr": [1e-4 * 1.05**i for i in range(40)]}, "seeds": 2, "steps": 3000,
    "record_every": 100,
}
SETTINGS = {"chunk_work": 150_000, "worker_timeout": 3, "heartbeat_seconds": 0.5}


@pytest.fixture(params=["embedded", "cluster"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A running API (and, in cluster mode, one worker with two processes)."""
    with cluster(tmp_path, redis=request.param == "cluster", jobs=2, **SETTINGS) as c:
        c.start_server()
        if request.param == "cluster":
            c.start_worker(concurrency=2)
        yield c


def submit(client: Any, spec: dict[str, Any]) -> str:
    response = client.post("/v1/sweeps", json=spec)
    assert response.status_code == 202, response.text
    sweep_id: str = response.json()["id"]
    assert response.headers["location"] == f"/v1/sweeps/{sweep_id}"
    return sweep_id


def test_results_equal_run_sweep_to_the_last_digit(api: Cluster) -> None:
    with api.client() as client:
        sweep_id = submit(client, SPEC)
        view = wait_for_status(client, sweep_id, {"succeeded", "failed"})
        assert view["status"] == "succeeded"
        assert view["progress"] == {"done": 24, "total": 24}
        results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    assert results.pop("id") == sweep_id
    assert results == run_sweep(SPEC)  # same spec, same numbers, however the chunks ran
    assert view["best"] == results["best"]
    assert {t["status"] for t in results["trials"]} == {"ok", "diverged"}


def test_progress_is_monotone_and_ends_at_total(api: Cluster) -> None:
    with api.client() as client:
        sweep_id = submit(client, LONG_SPEC)
        seen = []
        while True:
            view = client.get(f"/v1/sweeps/{sweep_id}").json()
            seen.append(view["progress"]["done"])
            if view["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.05)
    assert view["status"] == "succeeded"
    assert seen == sorted(seen) and seen[-1] == 80 == view["progress"]["total"]
    assert len(set(seen)) > 2  # it moved in steps, chunk by chunk
    assert view["started_at"] is not None and view["finished_at"] >= view["started_at"]


def test_list_is_newest_first_paginated_and_filtered(api: Cluster) -> None:
    with api.client() as client:
        ids = [submit(client, {**SPEC, "name": f"list-{i}", "steps": 5}) for i in range(3)]
        for sweep_id in ids:
            wait_for_status(client, sweep_id, {"succeeded"})
        page = client.get("/v1/sweeps", params={"limit": 2}).json()
        assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
        assert [s["id"] for s in page["items"]] == ids[::-1][:2]
        rest = client.get("/v1/sweeps", params={"limit": 2, "offset": 2}).json()
        assert [s["id"] for s in rest["items"]] == ids[:1]
        done = client.get("/v1/sweeps", params={"status": "succeeded"}).json()
        assert done["total"] == 3
        assert client.get("/v1/sweeps", params={"status": "running"}).json()["total"] == 0


def test_cancel_mid_sweep_keeps_partial_results(api: Cluster) -> None:
    with api.client() as client:
        sweep_id = submit(client, LONG_SPEC)
        wait_until(lambda: client.get(f"/v1/sweeps/{sweep_id}").json()["progress"]["done"] > 0,
                   60, "the first chunk")
        cancelled = client.delete(f"/v1/sweeps/{sweep_id}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        time.sleep(1.5)  # running chunks stop at their next check
        view = client.get(f"/v1/sweeps/{sweep_id}").json()
        time.sleep(1.0)
        later = client.get(f"/v1/sweeps/{sweep_id}").json()
        assert later["status"] == "cancelled"
        assert later["progress"] == view["progress"]  # nothing runs any more
        assert 0 < later["progress"]["done"] < later["progress"]["total"]
        results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
        assert results["status"] == "cancelled"
        assert len(results["trials"]) == later["progress"]["done"]
        again = client.delete(f"/v1/sweeps/{sweep_id}")
        assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_catalogue_and_health(api: Cluster) -> None:
    with api.client() as client:
        optimizers = client.get("/v1/optimizers").json()
        assert [o["name"] for o in optimizers][:6] == ["sgd", "momentum", "nesterov", "adagrad",
                                                       "rmsprop", "adam"]
        assert "rosenbrock" in {o["name"] for o in client.get("/v1/objectives").json()}
        assert client.get("/healthz").json() == {"status": "ok"}
        wait_until(lambda: client.get("/readyz").status_code == 200, 20, "/readyz to be ready")
        metrics = client.get("/metrics").text
        assert 'gradsweep_sweeps{status="queued"}' in metrics
        assert "gradsweep_chunk_seconds_bucket" in metrics
        schema = client.get("/openapi.json").json()
        assert "/v1/sweeps/{sweep_id}/results" in schema["paths"]
        assert client.get("/docs").status_code == 200


def test_cluster_spreads_chunks_over_workers_and_readyz_follows_them(tmp_path: Path) -> None:
    with cluster(tmp_path, redis=True, **SETTINGS) as c:
        c.start_server()
        with c.client() as client:
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert "no worker" in not_ready.json()["reason"]
            workers = [c.start_worker(concurrency=1), c.start_worker(concurrency=1)]
            wait_until(lambda: client.get("/readyz").status_code == 200, 30, "a live worker")
            sweep_id = submit(client, LONG_SPEC)
            assert wait_for_status(client, sweep_id, {"succeeded"}, 120)["status"] == "succeeded"
            ran = [w.output().count("succeeded in") for w in workers]
            assert all(n > 0 for n in ran), ran  # both workers took chunks
            results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
            assert {t["index"] for t in results["trials"]} == set(range(80))
            for w in workers:
                w.stop()
            wait_until(lambda: client.get("/readyz").status_code == 503, 30,
                       "/readyz to notice the workers are gone")


def test_embedded_server_restart_mid_sweep_resumes(tmp_path: Path) -> None:
    with cluster(tmp_path, redis=False, jobs=1, **SETTINGS) as c:
        server = c.start_server()
        with c.client() as client:
            sweep_id = submit(client, LONG_SPEC)
            finished = submit(client, {**SPEC, "steps": 5})
            wait_until(lambda: 0 < client.get(f"/v1/sweeps/{sweep_id}").json()["progress"]["done"],
                       60, "the first chunk")
        server.stop()
        c.start_server()
        with c.client() as client:
            view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 120)
            assert view["status"] == "succeeded" and view["progress"]["done"] == 80
            results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
            assert results.pop("id") == sweep_id
            assert json.dumps(results) == json.dumps(run_sweep(LONG_SPEC))
            assert client.get(f"/v1/sweeps/{finished}").json()["status"] == "succeeded"


def test_embedded_pool_process_killed_mid_sweep_loses_nothing(tmp_path: Path) -> None:
    import os
    import signal

    from harness import descendants

    with cluster(tmp_path, redis=False, jobs=2, **SETTINGS) as c:
        server = c.start_server()
        with c.client() as client:
            sweep_id = submit(client, LONG_SPEC)
            wait_until(lambda: client.get(f"/v1/sweeps/{sweep_id}").json()["progress"]["done"],
                       60, "the first chunk")
            # the pool's workers are the children of the forkserver, below the server
            forkserver = [p for p in descendants(server.popen.pid)
                          if b"forkserver" in cmdline(p)]
            victims = [p for f in forkserver for p in descendants(f)]
            assert victims, "no pool worker process found"
            os.kill(victims[0], signal.SIGKILL)
            view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 120)
            assert view["status"] == "succeeded" and view["progress"]["done"] == 80
            results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
            results.pop("id")
            assert results == run_sweep(LONG_SPEC)
            assert "a local worker process died" in server.output()


def test_no_secret_reaches_the_log(tmp_path: Path) -> None:
    secret = "s3cret-key-do-not-log"
    with cluster(tmp_path, redis=False, api_keys=f"{secret},other-key", log_level="debug") as c:
        server = c.start_server()
        with c.client() as client:
            assert client.get("/v1/sweeps").status_code == 401
            wrong = client.get("/v1/sweeps", headers={"authorization": f"Bearer {secret}x"})
            assert wrong.status_code == 401
            good = client.post("/v1/sweeps", json={**SPEC, "steps": 5},
                               headers={"authorization": f"Bearer {secret}"})
            assert good.status_code == 202
        server.stop()
        assert secret not in server.output()
        assert "401" in server.output()  # the log is there, just without the key


def cmdline(pid: int) -> bytes:
    """A process's command line; empty if it has exited since it was listed."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""
