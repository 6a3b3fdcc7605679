"""Cluster mode under faults, with real processes (RELIABILITY.md says what each test proves).

Every test runs a real ``gradsweep serve`` and real ``gradsweep worker`` processes (Celery,
prefork) and kills some of them — or Redis itself — with real signals. Each test that measures
a figure RELIABILITY.md quotes prints it (``pytest -s`` shows the ``FIGURE`` lines).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import (
    Cluster,
    cluster,
    descendants,
    free_port,
    private_redis,
    redis_client,
    unacked_chunks,
    wait_for_status,
    wait_until,
)

from optimizers import SweepStatus, run_sweep

# 24 trials in 12 chunks of about half a second each (chunk_work 4e6 = 2 trials × 100 × 20000).
SPEC: dict[str, Any] = {
    "name": "faults", "objective": {"name": "rastrigin", "dim": 100}, "optimizer": "adam",
    "grid": {"lr": [1e-3 * 1.3**i for i in range(12)]}, "seeds": 2, "steps": 20000,
    "record_every": 500,
}
N_CHUNKS = 12
SMALL: dict[str, Any] = {
    "name": "small", "objective": {"name": "rastrigin", "dim": 100}, "optimizer": "adam",
    "grid": {"lr": [1e-3, 1e-2, 0.1, 1e4]}, "seeds": 4, "steps": 10000, "record_every": 500,
}  # 16 trials in 4 chunks of 4
#: The default settings but the chunk size: leases (10 s), heartbeats (2 s), the broker's
#: visibility timeout (an hour) are the defaults an operator runs with.
DEFAULTS: dict[str, Any] = {"chunk_work": 4e6}
#: Faster heartbeats for the tests that do not measure recovery (/readyz sees workers sooner).
SETTINGS: dict[str, Any] = {**DEFAULTS, "worker_timeout": 3, "heartbeat_seconds": 0.5,
                            "stuck_seconds": 30}
#: What the issue asks for at the defaults: a whole worker SIGKILLed → its chunks running on
#: another worker within this, whatever their length.
RECOVERY_BOUND = 30.0


def figure(name: str, value: float) -> None:
    """A measured figure, for RELIABILITY.md."""
    print(f"\nFIGURE {name}: {value:.2f} s")


@cache
def _expected(spec_json: str) -> str:
    return json.dumps(run_sweep(json.loads(spec_json)), sort_keys=True)


def assert_exact(client: httpx.Client, sweep_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The sweep succeeded with every trial once and every number equal to ``run_sweep``'s."""
    view: dict[str, Any] = client.get(f"/v1/sweeps/{sweep_id}").json()
    assert view["status"] == "succeeded", view
    results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    assert results.pop("id") == sweep_id
    indices = [t["index"] for t in results["trials"]]
    assert sorted(indices) == list(range(view["progress"]["total"]))  # each trial exactly once
    assert view["progress"]["done"] == view["progress"]["total"]
    assert json.dumps(results, sort_keys=True) == _expected(json.dumps(spec))
    return view


def submit(client: httpx.Client, spec: dict[str, Any]) -> str:
    response = client.post("/v1/sweeps", json=spec)
    assert response.status_code == 202, response.text
    sweep_id: str = response.json()["id"]
    return sweep_id


def done(client: httpx.Client, sweep_id: str) -> int:
    done_: int = client.get(f"/v1/sweeps/{sweep_id}").json()["progress"]["done"]
    return done_


def alive(pid: int) -> bool:
    """Process ``pid`` exists and is not a zombie."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def saved_chunks(redis: Any, c: Cluster, sweep_id: str) -> set[int]:
    return {int(k) for k in redis.hkeys(f"{c.prefix}sweep:{sweep_id}:chunks")}


def lease_owner(redis: Any, c: Cluster, sweep_id: str, chunk: int) -> str | None:
    """Who holds the chunk's lease in the store (None: nobody)."""
    owner = redis.hget(f"{c.prefix}lease_owners", f"{sweep_id}:{chunk}")
    return None if owner is None else str(owner.decode())


