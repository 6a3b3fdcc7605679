"""Benchmarks of gradsweep's service: latency, throughput and the results endpoint, both modes.

Run from the project root, in the dev virtualenv, with Redis on 127.0.0.1:6379::

    python bench/api.py             # full run, about 2 minutes here (under 4)
    python bench/api.py --quick     # smoke run with reduced sizes, about 20 s

The real processes run, started as the integration tests start them (``service.testing``: its
commands, settings as ``GRADSWEEP_*`` environment variables, each process in its own session,
logs in a temporary directory): ``gradsweep serve`` and ``gradsweep worker``
for cluster mode, on Redis database 13 (``--redis-db``) with a fresh key prefix and queue;
``gradsweep serve`` alone with ``GRADSWEEP_JOBS=2`` and a fresh data directory for embedded mode.
Every process is stopped and every Redis key the run made is deleted at the end, on failure and
on Ctrl-C too.

S1  Round trip of a 1-trial sweep (sgd on 2-D sphere, one lr, 10 steps): POST /v1/sweeps → poll
    GET /v1/sweeps/{id} every 2 ms until "succeeded" → GET /v1/sweeps/{id}/results, one
    ``httpx.Client`` with keep-alive, sweeps one after the other (a few warm-up sweeps first, not
    counted). Cluster: the API + one ``gradsweep worker --concurrency 1``; embedded: the API alone
    with a local pool of 2. p50 / p95 / max; target p50 < 15 ms in each mode. The breakdown
    (medians): the POST until its 202; the server's own timestamps created → started (queue and
    pickup) → finished (the chunk run, save and assembly); finished → the poll that saw
    "succeeded" returned; the results GET; and for reference a GET /healthz (the HTTP floor) and a
    status GET of a finished sweep.

S2  Throughput of a 20,000-trial sweep (Adam on 20-D Rosenbrock, lr log-spaced 1e-4…1e-1,
    1,000 steps, record_every 100; 4·10⁸ trial·dim·steps, cut by the service into chunks of
    ``GRADSWEEP_CHUNK_WORK`` = 2·10⁷ by default) through two ``gradsweep worker --concurrency 1``
    processes (both cores): the time from just before the POST until a poll (every 20 ms) sees
    "succeeded", against the same sweep embedded in this process — ``optimizers.run_sweep`` (one
    process) and ``workers.local.run_local(spec, jobs=2)`` (the local pool). Each repetition runs
    the contenders (and the fourth, below) back to back in a rotating order on a freshly
    jittered grid; the best repetition counts. Target: cluster ≥ 0.8× the better embedded figure. The cluster's document (its "id"
    dropped) must equal run_sweep's (==), as must run_local's; the script stops otherwise.
    For information: the CPU seconds the API process and the workers used during each cluster
    run (from /proc, per process group) against run_sweep's CPU time; a fourth contender in the
    rotation, the cluster polled every 0.5 s instead of 20 ms (its end taken from the server's
    finished_at), which shows what the status polls cost the workers on a 2-core machine; and
    the same sweep through the embedded API (local pool of 2).

S3  GET /v1/sweeps/{id}/results of a finished 10,000-trial sweep (Adam on 2-D Rosenbrock, 200
    steps, record_every 1: 201 curve points per trial, a document of about 48 MB), timed to the
    last byte over several requests (best and median, each request listed); target < 1 s, in both
    modes, against reading the stored document straight from the store in this process (Redis
    GET / SQLite SELECT). For information: the time from POST to "succeeded" of that sweep,
    against run_sweep of it in this process, and the slowest status poll while waiting for it.

Timing is ``time.perf_counter`` on the client; server timestamps (``time.time`` on the same
machine) only split the round trip. The machine is shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

# bench/ is the first entry of sys.path when a script of it runs: its engine.py imports by name
import engine  # machine facts, formatting
import httpx
import numpy as np
import orjson
import redis

from optimizers import run_sweep
from service.testing import commands, procs
from workers.local import run_local

ROOT = Path(__file__).resolve().parents[1]
Process, command, free_port, group_cpu = (procs.Process, procs.command, procs.free_port,
                                          procs.group_cpu)
say, fmt_time, verdict = engine.say, engine.fmt_time, engine.verdict

REDIS_URL = "redis://127.0.0.1:6379"
REDIS_DB = 13

TARGET_RT_P50 = 0.015         # S1: round trip p50 < 15 ms
TARGET_THROUGHPUT = 0.8       # S2: cluster ≥ 0.8 × the better embedded figure
TARGET_RESULTS = 1.0          # S3: GET results < 1 s

RT_POLL = 0.002               # S1 poll interval
TP_POLL = 0.02                # S2/S3 poll interval
TP_SLOW_POLL = 0.5            # S2 (info): the cluster polled rarely
SLOW = "cluster, 0.5 s polls"
TP_DIM, TP_STEPS, TP_RECORD = 20, 1000, 100
RS_STEPS = 200


# --- processes (after service.testing.cluster) ----------------------------------------------


class BenchError(RuntimeError):
    pass


wait_until = procs.wait_until  # raises procs.WaitFailed


class Deployment:
    """One mode's settings and the processes started with them (cf. harness.Cluster)."""

    def __init__(self, tmp: Path, name: str, redis_url: str | None, **settings: Any) -> None:
        self.tmp = tmp / name
        self.tmp.mkdir(parents=True)
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSWEEP_")}
        self.env.update({"GRADSWEEP_DATA_DIR": str(self.tmp / "data"),
                         "GRADSWEEP_PORT": str(self.port), "GRADSWEEP_HOST": "127.0.0.1",
                         "GRADSWEEP_LOG_LEVEL": "warning"})
        self.prefix: str | None = None
        self.queue: str | None = None
        if redis_url is not None:
            tag = uuid.uuid4().hex[:12]
            self.prefix = f"bench-{tag}:"
            self.queue = f"bench-{tag}"
            self.env.update({"GRADSWEEP_REDIS_URL": redis_url, "GRADSWEEP_KEY_PREFIX": self.prefix,
                             "GRADSWEEP_QUEUE": self.queue})
        self.env.update({f"GRADSWEEP_{k.upper()}": str(v) for k, v in settings.items()})
        self.processes: list[Process] = []
        self.server: Process | None = None

    def _start(self, cmd: list[str], log: str) -> Process:
        process = Process(command(cmd), self.env, self.tmp / log)
        self.processes.append(process)
        return process

    def start_server(self) -> Process:
        self.server = self._start(commands.SERVE, f"serve-{len(self.processes)}.log")
        wait_until(lambda: _answers(self.url + "/healthz"), 60, f"{self.name} API /healthz",
                   self.server)
        return self.server

    def start_worker(self, concurrency: int = 1) -> Process:
        return self._start([*commands.WORKER, "--concurrency", str(concurrency)],
                           f"worker-{len(self.processes)}.log")

    def wait_ready(self, workers: int = 0) -> None:
        """/readyz answers 200 with at least ``workers`` live workers (cluster mode)."""
        def check() -> bool:
            try:
                r = httpx.get(self.url + "/readyz", timeout=2)
            except httpx.HTTPError:
                return False
            return r.status_code == 200 and int(r.json().get("workers", 0)) >= workers
        wait_until(check, 60, f"{self.name}: /readyz with {workers} worker(s)", self.server)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the API process, its pool children (embedded), the workers
        (Celery main processes and their pool children)."""
        out = {"api": 0.0, "api pool": 0.0, "workers": 0.0}
        for process in self.processes:
            leader, rest = group_cpu(process.popen.pid)
            if process is self.server:
                out["api"] += leader
                out["api pool"] += rest
            else:
                out["workers"] += leader + rest
        return out

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def log_tails(self) -> str:
        return "\n".join(p.tail() for p in self.processes)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def redis_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def delete_run_keys(client: redis.Redis, before: set[bytes], deployments: list[Deployment]) -> int:
    """Delete the keys this run made: its prefixes and queues, kombu's bindings of them
    (``_kombu.binding.{queue}``, ``_kombu.binding_permanent.{queue}``), and kombu's shared
    bookkeeping (``unacked*``, ``_kombu.binding_deadlines``, the pidbox bindings) if it did not
    exist before the run."""
    mine: list[str] = []
    for d in deployments:
        if d.prefix is not None and d.queue is not None:
            mine += [d.prefix, d.queue, f"_kombu.binding.{d.queue}",
                     f"_kombu.binding_permanent.{d.queue}"]
    deleted = 0
    for key in redis_keys(client):
        k = key.decode(errors="replace")
        ours = k.startswith(tuple(mine))
        # unacked, unacked_index, _kombu.binding_deadlines, the pidbox bindings …
        kombu_shared = key not in before and k.startswith(("unacked", "_kombu."))
        if ours or kombu_shared:
            deleted += int(client.delete(key))
    return deleted


# --- sweeps -------------------------------------------------------------------------------------


def tiny_spec(i: int) -> dict[str, Any]:
    return {"name": f"rt {i}", "objective": "sphere", "optimizer": "sgd",
            "grid": {"lr": [0.1 * (1 + 1e-6 * i)]}, "steps": 10}


def throughput_spec(trials: int, rep: float) -> dict[str, Any]:
    lrs = (np.geomspace(1e-4, 1e-1, trials) * (1 + 1e-6 * rep)).tolist()
    return {"name": f"throughput {rep}", "objective": {"name": "rosenbrock", "dim": TP_DIM},
            "optimizer": "adam", "grid": {"lr": lrs}, "steps": TP_STEPS,
            "record_every": TP_RECORD}


def results_spec(trials: int, rep: float) -> dict[str, Any]:
    lrs = (np.geomspace(1e-4, 1e-1, trials) * (1 + 1e-6 * rep)).tolist()
    return {"name": f"results {rep}", "objective": {"name": "rosenbrock", "dim": 2},
            "optimizer": "adam", "grid": {"lr": lrs}, "steps": RS_STEPS, "record_every": 1}


def ts(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


def post(client: httpx.Client, spec: dict[str, Any]) -> str:
    r = client.post("/v1/sweeps", json=spec)
    if r.status_code != 202:
        raise BenchError(f"POST /v1/sweeps answered {r.status_code}: {r.text[:500]}")
    return str(r.json()["id"])


def view_of(client: httpx.Client, sweep_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/sweeps/{sweep_id}")
    if r.status_code != 200:
        raise BenchError(f"GET /v1/sweeps/{sweep_id} answered {r.status_code}: {r.text[:500]}")
    view: dict[str, Any] = r.json()
    if view["status"] in ("failed", "cancelled"):
        raise BenchError(f"sweep {sweep_id} {view['status']}: {view.get('error')}")
    return view


def wait_succeeded(client: httpx.Client, sweep_id: str, interval: float,
                   timeout: float = 300.0,
                   latencies: list[float] | None = None) -> tuple[dict[str, Any], int, float]:
    """Poll until succeeded: (last view, polls, slowest poll in s); each poll's time is
    appended to ``latencies`` if given."""
    deadline = time.perf_counter() + timeout
    polls, slowest = 0, 0.0
    while True:
        t0 = time.perf_counter()
        view = view_of(client, sweep_id)
        took = time.perf_counter() - t0
        slowest = max(slowest, took)
        if latencies is not None:
            latencies.append(took)
        polls += 1
        if view["status"] == "succeeded":
            return view, polls, slowest
        if time.perf_counter() > deadline:
            raise BenchError(f"sweep {sweep_id} not done after {timeout} s: {view}")
        time.sleep(interval)


def get_results(client: httpx.Client, sweep_id: str) -> bytes:
    r = client.get(f"/v1/sweeps/{sweep_id}/results")
    if r.status_code != 200:
        raise BenchError(f"GET results of {sweep_id} answered {r.status_code}: {r.text[:500]}")
    return r.content


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q, method="linear"))


# --- S1 -----------------------------------------------------------------------------------------


def bench_round_trip(d: Deployment, n: int, warm: int) -> dict[str, Any]:
    say(f"\n== S1 [{d.name}]: round trip of a 1-trial sweep, {n} sweeps after {warm} warm-up, "
        f"poll every {RT_POLL * 1e3:g} ms ==")
    rows: list[dict[str, float]] = []
    with d.client() as client:
        for i in range(warm + n):
            spec = tiny_spec(i)
            t0 = time.perf_counter()
            sweep_id = post(client, spec)
            t1 = time.perf_counter()
            view, polls, _ = wait_succeeded(client, sweep_id, RT_POLL, timeout=30)
            t2 = time.perf_counter()
            seen = time.time()
            body = get_results(client, sweep_id)
            t3 = time.perf_counter()
            if orjson.loads(body)["status"] != "succeeded":
                raise BenchError(f"results of {sweep_id} not succeeded: {body[:300]!r}")
            if i < warm:
                continue
            created, started, finished = (ts(view["created_at"]), ts(view["started_at"]),
                                          ts(view["finished_at"]))
            rows.append({"total": t3 - t0, "post": t1 - t0, "wait": t2 - t1, "results": t3 - t2,
                         "polls": polls,
                         "queued": (started or created or 0) - (created or 0),
                         "run": (finished or 0) - (started or 0),
                         "notice": seen - (finished or seen)})
        # references: the HTTP floor and a status GET of a finished sweep
        floor, status_get = [], []
        for _ in range(max(20, n // 2)):
            t0 = time.perf_counter()
            client.get("/healthz").raise_for_status()
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            view_of(client, sweep_id)
            status_get.append(time.perf_counter() - t0)
    total = [r["total"] for r in rows]
    out: dict[str, Any] = {"mode": d.name, "n": n, "p50": pct(total, 50), "p95": pct(total, 95),
           "max": max(total), "min": min(total),
           "parts": {k: statistics.median(r[k] for r in rows)
                     for k in ("post", "wait", "results", "queued", "run", "notice", "polls")},
           "floor": statistics.median(floor), "status_get": statistics.median(status_get)}
    ok = out["p50"] < TARGET_RT_P50
    say(f"round trip  p50 {fmt_ms(out['p50'])}  p95 {fmt_ms(out['p95'])}  max "
        f"{fmt_ms(out['max'])}  (min {fmt_ms(out['min'])})   target p50 < "
        f"{TARGET_RT_P50 * 1e3:g} ms {verdict(ok)}")
    p = out["parts"]
    say(f"  breakdown (medians): POST → 202 {fmt_ms(p['post'])} | 202 → 'succeeded' seen "
        f"{fmt_ms(p['wait'])} ({p['polls']:.0f} polls) | GET results {fmt_ms(p['results'])}")
    say(f"  server clock: created → started {fmt_ms(p['queued'])} | started → finished "
        f"{fmt_ms(p['run'])} | finished → poll returned {fmt_ms(p['notice'])}")
    say(f"  reference: GET /healthz {fmt_ms(out['floor'])} | GET /v1/sweeps/{{id}} (finished) "
        f"{fmt_ms(out['status_get'])}")
    return out


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


# --- S2 -----------------------------------------------------------------------------------------


def through_service(d: Deployment, spec: dict[str, Any], interval: float = TP_POLL
                    ) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """(seconds POST → succeeded seen, results document without its id, last view).

    The view also holds, under ``_post``, ``_cpu``, ``_polls`` and ``_wall0``: the POST's time,
    the CPU seconds each kind of process used meanwhile, every status poll's time, and the wall
    clock just before the POST."""
    latencies: list[float] = []
    with d.client() as client:
        cpu0 = d.cpu()
        wall0 = time.time()
        t0 = time.perf_counter()
        sweep_id = post(client, spec)
        t_post = time.perf_counter() - t0
        view, _, _ = wait_succeeded(client, sweep_id, interval, latencies=latencies)
        t = time.perf_counter() - t0
        cpu1 = d.cpu()
        doc = orjson.loads(get_results(client, sweep_id))
    doc.pop("id")
    view.update(_post=t_post, _cpu={k: cpu1[k] - cpu0[k] for k in cpu0}, _polls=latencies,
                _wall0=wall0)
    return t, doc, view


def describe_run(t: float, view: dict[str, Any]) -> str:
    """One line: the server's clock, the CPU each kind of process used, the status polls."""
    created, started, finished = (ts(view["created_at"]), ts(view["started_at"]),
                                  ts(view["finished_at"]))
    cpu = view["_cpu"]
    polls = view["_polls"]
    return (f"POST {fmt_ms(view['_post'])}, created → started "
            f"{fmt_ms((started or 0) - (created or 0))}, started → finished "
            f"{(finished or 0) - (started or 0):.2f} s; CPU during the {t:.2f} s: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in cpu.items() if v or k != "api pool")
            + f"; {len(polls)} status polls, median {fmt_ms(statistics.median(polls))}, "
            f"max {fmt_ms(max(polls))}, {sum(polls):.2f} s in all")


