"""A sweep of a million trials through the cluster on this machine, against ``run_sweep`` of the
same trials in one process.

Run from the project root, in the dev virtualenv, with Redis on 127.0.0.1:6379::

    python bench/scale.py                  # 100³ = 10⁶ trials: about 5 minutes in all
    python bench/scale.py --per-axis 30    # 27,000 trials: a smoke run of a minute

The sweep: Adam on 2-D Rosenbrock, a per-axis × per-axis × per-axis grid of lr (log-spaced
1e-4..1e-1), beta1 (0.5..0.99) and beta2 (0.9..0.9999), one seed, 100 steps, a curve point
every 50 steps. Cluster mode on real processes, started as the integration tests start them
(``service.testing.cluster``: one ``gradsweep serve``, one ``gradsweep worker --concurrency
N``, Redis database 14 under a fresh key prefix and queue, every key deleted at the end).

Measured, in this order:

1. POST /v1/sweeps: its latency (validation, chunking and the queueing of every chunk).
2. The run, from the POST until the status view says succeeded (client-side wall time), and
   trials/s; while it runs the status view is polled every 0.1 s: its latency (p50, p99, max).
3. GET /results (the summary document: above the inline limit it holds no trial), top-10
   (``/trials?order=score&limit=10``), every trial paged (``/trials?limit=1000``, following
   ``next``), the NDJSON stream (``/trials.ndjson``) — each timed once, its size given.
4. Peak resident memory (VmHWM) of the API process and of the worker's processes (its pool
   children are read while they live), and Redis's used memory before and after.
5. ``optimizers.run_sweep`` of the same spec in this process (the baseline: the engine with
   nothing around it, one process), and the ratio cluster trials/s ÷ baseline trials/s.

The machine is shared and has 2 cores for the API, the worker, Redis and this script: the load
average is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from optimizers import run_sweep
from service.testing.cluster import cluster, redis_client


def spec(per_axis: int) -> dict[str, Any]:
    """The benchmark's sweep: per_axis³ Adam settings on 2-D Rosenbrock."""
    return {"name": f"scale: {per_axis}³ adam on rosenbrock",
            "objective": {"name": "rosenbrock", "dim": 2}, "optimizer": "adam",
            "grid": {"lr": [float(f"{x:.6g}") for x in np.geomspace(1e-4, 1e-1, per_axis)],
                     "beta1": [float(f"{x:.6g}") for x in np.linspace(0.5, 0.99, per_axis)],
                     "beta2": [float(f"{x:.6g}") for x in np.linspace(0.9, 0.9999, per_axis)]},
            "steps": 100, "record_every": 50, "seeds": 1}