def running_elsewhere(redis: Any, c: Cluster, sweep_id: str, chunk: int,
                      dead: str | None) -> bool:
    """The chunk is saved, or leased by another worker than ``dead`` (delivered to it)."""
    owner = lease_owner(redis, c, sweep_id, chunk)
    return chunk in saved_chunks(redis, c, sweep_id) or (owner is not None and owner != dead)


def fresh_delivery(redis: Any, c: Cluster, client: httpx.Client, sweep_id: str,
                   worker: Any) -> tuple[bytes, int]:
    """Wait until some chunks are done and then a chunk has *just* been delivered to the
    worker (its message new in kombu's ``unacked``): it has its whole run time (½ s) ahead."""
    seen: set[bytes] = set()

    def check() -> tuple[bytes, int] | None:
        ready = done(client, sweep_id) >= 2
        inflight = unacked_chunks(redis, c.queue)
        new = [(tag, chunk) for tag, (_, chunk) in inflight.items() if tag not in seen]
        seen.update(inflight)
        return new[0] if ready and new else None

    found: tuple[bytes, int] = wait_until(check, 60, "a chunk to be delivered", worker,
                                          interval=0.01)
    return found


# -- 1. a worker killed with SIGKILL mid-chunk -----------------------------------------------

def test_worker_sigkill_mid_chunk_runs_again_within_the_lease_bound_at_default_settings(
        tmp_path: Path) -> None:
    """The whole worker (main process and prefork child) SIGKILLed just after a chunk was
    delivered to it, a fresh worker started ½ s later, every setting at its default (visibility
    timeout one hour): the chunk's lease expires and the chunk runs again within
    ``RECOVERY_BOUND`` — long before kombu would deliver it again."""
    redis = redis_client()
    with cluster(tmp_path, redis=True, **DEFAULTS) as c:
        c.start_server()
        worker = c.start_worker(concurrency=1)
        with c.client() as client:
            sweep_id = submit(client, SPEC)
            tag, chunk = fresh_delivery(redis, c, client, sweep_id, worker)
            dead = wait_until(lambda: lease_owner(redis, c, sweep_id, chunk), 5,
                              "the delivered chunk's lease", worker, interval=0.01)
            pids = [worker.popen.pid, *descendants(worker.popen.pid)]
            assert len(pids) >= 2  # the main process and its prefork child
            killed_at = time.monotonic()
            worker.stop(signal.SIGKILL)  # the whole process group, no chance to requeue
            wait_until(lambda: not any(alive(pid) for pid in pids), 5, "the processes to die")
            assert tag in unacked_chunks(redis, c.queue)  # nobody requeued it
            time.sleep(max(0.0, 0.5 - (time.monotonic() - killed_at)))

            fresh = c.start_worker(concurrency=1)
            wait_until(lambda: running_elsewhere(redis, c, sweep_id, chunk, dead),
                       RECOVERY_BOUND + 15, "the killed chunk to run on the fresh worker", fresh,
                       interval=0.05)
            running = time.monotonic() - killed_at
            wait_until(lambda: chunk in saved_chunks(redis, c, sweep_id), 60,
                       "the killed chunk to be saved", fresh)
            saved = time.monotonic() - killed_at
            wait_for_status(client, sweep_id, {"succeeded", "failed"}, 60)
            finished = time.monotonic() - killed_at
            assert_exact(client, sweep_id, SPEC)
            assert tag in unacked_chunks(redis, c.queue)  # kombu's copy still waits (1 h)
        figure("worker SIGKILL -> its chunk running on another worker (defaults)", running)
        figure("worker SIGKILL -> its chunk saved (defaults)", saved)
        figure("worker SIGKILL -> sweep finished (defaults)", finished)
        assert running <= RECOVERY_BOUND


