"""``service.client.Client`` and ``gradsweep submit`` against a real ``gradsweep serve``
(embedded mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, cluster

from optimizers import SweepSpec, SweepStatus, parse_spec, run_sweep
from service.client import Client, ClientError
from service.models import SweepPage, SweepResultsDocument, SweepView

ROOT = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = {"objective": "rosenbrock", "optimizer": "adam", "init": [-1.5, 2.0],
                        "grid": {"lr": [0.001, 0.01, 0.1], "beta1": [0.8, 0.9]}, "steps": 60,
                        "seeds": 2}
# long enough that a cancel lands while it runs (a few seconds on one worker)
SLOW: dict[str, Any] = {"objective": {"name": "sphere", "dim": 500}, "optimizer": "sgd",
                        "grid": {"lr": [0.001 * (i + 1) for i in range(40)]}, "steps": 20000,
                        "seeds": 5}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("client"), redis=False, jobs=2) as c:
        c.start_server()
        yield c


@pytest.fixture
def client(server: Cluster) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c


def without_id(document: SweepResultsDocument) -> dict[str, Any]:
    data = document.model_dump(mode="json", exclude_unset=True)
    data.pop("id")
    return data


def test_submit_wait_results_equal_run_sweep(client: Client) -> None:
    sweep_id = client.submit(SPEC)
    assert len(sweep_id) == 32
    view = client.wait(sweep_id, timeout=120)
    assert isinstance(view, SweepView)
    assert view.status == SweepStatus.SUCCEEDED and view.progress.done == view.progress.total
    results = client.results(sweep_id)
    assert isinstance(results, SweepResultsDocument) and results.id == sweep_id
    expected = run_sweep(SPEC)
    assert without_id(results) == expected  # floats compared exactly
    assert results.summary.importance == expected["summary"]["importance"]
    assert view.best is not None and view.best.model_dump() == expected["best"]


def test_submit_takes_a_model_or_json_text(client: Client) -> None:
    small = {"objective": "booth", "optimizer": "sgd", "grid": {"lr": [0.01, 0.05]}, "steps": 10}
    for spec in (parse_spec(small), json.dumps(small), json.dumps(small).encode()):
        sweep_id = client.submit(spec)
        view = client.wait(sweep_id, poll=0.05, timeout=60)
        assert view.status == SweepStatus.SUCCEEDED
    assert isinstance(parse_spec(small), SweepSpec)


def test_status_list_and_cancel(client: Client) -> None:
    sweep_id = client.submit(SLOW)
    assert client.status(sweep_id).id == sweep_id
    page = client.list()
    assert isinstance(page, SweepPage) and sweep_id in [s.id for s in page.items]
    view = client.cancel(sweep_id)
    assert view.status == SweepStatus.CANCELLED
    assert client.wait(sweep_id, timeout=30).status == SweepStatus.CANCELLED
    cancelled = client.list(status="cancelled", limit=5)
    assert sweep_id in [s.id for s in cancelled.items] and cancelled.limit == 5
    assert all(s.status == SweepStatus.CANCELLED for s in cancelled.items)
    assert client.cancel(sweep_id).status == SweepStatus.CANCELLED  # again: still cancelled


def test_cancelling_a_finished_sweep_is_a_409(client: Client) -> None:
    sweep_id = client.submit({"objective": "booth", "optimizer": "sgd", "grid": {"lr": 0.01},
                              "steps": 5})
    assert client.wait(sweep_id, poll=0.05, timeout=60).status == SweepStatus.SUCCEEDED
    with pytest.raises(ClientError) as info:
        client.cancel(sweep_id)
    assert info.value.status == 409 and info.value.code == "conflict"
    assert "succeeded" in info.value.message


def test_invalid_spec_raises_client_error_422_naming_the_field(client: Client) -> None:
    with pytest.raises(ClientError) as info:
        client.submit({**SPEC, "grid": {"lr": 0.1, "beta3": 1.0}})
    error = info.value
    assert error.status == 422 and error.code == "invalid_request"
    assert "beta3" in error.message
    assert [d.field for d in error.details] == ["grid"]
    assert "valid choices: lr, beta1, beta2, eps" in error.details[0].message


def test_unknown_id_is_404(client: Client) -> None:
    for call in (client.status, client.results, client.cancel):
        with pytest.raises(ClientError) as info:
            call("0" * 32)
        assert info.value.status == 404 and info.value.code == "not_found"


def test_wait_times_out(client: Client) -> None:
    sweep_id = client.submit(SLOW)
    try:
        with pytest.raises(TimeoutError):
            client.wait(sweep_id, timeout=0.2)
    finally:
        client.cancel(sweep_id)


def test_api_key_is_sent_as_bearer(tmp_path: Path) -> None:
    with cluster(tmp_path, redis=False, jobs=1, api_keys="s3cret") as c:
        c.start_server()
        with Client(c.url) as anonymous, pytest.raises(ClientError) as info:
            anonymous.list()
        assert info.value.status == 401
        with Client(c.url, api_key="s3cret") as keyed:
            assert keyed.list().total == 0


# -- gradsweep submit ------------------------------------------------------------------------

def gradsweep(*args: str, stdin: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRADSWEEP_")},
           "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "service.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)


def test_cli_submit_prints_the_id_and_location(server: Cluster, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    done = gradsweep("submit", str(spec), "--url", server.url)
    assert done.returncode == 0, done.stderr
    sweep_id = done.stdout.strip()
    assert len(sweep_id) == 32
    assert f"{server.url}/v1/sweeps/{sweep_id}" in done.stderr
    with Client(server.url) as client:
        assert client.wait(sweep_id, timeout=120).status == SweepStatus.SUCCEEDED


def test_cli_submit_reads_the_url_and_key_from_the_environment(tmp_path: Path) -> None:
    with cluster(tmp_path, redis=False, jobs=1, api_keys="s3cret") as c:
        c.start_server()
        done = gradsweep("submit", "-", stdin=json.dumps(SPEC),
                         env={"GRADSWEEP_URL": c.url, "GRADSWEEP_API_KEY": "s3cret"})
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.strip()) == 32
        wrong = gradsweep("submit", "-", "--api-key", "nope", stdin=json.dumps(SPEC),
                          env={"GRADSWEEP_URL": c.url, "GRADSWEEP_API_KEY": "s3cret"})
        assert wrong.returncode == 2 and "401" in wrong.stderr, wrong.stderr  # the flag wins
    missing = gradsweep("submit", "-", stdin=json.dumps(SPEC))
    assert missing.returncode == 2 and "GRADSWEEP_URL" in missing.stderr, missing.stderr


def test_cli_submit_wait_writes_the_results(server: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = gradsweep("submit", "-", "--url", server.url, "--wait", "-o", str(out),
                     stdin=json.dumps(SPEC))
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text(), parse_constant=pytest.fail)
    sweep_id = results.pop("id")
    assert done.stdout.splitlines()[0] == sweep_id
    expected = run_sweep(SPEC)
    assert results == expected
    best = expected["best"]
    params = " ".join(f"{k}={v!r}" for k, v in best["params"].items())
    assert f"best: {params} score={best['score']!r}" in done.stdout
    assert "succeeded: 12/12 trials" in done.stdout


@pytest.mark.parametrize(("spec", "expected"), [
    ('{"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": 0.1, "beta3": 1}}',
     "grid: unknown hyperparameter 'beta3' for adam; valid choices: lr, beta1, beta2, eps"),
    ('{"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": 0.1}, "steps": 1.5}',
     "steps: Input should be a valid integer"),
    ('{"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": 0.1}, "steps": 1.5, '
     '"record_every": 1.5}', "steps: Input should be a valid integer\n"
     "record_every: Input should be a valid integer"),
])
def test_cli_submit_4xx_exits_2_with_a_line_per_problem_naming_its_field(
        server: Cluster, spec: str, expected: str) -> None:
    done = gradsweep("submit", "-", "--url", server.url, "--wait", stdin=spec)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    wanted = expected.split("\n")
    assert len(lines) == len(wanted), done.stderr
    assert all(w in line for w, line in zip(wanted, lines, strict=True)), done.stderr
    assert done.stdout == ""


def test_cli_submit_unreachable_server_exits_1(tmp_path: Path) -> None:
    from harness import free_port

    done = gradsweep("submit", "-", "--url", f"http://127.0.0.1:{free_port()}",
                     stdin=json.dumps(SPEC))
    assert done.returncode == 1 and "cannot reach" in done.stderr