def status_field(pid: int, name: str) -> int:
    """A /proc/{pid}/status memory field (VmRSS, VmHWM) in bytes; 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class PeakMemory(threading.Thread):
    """Samples the peak RSS (VmHWM) of a process tree every 0.2 s, children included while they
    live (a pool child's high-water mark is lost when it exits)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peaks: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for pid in [self.root, *descendants(self.root)]:
                self.peaks[pid] = max(self.peaks.get(pid, 0), status_field(pid, "VmHWM"))

    def largest(self) -> int:
        return max(self.peaks.values(), default=0)


def timed(call: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-axis", type=int, default=100, help="values per hyperparameter")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2,
                        help="the worker's processes (default: one per core)")
    parser.add_argument("--chunk-work", type=float, default=None, help="trials × dim × steps "
                        "per chunk (GRADSWEEP_CHUNK_WORK; default 2e7, which cuts this sweep "
                        "at the 10,000 trials a chunk holds at most)")
    parser.add_argument("--no-baseline", action="store_true", help="skip run_sweep")
    args = parser.parse_args(argv)
    body = spec(args.per_axis)
    n_trials = args.per_axis ** 3
    print(f"# bench/scale.py — {n_trials:,} trials, {platform.node()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}", flush=True)
    redis = redis_client()
    used_before = int(redis.info("memory")["used_memory"])
    rows: list[tuple[str, str]] = []
    sizing = {} if args.chunk_work is None else {"chunk_work": args.chunk_work}
    with tempfile.TemporaryDirectory() as tmp, cluster(
            Path(tmp), redis=True, max_trials=max(n_trials, 1_000_000), **sizing) as c:
        server = c.start_server()
        worker = c.start_worker(concurrency=args.concurrency)
        api_memory, worker_memory = PeakMemory(server.popen.pid), PeakMemory(worker.popen.pid)
        api_memory.start()
        worker_memory.start()
        with httpx.Client(base_url=c.url, timeout=600) as client:
            for _ in range(300):  # the worker's heartbeat makes the API ready
                if client.get("/readyz").status_code == 200:
                    break
                time.sleep(0.1)
            started = time.perf_counter()
            post_seconds, response = timed(lambda: client.post("/v1/sweeps", json=body))
            assert response.status_code == 202, response.text
            sweep_id = response.json()["id"]
            polls: list[float] = []
            while True:
                seconds, view = timed(lambda: client.get(f"/v1/sweeps/{sweep_id}").json())
                polls.append(seconds)
                if view["status"] in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - started
            assert view["status"] == "succeeded", view
            print(f"ran in {wall:.1f} s", flush=True)
            results_seconds, results = timed(
                lambda: client.get(f"/v1/sweeps/{sweep_id}/results").content)
            top_seconds, top = timed(lambda: client.get(
                f"/v1/sweeps/{sweep_id}/trials", params={"order": "score", "limit": 10}).json())

            def page_all() -> int:
                seen, cursor = 0, None
                while True:
                    params: dict[str, Any] = {"limit": 1000}
                    if cursor:
                        params["cursor"] = cursor
                    page = client.get(f"/v1/sweeps/{sweep_id}/trials", params=params).json()
                    seen += len(page["items"])
                    if page["next"] is None:
                        return seen
                    cursor = page["next"]

            paging_seconds, paged = timed(page_all)
            assert paged == n_trials, paged

            def stream() -> tuple[int, int]:
                lines = size = 0
                with client.stream("GET", f"/v1/sweeps/{sweep_id}/trials.ndjson") as r:
                    for piece in r.iter_bytes():
                        lines += piece.count(b"\n")
                        size += len(piece)
                return lines, size

            ndjson_seconds, (lines, ndjson_bytes) = timed(stream)
            assert lines == n_trials, lines
        used_after = int(redis.info("memory")["used_memory"])
        api_memory.done.set()
        worker_memory.done.set()
        api_memory.join()
        worker_memory.join()
    redis.close()
    cluster_rate = n_trials / wall
    rows += [
        ("POST /v1/sweeps", f"{post_seconds * 1000:.0f} ms"),
        ("wall time (POST → succeeded)", f"{wall:.1f} s"),
        ("cluster trials/s", f"{cluster_rate:,.0f}"),
        ("status poll while running (p50 / p99 / max)",
         f"{statistics.median(polls) * 1000:.1f} / "
         f"{np.percentile(polls, 99) * 1000:.1f} / {max(polls) * 1000:.1f} ms "
         f"({len(polls)} polls)"),
        ("GET /results", f"{results_seconds * 1000:.0f} ms, {len(results):,} bytes"),
        ("top-10 (order=score)", f"{top_seconds * 1000:.0f} ms, best final_loss "
         f"{top['items'][0]['final_loss']:.3g}"),
        ("every trial paged (limit 1000)", f"{paging_seconds:.1f} s"),
        ("trials.ndjson streamed", f"{ndjson_seconds:.1f} s, {ndjson_bytes / 2**20:,.0f} MiB"),
        ("API peak RSS", mib(api_memory.largest())),
        ("worker peak RSS (largest process)", mib(worker_memory.largest())),
        ("Redis used memory, after − before", mib(used_after - used_before)),
    ]
    if not args.no_baseline:
        baseline_seconds, document = timed(lambda: run_sweep(body))
        assert len(document["trials"]) == n_trials
        del document
        rows += [("run_sweep in one process", f"{baseline_seconds:.1f} s, "
                  f"{n_trials / baseline_seconds:,.0f} trials/s"),
                 ("cluster ÷ run_sweep (target ≥ 0.7×)",
                  f"{cluster_rate / (n_trials / baseline_seconds):.2f}×")]
    print("\n| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