def test_a_pool_process_killed_alone_is_requeued_by_its_worker(tmp_path: Path) -> None:
    import os

    redis = redis_client()
    # a long visibility timeout: a quick requeue can only be the worker's own
    with cluster(tmp_path, redis=True, **{**SETTINGS, "visibility_timeout": 60}) as c:
        c.start_server()
        worker = c.start_worker(concurrency=1)
        with c.client() as client:
            sweep_id = submit(client, SPEC)
            tag, _ = fresh_delivery(redis, c, client, sweep_id, worker)
            killed_at = time.monotonic()
            for pid in descendants(worker.popen.pid):  # the prefork child, as an OOM kill would
                os.kill(pid, signal.SIGKILL)
            wait_until(lambda: tag not in unacked_chunks(redis, c.queue), 20,
                       "the chunk to be requeued", worker, interval=0.02)
            requeued = time.monotonic() - killed_at
            wait_for_status(client, sweep_id, {"succeeded", "failed"}, 60)
            assert_exact(client, sweep_id, SPEC)
        assert "WorkerLostError" in worker.output()
    figure("pool process SIGKILL -> chunk requeued by its worker", requeued)
    assert requeued < 10  # billiard notices a dead child at once or within its 5 s timer


# One chunk of one long trial, far longer than a lease, a second worker's start-up and two
# heartbeats together: about 2.5 minutes here (dim 500, about 30 s, ended inside that window once
# on an idle machine). It is cancelled once handed back, so its length costs nothing.
LONG: dict[str, Any] = {
    "name": "long", "objective": {"name": "rastrigin", "dim": 5000}, "optimizer": "adam",
    "grid": {"lr": [1e-3]}, "seeds": 1, "steps": 600000, "record_every": 20000,
}


def received(worker: Any) -> int:
    """How many chunk messages the worker has received (Celery logs each at level info)."""
    import re

    return len(re.findall(r"Task gradsweep\.run_chunk\[[0-9a-f-]+\] received", worker.output()))


def test_a_long_chunk_keeps_its_lease_and_sigterm_hands_it_back_at_once(
        tmp_path: Path) -> None:
    """At the defaults, a chunk running longer than a lease on a live worker keeps its lease
    (renewed by the heartbeat: nobody else gets it); SIGTERM of that worker's main process (what
    ``docker stop`` sends) hands it back at once: another worker runs it within seconds, not
    when the long chunk would have ended, and the first worker stops without running it on."""
    import os

    redis = redis_client()
    settings = get_settings_defaults()
    with cluster(tmp_path, redis=True, **{**DEFAULTS, "chunk_work": 1e12}) as c:
        c.start_server()
        first = c.start_worker(concurrency=1)
        with c.client() as client:
            sweep_id = submit(client, LONG)
            wait_until(lambda: lease_owner(redis, c, sweep_id, 0), 30, "the chunk's lease",
                       first)
            leased_at = time.monotonic()
            owner = lease_owner(redis, c, sweep_id, 0)
            second = c.start_worker(concurrency=1)
            wait_until(lambda: "ready." in second.output(), 30, "the second worker", second)
            # past a lease and two heartbeats: without renewal it would have been queued again
            while time.monotonic() - leased_at < settings["lease"] + 2 * settings["heartbeat"]:
                assert lease_owner(redis, c, sweep_id, 0) == owner
                assert redis.llen(c.queue) == 0 and received(second) == 0
                time.sleep(0.2)
            assert saved_chunks(redis, c, sweep_id) == set(), "the chunk was not long enough"
            assert "lease expired" not in first.output()

            os.kill(first.popen.pid, signal.SIGTERM)  # the main process only
            stopped_at = time.monotonic()
            wait_until(lambda: running_elsewhere(redis, c, sweep_id, 0, owner), 10,
                       "the chunk to run on the second worker", second, interval=0.02)
            handed_back = time.monotonic() - stopped_at
            wait_until(lambda: first.popen.poll() is not None, 15, "the first worker to exit",
                       first)
            exited = time.monotonic() - stopped_at
            assert saved_chunks(redis, c, sweep_id) == set()  # the first copy stopped unsaved
            # (not run to its end again here: the other tests show a re-run chunk counts once)
            assert client.delete(f"/v1/sweeps/{sweep_id}").status_code == 200
            wait_until(lambda: not unacked_chunks(redis, c.queue) and
                       lease_owner(redis, c, sweep_id, 0) is None, 30,
                       "the second copy to stop", second)
        assert "handed back 1 chunk(s)" in first.output()
        assert "lease lost" in first.output()  # its copy stopped: it did not run on
        assert received(first) == 1 and received(second) == 1
    figure("long chunk, worker SIGTERM -> chunk running on another worker", handed_back)
    figure("long chunk, worker SIGTERM -> that worker exited", exited)
    assert handed_back < 5 and exited < 10


