"""Load on the API: 200 clients polling a running sweep while 20 more sweeps are submitted at once;
or (``--mode viewers``) 100 SSE viewers of a running sweep while 20 CSVs are downloaded at once.

Run from the project root, in the dev virtualenv, with Redis on 127.0.0.1:6379::

    python bench/load.py            # full run: 200 clients for 30 s, about 2 minutes in all
    python bench/load.py --quick    # smoke run: 50 clients for 8 s, under a minute
    python bench/load.py --mode viewers           # 100 SSE viewers + 20 CSV downloads, 20 s
    python bench/load.py --mode viewers --quick   # the same for 8 s

Cluster mode on real processes, started as the integration tests start them (the commands of
``service.testing.commands``, settings as ``GRADSWEEP_*`` variables, each process in its own
session, logs in a temporary directory): one ``gradsweep serve`` and two ``gradsweep worker
--concurrency 1`` on Redis database 12 (``--redis-db``) with a fresh key prefix and queue. Only
127.0.0.1 is ever contacted. Every process is stopped and every Redis key the run made is deleted
at the end, on failure and on Ctrl-C too.

1. A long sweep (16,000 Adam trials × 5,000 steps on 20-D Rosenbrock, 1.6·10⁹ trial·dim·steps:
   sized to keep both workers busy through the load window) is submitted.
2. ``--clients`` clients (asyncio tasks, each with its own ``httpx.AsyncClient`` and so its own
   keep-alive connection) poll ``GET /v1/sweeps/{id}`` of it, each every ``--interval`` seconds
   (a random phase each, seeded), for ``--seconds`` or ``--max-polls`` polls each, whichever
   comes first; then they stop.
3. One second into the window, ``--posts`` sweeps (every optimizer, every objective) are
   submitted at the same moment, each by its own client.
4. After the window, every sweep is waited for and its results document, without its ``"id"``,
   must equal ``optimizers.run_sweep(spec)`` computed in this process (``==``, exact).

``--mode viewers`` (same processes) instead: a sweep with long curves (``--csv-trials`` sphere
trials × 2,001 recorded steps, a results document of about 70 MB at the default 2,000) is run
to the end; then the long sweep of step 1 is submitted and, for ``--seconds``, ``--viewers`` clients
follow it on ``GET /v1/sweeps/{id}/events`` (one stream each, counting its events) while one
client polls ``/healthz`` back to back and the API's resident memory (VmRSS) is sampled; one
second in, ``--downloads`` clients download ``results.csv`` of the long-curves sweep at the same
moment. Every CSV must equal ``results_csv`` of the sweep's results document. Reported: errors,
``/healthz`` latency (p50 / p99 / max), the downloads' latency and size, the events the viewers
got, the API's peak RSS over its RSS before the window, and the CPU each process used.

Reported by the default mode: errors (any exception or a status other than 200/202; the target
is none), the latency of the polls and of the POSTs (p50 / p99 / max, measured on the client
from send to the last byte, so it includes this process's own scheduling of its clients), the
throughput of the polls, how long the long sweep ran and what the polls saw, and the CPU each
process used. The machine is shared and has 2 cores for the API, the workers and the clients
together: the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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

Process, free_port = procs.Process, procs.free_port

HOST = "127.0.0.1"
REDIS_URL = f"redis://{HOST}:6379"
REDIS_DB = 12


def say(*args: Any) -> None:
    print(*args, flush=True)


class BenchError(RuntimeError):
    pass


# --- processes (after service.testing.cluster) ----------------------------------------------


class Cluster:
    """``gradsweep serve`` and ``gradsweep worker`` on a private key prefix and queue."""

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.tmp = tmp
        self.port = free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        tag = uuid.uuid4().hex[:12]
        self.prefix = f"bench-load-{tag}:"
        self.queue = f"bench-load-{tag}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSWEEP_")}
        self.env.update({"GRADSWEEP_DATA_DIR": str(tmp / "data"), "GRADSWEEP_HOST": HOST,
                         "GRADSWEEP_PORT": str(self.port), "GRADSWEEP_LOG_LEVEL": "warning",
                         "GRADSWEEP_REDIS_URL": redis_url, "GRADSWEEP_KEY_PREFIX": self.prefix,
                         "GRADSWEEP_QUEUE": self.queue})
        self.server: Process | None = None
        self.workers: list[Process] = []

    def _start(self, cmd: list[str], log: str) -> Process:
        return Process(procs.command(cmd), self.env, self.tmp / log)

    def start(self, workers: int) -> None:
        self.server = self._start(commands.SERVE, "serve.log")
        for i in range(workers):
            self.workers.append(self._start([*commands.WORKER, "--concurrency", "1"],
                                            f"worker-{i}.log"))
        self.wait_until(lambda: self._ready(workers), 60, f"/readyz with {workers} workers")

    def _ready(self, workers: int) -> bool:
        try:
            r = httpx.get(self.url + "/readyz", timeout=2)
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and int(r.json().get("workers", 0)) >= workers

    def wait_until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            for p in self.processes:
                if p.popen.poll() is not None:
                    raise BenchError(f"{p.log_path.name} exited while waiting for {what}")
            time.sleep(0.1)
        raise BenchError(f"timed out after {timeout} s waiting for {what}")

    @property
    def processes(self) -> list[Process]:
        return [p for p in (self.server, *self.workers) if p is not None]

    def cpu(self) -> dict[str, float]:
        return {"api": self.server.cpu() if self.server else 0.0,
                "workers": sum(w.cpu() for w in self.workers)}

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()


def delete_run_keys(r: redis.Redis, before: set[bytes], cluster: Cluster) -> int:
    """The keys this run made: its prefix and queue, kombu's bindings of its queue, and kombu's
    shared bookkeeping (``unacked*``, ``_kombu.*``) if it did not exist before the run."""
    mine = (cluster.prefix, cluster.queue, f"_kombu.binding.{cluster.queue}",
            f"_kombu.binding_permanent.{cluster.queue}")
    deleted = 0
    for key in list(r.scan_iter(count=1000)):
        k = key.decode(errors="replace")
        if k.startswith(mine) or (key not in before and k.startswith(("unacked", "_kombu."))):
            deleted += int(r.delete(key))
    return deleted


# --- the sweeps ---------------------------------------------------------------------------------


def long_spec(trials: int, steps: int) -> dict[str, Any]:
    """Adam on 20-D Rosenbrock: ``trials`` × 20 × ``steps`` of work, 11 curve points a trial."""
    return {"name": "load: long sweep", "objective": {"name": "rosenbrock", "dim": 20},
            "optimizer": "adam", "grid": {"lr": np.geomspace(1e-4, 1e-1, trials).tolist()},
            "steps": steps, "record_every": steps // 10}


OBJECTIVES = [{"name": "rosenbrock", "dim": 10}, {"name": "sphere", "dim": 20},
              {"name": "quadratic", "dim": 20, "condition": 100.0}, {"name": "rastrigin", "dim": 8},
              {"name": "ackley", "dim": 8}, {"name": "styblinski_tang", "dim": 8},
              {"name": "beale"}, {"name": "booth"}, {"name": "himmelblau"}]
EXTRA: dict[str, dict[str, Any]] = {"sgd": {}, "momentum": {"momentum": [0.5, 0.9]}, "nesterov": {"momentum": [0.5, 0.9]},
         "adagrad": {"eps": 1e-8}, "rmsprop": {"decay": [0.9, 0.99]},
         "adam": {"beta1": [0.8, 0.9], "eps": 1e-8}}


def burst_spec(i: int, lrs: int) -> dict[str, Any]:
    """The ``i``-th of the sweeps submitted at once: each optimizer, each objective, seeds and
    random starts in turn."""
    optimizer = list(EXTRA)[i % len(EXTRA)]
    objective = OBJECTIVES[i % len(OBJECTIVES)]
    spec: dict[str, Any] = {
        "name": f"load: burst {i}", "objective": objective,
        "optimizer": {"name": optimizer, "eps_placement": "outside"} if (
            optimizer in ("adam", "rmsprop") and i % 4 == 1) else optimizer,
        "grid": {"lr": np.geomspace(1e-4, 3e-1, lrs).tolist(), **EXTRA[optimizer]},
        "steps": 300 + 50 * (i % 5), "seeds": 1 + i % 3, "record_every": 25,
        "metric": ("final_loss", "min_loss", "mean_loss")[i % 3]}
    if i % 2:
        spec["init"] = {"distribution": "normal" if i % 4 == 1 else "uniform", "scale": 0.5}
    return spec


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw."""

    poll_latency: list[float] = field(default_factory=list)
    post_latency: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    posted: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → spec
    window: float = 0.0


