"""Uploaded datasets over HTTP against real processes, in both modes: a real ``gradsweep serve``
(embedded: its pool and SQLite store; cluster: Redis and real ``gradsweep worker`` processes).
An upload, then an MLP sweep on it, gives the engine's numbers to the last digit; hostile
uploads are a 4xx naming the row or column and leave nothing behind; a dataset in use is not
deleted; a local path is refused; ``gradsweep upload`` and ``gradsweep run`` with a path work."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from harness import Cluster, cluster, wait_for_status

from optimizers import parse_spec, run_sweep
from workers.datasets import FileDatasets

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(0)
X = RNG.standard_normal((240, 4))
Y = (X[:, 0] * X[:, 1] + 0.3 * X[:, 2] > 0).astype(int)
CSV = ("f0,f1,f2,f3,label\n" + "".join(
    ",".join(repr(float(v)) for v in row) + f",{label}\n" for row, label in zip(X, Y, strict=True))
    ).encode()

def mlp_spec(dataset: Any) -> dict[str, Any]:
    return {"name": "mlp on an upload",
            "objective": {"name": "mlp", "dataset": dataset, "hidden": [8], "batch_size": 32,
                          "validation": 0.25},
            "optimizer": "adam", "grid": {"lr": [0.003, 0.01, 0.03, 0.1]}, "seeds": 2,
            "steps": 200, "record_every": 20, "metric": "max_val_accuracy"}

@pytest.fixture(params=["embedded", "cluster"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A running API (and, in cluster mode, one worker with two processes), small chunks so
    that the sweep spreads over them, and a small upload limit."""
    with cluster(tmp_path, redis=request.param == "cluster", jobs=2, chunk_work=2e5,
                 max_dataset_bytes=200_000) as c:
        c.start_server()
        if request.param == "cluster":
            c.start_worker(concurrency=2)
        yield c

def upload(client: httpx.Client, body: bytes, **params: str) -> httpx.Response:
    return client.post("/v1/datasets", content=body, params=params,
                       headers={"content-type": "text/csv"})

def test_an_upload_then_an_mlp_sweep_gives_the_engines_numbers(api: Cluster,
                                                                tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_bytes(CSV)
    local = parse_spec(mlp_spec({"path": "data.csv", "target": "label"}),
                       datasets=FileDatasets(tmp_path))
    expected = run_sweep(local)
    with api.client() as client:
        created = upload(client, CSV, target="label")
        assert created.status_code == 201, created.text
        meta = created.json()
        assert {k: meta[k] for k in ("rows", "features", "task", "classes")} == {
            "rows": 240, "features": 4, "task": "classification", "classes": 2}
        assert created.headers["location"] == f"/v1/datasets/{meta['id']}"
        again = upload(client, CSV, target="label")
        assert again.status_code == 200 and again.json() == meta  # content-addressed
        assert client.get("/v1/datasets").json() == {"items": [meta]}
        assert client.get(f"/v1/datasets/{meta['id']}").json() == meta

        response = client.post("/v1/sweeps", json=mlp_spec({"id": meta["id"]}))
        assert response.status_code == 202, response.text
        sweep_id = response.json()["id"]
        view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 120)
        assert view["status"] == "succeeded"
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
        csv_text = client.get(f"/v1/sweeps/{sweep_id}/results.csv").text
    assert document["trials"] == expected["trials"]  # every curve, to the last digit
    assert document["best"] == expected["best"] == view["best"]
    assert document["best"]["score"] == max(s["score"] for s in document["settings"])
    assert "val_accuracy" in document["trials"][0]["curve"]
    header = csv_text.splitlines()[0].split(",")
    assert header[-7:] == ["final_val_loss", "min_val_loss", "final_val_accuracy",
                           "max_val_accuracy", "diverged_at", "pruned_at", "error"]

def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()