def test_a_frozen_worker_loses_its_chunk_and_its_late_save_counts_once(tmp_path: Path) -> None:
    """SIGSTOP of a whole worker mid-chunk (a frozen VM, a stuck container): its leases expire
    and another worker runs its chunk within the bound; after SIGCONT the frozen copy stops or
    saves again, which changes nothing."""
    redis = redis_client()
    with cluster(tmp_path, redis=True, **DEFAULTS) as c:
        c.start_server()
        frozen = c.start_worker(concurrency=1)
        with c.client() as client:
            sweep_id = submit(client, SPEC)
            _, chunk = fresh_delivery(redis, c, client, sweep_id, frozen)
            owner = wait_until(lambda: lease_owner(redis, c, sweep_id, chunk), 5,
                               "the chunk's lease", frozen, interval=0.01)
            pids = [frozen.popen.pid, *descendants(frozen.popen.pid)]
            for pid in pids:
                os_kill(pid, signal.SIGSTOP)
            stopped_at = time.monotonic()
            try:
                other = c.start_worker(concurrency=1)
                wait_until(lambda: running_elsewhere(redis, c, sweep_id, chunk, owner),
                           RECOVERY_BOUND + 15, "the frozen chunk to run elsewhere", other)
                running = time.monotonic() - stopped_at
                wait_for_status(client, sweep_id, {"succeeded", "failed"}, 60)
                finished = time.monotonic() - stopped_at
                view = assert_exact(client, sweep_id, SPEC)
                document = client.get(f"/v1/sweeps/{sweep_id}/results").content
            finally:
                for pid in pids:
                    os_kill(pid, signal.SIGCONT)
            # the woken copy polls (lease lost: it stops) or saves (idempotent): nothing changes
            wait_until(lambda: "lease lost" in frozen.output() or
                       frozen.output().count("succeeded in") > 0, 30,
                       "the frozen copy to wake up", frozen)
            time.sleep(1.0)
            assert client.get(f"/v1/sweeps/{sweep_id}").json() == view
            assert client.get(f"/v1/sweeps/{sweep_id}/results").content == document
            metrics = client.get("/metrics").text
            assert "gradsweep_trials_done_total 24.0" in metrics  # each trial counted once
        assert frozen.popen.poll() is None  # woken, alive, still a worker
    figure("worker SIGSTOP -> its chunk running on another worker (defaults)", running)
    figure("worker SIGSTOP -> sweep finished (defaults)", finished)
    assert running <= RECOVERY_BOUND


def test_two_workers_that_both_believe_they_own_a_chunk_count_it_once(tmp_path: Path) -> None:
    """A chunk delivered twice at once (a duplicate message: the broker's last-resort
    redelivery, a re-queue racing a slow worker) to two idle workers: both lease it, the last
    one holds it, the other stops at its next poll or saves first; the chunk counts once."""
    redis = redis_client()
    one = {**SMALL, "grid": {"lr": [1e-3]}, "seeds": 4, "steps": 40000}  # 4 trials, 1 chunk
    with cluster(tmp_path, redis=True, **{**DEFAULTS, "chunk_work": 1e12}) as c:
        c.start_server()
        app = c.celery()
        try:
            with c.client() as client:
                sweep_id = submit(client, one)  # no worker yet: the message waits
                app.send_task("gradsweep.run_chunk", args=[sweep_id, 0], queue=c.queue)
                assert redis.llen(c.queue) == 2
                workers = [c.start_worker(concurrency=1), c.start_worker(concurrency=1)]
                wait_until(lambda: all(received(w) == 1 for w in workers), 60,
                           "both workers to receive the chunk", workers[0])
                view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 90)
                assert view["progress"] == {"done": 4, "total": 4}
                assert_exact(client, sweep_id, one)
                wait_until(lambda: not unacked_chunks(redis, c.queue), 60,
                           "both copies to end", workers[1])
                assert "gradsweep_trials_done_total 4.0" in client.get("/metrics").text
                assert "gradsweep_chunk_seconds_count 1.0" in client.get("/metrics").text
        finally:
            app.close()
        logs = "".join(w.output() for w in workers)
        assert logs.count("succeeded in") == 2  # both messages acknowledged
        print(f"\nFIGURE duplicate copies stopped by a lost lease: {logs.count('lease lost')}")


