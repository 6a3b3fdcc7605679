"""GET /v1/sweeps/{id}/events: server-sent progress against a real ``gradsweep serve``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Cluster, cluster, wait_for_status

SPEC = {"name": "sse", "objective": {"name": "rosenbrock", "dim": 2}, "optimizer": "adam",
        "grid": {"lr": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]}, "seeds": 4, "steps": 3000}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Cluster]:
    with cluster(tmp_path, redis=False, jobs=2, chunk_work=20_000) as c:
        c.start_server()
        yield c


def read_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) for each event of a text/event-stream (comments and pings skipped)."""
    event = "message"
    data: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


def stream(c: Cluster, sweep_id: str) -> list[tuple[str, dict[str, Any]]]:
    with httpx.Client(base_url=c.url, timeout=httpx.Timeout(60, read=30)) as client, \
            client.stream("GET", f"/v1/sweeps/{sweep_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [(event, json.loads(data)) for event, data in read_events(response)]


def test_events_stream_progress_until_the_end(server: Cluster) -> None:
    with server.client() as client:
        created = client.post("/v1/sweeps", json=SPEC)
        assert created.status_code == 202, created.text
        sweep_id = created.json()["id"]
    events = stream(server, sweep_id)

    names = [name for name, _ in events]
    assert names[-1] == "end" and names.count("end") == 1
    assert set(names[:-1]) == {"progress"} and len(names) >= 2
    views = [view for _, view in events]
    assert all(view["id"] == sweep_id for view in views)
    done = [view["progress"]["done"] for view in views]
    assert done == sorted(done), done  # monotone
    assert done[-1] == views[-1]["progress"]["total"] == 24
    assert views[-1]["status"] == "succeeded" and views[-1]["best"] is not None
    # every progress event is a change of (done, status)
    changes = [(v["progress"]["done"], v["status"]) for _, v in events[:-1]]
    assert len(changes) == len(set(changes))


def test_events_of_a_finished_sweep_end_at_once(server: Cluster) -> None:
    with server.client() as client:
        sweep_id = client.post("/v1/sweeps", json={**SPEC, "steps": 10, "seeds": 1}).json()["id"]
        wait_for_status(client, sweep_id, {"succeeded"})
    events = stream(server, sweep_id)
    assert [name for name, _ in events] == ["progress", "end"]
    assert events[-1][1]["status"] == "succeeded"


def test_events_of_a_cancelled_sweep_end_with_cancelled(server: Cluster) -> None:
    with server.client() as client:
        sweep_id = client.post("/v1/sweeps", json={**SPEC, "steps": 200_000}).json()["id"]
        assert client.delete(f"/v1/sweeps/{sweep_id}").status_code == 200
    events = stream(server, sweep_id)
    assert events[-1][0] == "end" and events[-1][1]["status"] == "cancelled"


def test_events_of_an_unknown_sweep_is_a_json_404(server: Cluster) -> None:
    with server.client() as client:
        response = client.get("/v1/sweeps/" + "0" * 32 + "/events")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["code"] == "not_found"
        bad = client.get("/v1/sweeps/not-an-id/events")
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
