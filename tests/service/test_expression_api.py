"""An ``expression`` sweep through the API (the app in-process, embedded mode): a bad formula is
a 422 naming ``objective.expr`` and the position, at once; a good one runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from optimizers import run_sweep
from service.app import create_app
from service.settings import ServiceSettings

SPEC = {"objective": {"name": "expression", "expr": "(1 - x0)**2 + 100*(x1 - x0**2)**2",
                      "dim": 2}, "optimizer": "adam", "grid": {"lr": [0.01, 0.1]},
        "init": [-1.5, 2.0], "steps": 200}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(data_dir=tmp_path, jobs=1))) as test_client:
        yield test_client


@pytest.mark.parametrize(("expr", "message"), [
    ("__import__('os').system('id')", "position 0: unknown name '__import__'"),
    ("x0.__class__", "position 2: unexpected character '.'"),
    ("(" * 4_000 + "x0" + ")" * 4_000, "position 100: nested more than 100 levels"),
    ("x0+" * 3_334 + "x0", "at most 10000 characters"),
    ("9**9**9**9 + x9", "position 13: variable x9 is not one of x0 … x1"),
])
def test_a_bad_formula_is_a_422_naming_the_field_and_the_position(
        client: TestClient, expr: str, message: str) -> None:
    started = time.perf_counter()
    response = client.post("/v1/sweeps", json={**SPEC, "objective": {**SPEC["objective"],
                                                                      "expr": expr}})
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "objective.expr" and message in detail["message"]


def test_a_formula_sweep_runs_and_gives_the_engines_numbers(client: TestClient) -> None:
    response = client.post("/v1/sweeps", json=SPEC)
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/sweeps/{sweep_id}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    expected = run_sweep(SPEC)
    assert document["trials"] == expected["trials"] and document["best"] == expected["best"]


def test_the_catalogue_lists_the_expression_objective(client: TestClient) -> None:
    entry = {e["name"]: e for e in client.get("/v1/objectives").json()}["expression"]
    assert [p["name"] for p in entry["parameters"]] == ["dim", "expr"]
    assert {p["name"]: p["required"] for p in entry["parameters"]} == {"dim": False, "expr": True}