def bench_throughput(cluster: Deployment, trials: int, reps: int) -> dict[str, Any]:
    say(f"\n== S2: throughput, {trials:,} Adam trials × {TP_STEPS:,} steps on Rosenbrock "
        f"D={TP_DIM} (record_every {TP_RECORD}) ==")
    contenders: dict[str, Callable[[dict[str, Any]], tuple[float, dict[str, Any]]]] = {}

    def cluster_run(spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        t, doc, view = through_service(cluster, spec)
        detail.setdefault("cluster", []).append(describe_run(t, view))
        cpu_tp.append(view["_cpu"])
        n_polls.append(len(view["_polls"]))
        return t, doc

    def cluster_slow_poll(spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        # info: polled every 0.5 s; the end is the server's finished_at, not the coarse poll
        _, doc, view = through_service(cluster, spec, interval=TP_SLOW_POLL)
        slow_cpu.append(view["_cpu"])
        return (ts(view["finished_at"]) or 0) - view["_wall0"], doc

    def in_process(fn: Callable[..., dict[str, Any]], **kw: Any) -> Callable[
            [dict[str, Any]], tuple[float, dict[str, Any]]]:
        def run(spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            c0 = time.process_time()
            t0 = time.perf_counter()
            doc = fn(spec, **kw)
            t = time.perf_counter() - t0
            own_cpu.setdefault(fn.__name__, []).append(time.process_time() - c0)
            return t, doc
        return run

    detail: dict[str, list[str]] = {}
    cpu_tp: list[dict[str, float]] = []
    n_polls: list[int] = []
    slow_cpu: list[dict[str, float]] = []
    own_cpu: dict[str, list[float]] = {}
    contenders["cluster"] = cluster_run
    contenders["run_sweep"] = in_process(run_sweep)
    contenders["run_local"] = in_process(run_local, jobs=2)
    contenders[SLOW] = cluster_slow_poll
    names = list(contenders)
    times: dict[str, list[float]] = {k: [] for k in names}
    for rep in range(reps):
        spec = throughput_spec(trials, rep)
        order = names[rep % len(names):] + names[:rep % len(names)]  # none always first
        docs = {}
        for name in order:
            t, docs[name] = contenders[name](spec)
            times[name].append(t)
            say(f"  rep {rep + 1}: {name:<20} {t:6.2f} s  {trials / t:9,.0f} trials/s")
        if docs["cluster"] != docs["run_sweep"] or docs[SLOW] != docs["run_sweep"]:
            raise BenchError(f"S2: the cluster's results differ from run_sweep's (rep {rep})")
        if docs["run_local"] != docs["run_sweep"]:
            raise BenchError(f"S2: run_local's results differ from run_sweep's (rep {rep})")
        statuses = {tr["status"] for tr in docs["run_sweep"]["trials"]}
        say(f"    results equal (cluster minus id == run_sweep == run_local): yes; trial "
            f"statuses {sorted(statuses)}")
    best = {k: min(v) for k, v in times.items()}
    rate = {k: trials / v for k, v in best.items()}
    better = "run_sweep" if rate["run_sweep"] >= rate["run_local"] else "run_local"
    ratio = {k: rate["cluster"] / rate[k] for k in ("run_sweep", "run_local")}
    ok = ratio[better] >= TARGET_THROUGHPUT
    for name in names:
        say(f"{name:<20} best {best[name]:6.2f} s  median {statistics.median(times[name]):6.2f} s"
            f"  → {rate[name]:9,.0f} trials/s")
    for i, line in enumerate(detail.get("cluster", [])):
        say(f"  cluster rep {i + 1}: {line}")
    say(f"  {SLOW}: CPU per rep: " + "; ".join(
        ", ".join(f"{k} {v:.2f} s" for k, v in c.items() if v or k != "api pool")
        for c in slow_cpu))
    for name, cpus in own_cpu.items():
        say(f"  {name}: CPU of this process per rep " + ", ".join(f"{c:.2f}" for c in cpus)
            + " s" + (" (its pool processes not counted)" if name == "run_local" else ""))
    say(f"cluster / run_sweep = {ratio['run_sweep']:.2f}×, cluster / run_local = "
        f"{ratio['run_local']:.2f}×; the better embedded figure is {better}'s; target ≥ "
        f"{TARGET_THROUGHPUT}× {verdict(ok)}")
    say(f"  (info) {SLOW} / {better} = {rate[SLOW] / rate[better]:.2f}× (the end taken from "
        "the server's finished_at)")
    api_cpu = [c["api"] for c in cpu_tp]
    return {"trials": trials, "times": times, "best": best, "rate": rate, "ratio": ratio,
            "better": better, "ok": ok, "cpu": cpu_tp, "api_cpu": statistics.median(api_cpu),
            "workers_cpu": statistics.median(c["workers"] for c in cpu_tp),
            "polls": statistics.median(n_polls),
            "slow": {"t": best[SLOW], "cpu": statistics.median(c["api"] for c in slow_cpu)},
            "run_sweep_cpu": min(own_cpu.get("run_sweep", [0.0]))}


def bench_throughput_embedded_api(d: Deployment, trials: int, reps: int) -> dict[str, Any]:
    say(f"\n== S2 (info) [{d.name}]: the same sweep through the embedded API (local pool of 2) ==")
    with d.client() as client:  # start and warm both pool processes: 4 chunks
        wait_succeeded(client, post(client, throughput_spec(4000, -3)), TP_POLL)
    times, cpus = [], []
    for rep in range(reps):
        spec = throughput_spec(trials, 100 + rep)
        t, doc, view = through_service(d, spec)
        times.append(t)
        ref_ok = "not checked"
        if rep == 0:
            ref_ok = "== run_sweep" if doc == run_sweep(spec) else "DIFFERS from run_sweep"
            if ref_ok != "== run_sweep":
                raise BenchError("S2: the embedded API's results differ from run_sweep's")
        say(f"  rep {rep + 1}: {t:6.2f} s  {trials / t:9,.0f} trials/s  (results {ref_ok})")
        say(f"    {describe_run(t, view)}")
        cpus.append(view["_cpu"])
    return {"best": min(times), "rate": trials / min(times),
            "api_cpu": statistics.median(c["api"] for c in cpus)}


# --- S3 -----------------------------------------------------------------------------------------


def bench_results(d: Deployment, trials: int, gets: int) -> dict[str, Any]:
    say(f"\n== S3 [{d.name}]: GET results of a finished {trials:,}-trial sweep "
        f"({RS_STEPS} steps, record_every 1) ==")
    spec = results_spec(trials, 0 if d.queue else 1)
    latencies: list[float] = []
    with d.client() as client:
        t0 = time.perf_counter()
        sweep_id = post(client, spec)
        t_post = time.perf_counter() - t0
        view, polls, slowest = wait_succeeded(client, sweep_id, TP_POLL, latencies=latencies)
        t_done = time.perf_counter() - t0
        seen = time.time()
        samples, size = [], 0
        for _ in range(gets):
            t0 = time.perf_counter()
            body = get_results(client, sweep_id)
            samples.append(time.perf_counter() - t0)
            size = len(body)
        t0 = time.perf_counter()
        view_of(client, sweep_id)
        t_status = time.perf_counter() - t0
    store_read = [store_read_seconds(d, sweep_id) for _ in range(3)]
    doc = orjson.loads(body)
    if (doc["status"] != "succeeded" or len(doc["trials"]) != trials
            or {len(tr["curve"]["loss"]) for tr in doc["trials"]} != {RS_STEPS + 1}):
        raise BenchError(f"S3: unexpected results document of {sweep_id}")
    del doc, body
    t0 = time.perf_counter()
    run_sweep(spec)
    t_embedded = time.perf_counter() - t0
    out: dict[str, Any] = {"mode": d.name, "trials": trials, "size": size, "best": min(samples),
           "median": statistics.median(samples), "samples": samples, "done": t_done,
           "slowest_poll": slowest, "polls": polls, "run_sweep": t_embedded,
           "status_after": t_status, "store_read": min(store_read),
           "last_poll": latencies[-1]}
    created, started, finished = (ts(view["created_at"]), ts(view["started_at"]),
                                  ts(view["finished_at"]))
    ok = out["best"] < TARGET_RESULTS
    say(f"document {size / 1e6:.1f} MB; GET results ×{gets}: "
        + ", ".join(f"{s * 1e3:.0f}" for s in samples) + " ms")
    say(f"best {fmt_time(out['best'])}  median {fmt_time(out['median'])}  "
        f"({size / 1e6 / out['best']:.0f} MB/s)  target < {TARGET_RESULTS:g} s {verdict(ok)}")
    say(f"  reading the stored document straight from the store ({STORE_READ[d.name]}): best "
        f"{fmt_time(out['store_read'])} → the endpoint takes "
        f"{out['best'] / out['store_read']:.1f}× that")
    say(f"  (info) POST → succeeded seen {t_done:.2f} s vs run_sweep in-process "
        f"{t_embedded:.2f} s: POST {fmt_ms(t_post)}, created → started "
        f"{fmt_ms((started or 0) - (created or 0))}, started → finished "
        f"{(finished or 0) - (started or 0):.2f} s (the chunk, its save and the document's "
        f"assembly), finished → poll returned {(seen - (finished or seen)):.2f} s")
    say(f"  (info) status polls: {polls}, the slowest {fmt_time(slowest)}, the one that saw "
        f"'succeeded' {fmt_time(latencies[-1])}; a status GET afterwards {fmt_time(t_status)}")
    return out


STORE_READ = {"cluster": "redis-py GET of sweep:{id}:results",
              "embedded": "sqlite3 SELECT results"}


def store_read_seconds(d: Deployment, sweep_id: str) -> float:
    """Seconds to read the stored results document straight from the store, in this process:
    the floor under the endpoint's time."""
    if d.prefix is not None:
        client = redis.Redis.from_url(d.env["GRADSWEEP_REDIS_URL"])
        try:
            t0 = time.perf_counter()
            blob = client.get(f"{d.prefix}sweep:{sweep_id}:results")
            t = time.perf_counter() - t0
        finally:
            client.close()
    else:
        path = Path(d.env["GRADSWEEP_DATA_DIR"]) / "sweeps.sqlite3"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            t0 = time.perf_counter()
            row = db.execute("SELECT results FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            t = time.perf_counter() - t0
            blob = None if row is None else row[0]
        finally:
            db.close()
    if not blob:
        raise BenchError(f"S3: no stored results document for {sweep_id} in the {d.name} store")
    return t


# --- report -------------------------------------------------------------------------------------


def service_facts(r: redis.Redis | None) -> dict[str, str]:
    facts: dict[str, str] = {}
    versions = []
    for package in ("fastapi", "starlette", "uvicorn", "celery", "kombu", "redis", "httpx",
                    "orjson", "uvloop", "httptools"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{package} {importlib.metadata.version(package)}")
    facts["service stack"] = ", ".join(versions)
    if r is not None:
        with contextlib.suppress(Exception):
            info = r.info("server")
            facts["Redis server"] = f"{info.get('redis_version')} at {REDIS_URL}"
    digest = hashlib.sha256()
    for folder in ("service", "workers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    facts["service + workers source sha256"] = digest.hexdigest()[:12]
    return facts


def markdown(facts: dict[str, str], args: argparse.Namespace, rt: list[dict[str, Any]],
             tp: dict[str, Any] | None, tp_api: dict[str, Any] | None,
             rs: list[dict[str, Any]]) -> str:
    lines = ["## Service (`python bench/api.py`)", ""]
    lines.append(f"Run: {time.strftime('%Y-%m-%d %H:%M')}, "
                 f"{'--quick (reduced sizes), ' if args.quick else ''}real `gradsweep serve` / "
                 "`gradsweep worker` processes on this machine, Redis on localhost; all figures "
                 "of a row measured side by side in one run.")
    lines.append("")
    for name, value in facts.items():
        lines.append(f"- {name}: {value}")
    lines += ["", "| Benchmark | Measured | Compared with | Ratio | Target | Result |",
              "|---|---|---|---|---|---|"]
    for r in rt:
        setup = ("API + 1 worker (concurrency 1)" if r["mode"] == "cluster"
                 else "API, local pool of 2")
        p = r["parts"]
        lines.append(
            f"| S1 round trip of a 1-trial sweep, {r['mode']} ({setup}), {r['n']} sweeps | "
            f"p50 {fmt_ms(r['p50'])}, p95 {fmt_ms(r['p95'])}, max {fmt_ms(r['max'])} "
            f"(POST {fmt_ms(p['post'])}, → succeeded seen {fmt_ms(p['wait'])}, results "
            f"{fmt_ms(p['results'])}) | HTTP floor GET /healthz {fmt_ms(r['floor'])} | "
            f"{r['p50'] / r['floor']:.0f}× the floor | p50 < {TARGET_RT_P50 * 1e3:g} ms | "
            f"{verdict(r['p50'] < TARGET_RT_P50)} |")
    if tp is not None:
        n = tp["trials"]
        what = (f"S2 {n:,} Adam trials × {TP_STEPS:,} steps, Rosenbrock D={TP_DIM}, "
                "cluster: 2 workers × concurrency 1")
        for name in ("run_sweep", "run_local"):
            label = ("`optimizers.run_sweep`, one process" if name == "run_sweep"
                     else "`workers.local.run_local(jobs=2)`")
            target = name == tp["better"]
            lines.append(
                f"| {what} | {tp['best']['cluster']:.2f} s, {tp['rate']['cluster']:,.0f} "
                f"trials/s | {label} {tp['best'][name]:.2f} s, {tp['rate'][name]:,.0f} trials/s"
                f" | {tp['ratio'][name]:.2f}× | "
                f"{f'≥ {TARGET_THROUGHPUT}× (better embedded)' if target else '—'} | "
                f"{verdict(tp['ok']) if target else 'info'} |")
            what = "S2 same sweep"
        slow = tp["slow"]
        lines.append(
            f"| S2 (info) CPU used during the cluster run (median of {len(tp['cpu'])}) | API "
            f"process {tp['api_cpu']:.2f} s ({tp['polls']:.0f} status polls at "
            f"{TP_POLL * 1e3:g} ms), workers {tp['workers_cpu']:.2f} s | `run_sweep`'s CPU "
            f"{tp['run_sweep_cpu']:.2f} s | workers + API = "
            f"{(tp['workers_cpu'] + tp['api_cpu']) / tp['run_sweep_cpu']:.2f}× | — | info |")
        lines.append(
            f"| S2 (info) cluster polled every {TP_SLOW_POLL:g} s, POST → `finished_at` | "
            f"{slow['t']:.2f} s (best of {len(tp['times'][SLOW])}), {n / slow['t']:,.0f} "
            f"trials/s, API CPU {slow['cpu']:.2f} s | {tp['better']} best {tp['best'][tp['better']]:.2f} s "
            f"| {n / slow['t'] / tp['rate'][tp['better']]:.2f}× | — | info |")
        if tp_api is not None:
            lines.append(
                f"| S2 same sweep through the embedded API (pool of 2) (info) | "
                f"{tp_api['best']:.2f} s, {tp_api['rate']:,.0f} trials/s | "
                f"`run_local(jobs=2)` {tp['best']['run_local']:.2f} s | "
                f"{tp_api['rate'] / tp['rate']['run_local']:.2f}× | — | info |")
    for r in rs:
        lines.append(
            f"| S3 GET results, {r['trials']:,} trials × {RS_STEPS + 1} curve points "
            f"({r['size'] / 1e6:.1f} MB), {r['mode']}, {len(r['samples'])} requests | best "
            f"{fmt_time(r['best'])}, median {fmt_time(r['median'])} | "
            f"{STORE_READ[r['mode']]} in-process {fmt_time(r['store_read'])} | "
            f"{r['best'] / r['store_read']:.1f}× | < {TARGET_RESULTS:g} s | "
            f"{verdict(r['best'] < TARGET_RESULTS)} |")
        lines.append(
            f"| S3 (info) POST → succeeded of that sweep, {r['mode']} | {r['done']:.2f} s | "
            f"`run_sweep` in-process {r['run_sweep']:.2f} s | "
            f"{r['done'] / r['run_sweep']:.1f}× its time | — | info |")
        lines.append(
            f"| S3 (info) slowest status poll GET /v1/sweeps/{{id}} while that sweep ran "
            f"({r['polls']} polls), {r['mode']} | {fmt_time(r['slowest_poll'])} | GET results "
            f"best {fmt_time(r['best'])} | {r['slowest_poll'] / r['best']:.1f}× | — | info |")
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run with reduced sizes")
    parser.add_argument("--sweeps", type=int, default=None, metavar="N",
                        help="S1 sweeps per mode (default 100, --quick 20)")
    parser.add_argument("--reps", type=int, default=None, metavar="N",
                        help="S2 repetitions (default 4, --quick 1)")
    parser.add_argument("--gets", type=int, default=None, metavar="N",
                        help="S3 requests per mode (default 7, --quick 3)")
    parser.add_argument("--redis-db", type=int, default=REDIS_DB,
                        help=f"Redis database for the cluster (default {REDIS_DB})")
    parser.add_argument("--keep", action="store_true", help="keep the logs' temporary directory")
    args = parser.parse_args(argv)
    n_rt = args.sweeps or (20 if args.quick else 100)
    warm = 3 if args.quick else 5
    reps = args.reps or (1 if args.quick else 4)
    gets = args.gets or (3 if args.quick else 7)
    tp_trials = 4_000 if args.quick else 20_000
    rs_trials = 2_000 if args.quick else 10_000
    if min(n_rt, reps, gets) < 1:
        parser.error("--sweeps, --reps and --gets must be >= 1")

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    t_start = time.perf_counter()
    redis_url = f"{REDIS_URL}/{args.redis_db}"
    r = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        r.ping()
    except redis.exceptions.ConnectionError:
        say(f"Redis is not reachable at {redis_url} — start redis-server")
        return 2
    before = redis_keys(r)

    facts = engine.machine_facts()
    facts.update(service_facts(r))
    say("gradsweep service benchmarks" + (" (--quick: reduced sizes)" if args.quick else ""))
    for name, value in facts.items():
        say(f"  {name}: {value}")
    if before:
        say(f"  note: Redis db {args.redis_db} already holds {len(before)} keys (left alone)")

    tmp = Path(tempfile.mkdtemp(prefix="gradsweep-bench-"))
    deployments: list[Deployment] = []
    rt: list[dict[str, Any]] = []
    rs: list[dict[str, Any]] = []
    tp = tp_api = None
    failed = True
    try:
        # warm this process's engine (imports, first calls) before anything is timed
        run_sweep(throughput_spec(200, -1))

        # --- cluster ---
        cluster = Deployment(tmp, "cluster", redis_url)
        deployments.append(cluster)
        cluster.start_server()
        cluster.start_worker(1)
        cluster.wait_ready(workers=1)
        rt.append(bench_round_trip(cluster, n_rt, warm))

        cluster.start_worker(1)
        cluster.wait_ready(workers=2)
        with cluster.client() as client:  # warm both workers' engines: 4 chunks
            wait_succeeded(client, post(client, throughput_spec(4000, -2)), TP_POLL)
        tp = bench_throughput(cluster, tp_trials, reps)
        rs.append(bench_results(cluster, rs_trials, gets))
        cluster.stop()

        # --- embedded ---
        embedded = Deployment(tmp, "embedded", None, jobs=2)
        deployments.append(embedded)
        embedded.start_server()
        embedded.wait_ready()
        rt.append(bench_round_trip(embedded, n_rt, warm))
        tp_api = bench_throughput_embedded_api(embedded, tp_trials, 1)
        rs.append(bench_results(embedded, rs_trials, gets))
        embedded.stop()
        failed = False
    except (BenchError, procs.WaitFailed) as exc:
        say(f"\nFAILED: {exc}")
        for d in deployments:
            say(d.log_tails())
    except KeyboardInterrupt:
        say("\ninterrupted")
    finally:
        for d in deployments:
            d.stop()
        with contextlib.suppress(Exception):
            deleted = delete_run_keys(r, before, deployments)
            say(f"\n(stopped {sum(len(d.processes) for d in deployments)} processes, deleted "
                f"{deleted} Redis keys)")
        r.close()
        if args.keep or failed:
            say(f"(logs kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        return 1

    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"\n(total wall time {time.perf_counter() - t_start:.1f} s)")
    say("\n----- 8< ----- Markdown for BENCHMARKS.md ----- 8< -----\n")
    say(markdown(facts, args, rt, tp, tp_api, rs))
    say("\n----- 8< -----")
    return 0


if __name__ == "__main__":
    sys.exit(main())
