"""Hostile and malformed input: every case is a prompt 4xx in the error shape, never a 5xx or a hang.

One table (``CASES``) of requests against the app in-process (embedded mode, tight limits), each
with the status, the error code and the fragments its message or details must contain (the field,
and the valid choices where there are some), answered within ``FAST`` seconds. Then what the
in-process client cannot send, against a real ``gradsweep serve`` over raw sockets: a body that
trickles in, bodies shorter or longer than their Content-Length, a 5 MB body. ``test_errors.py``
has the basic cases (one per kind); these extend them.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from harness import cluster
from rawhttp import error_of, read_response

from service.app import create_app
from service.guards import MAX_DEPTH, RequestGuard
from service.settings import ServiceSettings

FAST = 1.0  # seconds: a refusal is immediate, whatever the input
LIMITS: dict[str, Any] = {"max_trials": 50, "max_steps": 10_000, "max_dim": 1_000, "max_work": 1e6}
OK = {"objective": "sphere", "optimizer": "sgd", "grid": {"lr": 0.1}, "steps": 10}
OBJECTIVES = "rosenbrock, sphere, quadratic, rastrigin, ackley, styblinski_tang, beale, booth"
OPTIMIZERS = "valid choices: sgd, momentum, nesterov, adagrad, rmsprop, adam"
METRICS = "'final_loss', 'min_loss', 'mean_loss', 'final_val_loss', 'min_val_loss', 'final_val_accuracy' or 'max_val_accuracy'"
STATUSES = "'queued', 'running', 'succeeded', 'failed' or 'cancelled'"
ID = "0123456789abcdef0123456789abcdef"
PWNED = "gradsweep-pwned"  # a file the Python-expression cases would create if evaluated
EXPR = "__import__('pathlib').Path('" + PWNED + "').touch()"


def spec(**changes: Any) -> dict[str, Any]:
    """The valid spec ``OK`` with some keys replaced."""
    return {**OK, **changes}


def nested(depth: int) -> bytes:
    """A spec whose name is ``depth`` arrays deep."""
    return json.dumps(spec(name="@")).encode().replace(b'"@"', b"[" * depth + b"]" * depth)


def case(id: str, body: Any = None, status: int = 422, code: str = "invalid_request",
         *texts: str, method: str = "POST", path: str = "/v1/sweeps",
         content_type: str | None = "application/json", params: dict[str, Any] | None = None,
         fragments: tuple[str, ...] = ()) -> Any:
    """One row: a request (``body`` as bytes is sent as is, None not at all, anything else as
    JSON) and its answer: status, code, and fragments of the message or details."""
    return pytest.param(method, path, body, content_type, params, status, code,
                        (*texts, *fragments), id=id)


CASES = [
    # -- not a JSON object -------------------------------------------------------------------
    case("json-trailing-comma", b'{"objective": "sphere",}', 422, "invalid_request",
         "not valid JSON", "body"),
    case("json-single-quotes", b"{'objective': 'sphere'}", 422, "invalid_request",
         "not valid JSON"),
    case("json-whitespace-only", b"   ", 422, "invalid_request", "not valid JSON"),
    case("json-utf8-bom", b"\xef\xbb\xbf" + json.dumps(OK).encode(), 422, "invalid_request",
         "not valid JSON", "BOM"),
    case("json-invalid-utf8", b'{"objective": "sph\xffere"}', 422, "invalid_request",
         "the body is not UTF-8 (byte 18 is 0xff): send JSON encoded as UTF-8"),
    case("json-latin-1", '{"objective": "sphere", "name": "café"}'.encode("latin-1"), 422,
         "invalid_request", "the body is not UTF-8 (byte 36 is 0xe9)"),
    case("charset-latin-1", json.dumps(OK).encode(), 415, "unsupported_media_type",
         "send JSON encoded as UTF-8", "charset=latin-1",
         content_type="application/json; charset=latin-1"),
    case("json-lone-surrogate", b'{"name": "\\ud800", "objective": "sphere"}', 422,
         "invalid_request", "not valid JSON", "surrogate"),
    case("content-type-multipart", json.dumps(OK).encode(), 415, "unsupported_media_type",
         "application/json", "multipart/form-data", content_type="multipart/form-data"),
    case("content-type-missing", json.dumps(OK).encode(), 415, "unsupported_media_type",
         "content-type was none", content_type=None),
    case("content-type-json-lookalike", json.dumps(OK).encode(), 415, "unsupported_media_type",
         "application/jsonp", content_type="application/jsonp"),
    case("body-empty", b"", 422, "invalid_request", "body: Field required"),
    case("body-null", b"null", 422, "invalid_request", "body", "valid dictionary"),
    case("body-string", b'"sphere"', 422, "invalid_request", "valid dictionary"),
    case("body-number", b"42", 422, "invalid_request", "valid dictionary"),
    # -- missing fields ------------------------------------------------------------------------
    case("missing-everything", {}, 422, "invalid_request", "objective: Field required",
         "optimizer: Field required", "grid: Field required"),
    case("missing-optimizer", {"objective": "sphere", "grid": {"lr": 0.1}}, 422,
         "invalid_request", "optimizer: Field required"),
    case("missing-lr", spec(optimizer="adam", grid={"beta1": 0.9}), 422, "invalid_request",
         "grid", "adam needs lr"),
    case("missing-optimizer-name", spec(optimizer={"eps_placement": "inside"}), 422,
         "invalid_request", "optimizer.name: Field required"),
    case("missing-objective-name", spec(objective={"dim": 3}), 422, "invalid_request",
         "objective", "no name; valid choices: " + OBJECTIVES),
    # -- unknown names: looked up in the catalogue, listed, never evaluated --------------------
    case("unknown-optimizer-case", spec(optimizer="SGD"), 422, "invalid_request",
         "optimizer.name", "unknown optimizer 'SGD'", OPTIMIZERS),
    case("unknown-objective", spec(objective="banana"), 422, "invalid_request", "objective",
         "unknown objective 'banana'; valid choices: " + OBJECTIVES),
    case("unknown-objective-in-object", spec(objective={"name": "banana", "dim": 3}), 422,
         "invalid_request", "unknown objective 'banana'", OBJECTIVES),
    case("objective-name-not-a-string", spec(objective={"name": 7}), 422, "invalid_request",
         "objective", OBJECTIVES),
    case("python-expression-objective", spec(objective=EXPR), 422, "invalid_request",
         "objective", "unknown objective", OBJECTIVES),
    case("python-expression-optimizer", spec(optimizer=EXPR), 422, "invalid_request",
         "optimizer.name", "unknown optimizer", OPTIMIZERS),
    case("python-expression-metric", spec(metric=EXPR), 422, "invalid_request", "metric",
         METRICS),
    case("python-expression-hyperparameter", spec(grid={"lr": 0.1, EXPR: 1.0}), 422,
         "invalid_request", "grid", "unknown hyperparameter", "valid choices: lr"),
    case("unknown-hyperparameter-of-rule", spec(grid={"lr": 0.1, "momentum": 0.9}), 422,
         "invalid_request", "grid", "unknown hyperparameter 'momentum' for sgd",
         "valid choices: lr"),
    case("unknown-metric", spec(metric="auc"), 422, "invalid_request", "metric", METRICS),
    case("unknown-eps-placement", spec(optimizer={"name": "adam", "eps_placement": "both"}), 422,
         "invalid_request", "optimizer.eps_placement", "'inside' or 'outside'"),
    case("unknown-init-distribution", spec(init={"distribution": "cauchy"}), 422,
         "invalid_request", "init.distribution", "'normal' or 'uniform'"),
    case("extra-top-level", spec(callback="http://127.0.0.1/hook"), 422, "invalid_request",
         "callback", "Extra inputs are not permitted"),
    case("extra-objective-param", spec(objective={"name": "rosenbrock", "c": 1.0}), 422,
         "invalid_request", "objective.c", "Extra inputs are not permitted"),
    case("extra-optimizer-option", spec(optimizer={"name": "adam", "amsgrad": True}), 422,
         "invalid_request", "optimizer.amsgrad", "Extra inputs are not permitted"),
    case("extra-init-key", spec(init={"distribution": "normal", "seed": 3}), 422,
         "invalid_request", "init.seed", "Extra inputs are not permitted"),
    case("eps-placement-without-eps", spec(optimizer={"name": "sgd", "eps_placement": "outside"}),
         422, "invalid_request", "optimizer", "adagrad, rmsprop, adam, adamw, amsgrad, nadam, "
         "radam only"),
    # -- wrong types ---------------------------------------------------------------------------
    case("lr-string", spec(grid={"lr": "fast"}), 422, "invalid_request", "grid.lr",
         "valid number"),
    case("lr-bool", spec(grid={"lr": True}), 422, "invalid_request", "grid.lr", "valid number"),
    case("lr-null", spec(grid={"lr": None}), 422, "invalid_request", "grid.lr", "valid number"),
    case("lr-object", spec(grid={"lr": {"min": 0.1}}), 422, "invalid_request", "grid.lr",
         "an object here is a distribution"),
    case("lr-nested-list", spec(grid={"lr": [[0.1]]}), 422, "invalid_request", "grid.lr.0",
         "valid number"),
    case("lr-list-with-null", spec(grid={"lr": [0.1, None]}), 422, "invalid_request",
         "grid.lr.1", "valid number"),
    case("steps-integral-float", spec(steps=10.0), 422, "invalid_request", "steps",
         "valid integer"),
    case("steps-bool", spec(steps=False), 422, "invalid_request", "steps", "valid integer"),
    case("steps-string", spec(steps="100"), 422, "invalid_request", "steps", "valid integer"),
    case("steps-null", spec(steps=None), 422, "invalid_request", "steps", "valid integer"),
    case("steps-list", spec(steps=[100]), 422, "invalid_request", "steps", "valid integer"),
    case("dim-bool", spec(objective={"name": "sphere", "dim": True}), 422, "invalid_request",
         "objective.dim", "valid integer"),
    case("seeds-float", spec(seeds=2.5), 422, "invalid_request", "seeds", "valid integer"),
    case("seeds-list-of-strings", spec(seeds=["0"]), 422, "invalid_request", "seeds.0",
         "valid integer"),
    case("name-list", spec(name=["sweep"]), 422, "invalid_request", "name", "valid string"),
    case("name-number", spec(name=42), 422, "invalid_request", "name", "valid string"),
    case("metric-list", spec(metric=["final_loss"]), 422, "invalid_request", "metric", METRICS),
    case("grid-list", spec(grid=[0.1, 0.2]), 422, "invalid_request", "grid",
         "valid dictionary"),
    case("init-scalar", spec(init=1.5), 422, "invalid_request", "init", "valid dictionary"),
    case("init-list-with-string", spec(init=[1.0, "x"]), 422, "invalid_request", "init.1",
         "valid number"),
    case("objective-null", spec(objective=None), 422, "invalid_request", "objective",
         "valid dictionary"),
    case("optimizer-number", spec(optimizer=3), 422, "invalid_request", "optimizer",
         "valid dictionary"),
    # -- non-finite and overflowing numbers ----------------------------------------------------
    case("nan-token-in-list", b'{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": '
         b'[0.1, NaN]}}', 422, "invalid_request", "not valid JSON"),
    case("minus-infinity-token", b'{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": '
         b'0.1}, "divergence_threshold": -Infinity}', 422, "invalid_request", "not valid JSON"),
    case("1e999", b'{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": 1e999}}', 422,
         "invalid_request", "not valid JSON", "beyond the range of a float64", "'lr'"),
    case("-1e999-init", b'{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": 0.1}, '
         b'"init": [-1e999, 0]}', 422, "invalid_request", "not valid JSON"),
    case("integer-of-400-digits", b'{"objective": "sphere", "optimizer": "sgd", "grid": {"lr": '
         + b"9" * 400 + b"}}", 422, "invalid_request", "not valid JSON",
         "an integer of 400 digits", "integers must fit in 64 bits"),
    case("nan-as-string", spec(grid={"lr": "NaN"}), 422, "invalid_request", "grid.lr",
         "valid number"),
    # -- out of range --------------------------------------------------------------------------
    case("lr-zero", spec(grid={"lr": 0}), 422, "invalid_request", "grid", "lr = 0",
         "valid: 0 < lr"),
    case("lr-negative-in-list", spec(grid={"lr": [0.1, -0.5]}), 422, "invalid_request",
         "lr = -0.5 is out of range", "valid: 0 < lr"),
    case("momentum-one", spec(optimizer="momentum", grid={"lr": 0.1, "momentum": 1.0}), 422,
         "invalid_request", "momentum = 1.0", "valid: 0 <= momentum < 1"),
    case("eps-negative", spec(optimizer="adam", grid={"lr": 0.1, "eps": -1e-8}), 422,
         "invalid_request", "eps = -1e-08", "0 <= eps"),
    case("steps-negative", spec(steps=-5), 422, "invalid_request", "steps",
         "greater than or equal to 1"),
    case("record-every-zero", spec(record_every=0), 422, "invalid_request", "record_every",
         "greater than or equal to 1"),
    case("record-every-negative", spec(record_every=-1), 422, "invalid_request",
         "record_every", "greater than or equal to 1"),
    case("scale-zero", spec(init={"distribution": "normal", "scale": 0}), 422,
         "invalid_request", "init.scale", "greater than 0"),
    case("scale-negative", spec(init={"distribution": "uniform", "scale": -1.0}), 422,
         "invalid_request", "init.scale", "greater than 0"),
    case("condition-below-one", spec(objective={"name": "quadratic", "condition": 0.5}), 422,
         "invalid_request", "objective.condition", "greater than or equal to 1"),
    case("condition-negative", spec(objective={"name": "quadratic", "condition": -10}), 422,
         "invalid_request", "objective.condition", "greater than or equal to 1"),
    case("divergence-threshold-zero", spec(divergence_threshold=0), 422, "invalid_request",
         "divergence_threshold", "greater than 0"),
    case("divergence-threshold-negative", spec(divergence_threshold=-1e12), 422,
         "invalid_request", "divergence_threshold", "greater than 0"),
    case("dim-zero", spec(objective={"name": "sphere", "dim": 0}), 422, "invalid_request",
         "objective.dim", "greater than or equal to 1"),
    case("seeds-zero", spec(seeds=0), 422, "invalid_request", "seeds", "give a count >= 1"),
    case("seed-over-uint32", spec(seeds=[2**32]), 422, "invalid_request", "seeds",
         "0..4294967295"),
    case("empty-grid-list", spec(grid={"lr": []}), 422, "invalid_request", "grid",
         "lr: the list is empty"),
    case("empty-seed-list", spec(seeds=[]), 422, "invalid_request", "seeds", "list is empty"),
    case("init-too-short", spec(objective={"name": "sphere", "dim": 3}, init=[1.0]), 422,
         "invalid_request", "init", "init has 1 numbers but the objective has dim = 3"),
    case("init-empty", spec(init=[]), 422, "invalid_request", "init", "has 0 numbers"),
    case("init-center-too-long", spec(init={"distribution": "normal", "center": [0, 0, 0]}), 422,
         "invalid_request", "init", "init has 3 numbers but the objective has dim = 2"),
    case("beale-in-3d", spec(objective={"name": "beale", "dim": 3}), 422, "invalid_request",
         "objective", "beale is defined for dim = 2 only"),
    # -- over the configured limits (LIMITS) ---------------------------------------------------
    case("dim-over-limit", spec(objective={"name": "sphere", "dim": 1001}), 422,
         "invalid_request", "objective", "dim = 1001 is over the limit max_dim = 1000"),
    case("steps-over-limit", spec(steps=10_001), 422, "invalid_request", "steps",
         "steps = 10001 is over the limit max_steps = 10000"),
    case("seeds-over-limit", spec(seeds=51), 422, "invalid_request", "seeds",
         "seeds = 51 is over the limit max_trials = 50"),
    case("seeds-a-billion", spec(seeds=10**9), 422, "invalid_request", "seeds",
         "over the limit max_trials = 50"),
    case("seeds-30-digits", spec(seeds=10**30), 422, "invalid_request", "seeds",
         "over the limit max_trials = 50"),
    case("steps-30-digits", spec(steps=10**30), 422, "invalid_request", "steps",
         "over the limit max_steps = 10000"),
    case("dim-a-trillion-random-init", spec(objective={"name": "sphere", "dim": 10**12},
                                            init={"distribution": "normal"}), 422,
         "invalid_request", "objective", "over the limit max_dim = 1000"),
    case("grid-times-seeds-over-limit", spec(grid={"lr": [0.1, 0.2, 0.3]}, seeds=20), 422,
         "invalid_request", "grid × seeds gives 60 trials, over the limit max_trials = 50"),
    case("total-work-over-limit", spec(objective={"name": "sphere", "dim": 1000}, steps=10_000),
         422, "invalid_request",
         "trials × dim × steps = 1e+07 is over the limit max_work = 1e+06"),
    case("grid-of-50000-values", spec(grid={"lr": [1e-6 * (i + 1) for i in range(50_000)]}),
         422, "invalid_request", "gives 50000 trials, over the limit max_trials = 50"),
    case("grid-product-astronomical", spec(optimizer="adam", grid={
        "lr": [i / 1e4 + 1e-4 for i in range(5000)], "beta1": [i / 1e4 for i in range(5000)],
        "beta2": [i / 1e4 for i in range(5000)], "eps": [i / 1e4 for i in range(5000)]}),
         422, "invalid_request", "over the limit max_trials = 50"),
    case("samples-astronomical", spec(grid={"lr": {"distribution": "uniform", "min": 0.01,
                                                   "max": 0.1}}, samples=10**18),
         422, "invalid_request", "gives 1000000000000000000 trials, over the limit max_trials = 50"),
    case("distribution-unknown", spec(grid={"lr": {"distribution": "normal", "mu": 0.1}},
                                      samples=4),
         422, "invalid_request", "grid.lr.distribution", "unknown distribution 'normal'",
         "uniform, log_uniform_values, int_uniform"),
    case("distribution-drawn-of-200000-strings", spec(grid={"lr": {
        "distribution": "uniform", "min": 0.01, "max": 0.1, "drawn": ["x"] * 200_000}},
        samples=4), 422, "invalid_request", "grid.lr.drawn.0", "valid number"),
    case("pruning-min-steps-at-steps", spec(steps=50, pruning={
        "kind": "successive_halving", "min_steps": 50}), 422, "invalid_request", "pruning",
         "must be less than steps = 50"),
    case("pruning-reduction-1", spec(pruning={"kind": "hyperband", "min_steps": 2,
                                              "reduction": 1}),
         422, "invalid_request", "pruning.reduction", "greater than or equal to 2"),
    case("pruning-unknown-kind", spec(pruning={"kind": "asha", "min_steps": 2}), 422,
         "invalid_request", "pruning.kind", "'successive_halving' or 'hyperband'"),
    case("grid-of-10000-unknown-keys", spec(grid={"lr": 0.1, **{f"h{i}": 1.0
                                                                for i in range(10_000)}}),
         422, "invalid_request", "unknown hyperparameters 'h0', 'h1'", "valid choices: lr"),
    # -- strings and nesting -------------------------------------------------------------------
    case("name-201-chars", spec(name="x" * 201), 422, "invalid_request", "name",
         "at most 200 characters"),
    case("name-201-unicode-chars", spec(name="é" * 201), 422, "invalid_request", "name",
         "at most 200 characters"),
    case("nesting-over-the-guard", nested(MAX_DEPTH + 5), 422, "invalid_request", "body",
         f"more than {MAX_DEPTH} deep"),
    case("nesting-1000-deep", nested(1000), 422, "invalid_request", "body",
         f"more than {MAX_DEPTH} deep"),
    case("nesting-2000-deep", b"[" * 2000 + b"]" * 2000, 422, "invalid_request", "body",
         "not valid JSON"),
    case("nesting-under-the-guard", nested(MAX_DEPTH - 2), 422, "invalid_request", "name",
         "valid string"),
    # -- query parameters ----------------------------------------------------------------------
    case("status-bogus", method="GET", params={"status": "bogus"}, status=422,
         code="invalid_request", fragments=("status", STATUSES)),
    case("status-expression", method="GET", params={"status": EXPR}, status=422,
         code="invalid_request", fragments=("status", STATUSES)),
    case("limit-negative", method="GET", params={"limit": -1}, status=422,
         code="invalid_request", fragments=("limit", "greater than or equal to 1")),
    case("limit-abc", method="GET", params={"limit": "abc"}, status=422, code="invalid_request",
         fragments=("limit", "valid integer")),
    case("limit-float", method="GET", params={"limit": "2.5"}, status=422,
         code="invalid_request", fragments=("limit", "valid integer")),
    case("limit-over-page-size", method="GET", params={"limit": 10**30}, status=422,
         code="invalid_request", fragments=("limit: at most 10",)),
    case("offset-abc", method="GET", params={"offset": "abc"}, status=422,
         code="invalid_request", fragments=("offset", "valid integer")),
    case("offset-30-digits", method="GET", params={"offset": 10**30}, status=422,
         code="invalid_request", fragments=("offset", "less than or equal to")),
    case("offset-2-63", method="GET", params={"offset": 2**63}, status=422,
         code="invalid_request", fragments=("offset", "less than or equal to")),
    # -- ids and paths -------------------------------------------------------------------------
    case("id-unknown-get", method="GET", path=f"/v1/sweeps/{ID}", status=404, code="not_found",
         fragments=(ID,)),
    case("id-unknown-results", method="GET", path=f"/v1/sweeps/{ID}/results", status=404,
         code="not_found", fragments=(ID,)),
    case("id-unknown-delete", method="DELETE", path=f"/v1/sweeps/{ID}", status=404,
         code="not_found", fragments=(ID,)),
    case("id-uppercase-hex", method="GET", path=f"/v1/sweeps/{ID.upper()}", status=422,
         code="invalid_request", fragments=("sweep_id", "pattern")),
    case("id-over-long-delete", method="DELETE", path="/v1/sweeps/" + "a" * 10_000, status=422,
         code="invalid_request", fragments=("sweep_id",)),
    case("id-over-long-results", method="GET", path=f"/v1/sweeps/{ID * 8}/results", status=422,
         code="invalid_request", fragments=("sweep_id",)),
    case("id-unicode", method="GET", path="/v1/sweeps/%E6%97%A5%E6%9C%AC", status=422,
         code="invalid_request", fragments=("sweep_id",)),
    case("id-nul", method="GET", path="/v1/sweeps/%00", status=422, code="invalid_request",
         fragments=("sweep_id",)),
    case("id-path-traversal-encoded", method="GET",
         path="/v1/sweeps/%2e%2e%2f%2e%2e%2fetc%2fpasswd/results", status=404, code="not_found"),
    case("id-path-traversal-dots", method="DELETE", path="/v1/sweeps/../../../etc/passwd",
         status=404, code="not_found"),
    case("id-sql-injection", method="GET", path="/v1/sweeps/' OR '1'='1", status=422,
         code="invalid_request", fragments=("sweep_id",)),
    # -- methods -------------------------------------------------------------------------------
    case("patch-sweep", method="PATCH", path=f"/v1/sweeps/{ID}", body=OK, status=405,
         code="method_not_allowed"),
    case("delete-collection", method="DELETE", path="/v1/sweeps", status=405,
         code="method_not_allowed"),
    case("put-catalogue", method="PUT", path="/v1/optimizers", body=OK, status=405,
         code="method_not_allowed"),
    case("post-results", method="POST", path=f"/v1/sweeps/{ID}/results", body=OK, status=405,
         code="method_not_allowed"),
    case("options-sweeps", method="OPTIONS", path="/v1/sweeps", status=405,
         code="method_not_allowed"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ServiceSettings(data_dir=tmp_path_factory.mktemp("data"), jobs=1,
                               page_size_max=10, **LIMITS)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def assert_error(response: Any, status: int, code: str,
                 *fragments: str) -> dict[str, Any]:
    """The error shape, the status and code, and the fragments in the message or details."""
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"status", "code", "message", "details"}, error
    assert error["status"] == status and error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    for detail in error["details"]:
        assert set(detail) == {"field", "message"} and detail["field"] and detail["message"]
    text = error["message"] + "\n" + "\n".join(f"{d['field']}: {d['message']}"
                                               for d in error["details"])
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text[:2000]!r}"
    return error


@pytest.mark.parametrize(("method", "path", "body", "content_type", "params", "status", "code",
                          "fragments"), CASES)
def test_bad_input_is_a_prompt_4xx_naming_the_field(
        client: TestClient, method: str, path: str, body: Any, content_type: str | None,
        params: dict[str, Any] | None, status: int, code: str, fragments: tuple[str, ...],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # where an evaluated EXPR would leave its file
    headers = {"content-type": content_type} if content_type else {}
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
    if content is None:
        headers = {}
    start = time.perf_counter()
    response = client.request(method, path, content=content, headers=headers, params=params)
    elapsed = time.perf_counter() - start
    assert_error(response, status, code, *fragments)
    assert elapsed < FAST, f"{elapsed:.2f} s"
    assert not (tmp_path / PWNED).exists(), "a name was evaluated"
    assert client.get("/v1/sweeps").json()["total"] == 0, "a bad request created a sweep"


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_body_over_the_default_limit_is_413(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, jobs=1)
    assert settings.max_body_bytes == 1 << 20
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = json.dumps(spec(name="x" * (1 << 20))).encode()
        start = time.perf_counter()
        response = client.post("/v1/sweeps", content=body,
                               headers={"content-type": "application/json"})
        assert_error(response, 413, "payload_too_large", "1048576 bytes",
                     "GRADSWEEP_MAX_BODY_BYTES")
        assert time.perf_counter() - start < FAST
        # just under the limit: read, parsed and refused for what it says
        name = "x" * ((1 << 20) - len(json.dumps(spec(name=""))) - 10)
        response = client.post("/v1/sweeps", json=spec(name=name))
        assert_error(response, 422, "invalid_request", "name", "at most 200 characters")


def test_body_limit_is_configurable_and_counts_a_chunked_body(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, jobs=1, max_body_bytes=2048)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        def chunks() -> Iterator[bytes]:  # no Content-Length: the guard counts what arrives
            yield b'{"name": "'
            for _ in range(100):
                yield b"y" * 100
            yield b'"}'
        response = client.post("/v1/sweeps", content=chunks(),
                               headers={"content-type": "application/json"})
        assert_error(response, 413, "payload_too_large", "2048 bytes")


def test_unicode_names_are_stored_as_sent(client: TestClient) -> None:
    name = "日本語 ✓ émoji 🎉 עברית \u0000 <script>alert(1)</script> '; DROP TABLE sweeps;--"
    response = client.post("/v1/sweeps", json=spec(name=name))
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]
    assert response.json()["name"] == name
    assert client.get(f"/v1/sweeps/{sweep_id}").json()["name"] == name
    client.delete(f"/v1/sweeps/{sweep_id}")
    assert client.get("/v1/sweeps").json()["total"] >= 1


def test_a_stalled_body_is_408_not_a_hang() -> None:
    """The guard's deadline on the body (a slowloris client), at the ASGI level."""
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    guard = RequestGuard(app, max_bytes=1 << 20, body_seconds=0.3)
    first = [{"type": "http.request", "body": b'{"objective"', "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if first:
            return first.pop()
        await anyio.sleep(3600)  # the rest of the body never comes
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/sweeps", "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"100")]}
    start = time.perf_counter()
    anyio.run(guard, scope, receive, send)
    assert time.perf_counter() - start < FAST
    assert not reached, "the app saw a partial body"
    assert sent[0]["status"] == 408
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == "request_timeout" and "0.3 s" in error["message"]