async def poller(i: int, url: str, path: str, until: float, interval: float, max_polls: int,
                 tally: Tally, rng: random.Random) -> None:
    """One client: a keep-alive connection, a poll every ``interval`` s until ``until``."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await asyncio.sleep(rng.uniform(0, interval))  # a phase of its own
        next_at = time.perf_counter()
        for _ in range(max_polls):
            if time.perf_counter() >= until:
                break
            start = time.perf_counter()
            try:
                response = await client.get(path)
                took = time.perf_counter() - start
                if response.status_code == 200:
                    tally.poll_latency.append(took)
                    tally.statuses[response.json()["status"]] += 1
                else:
                    tally.errors[f"GET {response.status_code}"] += 1
            except httpx.HTTPError as exc:
                tally.errors[f"GET {type(exc).__name__}"] += 1
            next_at = max(next_at + interval, time.perf_counter())
            await asyncio.sleep(next_at - time.perf_counter())


async def poster(url: str, spec: dict[str, Any], go: asyncio.Event, tally: Tally) -> None:
    """One client that submits one sweep the moment ``go`` is set."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await client.get("/healthz")  # connected before the burst
        await go.wait()
        start = time.perf_counter()
        try:
            response = await client.post("/v1/sweeps", json=spec)
            took = time.perf_counter() - start
            if response.status_code == 202:
                tally.post_latency.append(took)
                tally.posted[response.json()["id"]] = spec
            else:
                tally.errors[f"POST {response.status_code}: {response.text[:200]}"] += 1
        except httpx.HTTPError as exc:
            tally.errors[f"POST {type(exc).__name__}"] += 1


