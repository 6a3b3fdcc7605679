"""An API and its workers on one set of settings — what an integration test or a benchmark runs.

``cluster(tmp, redis=...)`` gives a ``Cluster``: the ``GRADSWEEP_*`` settings shared by one
``gradsweep serve`` (or several replicas) and any number of ``gradsweep worker`` processes,
started with ``commands``' argv, each in its own session (``procs.Process``), their logs in
``tmp``. In cluster mode each gets a fresh key prefix and queue on the given Redis database;
afterwards every process is stopped and every key it made deleted — including this queue's
messages in kombu's database-wide ``unacked`` bookkeeping.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .commands import SERVE, WORKER
from .procs import Process, command, free_port, wait_until

REDIS_URL = "redis://127.0.0.1:6379"
REDIS_DB = 14


class RedisUnreachable(RuntimeError):
    """The Redis a cluster was to use does not answer."""


class Cluster:
    """Settings shared by one test's server and workers, and the processes it started."""

    def __init__(self, tmp: Path, redis: bool, redis_url: str | None = None,
                 **settings: Any) -> None:
        self.tmp = tmp
        self.redis_url = redis_url or f"{REDIS_URL}/{REDIS_DB}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSWEEP_")}
        self.env.update({"GRADSWEEP_DATA_DIR": str(tmp / "data"), "GRADSWEEP_PORT": str(self.port),
                         "GRADSWEEP_HOST": "127.0.0.1", "GRADSWEEP_LOG_LEVEL": "warning"})
        if redis:
            tag = uuid.uuid4().hex[:12]
            self.prefix = f"test-{tag}:"
            self.queue = f"test-{tag}"
            self.env.update({"GRADSWEEP_REDIS_URL": self.redis_url,
                             "GRADSWEEP_KEY_PREFIX": self.prefix, "GRADSWEEP_QUEUE": self.queue})
        self.env.update({f"GRADSWEEP_{k.upper()}": str(v) for k, v in settings.items()})
        self.processes: list[Process] = []
        self.server: Process | None = None

    def start_server(self, port: int | None = None) -> Process:
        """``gradsweep serve`` on this cluster's port (or on ``port``: another replica of the
        API on the same store); returns once /healthz answers."""
        env = self.env if port is None else {**self.env, "GRADSWEEP_PORT": str(port)}
        url = self.url if port is None else f"http://127.0.0.1:{port}"
        self.server = self._start(SERVE, f"serve-{len(self.processes)}.log", env)
        wait_until(lambda: answers(url + "/healthz"), 30, "the API to answer /healthz",
                   self.server)
        return self.server

    def start_worker(self, concurrency: int = 1) -> Process:
        """``gradsweep worker`` with ``concurrency`` processes."""
        return self._start([*WORKER, "--concurrency", str(concurrency)],
                           f"worker-{len(self.processes)}.log")

    def celery(self) -> Any:
        """A Celery app on this cluster's broker and queue (to send tasks as the API does)."""
        from workers.celery_app import make_celery
        from workers.settings import WorkerSettings

        return make_celery(WorkerSettings(redis_url=self.redis_url, queue=self.queue,
                                          key_prefix=self.prefix))

    def _start(self, cmd: list[str], log: str, env: dict[str, str] | None = None) -> Process:
        process = Process(command(cmd), self.env if env is None else env, self.tmp / log)
        self.processes.append(process)
        return process

    def client(self) -> httpx.Client:
        """An HTTP client on the API."""
        return httpx.Client(base_url=self.url, timeout=30)

    def stop(self) -> None:
        """Stop every process this cluster started."""
        for process in reversed(self.processes):
            process.stop()


def answers(url: str) -> bool:
    """``url`` answers 200 within a second."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_status(client: httpx.Client, sweep_id: str, statuses: set[str],
                    timeout: float = 60) -> dict[str, Any]:
    """Poll the sweep until its status is one of ``statuses``; its last view
    (``procs.WaitFailed`` after ``timeout`` seconds)."""
    def check() -> dict[str, Any] | None:
        view: dict[str, Any] = client.get(f"/v1/sweeps/{sweep_id}").json()
        return view if view["status"] in statuses else None
    result: dict[str, Any] = wait_until(check, timeout, f"sweep {sweep_id} to reach {statuses}")
    return result


def redis_client(url: str = f"{REDIS_URL}/{REDIS_DB}") -> Any:
    """A client on ``url``; ``RedisUnreachable`` (saying how to start it) if it does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        raise RedisUnreachable(f"Redis is not reachable at {url} — start redis-server "
                               f"({exc})") from None
    return client


@contextmanager
def cluster(tmp: Path, redis: bool, redis_url: str | None = None,
            **settings: Any) -> Iterator[Cluster]:
    """A cluster's settings; its processes stopped and its Redis keys deleted afterwards.

    ``redis_url``: another Redis than the shared one (a private server a test may kill), whose
    keys are not cleaned up (the server is thrown away).
    """
    client = redis_client() if redis and redis_url is None else None
    c = Cluster(tmp, redis, redis_url, **settings)
    try:
        yield c
    finally:
        c.stop()
        if client is not None:
            # the store's keys, the queue, kombu's bindings (the exchange is named after the
            # queue), and this queue's messages in kombu's unacked bookkeeping (shared by the
            # whole database)
            patterns = (f"{c.prefix}*", f"{c.queue}*", f"_kombu.binding.{c.queue}*",
                        f"_kombu.binding_permanent.{c.queue}")
            for pattern in patterns:
                keys = list(client.scan_iter(match=pattern, count=1000))
                if keys:
                    client.delete(*keys)
            forget_unacked(client, c.queue)
            client.close()


def unacked_chunks(client: Any, queue: str) -> dict[bytes, tuple[str, int]]:
    """kombu's delivered-but-unacknowledged messages bound for ``queue``: delivery tag →
    (sweep id, chunk). (kombu keeps them in the database-wide hash ``unacked`` as
    ``[message, exchange, routing key]``; Celery's body is base64 JSON ``[args, kwargs, …]``.)"""
    found = {}
    for tag, raw in client.hscan_iter("unacked", count=1000):
        try:
            message, _, routing_key = json.loads(raw)
            if routing_key != queue:
                continue
            args = json.loads(base64.b64decode(message["body"]))[0]
            found[tag] = (str(args[0]), int(args[1]))
        except (ValueError, KeyError, IndexError, TypeError):
            continue
    return found


def forget_unacked(client: Any, queue: str) -> None:
    """Delete ``queue``'s messages from kombu's unacked bookkeeping (not other tests')."""
    tags = list(unacked_chunks(client, queue))
    if tags:
        client.hdel("unacked", *tags)
        client.zrem("unacked_index", *tags)


__all__ = ["REDIS_DB", "REDIS_URL", "Cluster", "RedisUnreachable", "answers", "cluster",
           "forget_unacked", "redis_client", "unacked_chunks", "wait_for_status"]