def os_kill(pid: int, sig: int) -> None:
    import os

    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def get_settings_defaults() -> dict[str, float]:
    """The lease and heartbeat defaults (what the workers run with here)."""
    from workers.settings import WorkerSettings

    fields = WorkerSettings.model_fields
    return {"lease": float(fields["lease_seconds"].default),
            "heartbeat": float(fields["heartbeat_seconds"].default)}


# -- 2. Redis killed with SIGKILL and started again ------------------------------------------

def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.mark.parametrize("store_retry", [60, 1], ids=["writes-wait", "writes-give-up"])
def test_redis_sigkill_and_restart_loses_nothing(tmp_path: Path, store_retry: float) -> None:
    """``writes-wait``: the running chunks' store writes retry until Redis is back (the
    default). ``writes-give-up``: they give up after 1 s, while Redis is still down — the task
    rejects its message with requeue, which either reaches Redis (back in the queue) or not
    (the message stays in ``unacked`` and comes back after the visibility timeout). With
    Celery's ``autoretry_for`` instead, this variant lost a chunk (see workers/tasks.py)."""
    from concurrent.futures import ThreadPoolExecutor

    with private_redis(tmp_path) as redis_server, \
            cluster(tmp_path, redis=True, redis_url=redis_server.url,
                    **{**DEFAULTS, "store_retry_seconds": store_retry}) as c:
        server = c.start_server()
        worker = c.start_worker(concurrency=2)
        with c.client() as client:
            wait_until(lambda: client.get("/readyz").status_code == 200, 30, "a live worker")
            sweep_id = submit(client, SPEC)
            wait_until(lambda: done(client, sweep_id) >= 4, 60, "some progress", worker)
            at_kill = done(client, sweep_id)
            # What kombu loses now and then when Redis dies (a message popped for a worker but
            # never recorded in ``unacked`` nor delivered): one queued message, gone.
            broker = redis_server.client()
            lost = broker.rpop(c.queue)
            broker.close()
            assert lost is not None
            redis_server.kill()
            killed_at = time.monotonic()

            # While Redis is down the API answers 503 with the JSON error shape, quickly.
            calls = {"get": lambda: client.get(f"/v1/sweeps/{sweep_id}"),
                     "results": lambda: client.get(f"/v1/sweeps/{sweep_id}/results"),
                     "post": lambda: client.post("/v1/sweeps", json=SMALL),
                     "list": lambda: client.get("/v1/sweeps"),
                     "readyz": lambda: client.get("/readyz"),
                     "metrics": lambda: client.get("/metrics")}
            with ThreadPoolExecutor(len(calls)) as pool:
                answers = dict(zip(calls, pool.map(_timed, calls.values())))
            for name, (response, seconds) in answers.items():
                assert seconds < 6, (name, seconds)
                if name == "metrics":
                    assert response.status_code == 200
                    assert "gradsweep_store_up 0.0" in response.text
                elif name == "readyz":
                    assert response.status_code == 503
                    assert response.json()["status"] == "unavailable"
                    assert "cannot be reached" in response.json()["reason"]
                else:
                    assert response.status_code == 503, (name, response.text)
                    error = response.json()["error"]
                    assert error["status"] == 503 and error["code"] == "unavailable", name
            time.sleep(max(0.0, 4 - (time.monotonic() - killed_at)))  # down for ~4 s

            redis_server.start()  # same port, same data directory (the AOF)
            up_at = time.monotonic()
            wait_until(lambda: client.get(f"/v1/sweeps/{sweep_id}").status_code == 200, 30,
                       "the API to reach Redis again")
            api_back = time.monotonic() - up_at
            # at most 2 chunks (4 trials) were running at the kill; more means new deliveries
            wait_until(lambda: done(client, sweep_id) > at_kill + 4, 60,
                       "a chunk delivered after the restart to be saved", worker)
            delivering = time.monotonic() - up_at
            wait_for_status(client, sweep_id, {"succeeded", "failed"}, 90)
            finished = time.monotonic() - up_at
            assert_exact(client, sweep_id, SPEC)

            after = submit(client, SMALL)  # a sweep submitted after the restart
            wait_for_status(client, after, {"succeeded", "failed"}, 60)
            assert_exact(client, after, SMALL)
            wait_until(lambda: client.get("/readyz").status_code == 200, 30, "/readyz")
            # the POST that failed while Redis was down left nothing behind
            assert client.get("/v1/sweeps").json()["total"] == 2
        assert worker.popen.poll() is None  # the worker reconnected by itself
        assert "Connected to " in worker.output().split("Connection to broker lost")[-1]
    figure("Redis down for", up_at - killed_at)
    figure("Redis restart -> API answers", api_back)
    figure("Redis restart -> new chunks delivered and saved", delivering)
    figure("Redis restart -> sweep finished", finished)
    rescued = server.output().count("missing chunk(s) again")
    print(f"FIGURE chunks re-queued by the watchdog: {rescued}")
    orphans = "".join(p.output() for p in c.processes).count("held by nobody")
    print(f"FIGURE chunks re-queued by the orphan scan after the outage: {orphans}")
    assert rescued == 0 and orphans >= 1  # the lost message: back without the watchdog
    assert delivering < 40  # kombu's reconnect backoff is capped at 30 s