async def load(url: str, sweep_id: str, burst: list[dict[str, Any]], clients: int,
               seconds: float, interval: float, max_polls: int) -> Tally:
    tally = Tally()
    rng = random.Random(12)
    go = asyncio.Event()
    posters = [asyncio.create_task(poster(url, spec, go, tally)) for spec in burst]
    start = time.perf_counter()
    until = start + seconds
    pollers = [asyncio.create_task(poller(i, url, f"/v1/sweeps/{sweep_id}", until, interval,
                                          max_polls, tally, random.Random(rng.random())))
               for i in range(clients)]
    await asyncio.sleep(1.0)
    go.set()
    await asyncio.gather(*posters, *pollers)
    tally.window = time.perf_counter() - start
    return tally


# --- after the load -----------------------------------------------------------------------------


def wait_finished(url: str, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """The final view of every sweep, polled every 0.5 s; BenchError if one fails or hangs."""
    views: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=60) as client:
        while len(views) < len(ids):
            for sweep_id in ids:
                if sweep_id in views:
                    continue
                view = client.get(f"/v1/sweeps/{sweep_id}").json()
                if view["status"] in ("failed", "cancelled"):
                    raise BenchError(f"sweep {sweep_id} {view['status']}: {view.get('error')}")
                if view["status"] == "succeeded":
                    views[sweep_id] = view
            if time.monotonic() > deadline:
                raise BenchError(f"{len(ids) - len(views)} sweeps not finished after {timeout} s")
            time.sleep(0.5)
    return views


def check_exact(url: str, specs: dict[str, dict[str, Any]]) -> tuple[int, list[str], float]:
    """How many results documents, their "id" dropped, equal ``run_sweep(spec)``; the names of
    those that do not; the seconds ``run_sweep`` took for all of them."""
    same, differ, spent = 0, [], 0.0
    with httpx.Client(base_url=url, timeout=120) as client:
        for sweep_id, spec in specs.items():
            response = client.get(f"/v1/sweeps/{sweep_id}/results")
            if response.status_code != 200:
                raise BenchError(f"GET results of {sweep_id}: {response.status_code}")
            document = orjson.loads(response.content)
            if document.pop("id") != sweep_id:
                raise BenchError(f"results of {sweep_id} carry another id")
            start = time.perf_counter()
            expected = run_sweep(spec)
            spent += time.perf_counter() - start
            if document == expected:
                same += 1
            else:
                differ.append(spec["name"])
    return same, differ, spent


# --- --mode viewers: SSE viewers and CSV downloads ----------------------------------------------


