"""A sweep too large to inline, through the API in both modes (embedded: its pool and SQLite
store; cluster: Redis and a real ``gradsweep worker``), with a low GRADSWEEP_RESULTS_INLINE_MAX:
``/results`` carries the summary, the top settings and the links; ``/trials`` pages, in both
orders and by status, give run_sweep's trials; ``trials.ndjson`` and ``results.csv`` stream
them all; ``Client.trials`` iterates them lazily; bad parameters are 422s naming the field."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from harness import Cluster, cluster, wait_for_status

from optimizers import run_sweep
from optimizers.results import trial_value
from optimizers.spec import rank_key
from service.client import Client

SPEC: dict[str, Any] = {"name": "paged", "objective": "rosenbrock", "optimizer": "momentum",
                        "grid": {"lr": [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 3.0],
                                 "momentum": [0.0, 0.5, 0.8, 0.9, 0.95]},
                        "steps": 60, "seeds": 2, "record_every": 20}
HALVING = {**SPEC, "name": "paged and pruned", "steps": 90, "record_every": 10,
           "pruning": {"kind": "successive_halving", "min_steps": 10, "reduction": 3}}
INLINE_MAX = 20  # the sweeps have 60 trials


@pytest.fixture(scope="module", params=["embedded", "cluster"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp(request.param)
    with cluster(tmp, redis=request.param == "cluster", jobs=2, chunk_work=800,
                 results_inline_max=INLINE_MAX) as c:  # chunks of a few trials
        c.start_server()
        if request.param == "cluster":
            c.start_worker(concurrency=2)
        yield c


@pytest.fixture(scope="module")
def sweeps(api: Cluster) -> dict[str, str]:
    """The two sweeps, run to the end: name → id."""
    ids = {}
    with api.client() as client:
        for spec in (SPEC, HALVING):
            response = client.post("/v1/sweeps", json=spec)
            assert response.status_code == 202, response.text
            ids[spec["name"]] = response.json()["id"]
        for sweep_id in ids.values():
            assert wait_for_status(client, sweep_id, {"succeeded", "failed"}, 120)[
                "status"] == "succeeded"
    return ids


def rank(trial: dict[str, Any]) -> tuple[float, int]:
    value = trial_value(trial, "final_loss")  # type: ignore[arg-type]
    return (float("inf") if value is None else rank_key(value, "final_loss"), trial["index"])


def paged(client: Any, sweep_id: str, **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/v1/sweeps/{sweep_id}/trials", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next"] is None:
            return items
        cursor = page["next"]


@pytest.mark.integration
@pytest.mark.parametrize("name", ["paged", "paged and pruned"])
def test_a_sweep_over_the_inline_limit_pages_streams_and_summarises(
        api: Cluster, sweeps: dict[str, str], name: str) -> None:
    spec = SPEC if name == "paged" else HALVING
    expected = run_sweep(spec)
    sweep_id = sweeps[name]
    with api.client() as client:
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
        assert "trials" not in document and "settings" not in document
        assert document["best"] == expected["best"]
        assert document["top_settings"] == sorted(
            (s for s in expected["settings"] if s["score"] is not None),
            key=lambda s: (s["score"], s["index"]))
        assert document["links"] == {"trials": f"/v1/sweeps/{sweep_id}/trials",
                                     "ndjson": f"/v1/sweeps/{sweep_id}/trials.ndjson",
                                     "csv": f"/v1/sweeps/{sweep_id}/results.csv"}
        statuses: dict[str, int] = {}
        for t in expected["trials"]:
            statuses[t["status"]] = statuses.get(t["status"], 0) + 1
        assert document["summary"]["statuses"] == statuses
        assert document["summary"]["trial_steps"] == expected["summary"]["trial_steps"]
        for key in ("importance", "marginals", "by_optimizer"):
            assert document["summary"][key] == expected["summary"][key], key

        assert paged(client, sweep_id, limit=7) == expected["trials"]
        assert paged(client, sweep_id, limit=1000, order="score") == sorted(
            expected["trials"], key=rank)
        for status in statuses:
            assert paged(client, sweep_id, limit=4, status=status) == [
                t for t in expected["trials"] if t["status"] == status]
        top = client.get(f"/v1/sweeps/{sweep_id}/trials",
                         params={"order": "score", "limit": 3, "curves": "false"}).json()
        assert [t["index"] for t in top["items"]] == [
            t["index"] for t in sorted(expected["trials"], key=rank)[:3]]
        assert all("curve" not in t for t in top["items"])
        assert top["total"] == len(expected["trials"])

        stream = client.get(f"/v1/sweeps/{sweep_id}/trials.ndjson")
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "application/x-ndjson"
        assert [orjson.loads(line) for line in stream.content.splitlines()] == expected["trials"]
        rows = list(csv.DictReader(io.StringIO(
            client.get(f"/v1/sweeps/{sweep_id}/results.csv").text)))
        assert [int(r["index"]) for r in rows] == [t["index"] for t in expected["trials"]]
        assert [r["status"] for r in rows] == [t["status"] for t in expected["trials"]]

        # one trial by its index, with or without its curve
        last = expected["trials"][-1]
        assert client.get(f"/v1/sweeps/{sweep_id}/trials/{last['index']}").json() == last
        assert client.get(f"/v1/sweeps/{sweep_id}/trials/0", params={"curves": "false"}
                          ).json() == {k: v for k, v in expected["trials"][0].items() if k != "curve"}

    with Client(api.url) as client:
        assert client.trial(sweep_id, 3) == expected["trials"][3]
        assert list(client.trials(sweep_id, limit=9)) == expected["trials"]
        assert [t["index"] for t in client.trials(sweep_id, order="score", curves=False)] == [
            t["index"] for t in sorted(expected["trials"], key=rank)]
        results = client.results(sweep_id)
        assert results.trials is None and results.top_settings is not None
        buffer = io.BytesIO()
        assert client.download_trials(sweep_id, buffer) == len(expected["trials"])
        assert buffer.getvalue() == stream.content


@pytest.mark.integration
def test_bad_page_parameters_are_422s_naming_the_field(
        api: Cluster, sweeps: dict[str, str]) -> None:
    sweep_id = sweeps["paged"]
    with api.client() as client:
        cursor = client.get(f"/v1/sweeps/{sweep_id}/trials",
                            params={"order": "score", "limit": 2}).json()["next"]
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"limit": 0}, "limit", "greater than or equal to 1"),
            ({"limit": 1001}, "limit", "less than or equal to 1000"),
            ({"order": "best"}, "order", "'index' or 'score'"),
            ({"status": "exploded"}, "status", "'ok', 'diverged', 'pruned' or 'failed'"),
            ({"cursor": "garbage"}, "cursor", "not a cursor"),
            ({"cursor": cursor}, "cursor", "order=score"),
        ]
        for params, field, words in cases:
            response = client.get(f"/v1/sweeps/{sweep_id}/trials", params=params)
            assert response.status_code == 422, (params, response.text)
            details = response.json()["error"]["details"]
            assert any(d["field"] == field and words in d["message"] for d in details), details
        n_trials = client.get(f"/v1/sweeps/{sweep_id}").json()["progress"]["total"]
        beyond = client.get(f"/v1/sweeps/{sweep_id}/trials/{n_trials}")
        assert beyond.status_code == 404
        assert beyond.json()["error"]["details"] == [
            {"field": "index", "message": f"no saved trial {n_trials}"}]
        for index, words in (("-1", "greater than or equal to 0"), ("2147483648", "less than"),
                             ("first", "valid integer")):
            response = client.get(f"/v1/sweeps/{sweep_id}/trials/{index}")
            assert response.status_code == 422, response.text
            details = response.json()["error"]["details"]
            assert any(d["field"] == "index" and words in d["message"] for d in details), details
        missing = "0" * 32
        for path in ("trials", "trials.ndjson", "trials/0"):
            response = client.get(f"/v1/sweeps/{missing}/{path}")
            assert response.status_code == 404
            assert response.headers["content-type"].startswith("application/json")


@pytest.mark.integration
def test_cli_submit_wait_writes_every_trial_as_ndjson_or_the_summary(
        api: Cluster, tmp_path: Path) -> None:
    """``gradsweep submit --wait -o FILE.ndjson`` streams every trial into the file; ``-o
    FILE.json`` writes the (summary) document and says how to get the trials."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRADSWEEP_")},
           "COLUMNS": "200"}
    expected = run_sweep(SPEC)
    lines_file, document_file = tmp_path / "trials.ndjson", tmp_path / "results.json"
    for out in (lines_file, document_file):
        done = subprocess.run([sys.executable, "-m", "service.cli", "submit", "-", "--url",
                               api.url, "--wait", "-o", str(out)], input=orjson.dumps(SPEC),
                              env=env, capture_output=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        assert b"succeeded: 60/60 trials" in done.stdout
    assert [orjson.loads(line) for line in lines_file.read_bytes().splitlines()] == expected[
        "trials"]
    document = orjson.loads(document_file.read_bytes())
    assert "trials" not in document and document["best"] == expected["best"]