# -- 3. the API restarted mid-sweep ------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_api_restart_mid_sweep_keeps_status_progress_and_results(
        tmp_path: Path, sig: signal.Signals) -> None:
    with cluster(tmp_path, redis=True, **SETTINGS) as c:
        server = c.start_server()
        c.start_worker(concurrency=1)
        with c.client() as client:
            sweep_id = submit(client, SPEC)
            before = wait_until(lambda: client.get(f"/v1/sweeps/{sweep_id}").json()
                                if done(client, sweep_id) >= 2 else None, 60, "progress")
            server.stop(sig)
        c.start_server()
        with c.client() as client:
            view = client.get(f"/v1/sweeps/{sweep_id}").json()
            assert view["status"] in ("running", "succeeded")
            assert view["progress"]["done"] >= before["progress"]["done"]
            assert view["created_at"] == before["created_at"]
            assert view["started_at"] == before["started_at"]
            partial = client.get(f"/v1/sweeps/{sweep_id}/results").json()
            assert len(partial["trials"]) >= before["progress"]["done"]
            wait_for_status(client, sweep_id, {"succeeded", "failed"}, 60)
            assert_exact(client, sweep_id, SPEC)


# -- 4. a chunk delivered twice ----------------------------------------------------------------

def test_duplicate_deliveries_count_once(tmp_path: Path) -> None:
    redis = redis_client()
    with cluster(tmp_path, redis=True, **SETTINGS) as c:
        c.start_server()
        worker = c.start_worker(concurrency=2)
        app = c.celery()
        try:
            with c.client() as client:
                sweep_id = submit(client, SPEC)
                for chunk in range(N_CHUNKS):  # while it runs: every chunk a second time
                    app.send_task("gradsweep.run_chunk", args=[sweep_id, chunk], queue=c.queue)
                progress = []
                while (view := client.get(f"/v1/sweeps/{sweep_id}").json())["status"] not in (
                        "succeeded", "failed"):
                    progress.append(view["progress"]["done"])
                    assert view["progress"]["done"] <= view["progress"]["total"]
                    time.sleep(0.05)
                assert progress == sorted(progress)
                first = assert_exact(client, sweep_id, SPEC)
                document = client.get(f"/v1/sweeps/{sweep_id}/results").content

                for chunk in range(N_CHUNKS):  # after it finished: every chunk once more
                    app.send_task("gradsweep.run_chunk", args=[sweep_id, chunk], queue=c.queue)
                wait_until(lambda: redis.llen(c.queue) == 0 and
                           not unacked_chunks(redis, c.queue), 30,
                           "the late duplicates to be consumed", worker)
                assert client.get(f"/v1/sweeps/{sweep_id}").json() == first
                assert client.get(f"/v1/sweeps/{sweep_id}/results").content == document
                metrics = client.get("/metrics").text
                assert "gradsweep_trials_done_total 24.0" in metrics  # each chunk counted once
        finally:
            app.close()
        # 12 + 12 + 12 deliveries, all run by the worker; the saved results counted once
        assert worker.output().count("succeeded in") >= 3 * N_CHUNKS