def csv_spec(trials: int, steps: int = 2000) -> dict[str, Any]:
    """SGD on 1-D sphere with every step recorded: ``trials`` × (``steps`` + 1) curve points,
    cheap to run, costly to parse (about 34 bytes of document per point)."""
    return {"name": "load: long curves", "objective": {"name": "sphere", "dim": 1},
            "optimizer": "sgd", "grid": {"lr": np.geomspace(1e-3, 10.0, trials // 2).tolist()},
            "steps": steps, "seeds": 2, "record_every": 1}


def rss(pid: int) -> int:
    """A process's resident memory in bytes (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class ViewerTally:
    """What the viewers, the downloaders and the /healthz poller saw."""

    healthz_latency: list[float] = field(default_factory=list)
    csv_latency: list[float] = field(default_factory=list)
    csv_bodies: list[bytes] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)  # event type → events over all viewers
    streams: int = 0  # viewers whose stream opened (200)
    errors: Counter[str] = field(default_factory=Counter)
    rss_before: int = 0
    rss_peak: int = 0
    window: float = 0.0


async def viewer(client: httpx.AsyncClient, path: str, until: float,
                 tally: ViewerTally) -> None:
    """One SSE viewer: one stream (a connection of its own), its events counted, until
    ``until`` or its ``end``."""
    try:
        async with client.stream("GET", path) as response:
            if response.status_code != 200:
                tally.errors[f"events {response.status_code}"] += 1
                return
            tally.streams += 1
            async with asyncio.timeout(max(0.0, until - time.perf_counter())):
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                        tally.events[event] += 1
                        if event == "end":
                            return
    except TimeoutError:
        return  # the window is over: the viewer leaves
    except httpx.HTTPError as exc:
        tally.errors[f"events {type(exc).__name__}"] += 1


async def downloader(client: httpx.AsyncClient, path: str, go: asyncio.Event,
                     tally: ViewerTally) -> None:
    """One client that downloads ``path`` (results.csv) the moment ``go`` is set."""
    await go.wait()
    start = time.perf_counter()
    try:
        response = await client.get(path)
        if response.status_code == 200:
            tally.csv_latency.append(time.perf_counter() - start)
            tally.csv_bodies.append(response.content)
        else:
            tally.errors[f"CSV {response.status_code}: {response.text[:200]}"] += 1
    except httpx.HTTPError as exc:
        tally.errors[f"CSV {type(exc).__name__}"] += 1


async def healthz_poller(client: httpx.AsyncClient, until: float, tally: ViewerTally) -> None:
    """``/healthz`` back to back (10 ms apart) on one keep-alive connection until ``until``."""
    while time.perf_counter() < until:
        start = time.perf_counter()
        try:
            response = await client.get("/healthz")
            if response.status_code == 200:
                tally.healthz_latency.append(time.perf_counter() - start)
            else:
                tally.errors[f"healthz {response.status_code}"] += 1
        except httpx.HTTPError as exc:
            tally.errors[f"healthz {type(exc).__name__}"] += 1
        await asyncio.sleep(0.01)


async def rss_sampler(pid: int, until: float, tally: ViewerTally) -> None:
    while time.perf_counter() < until:
        tally.rss_peak = max(tally.rss_peak, rss(pid))
        await asyncio.sleep(0.05)


async def view_and_download(url: str, api_pid: int, watched: str, csv_id: str, viewers: int,
                            downloads: int, seconds: float) -> ViewerTally:
    """The window: viewers, downloads at 1 s, /healthz and RSS throughout. The clients are
    pooled (each stream or download still holds a connection of its own): making 120
    ``httpx.AsyncClient`` costs seconds of this process's loop, which would skew the window."""
    tally = ViewerTally(rss_before=rss(api_pid))
    tally.rss_peak = tally.rss_before
    go = asyncio.Event()
    unlimited = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with (httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30, read=60),
                                  limits=unlimited) as streams,
                httpx.AsyncClient(base_url=url, timeout=300, limits=unlimited) as csvs,
                httpx.AsyncClient(base_url=url, timeout=60) as health):
        await asyncio.gather(*(csvs.get("/healthz") for _ in range(downloads)))  # connected
        start = time.perf_counter()
        until = start + seconds
        path = f"/v1/sweeps/{csv_id}/results.csv"
        tasks = [asyncio.create_task(downloader(csvs, path, go, tally)) for _ in range(downloads)]
        tasks += [asyncio.create_task(viewer(streams, f"/v1/sweeps/{watched}/events", until,
                                             tally)) for _ in range(viewers)]
        tasks += [asyncio.create_task(healthz_poller(health, until, tally)),
                  asyncio.create_task(rss_sampler(api_pid, until, tally))]
        await asyncio.sleep(1.0)
        go.set()
        await asyncio.gather(*tasks)
        tally.window = time.perf_counter() - start
    return tally


