"""The API's memory is bounded by a page, not by the sweep: a 10⁵-trial sweep with long curves
(2.1·10⁶ curve points, about 60 MB of records as JSON and several times that as Python objects)
is read whole — its results document, every trial paged with curves, the NDJSON stream and the
CSV — through a real ``gradsweep serve`` (embedded: its pool finishes the sweep in other
processes), and the server's peak resident memory (VmHWM) stays under a bound that loading the
sweep's records even once would break."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import cluster, wait_for_status

N_TRIALS = 100_000
SPEC: dict[str, Any] = {"name": "10⁵ trials", "objective": {"name": "sphere", "dim": 2},
                        "optimizer": "sgd",
                        "grid": {"lr": [round(1e-4 * (i + 1), 6) for i in range(N_TRIALS // 10)]},
                        "seeds": 10, "steps": 20, "record_every": 1}
#: The bound on the server's peak RSS growth while it serves the sweep whole; the sweep's
#: records as Python objects alone are ~250 MB.
GROWTH_BOUND = 160 * 2**20


def vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


@pytest.mark.integration
def test_reading_a_large_sweep_whole_keeps_the_api_within_a_page_of_memory(
        tmp_path: Path) -> None:
    with cluster(tmp_path, redis=False, jobs=2) as c:
        server = c.start_server()
        pid = server.popen.pid
        with c.client() as client:
            response = client.post("/v1/sweeps", json=SPEC)
            assert response.status_code == 202, response.text
            sweep_id = response.json()["id"]
            assert wait_for_status(client, sweep_id, {"succeeded", "failed"}, 300)[
                "status"] == "succeeded"
            before = vm(pid, "VmRSS")
            document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
            assert "trials" not in document and document["summary"]["statuses"] == {
                "ok": N_TRIALS}
            seen, cursor = 0, None
            while True:
                params: dict[str, Any] = {"limit": 1000}
                if cursor is not None:
                    params["cursor"] = cursor
                page = client.get(f"/v1/sweeps/{sweep_id}/trials", params=params).json()
                assert [t["index"] for t in page["items"]] == list(range(seen, seen + len(
                    page["items"])))
                seen += len(page["items"])
                cursor = page["next"]
                if cursor is None:
                    break
            assert seen == N_TRIALS
            lines = 0
            with client.stream("GET", f"/v1/sweeps/{sweep_id}/trials.ndjson") as stream:
                for piece in stream.iter_bytes():
                    lines += piece.count(b"\n")
            assert lines == N_TRIALS
            rows = 0
            with client.stream("GET", f"/v1/sweeps/{sweep_id}/results.csv") as stream:
                for piece in stream.iter_bytes():
                    rows += piece.count(b"\n")  # a \r\n may span two pieces
            assert rows == N_TRIALS + 1
            top = client.get(f"/v1/sweeps/{sweep_id}/trials",
                             params={"order": "score", "limit": 10}).json()
            assert len(top["items"]) == 10
        peak = vm(pid, "VmHWM")
        assert peak - before < GROWTH_BOUND, (
            f"the API's peak RSS grew {(peak - before) / 2**20:.0f} MiB while serving the sweep "
            f"(from {before / 2**20:.0f} MiB)")