# -- 5. stuck work: the watchdog ---------------------------------------------------------------

def test_watchdog_requeues_the_chunks_of_a_sweep_whose_messages_were_lost(
        tmp_path: Path) -> None:
    redis = redis_client()
    with cluster(tmp_path, redis=True, **{**SETTINGS, "stuck_seconds": 2,
                                          "stuck_requeues": 3}) as c:
        server = c.start_server()
        with c.client() as client:
            sweep_id = submit(client, SMALL)  # no worker yet
            n_chunks = wait_until(lambda: redis.llen(c.queue), 10, "the chunks to be queued")
            redis.delete(c.queue)  # the broker lost every message
            c.start_worker(concurrency=1)
            view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 60)
            assert view["status"] == "succeeded", view
            assert_exact(client, sweep_id, SMALL)
        assert n_chunks == 4
        assert "queueing its 4 missing chunk(s) again" in server.output()


def test_watchdog_fails_a_sweep_that_cannot_progress_with_a_reason(tmp_path: Path) -> None:
    redis = redis_client()
    with cluster(tmp_path, redis=True, **{**SETTINGS, "stuck_seconds": 1,
                                          "stuck_requeues": 1}) as c:
        first = c.start_server()
        second = c.start_server(port=free_port())  # two API replicas, two watchdogs
        with c.client() as client:
            sweep_id = submit(client, SMALL)  # and no worker ever runs
            wait_until(lambda: redis.llen(c.queue) >= 8, 20, "the chunks to be queued again")
            view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 20)
            assert view["status"] == "failed"
            assert view["error"].startswith("stuck: no progress for")
            assert "0 worker(s) alive" in view["error"]
            assert view["progress"]["done"] == 0
            results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
            assert results["status"] == "failed" and results["trials"] == []
            time.sleep(1.5)  # the other replica's watchdog has looked again: nothing changes
            assert client.get(f"/v1/sweeps/{sweep_id}").json() == view
        logs = first.output() + second.output()
        assert logs.count(f"sweep {sweep_id} failed: stuck") == 1  # marked failed once
        assert "Traceback" not in logs


def test_two_api_replicas_one_killed_share_the_watchdog_clocks(tmp_path: Path) -> None:
    """The watchdog's clocks are the store's: two API replicas re-queue a stuck sweep once per
    period between them, not once each, and a replica SIGKILLed and replaced mid-way neither
    starts the count again nor repeats a re-queue: 2 re-queues in all, then failed once."""
    redis = redis_client()
    with cluster(tmp_path, redis=True, **{**SETTINGS, "stuck_seconds": 1.5,
                                          "stuck_requeues": 2}) as c:
        first = c.start_server()
        port = free_port()
        second = c.start_server(port=port)
        with c.client() as client:
            sweep_id = submit(client, SMALL)  # and no worker ever runs: 4 messages wait
        wait_until(lambda: redis.llen(c.queue) >= 8, 20, "a first re-queue", first)
        first.stop(signal.SIGKILL)
        third = c.start_server(port=free_port())  # its replacement
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 30)
            assert view["status"] == "failed", view
            assert "queued again 2 time(s)" in view["error"], view["error"]
            time.sleep(2.0)  # both replicas look again: nothing more happens
            assert client.get(f"/v1/sweeps/{sweep_id}").json() == view
        assert redis.llen(c.queue) == 4 + 2 * 4  # the first queueing and 2 re-queues, once
        logs = first.output() + second.output() + third.output()
        assert logs.count("missing chunk(s) again") == 2
        assert logs.count(f"sweep {sweep_id} failed: stuck") == 1