def run_viewers(args: argparse.Namespace, cluster: Cluster, long_trials: int,
                long_steps: int) -> tuple[dict[str, Any], bool]:
    """``--mode viewers`` on a started cluster: its result for ``markdown_viewers``, and
    whether it failed."""
    from service.routes.export import results_csv

    url = cluster.url
    assert cluster.server is not None
    with httpx.Client(base_url=url, timeout=120) as client:
        response = client.post("/v1/sweeps", json=csv_spec(args.csv_trials))
        if response.status_code != 202:
            raise BenchError(f"POST of the long-curves sweep: {response.status_code} "
                             f"{response.text}")
        csv_id = response.json()["id"]
        wait_finished(url, [csv_id], 300)
        response = client.post("/v1/sweeps", json=long_spec(long_trials, long_steps))
        if response.status_code != 202:
            raise BenchError(f"POST of the long sweep: {response.status_code} {response.text}")
        long_id = response.json()["id"]
    say(f"\nlong-curves sweep {csv_id} done ({args.csv_trials:,} trials × 2,001 recorded "
        f"steps); long sweep {long_id} running: {args.viewers} SSE viewers for "
        f"{args.seconds:g} s, {args.downloads} CSV downloads at 1 s")
    cpu0 = cluster.cpu()
    tally = asyncio.run(view_and_download(url, cluster.server.popen.pid, long_id, csv_id,
                                          args.viewers, args.downloads, args.seconds))
    cpu1 = cluster.cpu()
    cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
    say(f"window {tally.window:.1f} s: /healthz {dist(tally.healthz_latency)}; CSV "
        f"{dist(tally.csv_latency)}; events {dict(tally.events)}; API RSS "
        f"{tally.rss_before / 1e6:.0f} → {tally.rss_peak / 1e6:.0f} MB; errors "
        f"{dict(tally.errors) or 0}")
    with httpx.Client(base_url=url, timeout=300) as client:
        long_view = client.get(f"/v1/sweeps/{long_id}").json()
        client.delete(f"/v1/sweeps/{long_id}")  # the window is over: no need to run it out
        document = client.get(f"/v1/sweeps/{csv_id}/results")
    say(f"the long sweep at the end of the window: {long_view['status']}, "
        f"{long_view['progress']['done']:,} of {long_view['progress']['total']:,} trials done"
        f"{'; ' + str(long_view['error']) if long_view.get('error') else ''}")
    expected = results_csv(orjson.loads(document.content)).encode()
    same = sum(body == expected for body in tally.csv_bodies)
    result = {"tally": tally, "cpu": cpu, "document_bytes": len(document.content),
              "csv_bytes": len(expected), "same": same, "long_trials": long_trials,
              "long_steps": long_steps, "long_view": long_view}
    failed = (bool(tally.errors) or same != args.downloads or tally.streams != args.viewers)
    return result, failed


