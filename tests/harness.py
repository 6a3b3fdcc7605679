"""Real processes for integration tests: `gradsweep serve` and `gradsweep worker`, and Redis.

The commands are ``tests/commands.py``'s, the same the Dockerfile and docker-compose.yml run.
Redis tests use database ``REDIS_DB`` with a fresh key prefix and queue per test, and delete
what they made; they fail with a clear message when Redis is not running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from commands import SERVE, WORKER

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379"
REDIS_DB = 14


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(cmd: list[str]) -> list[str]:
    """``gradsweep …`` from this interpreter's environment."""
    return [str(Path(sys.executable).parent / cmd[0]), *cmd[1:]]


class Process:
    """A child process whose output goes to a log file, stopped on exit."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("ab")
        self.popen = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      cwd=ROOT, start_new_session=True)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Send ``sig`` to the whole process group and wait (SIGKILL after ``timeout``)."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        self._log.close()

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace")


class Cluster:
    """Settings shared by one test's server and workers, and the processes it started."""

    def __init__(self, tmp: Path, redis: bool, **settings: Any) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSWEEP_")}
        self.env.update({"GRADSWEEP_DATA_DIR": str(tmp / "data"), "GRADSWEEP_PORT": str(self.port),
                         "GRADSWEEP_HOST": "127.0.0.1", "GRADSWEEP_LOG_LEVEL": "warning"})
        if redis:
            tag = uuid.uuid4().hex[:12]
            self.prefix = f"test-{tag}:"
            self.queue = f"test-{tag}"
            self.env.update({"GRADSWEEP_REDIS_URL": f"{REDIS_URL}/{REDIS_DB}",
                             "GRADSWEEP_KEY_PREFIX": self.prefix, "GRADSWEEP_QUEUE": self.queue})
        self.env.update({f"GRADSWEEP_{k.upper()}": str(v) for k, v in settings.items()})
        self.processes: list[Process] = []
        self.server: Process | None = None

    def start_server(self) -> Process:
        """``gradsweep serve`` on this cluster's port; returns once /healthz answers."""
        self.server = self._start(SERVE, f"serve-{len(self.processes)}.log")
        wait_until(lambda: _answers(self.url + "/healthz"), 30, "the API to answer /healthz",
                   self.server)
        return self.server

    def start_worker(self, concurrency: int = 1) -> Process:
        """``gradsweep worker`` with ``concurrency`` processes."""
        return self._start([*WORKER, "--concurrency", str(concurrency)],
                           f"worker-{len(self.processes)}.log")

    def _start(self, cmd: list[str], log: str) -> Process:
        process = Process(command(cmd), self.env, self.tmp / log)
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
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if process is not None and process.popen.poll() is not None:
            pytest.fail(f"process exited while waiting for {what}:\n{process.output()[-3000:]}")
        time.sleep(interval)
    log = f"\n{process.output()[-3000:]}" if process is not None else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}{log}")


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
def cluster(tmp: Path, redis: bool, **settings: Any) -> Iterator[Cluster]:
    """A cluster's settings; its processes stopped and its Redis keys deleted afterwards."""
    client = redis_client() if redis else None
    c = Cluster(tmp, redis, **settings)
    try:
        yield c
    finally:
        c.stop()
        if client is not None:
            # the store's keys, the queue, kombu's binding, and kombu's unacked bookkeeping
            # (shared by the whole database, which only these tests use)
            patterns = (f"{c.prefix}*", f"{c.queue}*", f"_kombu.binding.{c.queue}*", "unacked*")
            for pattern in patterns:
                keys = list(client.scan_iter(match=pattern, count=1000))
                if keys:
                    client.delete(*keys)
            client.close()


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