# -- an error inside the engine ---------------------------------------------------------------

def test_a_chunk_whose_engine_raises_fails_its_trials_and_the_sweep_completes(
        tmp_path: Path) -> None:
    # Limits raised so that the API accepts a point of 10^17 coordinates, which no machine can
    # allocate (800 PB, beyond any address space): the engine raises MemoryError in the worker.
    too_big = {"name": "too-big", "objective": {"name": "sphere", "dim": 10**17},
               "optimizer": "sgd", "grid": {"lr": [0.1, 0.2]}, "steps": 1}
    with cluster(tmp_path, redis=True, **{**SETTINGS, "max_dim": 10**18,
                                          "max_work": 1e19}) as c:
        c.start_server()
        c.start_worker(concurrency=1)
        with c.client() as client:
            sweep_id = submit(client, too_big)
            view = wait_for_status(client, sweep_id, {"succeeded", "failed"}, 60)
            assert view["status"] == "succeeded" and view["progress"] == {"done": 2, "total": 2}
            assert view["best"] is None
            results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    assert [t["status"] for t in results["trials"]] == ["failed", "failed"]
    assert all(t["error"].startswith("MemoryError") for t in results["trials"])


# -- in-process checks of the lifecycle logic (no processes) ---------------------------------

class _FakeExecutor:
    def __init__(self, fail: bool = False, depth: int = 0) -> None:
        self.fail, self.depth = fail, depth
        self.sent: list[tuple[str, list[int]]] = []

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        if self.fail:
            from workers.jobs import QueueUnavailable
            raise QueueUnavailable("broker down")
        self.sent.append((sweep_id, list(chunks)))

    def queue_depth(self) -> int:
        return self.depth


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    from workers.store_sqlite import SQLiteStore

    s = SQLiteStore(tmp_path / "sweeps.sqlite3")
    yield s
    s.close()


def test_a_sweep_whose_chunks_cannot_be_queued_is_failed_with_a_reason(store: Any) -> None:
    from optimizers import Limits, parse_spec
    from workers.jobs import QueueUnavailable, submit_sweep
    from workers.store import StoreUnavailable

    with pytest.raises(QueueUnavailable) as raised:
        submit_sweep(store, _FakeExecutor(fail=True), parse_spec(SMALL, Limits()),
                     chunk_work=4e6)
    assert isinstance(raised.value, StoreUnavailable)  # the API answers 503
    (record,), _ = store.list()
    assert record.status == SweepStatus.FAILED
    assert record.error.startswith("its chunks could not be queued")


def test_watchdog_waits_while_the_cluster_is_busy_then_requeues_then_fails(store: Any) -> None:
    from optimizers import Limits, parse_spec
    from workers.jobs import Watchdog, submit_sweep

    executor = _FakeExecutor(depth=5)
    record = submit_sweep(store, executor, parse_spec(SMALL, Limits()), chunk_work=4e6)
    executor.sent.clear()
    dog = Watchdog(store, executor, stuck_seconds=10, max_requeues=1)
    assert dog.check(now=0).requeued == []  # the first check only looks
    for now in (20, 40, 60):  # busy: others' chunks complete and the queue is not empty
        store.record_chunk_run(0.1, 1)
        report = dog.check(now=now)
        assert report.busy and report.requeued == [] and report.failed == []
    assert dog.check(now=65).requeued == []  # idle for 5 s only
    assert dog.check(now=71).requeued == [record.id]
    assert executor.sent == [(record.id, list(range(record.n_chunks)))]
    store.save_chunk(record.id, 0, [])  # progress: the clock starts again, re-queues too
    assert dog.check(now=75).requeued == []
    assert dog.check(now=86).requeued == [record.id]
    assert executor.sent[-1] == (record.id, list(range(1, record.n_chunks)))
    report = dog.check(now=97)
    assert report.failed == [record.id]
    failed = store.get(record.id)
    assert failed.status == SweepStatus.FAILED and "stuck: no progress for 22 s" in failed.error
