"""``results.csv`` reads only what a row needs: never the curves, which are most of a document.

A sweep of 2,000 trials × 2,001 recorded steps (a results document of about 70 MB, on a cheap
objective) on real processes in both modes (``tests/harness.py``). Its CSV must be the bytes
the CSV of the document always was (``old_results_csv``, the route as it was before it read the
chunks' score summaries); three concurrent downloads must leave the API's resident memory
(VmRSS of the ``gradsweep serve`` process) far below the document's size — parsing the document
cost about ten times its size, per download — and ``/healthz`` must keep answering meanwhile.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import cluster, private_redis, wait_for_status

LRS = [10 ** (-3 + 4 * i / 999) for i in range(1000)]  # 1e-3 … 10: lr > 1 diverges on sphere
LONG = {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd", "grid": {"lr": LRS},
        "steps": 2000, "seeds": 2, "record_every": 1}  # 2,000 trials × 2,001 recorded steps
CHUNK_WORK = 100 * 2000  # 100 trials (dim 1 × 2,000 steps each) per chunk: 20 chunks
DOWNLOADS = 3
HEALTHZ_WITHIN = 2.0  # seconds; parsing three documents at once held it for 20 s and more


def old_results_csv(document: dict[str, Any]) -> str:
    """The CSV of a results document as the route wrote it, verbatim: the reference."""
    leading = ("index", "seed", "optimizer")
    trailing = ("status", "final_loss", "min_loss", "mean_loss", "diverged_at", "pruned_at", "error")

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return repr(value)
        return str(value)

    keys = list(document["spec"]["grid"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*leading, *keys, *trailing])
    for trial in document["trials"]:
        writer.writerow([cell(trial["index"]), cell(trial["seed"]), trial["optimizer"],
                         *(cell(trial["params"].get(k)) for k in keys),
                         *(cell(trial.get(c)) for c in trailing)])
    return buffer.getvalue()


def rss(pid: int) -> int:
    """The process's resident memory in bytes (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class Watch:
    """While it runs: the API's peak RSS, and the latency of /healthz polled back to back."""

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid = url, pid
        self.peak = rss(pid)
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._sample), threading.Thread(target=self._poll)]

    def __enter__(self) -> Watch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.01)

    def _poll(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get("/healthz").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                self.latencies.append(time.monotonic() - started)
                if status != 200:
                    self.failures.append(f"/healthz answered {status}")
                time.sleep(0.02)


def download(url: str, path: str, out: list[bytes | BaseException], i: int) -> None:
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            response = client.get(path)
            response.raise_for_status()
            out[i] = response.content
    except BaseException as exc:  # reported by the test
        out[i] = exc


@pytest.mark.parametrize("mode", ["embedded", "cluster"])
def test_csv_of_long_curves_streams_the_same_bytes_in_bounded_memory(tmp_path: Path,
                                                                     mode: str) -> None:
    with cluster(tmp_path, redis=mode == "cluster", chunk_work=CHUNK_WORK, jobs=1) as c:
        server = c.start_server()
        if mode == "cluster":
            c.start_worker()
        with c.client() as client:
            response = client.post("/v1/sweeps", json=LONG)
            assert response.status_code == 202, response.text
            sweep_id = response.json()["id"]
            wait_for_status(client, sweep_id, {"succeeded"}, timeout=180)
            path = f"/v1/sweeps/{sweep_id}/results.csv"
            assert client.get(path).status_code == 200  # warm: first-call imports and caches

            baseline = rss(server.popen.pid)
            got: list[bytes | BaseException] = [RuntimeError("not run")] * DOWNLOADS
            threads = [threading.Thread(target=download, args=(c.url, path, got, i))
                       for i in range(DOWNLOADS)]
            with Watch(c.url, server.popen.pid) as watch:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=180)
            growth = watch.peak - baseline

            # only now the document (the server may keep its memory once it has sent it)
            raw = client.get(f"/v1/sweeps/{sweep_id}/results")
            assert raw.status_code == 200
            document = raw.json()

        print(f"{mode}: document {len(raw.content) / 1e6:.1f} MB, API RSS "
              f"+{growth / 1e6:.1f} MB during {DOWNLOADS} downloads, /healthz at most "
              f"{max(watch.latencies, default=0):.3f} s over {len(watch.latencies)} polls")
        expected = old_results_csv(document).encode()
        assert len(document["trials"]) == 2000
        assert {t["status"] for t in document["trials"]} == {"ok", "diverged"}
        for body in got:
            assert isinstance(body, bytes), repr(body)
            assert body == expected
        assert growth < len(raw.content) / 4, (
            f"the API grew by {growth / 1e6:.0f} MB serving {DOWNLOADS} CSVs of a "
            f"{len(raw.content) / 1e6:.0f} MB document")
        assert not watch.failures, watch.failures[:3]
        assert watch.latencies and max(watch.latencies) < HEALTHZ_WITHIN, (
            f"/healthz took up to {max(watch.latencies, default=0):.2f} s during the downloads")


def test_errors_before_the_first_byte_stay_json(tmp_path: Path) -> None:
    """A CSV that cannot start — no such sweep, or the store unreachable — is a JSON error with
    its status, not a 200 whose stream breaks off."""
    small = {**LONG, "grid": {"lr": LRS[:4]}, "steps": 20}
    # the private Redis fsyncs every write: on a loaded machine a first write can outlast the
    # API's default 2 s wait for the store, which is not what this test is about
    with private_redis(tmp_path) as redis_server, \
            cluster(tmp_path, redis=True, redis_url=redis_server.url,
                    api_store_retry_seconds=10) as c:
        c.start_server()
        with c.client() as client:
            response = client.post("/v1/sweeps", json=small)
            assert response.status_code == 202, response.text
            path = f"/v1/sweeps/{response.json()['id']}/results.csv"
            queued = client.get(path)  # queued, no chunk yet: the header only
            assert queued.status_code == 200 and queued.text.startswith("index,seed,optimizer,lr,")
            assert queued.text.count("\r\n") == 1
            missing = client.get(f"/v1/sweeps/{'0' * 32}/results.csv")
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
            redis_server.kill()
            down = client.get(path)
            assert down.status_code == 503, down.text
            assert down.headers["content-type"].startswith("application/json")
            assert down.json()["error"]["code"] == "unavailable"
