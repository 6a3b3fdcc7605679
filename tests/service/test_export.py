"""``GET /v1/sweeps/{id}/results.csv`` (the app in-process, embedded mode)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import ServiceSettings

SPEC = {"objective": "beale", "optimizer": "adam",
        "grid": {"lr": [0.01, 1e5], "beta1": [0.8, 0.9], "eps": 1e-8}, "steps": 25, "seeds": 2}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(data_dir=tmp_path, jobs=1))) as test_client:
        yield test_client


def finished(client: TestClient, spec: dict[str, Any]) -> str:
    response = client.post("/v1/sweeps", json=spec)
    assert response.status_code == 202, response.text
    sweep_id: str = response.json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/sweeps/{sweep_id}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the sweep did not finish"
        time.sleep(0.05)
    return sweep_id


def number(cell: str) -> Any:
    return None if cell == "" else float(cell)


def test_rows_match_the_json_document(client: TestClient) -> None:
    sweep_id = finished(client, SPEC)
    response = client.get(f"/v1/sweeps/{sweep_id}/results.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{sweep_id}.csv"'
    document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == ["index", "seed", "optimizer", "lr", "beta1", "beta2", "eps",
                                 "weight_decay", "status",
                                 "final_loss", "min_loss", "mean_loss", "diverged_at", "pruned_at",
                                 "error"]
    rows = list(reader)
    assert len(rows) == len(document["trials"]) == 8
    statuses = set()
    for row, trial in zip(rows, document["trials"], strict=True):
        assert int(row["index"]) == trial["index"] and int(row["seed"]) == trial["seed"]
        assert {k: float(row[k]) for k in trial["params"]} == trial["params"]  # exact
        assert row["status"] == trial["status"]
        for key in ("final_loss", "min_loss", "mean_loss"):
            assert number(row[key]) == trial[key]  # repr precision: the same float
        assert (int(row["diverged_at"]) if row["diverged_at"] else None) == trial["diverged_at"]
        assert (row["error"] or None) == trial["error"]
        statuses.add(row["status"])
    assert statuses == {"ok", "diverged"}  # lr = 1e5 diverges: empty cells for its nulls
    diverged = next(r for r in rows if r["status"] == "diverged")
    assert diverged["final_loss"] == "" and diverged["diverged_at"] != ""


def test_an_error_message_with_commas_and_quotes_round_trips() -> None:
    from service.routes.export import results_csv

    document = {"spec": {"grid": {"lr": 0.1}}, "trials": [
        {"index": 0, "seed": 3, "params": {"lr": 0.1}, "optimizer": "sgd", "status": "failed",
         "final_loss": None,
         "min_loss": None, "mean_loss": None, "diverged_at": None,
         "error": 'ValueError: "x", then\nmore'}]}
    (row,) = csv.DictReader(io.StringIO(results_csv(document)))
    assert row["error"] == 'ValueError: "x", then\nmore'
    assert row["lr"] == "0.1" and row["final_loss"] == ""


def test_unknown_id_is_404_and_malformed_id_422(client: TestClient) -> None:
    response = client.get(f"/v1/sweeps/{'0' * 32}/results.csv")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = client.get("/v1/sweeps/not-an-id/results.csv")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_openapi_documents_the_csv_media_type(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/sweeps/{sweep_id}/results.csv"]
    content = operation["get"]["responses"]["200"]["content"]
    assert "text/csv" in content
