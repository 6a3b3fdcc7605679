"""Real processes for integration tests: `gradsweep serve` and `gradsweep worker`, and Redis.

The commands are ``tests/commands.py``'s, the same the Dockerfile and docker-compose.yml run.
Redis tests use database ``REDIS_DB`` with a fresh key prefix and queue per test, and delete
what they made; they fail with a clear message when Redis is not running. ``private_redis``
starts a ``redis-server`` of a test's own (for tests that kill Redis).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from commands import SERVE, WORKER
from procs import Process, WaitFailed, command, free_port
from procs import wait_until as procs_wait_until

REDIS_URL = "redis://127.0.0.1:6379"
REDIS_DB = 14


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
        wait_until(lambda: _answers(url + "/healthz"), 30, "the API to answer /healthz",
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


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: Callable[[], Any], timeout: float, what: str,
               process: Process | None = None, interval: float = 0.05) -> Any:
    """``procs.wait_until``, failing the test (with the process's log) instead of raising."""
    try:
        return procs_wait_until(check, timeout, what, process, interval)
    except WaitFailed as exc:
        pytest.fail(str(exc))


def wait_for_status(client: httpx.Client, sweep_id: str, statuses: set[str],
                    timeout: float = 60) -> dict[str, Any]:
    """Poll the sweep until its status is one of ``statuses``; its last view."""
    def check() -> dict[str, Any] | None:
        view: dict[str, Any] = client.get(f"/v1/sweeps/{sweep_id}").json()
        return view if view["status"] in statuses else None
    result: dict[str, Any] = wait_until(check, timeout, f"sweep {sweep_id} to reach {statuses}")
    return result


def redis_client() -> Any:
    """A client on the tests' Redis database; fails the test clearly if Redis is down."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}", socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}/{REDIS_DB} — start redis-server")
    return client


@contextmanager
def cluster(tmp: Path, redis: bool, redis_url: str | None = None,
            **settings: Any) -> Iterator[Cluster]:
    """A cluster's settings; its processes stopped and its Redis keys deleted afterwards.

    ``redis_url``: another Redis than the shared one (a ``private_redis``), whose keys are not
    cleaned up (the server is thrown away).
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


class RedisServer:
    """A private ``redis-server`` on a free port, durable (AOF, fsync always), that a test can
    kill with SIGKILL and start again on the same port and data directory."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.dir = tmp / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the server and wait until it answers PING (its AOF loaded)."""
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always",
                "--save", "", "--maxmemory-policy", "noeviction", "--daemonize", "no",
                "--protected-mode", "no"]
        self.starts += 1
        self.process = Process(argv, dict(os.environ), self.dir / f"redis-{self.starts}.log")
        wait_until(self.answers, 20, f"redis-server on port {self.port}", self.process)

    def answers(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save (what the AOF holds is what survives)."""
        if self.process is not None:
            self.process.stop(signal.SIGKILL)

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGTERM)


@contextmanager
def private_redis(tmp: Path) -> Iterator[RedisServer]:
    """A started ``RedisServer``, stopped afterwards whatever happens."""
    server = RedisServer(tmp)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def children(pid: int) -> list[int]:
    """The direct children of process ``pid`` (from /proc)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == pid:
            found.append(int(status.parent.name))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    below = children(pid)
    return below + [d for child in below for d in descendants(child)]