def markdown_viewers(facts: dict[str, str], args: argparse.Namespace, r: dict[str, Any]) -> str:
    t: ViewerTally = r["tally"]
    errors = sum(t.errors.values())
    lines = ["## Load: SSE viewers and CSV downloads (`python bench/load.py --mode viewers`)", "",
             (f"Run: {time.strftime('%Y-%m-%d %H:%M')}{', --quick' if args.quick else ''}: "
              f"one `gradsweep serve` and {args.workers} `gradsweep worker --concurrency 1` in "
              "cluster mode on Redis (localhost), the clients in one asyncio process, all on "
              "the same 2 cores."), ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines += ["", "| Measure | Result | Target |", "|---|---|---|"]
    lines.append(f"| errors (exceptions, statuses other than 200) | {errors}"
                 f"{' — ' + '; '.join(f'{k} ×{v}' for k, v in t.errors.items()) if errors else ''}"
                 f" | 0 {'PASS' if errors == 0 else 'FAIL'} |")
    lines.append(f"| GET /healthz, back to back during the {t.window:.1f} s window | "
                 f"{len(t.healthz_latency):,} answers; {dist(t.healthz_latency)} | — |")
    lines.append(f"| GET /v1/sweeps/{{id}}/events: {args.viewers} viewers of the long sweep "
                 f"({r['long_trials']:,} Adam trials × {r['long_steps']:,} steps; at the end "
                 f"of the window {r['long_view']['status']}, "
                 f"{r['long_view']['progress']['done']:,} trials done) | {t.streams} streams open, "
                 f"{', '.join(f'{v:,} {k}' for k, v in t.events.items()) or 'no'} events | — |")
    lines.append(f"| GET results.csv: {args.downloads} at the same moment, of a sweep of "
                 f"{args.csv_trials:,} trials × 2,001 recorded steps (document "
                 f"{r['document_bytes'] / 1e6:.0f} MB, CSV {r['csv_bytes'] / 1e3:.0f} kB) | "
                 f"{len(t.csv_latency)} × 200; {dist(t.csv_latency)} | — |")
    lines.append(f"| every CSV == `results_csv(document)` | {r['same']} of {args.downloads} | "
                 f"all {'PASS' if r['same'] == args.downloads else 'FAIL'} |")
    lines.append(f"| API resident memory (VmRSS) | {t.rss_before / 1e6:.0f} MB before, peak "
                 f"{t.rss_peak / 1e6:.0f} MB during the window | — |")
    lines.append(f"| CPU during the window (info) | API {r['cpu']['api']:.1f} s, workers "
                 f"{r['cpu']['workers']:.1f} s, of {2 * t.window:.0f} core-s | — |")
    return "\n".join(lines)


def stamp(value: str | None) -> float:
    from datetime import datetime
    return datetime.fromisoformat(value).timestamp() if value else math.nan


def q(values: list[float], p: float) -> float:
    return float(np.percentile(np.array(values), p)) if values else math.nan


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1e3:,.1f} ms"


def dist(values: list[float]) -> str:
    return f"p50 {ms(q(values, 50))}, p99 {ms(q(values, 99))}, max {ms(max(values, default=math.nan))}"


# --- report -------------------------------------------------------------------------------------


