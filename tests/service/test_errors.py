"""Every endpoint's error shape and status codes (the app in-process, embedded mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import ServiceSettings

GOOD = {"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": [0.01, 0.1]},
        "steps": 20}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(data_dir=tmp_path, jobs=1, max_trials=50, max_body_bytes=4096,
                               page_size_max=10)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def assert_error(response: Any, status: int, code: str, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == status and error["code"] == code
    text = error["message"] + " ".join(d["field"] + ": " + d["message"] for d in error["details"])
    for fragment in fragments:
        assert fragment in text, text
    return error


def test_post_returns_202_with_location_and_a_status_view(client: TestClient) -> None:
    response = client.post("/v1/sweeps", json=GOOD)
    assert response.status_code == 202
    view = response.json()
    assert response.headers["location"] == f"/v1/sweeps/{view['id']}"
    assert view["status"] in ("queued", "running", "succeeded")
    assert view["progress"]["total"] == 2
    assert view["optimizer"] == "adam" and view["objective"] == "rosenbrock"


@pytest.mark.parametrize(("body", "fragments"), [
    ({**GOOD, "optimizer": "adamx"}, ("optimizer", "valid choices: sgd, momentum")),
    ({**GOOD, "grid": {"lr": 0.1, "beta3": 1.0}}, ("grid", "'beta3'", "lr, beta1, beta2, eps")),
    ({**GOOD, "steps": 1.5}, ("steps", "valid integer")),
    ({**GOOD, "steps": 0}, ("steps", "greater than or equal to 1")),
    ({**GOOD, "grid": {"lr": "0.1"}}, ("grid.lr", "valid number")),
    ({**GOOD, "metric": "best"}, ("metric", "'final_loss', 'min_loss', 'mean_loss', 'final_val_loss', 'min_val_loss', 'final_val_accuracy' or 'max_val_accuracy'")),
    ({**GOOD, "extra": 1}, ("extra", "Extra inputs are not permitted")),
    ({**GOOD, "seeds": 100}, ("over the limit max_trials = 50",)),
    ({"optimizer": "adam", "grid": {"lr": 0.1}}, ("objective", "Field required")),
])
def test_bad_spec_is_422_naming_the_field(client: TestClient, body: dict[str, Any],
                                          fragments: tuple[str, ...]) -> None:
    assert_error(client.post("/v1/sweeps", json=body), 422, "invalid_request", *fragments)


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/sweeps", content=b'{"objective": ',
                           headers={"content-type": "application/json"})
    assert_error(response, 422, "invalid_request", "JSON")


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    body = {**GOOD, "name": "x" * 5000}
    assert_error(client.post("/v1/sweeps", json=body), 413, "payload_too_large", "4096 bytes")


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    missing = "0" * 32
    assert_error(client.get(f"/v1/sweeps/{missing}"), 404, "not_found", missing)
    assert_error(client.get(f"/v1/sweeps/{missing}/results"), 404, "not_found")
    assert_error(client.delete(f"/v1/sweeps/{missing}"), 404, "not_found")
    assert_error(client.get("/v1/sweeps/not-an-id"), 422, "invalid_request", "sweep_id")
    assert_error(client.get("/v1/sweeps/" + "a" * 300), 422, "invalid_request", "sweep_id")
    assert_error(client.get("/v1/sweeps/..%2F..%2Fetc%2Fpasswd"), 404, "not_found")


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert_error(client.get("/v2/nothing"), 404, "not_found")
    assert_error(client.put("/v1/sweeps"), 405, "method_not_allowed")
    assert_error(client.post("/healthz"), 405, "method_not_allowed")


def test_list_parameters_are_validated(client: TestClient) -> None:
    assert_error(client.get("/v1/sweeps", params={"status": "done"}), 422, "invalid_request",
                 "status", "'queued'")
    assert_error(client.get("/v1/sweeps", params={"limit": 0}), 422, "invalid_request", "limit")
    assert_error(client.get("/v1/sweeps", params={"limit": 11}), 422, "invalid_request",
                 "at most 10")
    assert_error(client.get("/v1/sweeps", params={"offset": -1}), 422, "invalid_request",
                 "offset")


def test_cancelling_a_finished_sweep_is_409(client: TestClient) -> None:
    sweep_id = client.post("/v1/sweeps", json=GOOD).json()["id"]
    for _ in range(400):
        if client.get(f"/v1/sweeps/{sweep_id}").json()["status"] == "succeeded":
            break
        import time
        time.sleep(0.05)
    assert_error(client.delete(f"/v1/sweeps/{sweep_id}"), 409, "conflict", "succeeded")


def test_finished_sweeps_past_retention_are_deleted(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, jobs=1, retention_days=1e-5)  # 0.864 s
    with TestClient(create_app(settings)) as client:
        sweep_id = client.post("/v1/sweeps", json=GOOD).json()["id"]
        import time
        deadline = time.monotonic() + 30
        while client.get(f"/v1/sweeps/{sweep_id}").status_code == 200:
            assert time.monotonic() < deadline, "the finished sweep was never deleted"
            time.sleep(0.1)
        assert_error(client.get(f"/v1/sweeps/{sweep_id}"), 404, "not_found")


@pytest.mark.parametrize(("body", "content_type", "status", "fragment"), [
    (b'{"objective": "sphere"}', "text/plain", 415, "application/json"),
    (b"objective=sphere", "application/x-www-form-urlencoded", 415, "application/json"),
    (b"[" * 2000 + b"]" * 2000, "application/json", 422, "not valid JSON"),
    (b'{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": NaN}}', "application/json",
     422, "not valid JSON"),
    (b'{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": Infinity}}',
     "application/json", 422, "not valid JSON"),
    (b"[1, 2, 3]", "application/json", 422, "valid dictionary"),
])
def test_bodies_that_are_not_a_json_object_are_refused(
        client: TestClient, body: bytes, content_type: str, status: int, fragment: str) -> None:
    response = client.post("/v1/sweeps", content=body, headers={"content-type": content_type})
    assert_error(response, status, response.json()["error"]["code"], fragment)


def test_api_keys_guard_v1_but_not_health(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, jobs=1, api_keys="k1,k2")  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        assert_error(client.get("/v1/sweeps"), 401, "unauthorized", "Bearer")
        wrong = client.get("/v1/optimizers", headers={"authorization": "Bearer nope"})
        assert_error(wrong, 401, "unauthorized")
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/v1/sweeps", headers={"authorization": "Bearer k2"}).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_a_full_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, jobs=1, max_pending_chunks=1)
    with TestClient(create_app(settings)) as client:
        slow = {"objective": {"name": "sphere", "dim": 100}, "optimizer": "sgd",
                "grid": {"lr": 0.01}, "steps": 1_000_000}  # one chunk, seconds of work
        first = client.post("/v1/sweeps", json=slow)
        assert first.status_code == 202
        refused = client.post("/v1/sweeps", json=GOOD)
        assert_error(refused, 429, "too_many_requests", "chunks are waiting")
        assert refused.headers["retry-after"] == "5"
        client.delete(f"/v1/sweeps/{first.json()['id']}")


def test_the_drawn_error_tree_is_the_classes() -> None:
    """errors.py's docstring draws the tree; every class in it exists with that status and code,
    and every error class is drawn."""
    import re

    from service import errors

    drawn = {name: (int(status), code) for name, status, code in re.findall(
        r"[├└]── (\w+)\s+(\d{3})\s+(\w+)", errors.__doc__ or "")}
    assert drawn == {cls.__name__: (cls.status, cls.code)
                     for cls in errors.ERROR_CLASSES.values()}
    assert all(getattr(errors, name).status == status for name, (status, _) in drawn.items())
