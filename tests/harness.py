"""Real processes for integration tests: `gradsweep serve` and `gradsweep worker`, and Redis.

The processes and their settings come from ``service.testing`` (the benchmarks use the same);
this module adds what is pytest's: failing a test, not raising, when Redis is down or a wait
times out, and a private ``redis-server`` a test may kill. The commands are
``service.testing.commands``', the same the Dockerfile and docker-compose.yml run. Redis tests use database ``REDIS_DB`` with a fresh key prefix and queue per test, and delete
what they made; they fail with a clear message when Redis is not running. ``private_redis``
starts a ``redis-server`` of a test's own (for tests that kill Redis).
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from service.testing import cluster as testing_cluster
from service.testing.cluster import (  # noqa: F401 — re-exported for the tests
    REDIS_DB,
    REDIS_URL,
    Cluster,
    RedisUnreachable,
    forget_unacked,
    unacked_chunks,
    wait_for_status,
)
from service.testing.procs import Process, WaitFailed, free_port
from service.testing.procs import wait_until as procs_wait_until


def redis_client() -> Any:
    """A client on the tests' Redis database; fails the test clearly if Redis is down."""
    try:
        return testing_cluster.redis_client()
    except RedisUnreachable as exc:
        pytest.fail(str(exc), pytrace=False)


@contextmanager
def cluster(tmp: Path, redis: bool, redis_url: str | None = None,
            **settings: Any) -> Iterator[Cluster]:
    """``service.testing.cluster.cluster``, failing the test clearly when Redis is down."""
    if redis and redis_url is None:
        redis_client().close()
    with testing_cluster.cluster(tmp, redis, redis_url, **settings) as c:
        yield c


def wait_until(check: Callable[[], Any], timeout: float, what: str,
               process: Process | None = None, interval: float = 0.05) -> Any:
    """``procs.wait_until``, failing the test (with the process's log) instead of raising."""
    try:
        return procs_wait_until(check, timeout, what, process, interval)
    except WaitFailed as exc:
        pytest.fail(str(exc))


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
