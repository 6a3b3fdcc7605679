"""Status and list views cost the same at 1 trial and at 100,000, against a real ``gradsweep
serve`` in both modes (embedded: SQLite and the local pool; cluster: Redis and a real worker).

Two kinds of large sweep: WIDE has 100,000 grid points of one seed (the best point has to be
found among many), DEEP one grid point of 100,000 seeds (the best point has 100,000 trials). A
view of either is as small and as quick as a view of a 1-trial sweep, a list page of 20 of them
is small, an SSE event is small, and viewing all of them leaves the API's memory where it was —
the store keeps the best point, the API keeps nothing per sweep but a byte-bounded spec cache.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Cluster, cluster, wait_until

BASE = {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd", "steps": 1,
        "record_every": 1}
TINY = {**BASE, "name": "tiny", "grid": {"lr": 0.1}}
WIDE = {**BASE, "name": "wide", "grid": {"lr": [round(1e-5 * (i + 1), 5) for i in range(100_000)]}}
DEEP = {**BASE, "name": "deep", "grid": {"lr": 0.1}, "seeds": 100_000}
N_EACH = 4  # WIDE and DEEP sweeps each: 8 large sweeps (before: ~78 MB of API memory each)
VIEW_BYTES = 2048
RSS_GROWTH_BOUND = 200 * 2**20  # before: 1.72 GB after viewing 22 sweeps like WIDE
COST_FACTOR = 5.0
REQUESTS = 20


@pytest.fixture(params=["embedded", "cluster"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    redis = request.param == "cluster"
    with cluster(tmp_path, redis=redis, jobs=1, max_body_bytes=4 * 2**20) as c:
        c.start_server()
        if redis:
            c.start_worker(concurrency=1)
        yield c


def rss(c: Cluster) -> int:
    """The resident memory of the ``gradsweep serve`` process, in bytes."""
    assert c.server is not None
    status = Path(f"/proc/{c.server.popen.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def submit(client: httpx.Client, spec: dict[str, Any]) -> str:
    response = client.post("/v1/sweeps", json=spec)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_succeeded(c: Cluster, client: httpx.Client, ids: list[str]) -> None:
    def done() -> bool:
        views = [client.get(f"/v1/sweeps/{i}").json() for i in ids]
        assert not [v for v in views if v["status"] in ("failed", "cancelled")], views
        return all(v["status"] == "succeeded" for v in views)
    wait_until(done, 900, f"{len(ids)} sweeps to succeed", c.server, interval=1.0)


def first_event(c: Cluster, sweep_id: str) -> tuple[str, str]:
    """The first event of the sweep's event stream: (event name, its data line)."""
    with httpx.Client(base_url=c.url, timeout=httpx.Timeout(60, read=30)) as client, \
            client.stream("GET", f"/v1/sweeps/{sweep_id}/events") as response:
        assert response.status_code == 200
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                return event, line.partition(":")[2].strip()
    raise AssertionError("the stream ended without an event")


def median_seconds(client: httpx.Client, path: str) -> float:
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_views_cost_the_same_at_any_sweep_size(served: Cluster) -> None:
    with served.client() as client:
        tiny = submit(client, TINY)
        wait_succeeded(served, client, [tiny])
        for _ in range(REQUESTS):
            client.get(f"/v1/sweeps/{tiny}")
        baseline = rss(served)

        wide = [submit(client, WIDE) for _ in range(N_EACH)]
        deep = [submit(client, DEEP) for _ in range(N_EACH)]
        wait_succeeded(served, client, wide + deep)

        # every view of a large sweep is small, and names the same best as its results
        for sweep_id, kind in [*((i, "wide") for i in wide), *((i, "deep") for i in deep)]:
            response = client.get(f"/v1/sweeps/{sweep_id}")
            assert response.status_code == 200 and len(response.content) < VIEW_BYTES, (
                kind, len(response.content))
            best = response.json()["best"]
            assert best is not None and len(best["trials"]) <= 10
            assert best["n_trials"] == (100_000 if kind == "deep" else 1)
        results = client.get(f"/v1/sweeps/{deep[0]}/results").json()["best"]
        view = client.get(f"/v1/sweeps/{deep[0]}").json()["best"]
        assert results["n_trials"] == len(results["trials"]) == 100_000
        assert view == {**results, "trials": results["trials"][:10]}
        results = client.get(f"/v1/sweeps/{wide[0]}/results").json()["best"]
        assert client.get(f"/v1/sweeps/{wide[0]}").json()["best"] == results

        page = client.get("/v1/sweeps", params={"limit": 20})
        assert page.status_code == 200 and len(page.json()["items"]) == 2 * N_EACH + 1
        assert len(page.content) < 20 * VIEW_BYTES, len(page.content)

        for sweep_id in (wide[0], deep[0]):
            event, data = first_event(served, sweep_id)
            assert event == "progress" and len(data) < VIEW_BYTES, len(data)
            assert json.loads(data)["best"]["n_trials"] in (1, 100_000)

        # a status view of a large sweep costs about what a 1-trial sweep's does
        medians = {name: median_seconds(client, f"/v1/sweeps/{sweep_id}")
                   for name, sweep_id in (("tiny", tiny), ("wide", wide[1]), ("deep", deep[1]),
                                          ("tiny again", tiny))}
        cheapest = min(medians["tiny"], medians["tiny again"])
        for name in ("wide", "deep"):
            assert medians[name] <= COST_FACTOR * cheapest, medians
        assert median_seconds(client, "/v1/sweeps?limit=20") <= COST_FACTOR * 20 * cheapest

        # viewing every large sweep again grows nothing per sweep in the API
        for _ in range(3):
            for sweep_id in wide + deep:
                assert client.get(f"/v1/sweeps/{sweep_id}").status_code == 200
            assert client.get("/v1/sweeps", params={"limit": 20}).status_code == 200
        growth = rss(served) - baseline
        assert growth < RSS_GROWTH_BOUND, f"the API grew by {growth / 2**20:.0f} MB"