HOSTILE: list[tuple[str, bytes, dict[str, str], int, str, str]] = [
    ("nan cell", b"a,label\n1,0\nnan,1\n", {"target": "label"}, 422, "body",
     "row 2, column 'a': 'nan' is not a finite number"),
    ("text cell", b"a,label\n1,0\nabc,1\n", {"target": "label"}, 422, "body",
     "row 2, column 'a': 'abc' is not a number"),
    ("ragged", b"a,label\n1,0\n2,1,5\n", {"target": "label"}, 422, "body",
     "row 2 has 3 cells but the header has 2"),
    ("unknown target", CSV, {"target": "y"}, 422, "target", "unknown target column 'y'"),
    ("no target", CSV, {}, 422, "target", "needs ?target=<column>"),
    ("one class", b"a,label\n1,4\n2,4\n3,4\n", {"target": "label"}, 422, "body",
     "the target has a single class (4)"),
    ("empty", b"", {"target": "label"}, 422, "body", "the CSV is empty"),
    ("object array", npz(X=np.array([[1], [2]], dtype=object), y=np.array([0, 1])), {}, 422,
     "body", "object array"),
    ("npz without y", npz(X=np.ones((3, 2))), {}, 422, "body", "the NPZ has no array 'y'"),
    ("over the limit", b"a,label\n" + b"1,0\n" * 60_000, {"target": "label"}, 413, "",
     "GRADSWEEP_MAX_DATASET_BYTES"),
    ("bad task", CSV, {"target": "label", "task": "ranking"}, 422, "task", "classification"),
]

def test_hostile_uploads_are_a_4xx_naming_the_row_or_column_and_leave_nothing(
        api: Cluster) -> None:
    with api.client() as client:
        for name, body, params, status, field, fragment in HOSTILE:
            started = time.perf_counter()
            response = upload(client, body, **params)
            elapsed = time.perf_counter() - started
            assert response.status_code == status, (name, response.text)
            error = response.json()["error"]
            text = error["message"] + " ".join(d["message"] for d in error["details"])
            assert fragment in text, (name, text)
            if field:
                assert any(d["field"].endswith(field) for d in error["details"]), (name, error)
            assert elapsed < 5, (name, elapsed)  # a hang is a failure, not a speed target
        assert client.get("/v1/datasets").json() == {"items": []}
        assert client.get("/healthz").status_code == 200

def test_a_dataset_in_use_is_kept_and_a_local_path_is_refused(api: Cluster) -> None:
    long = {**mlp_spec(None), "steps": 5000, "record_every": 500, "seeds": 4}
    with api.client() as client:
        dataset_id = upload(client, CSV, target="label").json()["id"]
        sweep_id = client.post("/v1/sweeps", json={**long, "objective": {
            **long["objective"], "dataset": {"id": dataset_id}}}).json()["id"]
        refused = client.delete(f"/v1/datasets/{dataset_id}")
        assert refused.status_code == 409 and sweep_id in refused.json()["error"]["message"]
        assert client.delete(f"/v1/sweeps/{sweep_id}").status_code == 200
        assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 200
        assert client.get(f"/v1/datasets/{dataset_id}").status_code == 404
        assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 404
        gone = client.post("/v1/sweeps", json=mlp_spec({"id": dataset_id}))
        assert gone.status_code == 422 and f"no dataset {dataset_id}" in gone.text
        path = client.post("/v1/sweeps", json=mlp_spec({"path": "/etc/passwd", "target": "x"}))
        assert path.status_code == 422
        assert "a local file (path) is for gradsweep run only" in path.text
        assert client.get("/v1/datasets/" + "z" * 64).status_code == 422  # not an id

def gradsweep(*args: str, env: dict[str, str] | None = None,
              cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True,
                          check=False, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})

def test_gradsweep_upload_and_run_on_a_local_file(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_bytes(CSV)
    spec = mlp_spec({"path": "data.csv", "target": "label"})
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    ran = gradsweep("run", str(tmp_path / "spec.json"), "-q", "--chunk-size", "2", "-o",
                    str(tmp_path / "out.json"))  # 4 chunks on the pool: its processes read it
    assert ran.returncode == 0, ran.stderr
    document = json.loads((tmp_path / "out.json").read_text())
    expected = run_sweep(parse_spec(spec, datasets=FileDatasets(tmp_path)))
    assert document["trials"] == expected["trials"]
    assert document["spec"]["objective"]["dataset"] == {"path": "data.csv", "target": "label",
                                                        "task": None}
    assert "max_val_accuracy (higher is better)" in ran.stdout
    with cluster(tmp_path, redis=False, jobs=1) as c:
        c.start_server()
        uploaded = gradsweep("upload", str(tmp_path / "data.csv"), "--target", "label",
                             "--url", c.url)
        assert uploaded.returncode == 0, uploaded.stderr
        assert "240 rows × 4 features, classification, 2 classes" in uploaded.stderr
        with c.client() as client:
            assert client.get("/v1/datasets").json()["items"][0]["id"] == uploaded.stdout.strip()
        refused = gradsweep("upload", str(tmp_path / "data.csv"), "--target", "nope",
                            "--url", c.url)
        assert refused.returncode == 2
        assert "invalid dataset: target: unknown target column 'nope'" in refused.stderr