def markdown(facts: dict[str, str], args: argparse.Namespace, r: dict[str, Any]) -> str:
    t: Tally = r["tally"]
    polls = len(t.poll_latency)
    errors = sum(t.errors.values())
    seen = ", ".join(f"{k} {v / max(polls, 1):.0%}" for k, v in t.statuses.most_common())
    lines = ["## Load (`python bench/load.py`)", "",
             (f"Run: {time.strftime('%Y-%m-%d %H:%M')}{', --quick' if args.quick else ''}: "
             f"one `gradsweep serve` and {args.workers} `gradsweep worker --concurrency 1` in "
             "cluster mode on Redis (localhost), the clients in one asyncio process "
             "(`httpx.AsyncClient` each, keep-alive), all on the same 2 cores."), ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines += ["", "| Measure | Result | Target |", "|---|---|---|"]
    lines.append(f"| errors (exceptions, statuses other than 200/202) | {errors}"
                 f"{' — ' + '; '.join(f'{k} ×{v}' for k, v in t.errors.items()) if errors else ''}"
                 f" | 0 {'PASS' if errors == 0 else 'FAIL'} |")
    lines.append(f"| GET /v1/sweeps/{{id}}: {args.clients} clients, one poll each every "
                 f"{args.interval:g} s for {args.seconds:g} s (the last answer at "
                 f"{t.window:.1f} s) | {polls:,} polls, "
                 f"{polls / t.window:,.0f}/s; {dist(t.poll_latency)} | — |")
    lines.append(f"| POST /v1/sweeps: {args.posts} sweeps at the same moment, during the polls | "
                 f"{len(t.post_latency)} × 202; {dist(t.post_latency)} | — |")
    lines.append(f"| the long sweep ({r['long_trials']:,} Adam trials × {r['long_steps']:,} steps, "
                 f"Rosenbrock D=20) | ran {r['long_ran']:.1f} s "
                 f"(POST → finished), {r['overlap']:.0%} of the window; the polls saw: {seen} "
                 "| runs through the window |")
    lines.append(f"| the {args.posts} burst sweeps (6 optimizers × 9 objectives, "
                 f"{r['burst_trials']:,} trials in all) | all succeeded, the last "
                 f"{r['burst_done']:.1f} s after the burst | — |")
    lines.append(f"| results, \"id\" dropped, == `optimizers.run_sweep(spec)` | "
                 f"{r['same']} of {r['total']} sweeps equal"
                 f"{' (' + ', '.join(r['differ']) + ' differ)' if r['differ'] else ''} | "
                 f"all {'PASS' if r['same'] == r['total'] else 'FAIL'} |")
    lines.append(f"| CPU during the window (info) | API {r['cpu']['api']:.1f} s, workers "
                 f"{r['cpu']['workers']:.1f} s, clients {r['cpu']['clients']:.1f} s, of "
                 f"{2 * t.window:.0f} core-s | — |")
    return "\n".join(lines)


def run_polls(args: argparse.Namespace, cluster: Cluster, long_trials: int, long_steps: int,
              burst_lrs: int) -> tuple[dict[str, Any], bool]:
    """The default mode on a started cluster: its result for ``markdown``, and whether it
    failed."""
    url = cluster.url
    with httpx.Client(base_url=url, timeout=60) as client:
        long = long_spec(long_trials, long_steps)
        response = client.post("/v1/sweeps", json=long)
        if response.status_code != 202:
            raise BenchError(f"POST of the long sweep: {response.status_code} {response.text}")
        long_id = response.json()["id"]
        long_view = response.json()
    burst = [burst_spec(i, burst_lrs) for i in range(args.posts)]
    say(f"\nlong sweep {long_id}: {long_trials:,} trials × {long_steps:,} steps, "
        f"{long_view['progress']['total']:,} to do; {args.clients} clients poll it every "
        f"{args.interval:g} s for {args.seconds:g} s, {args.posts} sweeps posted at 1 s")

    cpu0 = cluster.cpu()
    own0 = time.process_time()
    window_start = time.time()
    tally = asyncio.run(load(url, long_id, burst, args.clients, args.seconds, args.interval,
                             args.max_polls))
    window_end = time.time()
    cpu1 = cluster.cpu()
    cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
    cpu["clients"] = time.process_time() - own0
    say(f"window {tally.window:.1f} s: {len(tally.poll_latency):,} polls "
        f"({dist(tally.poll_latency)}), {len(tally.post_latency)} posts "
        f"({dist(tally.post_latency)}), errors {dict(tally.errors) or 0}")
    say(f"CPU in the window: {', '.join(f'{k} {v:.1f} s' for k, v in cpu.items())}")

    specs = {long_id: long, **tally.posted}
    say(f"waiting for {len(specs)} sweeps to finish …")
    views = wait_finished(url, list(specs), 900)
    long_final = views[long_id]
    started, finished = stamp(long_final["started_at"]), stamp(long_final["finished_at"])
    created = stamp(long_final["created_at"])
    overlap = max(0.0, min(finished, window_end) - max(started, window_start))
    burst_done = max((stamp(views[i]["finished_at"]) for i in tally.posted),
                     default=math.nan) - (window_start + 1.0)
    say(f"long sweep ran {finished - created:.1f} s; the burst's last sweep finished "
        f"{burst_done:.1f} s after the burst")
    say("checking every results document against run_sweep …")
    same, differ, spent = check_exact(url, specs)
    say(f"{same} of {len(specs)} equal (run_sweep took {spent:.1f} s for them all)")
    result = {"tally": tally, "cpu": cpu, "long_trials": long_trials,
              "long_steps": long_steps,
              "long_ran": finished - created, "overlap": overlap / tally.window,
              "burst_trials": sum(views[i]["progress"]["total"] for i in tally.posted),
              "burst_done": burst_done, "same": same, "differ": differ,
              "total": len(specs)}
    return result, bool(tally.errors) or bool(differ) or len(tally.posted) != args.posts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run with reduced sizes")
    parser.add_argument("--mode", choices=("polls", "viewers"), default="polls",
                        help="polls: pollers and a burst of POSTs (default); viewers: SSE "
                        "viewers and a burst of CSV downloads")
    parser.add_argument("--viewers", type=int, default=100, help="--mode viewers: SSE viewers")
    parser.add_argument("--downloads", type=int, default=20,
                        help="--mode viewers: results.csv downloads at once")
    parser.add_argument("--csv-trials", type=int, default=2000,
                        help="--mode viewers: trials of the long-curves sweep (2,001 recorded "
                        "steps each; default 2,000)")
    parser.add_argument("--clients", type=int, default=None,
                        help="polling clients (default 200, --quick 50)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="the polling window (default 30, --quick 8)")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between one client's polls (default 0.5)")
    parser.add_argument("--max-polls", type=int, default=10_000,
                        help="at most this many polls per client (default 10,000)")
    parser.add_argument("--posts", type=int, default=20, help="sweeps submitted at once")
    parser.add_argument("--workers", type=int, default=2, help="gradsweep worker processes")
    parser.add_argument("--long-trials", type=int, default=None,
                        help="trials of the long sweep (default 16,000, --quick 4,000)")
    parser.add_argument("--long-steps", type=int, default=None,
                        help="steps of the long sweep (default 5,000, --quick 3,000)")
    parser.add_argument("--redis-db", type=int, default=REDIS_DB,
                        help=f"Redis database (default {REDIS_DB})")
    parser.add_argument("--keep", action="store_true", help="keep the logs' temporary directory")
    args = parser.parse_args(argv)
    args.clients = args.clients or (50 if args.quick else 200)
    args.seconds = args.seconds or (8.0 if args.quick else 20.0 if args.mode == "viewers"
                                    else 30.0)
    small = args.quick and args.mode == "polls"  # the viewers watch the long sweep to the end
    long_trials = args.long_trials or (4_000 if small else 16_000)
    long_steps = args.long_steps or (3_000 if small else 5_000)
    burst_lrs = 100 if args.quick else 400
    if min(args.clients, args.posts, args.workers, args.max_polls, args.viewers, args.downloads,
           args.csv_trials // 2) < 1 or args.seconds <= 0:
        parser.error("--clients, --posts, --workers, --max-polls, --viewers, --downloads, "
                     "--csv-trials (2 or more) and --seconds must be positive")

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    redis_url = f"{REDIS_URL}/{args.redis_db}"
    r = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        r.ping()
    except redis.exceptions.ConnectionError:
        say(f"Redis is not reachable at {redis_url} — start redis-server")
        return 2
    before = set(r.scan_iter(count=1000))
    facts = engine.machine_facts()
    versions = [f"{p} {importlib.metadata.version(p)}" for p in
                ("fastapi", "starlette", "uvicorn", "celery", "redis", "httpx", "orjson")]
    facts["service stack"] = ", ".join(versions)
    facts["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    say("gradsweep load bench" + (" (--quick)" if args.quick else ""))
    for name, value in facts.items():
        say(f"  {name}: {value}")

    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="gradsweep-load-"))
    cluster = Cluster(tmp, redis_url)
    result: dict[str, Any] = {}
    failed = True
    try:
        cluster.start(args.workers)
        url = cluster.url
        with httpx.Client(base_url=url, timeout=60) as client:
            # warm the workers' engines (imports, first calls) and the API's code paths
            warm = [client.post("/v1/sweeps", json=burst_spec(i, 10)).json()["id"]
                    for i in range(args.workers * 2)]
            wait_finished(url, warm, 120)
        if args.mode == "viewers":
            result, failed = run_viewers(args, cluster, long_trials, long_steps)
        else:
            result, failed = run_polls(args, cluster, long_trials, long_steps, burst_lrs)
    except BenchError as exc:
        say(f"\nFAILED: {exc}")
        for p in cluster.processes:
            say(p.tail())
    except KeyboardInterrupt:
        say("\ninterrupted")
    finally:
        cluster.stop()
        with contextlib.suppress(Exception):
            deleted = delete_run_keys(r, before, cluster)
            say(f"\n(stopped {len(cluster.processes)} processes, deleted {deleted} Redis keys)")
        r.close()
        if args.keep or failed:
            say(f"(logs kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if not result:
        return 1
    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"\n(total wall time {time.perf_counter() - t_start:.1f} s)")
    say("\n----- 8< ----- Markdown for BENCHMARKS.md ----- 8< -----\n")
    say((markdown_viewers if args.mode == "viewers" else markdown)(facts, args, result))
    say("\n----- 8< -----")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
