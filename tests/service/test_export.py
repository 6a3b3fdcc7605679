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
    assert reader.fieldnames == ["index", "seed", "lr", "beta1", "beta2", "eps", "status",
                                 "final_loss", "min_loss", "mean_loss", "diverged_at", "error"]
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
        {"index": 0, "seed": 3, "params": {"lr": 0.1}, "status": "failed", "final_loss": None,
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


def _stored_sweep(tmp_path: Path) -> tuple[Any, Any, Any]:
    """A SQLite store with a running sweep of SPEC (8 trials, 4 chunks of 2): chunks 0 and 1 run,
    chunk 2 failed with a message that needs quoting, chunk 3 not saved yet."""
    from optimizers import Limits, SweepStatus, parse_spec, run_chunk
    from optimizers.results import failed_records
    from workers.jobs import chunk_range
    from workers.store import SweepRecord
    from workers.store_sqlite import SQLiteStore

    spec = parse_spec(SPEC, Limits())
    record = SweepRecord(id="a" * 32, name="x", status=SweepStatus.RUNNING,
                         spec=spec.model_dump(mode="json"), total=spec.n_trials, done=0,
                         n_chunks=4, chunks_done=0, created_at=1.0)
    store = SQLiteStore(tmp_path / "sweeps.sqlite3")
    store.create(record)
    for chunk in (2, 1, 0):
        start, stop = chunk_range(record, chunk)
        records = (failed_records(spec.trials(start, stop), 'ValueError: "x", then\nmore')
                   if chunk == 2 else run_chunk(spec, start, stop))
        store.save_chunk(record.id, chunk, records)
    return spec, record, store


def test_csv_rows_from_the_score_summaries_are_the_documents_csv(tmp_path: Path) -> None:
    from optimizers import assemble
    from service.routes.export import csv_chunks, results_csv
    from workers.jobs import csv_rows

    spec, record, store = _stored_sweep(tmp_path)
    document = assemble(spec, store.records(record.id), status="running")
    assert {t["status"] for t in document["trials"]} == {"ok", "diverged", "failed"}
    for batch in (1, 2, 64):
        text = "".join(csv_chunks(list(spec.grid), csv_rows(store, record, batch_chunks=batch)))
        assert text == results_csv(document)
    store.close()


def test_summaries_saved_before_diverged_at_and_error_give_empty_cells(tmp_path: Path) -> None:
    import sqlite3

    import orjson

    from service.routes.export import csv_chunks
    from workers.jobs import csv_rows

    spec, record, store = _stored_sweep(tmp_path)
    old_keys = ("index", "status", "final_loss", "min_loss", "mean_loss")
    with sqlite3.connect(store.path) as db:
        for chunk, blob in db.execute("SELECT chunk, scores FROM chunks").fetchall():
            old = [{k: s[k] for k in old_keys} for s in orjson.loads(blob)]
            db.execute("UPDATE chunks SET scores = ? WHERE chunk = ?", (orjson.dumps(old), chunk))
    rows = list(csv.DictReader(io.StringIO(
        "".join(csv_chunks(list(spec.grid), csv_rows(store, record))))))
    assert [int(r["index"]) for r in rows] == list(range(6))
    assert {r["status"] for r in rows} == {"ok", "diverged", "failed"}
    assert all(r["diverged_at"] == "" and r["error"] == "" for r in rows)
    store.close()