def test_a_client_gone_mid_body_never_reaches_the_app() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    messages: Iterator[dict[str, Any]] = iter([{"type": "http.request", "body": json.dumps(OK).encode(), "more_body": True},
                     {"type": "http.disconnect"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/sweeps",
                             "headers": [(b"content-type", b"application/json")]}
    anyio.run(RequestGuard(app, max_bytes=1 << 20), scope, receive, send)
    assert not reached and not sent


# -- a real `gradsweep serve`, over raw sockets -----------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    tmp = tmp_path_factory.mktemp("serve")
    with cluster(tmp, redis=False, jobs=1, **LIMITS) as c:
        c.start_server()
        yield "127.0.0.1", c.port


def raw_request(method: str, path: str, headers: dict[str, str], host: tuple[str, int]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host[0]}:{host[1]}",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def sweeps_total(host: tuple[str, int]) -> int:
    total: int = httpx.get(f"http://{host[0]}:{host[1]}/v1/sweeps", timeout=5).json()["total"]
    return total


def test_real_server_a_slow_chunked_body_is_read_and_others_are_served(
        server: tuple[str, int]) -> None:
    body = json.dumps(spec(name="slow")).encode()
    pieces = [body[i:i + 16] for i in range(0, len(body), 16)]
    healthz: list[float] = []

    def poll_health() -> None:
        with httpx.Client(base_url=f"http://{server[0]}:{server[1]}", timeout=5) as http:
            for _ in range(5):
                start = time.perf_counter()
                assert http.get("/healthz").status_code == 200
                healthz.append(time.perf_counter() - start)
                time.sleep(0.1)

    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(raw_request("POST", "/v1/sweeps", {
            "Content-Type": "application/json", "Transfer-Encoding": "chunked"}, server))
        poller = threading.Thread(target=poll_health)
        poller.start()
        for piece in pieces:  # a chunk every 50 ms: about half a second in all
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            time.sleep(0.05)
        sock.sendall(b"0\r\n\r\n")
        status, _, answer = read_response(sock)
        poller.join()
    assert status == 202, answer
    assert json.loads(answer)["name"] == "slow"
    assert len(healthz) == 5 and max(healthz) < FAST, healthz


def test_real_server_body_shorter_than_content_length(server: tuple[str, int]) -> None:
    """The client declares 1000 bytes, sends a complete spec of fewer and stops: no sweep."""
    before = sweeps_total(server)
    body = json.dumps(spec(name="short")).encode()
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(raw_request("POST", "/v1/sweeps", {
            "Content-Type": "application/json", "Content-Length": "1000"}, server) + body)
        sock.shutdown(socket.SHUT_WR)  # the client is done sending
        sock.settimeout(5)
        start = time.perf_counter()
        leftover = sock.recv(65536)  # the server closes without running the partial body
        assert time.perf_counter() - start < FAST
    assert not leftover.startswith(b"HTTP/1.1 2"), leftover
    assert sweeps_total(server) == before


def test_real_server_body_longer_than_content_length(server: tuple[str, int]) -> None:
    """Content-Length frames the body: the first 10 bytes are the body (not JSON), the rest is
    not a request; the body gets a 422 in the error shape at once."""
    body = json.dumps(spec(name="long")).encode()
    with socket.create_connection(server, timeout=5) as sock:
        start = time.perf_counter()
        sock.sendall(raw_request("POST", "/v1/sweeps", {
            "Content-Type": "application/json", "Content-Length": "10"}, server) + body)
        status, headers, answer = read_response(sock)
        assert time.perf_counter() - start < FAST
    assert status == 422
    assert "not valid JSON" in error_of(status, headers, answer)["message"]


def test_real_server_5mb_body_is_413_before_it_is_sent(server: tuple[str, int]) -> None:
    """Content-Length over the limit: 413 at once, without a byte of the body read."""
    with socket.create_connection(server, timeout=5) as sock:
        start = time.perf_counter()
        sock.sendall(raw_request("POST", "/v1/sweeps", {
            "Content-Type": "application/json", "Content-Length": str(5_000_000)}, server))
        status, headers, answer = read_response(sock)
        assert time.perf_counter() - start < FAST
    assert status == 413
    assert "1048576 bytes" in error_of(status, headers, answer)["message"]


def test_real_server_5mb_chunked_body_is_413_after_the_first_mebibyte(
        server: tuple[str, int]) -> None:
    """No Content-Length: the guard reads up to the limit and answers while the client is still
    sending (64 KiB every 5 ms, 5 MB in about 0.4 s)."""
    chunk = b"x" * 65536
    sent = [0]

    def send_body(sock: socket.socket) -> None:
        try:
            while sent[0] < 5_000_000:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent[0] += len(chunk)
                time.sleep(0.005)
        except OSError:
            pass  # the server closed the connection: it has answered

    with socket.create_connection(server, timeout=5) as sock:
        start = time.perf_counter()
        sock.sendall(raw_request("POST", "/v1/sweeps", {
            "Content-Type": "application/json", "Transfer-Encoding": "chunked"}, server))
        sender = threading.Thread(target=send_body, args=(sock,))
        sender.start()
        status, headers, answer = read_response(sock)
        sent_at_answer = sent[0]
        elapsed = time.perf_counter() - start
        sender.join()
    assert status == 413
    assert "1048576 bytes" in error_of(status, headers, answer)["message"]
    assert elapsed < FAST and sent_at_answer < 3_000_000, (elapsed, sent_at_answer)


def test_real_server_still_serves_after_the_abuse(server: tuple[str, int]) -> None:
    with httpx.Client(base_url=f"http://{server[0]}:{server[1]}", timeout=5) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        response = http.post("/v1/sweeps", json=spec(name="after"))
        assert response.status_code == 202, response.text
