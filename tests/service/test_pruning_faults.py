"""Early stopping under faults, with real processes (``gradsweep serve``, ``gradsweep worker``,
Redis): a worker SIGKILLed while it runs a stage after a rung, Redis SIGKILLed and started again
between rungs, the API restarted at a rung boundary (both modes) — every time the sweep ends
with the numbers of ``run_sweep``, each trial once, and each rung promoted once."""

from __future__ import annotations

import signal
import time
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import cluster, private_redis, wait_for_status, wait_until

from optimizers import run_sweep

# 24 trials of 20,000 steps at dim 1,000, one trial a chunk: rungs at 2,000, 6,000 and 18,000
# steps; stage 0 is 24 chunks of ~0.2 s, the stage after the first rung 8 chunks of ~0.4 s.
SPEC: dict[str, Any] = {
    "name": "halving under faults", "objective": {"name": "rastrigin", "dim": 1000},
    "optimizer": "adam", "grid": {"lr": [1e-3 * 1.5**i for i in range(12)]}, "seeds": 2,
    "steps": 20000, "record_every": 500,
    "init": {"distribution": "normal", "scale": 0.5},
    "pruning": {"kind": "successive_halving", "min_steps": 2000, "reduction": 3},
}
SETTINGS: dict[str, Any] = {"chunk_work": 4e6, "worker_timeout": 3, "heartbeat_seconds": 0.5,
                            "stuck_seconds": 30}
N_TRIALS = 24


@cache
def _expected() -> dict[str, Any]:
    return run_sweep(SPEC)


def submit(client: httpx.Client) -> str:
    response = client.post("/v1/sweeps", json=SPEC)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def past_first_rung(client: httpx.Client, sweep_id: str) -> bool:
    """The first rung is promoted: its pruned trials are done (no trial ends before it)."""
    return bool(client.get(f"/v1/sweeps/{sweep_id}").json()["progress"]["done"] > 0)


def assert_exact(client: httpx.Client, sweep_id: str) -> None:
    view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 180)
    assert view["status"] == "succeeded", view
    document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    expected = _expected()
    assert [t["index"] for t in document["trials"]] == list(range(N_TRIALS))
    assert document["trials"] == expected["trials"]  # every number, to the last bit
    assert document["summary"] == expected["summary"]
    assert view["progress"] == {"done": N_TRIALS, "total": N_TRIALS}
    assert view["trial_steps"] == expected["summary"]["trial_steps"]  # each chunk counted once


@pytest.mark.integration
def test_a_worker_killed_in_the_stage_after_a_rung_loses_nothing(tmp_path: Path) -> None:
    with cluster(tmp_path, redis=True, **SETTINGS) as c:
        c.start_server()
        doomed = c.start_worker(concurrency=1)
        with c.client() as client:
            sweep_id = submit(client)
            wait_until(lambda: past_first_rung(client, sweep_id), 120, "the first rung", doomed,
                       interval=0.02)
            time.sleep(0.2)  # into a chunk of the next stage, resumed from checkpoints
            doomed.stop(signal.SIGKILL)  # the whole worker: its chunk's lease must expire
            c.start_worker(concurrency=2)
            assert_exact(client, sweep_id)


@pytest.mark.integration
def test_redis_killed_and_restarted_between_rungs_loses_nothing(tmp_path: Path) -> None:
    with private_redis(tmp_path) as redis_server, \
            cluster(tmp_path, redis=True, redis_url=redis_server.url, **SETTINGS) as c:
        c.start_server()
        worker = c.start_worker(concurrency=2)
        with c.client() as client:
            sweep_id = submit(client)
            wait_until(lambda: past_first_rung(client, sweep_id), 120, "the first rung", worker,
                       interval=0.02)
            redis_server.kill()  # the plans, checkpoints and counters are in its AOF
            time.sleep(2)
            redis_server.start()
            assert_exact(client, sweep_id)


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["embedded", "cluster"])
def test_the_api_killed_at_a_rung_and_started_again_loses_nothing(tmp_path: Path,
                                                                   mode: str) -> None:
    with cluster(tmp_path, redis=mode == "cluster", jobs=2, **SETTINGS) as c:
        server = c.start_server()
        process = c.start_worker(concurrency=2) if mode == "cluster" else server
        with c.client() as client:
            sweep_id = submit(client)
            wait_until(lambda: past_first_rung(client, sweep_id), 120, "the first rung",
                       process, interval=0.02)
            server.stop(signal.SIGKILL)  # embedded: its pool and queue die with it
        c.start_server()  # embedded: resumes the sweep from its store
        with c.client() as client:
            assert_exact(client, sweep_id)
