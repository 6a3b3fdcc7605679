"""Both job stores for tests that check one contract on each: ``backend`` and ``store``.

The Redis half uses database 15 of the local server, under a fresh random key prefix per test
whose keys are deleted afterwards; without a server those tests fail (they do not skip). A test
module imports the fixtures it uses (``from store_backends import backend, store``); ``Backend``
pickles, so processes started with ``spawn`` open the same store.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from workers.store import JobStore
from workers.store_redis import RedisStore
from workers.store_sqlite import SQLiteStore

REDIS_URL = "redis://127.0.0.1:6379/15"


@dataclass(frozen=True)
class Backend:
    """How to open one store: ``kind`` and its file (sqlite) or key prefix (redis)."""

    kind: str
    target: str

    def open(self) -> JobStore:
        if self.kind == "sqlite":
            return SQLiteStore(self.target)
        return RedisStore(REDIS_URL, prefix=self.target, retry_seconds=5.0)


def redis_test_client() -> redis.Redis:
    """A plain client of the test database; fails the test if Redis does not answer."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2,
                                  retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
        return client
    except redis.exceptions.RedisError as error:
        problem = str(error)
    client.close()
    pytest.fail(f"Redis is not reachable at {REDIS_URL} — start redis-server ({problem})",
                pytrace=False)


def at_once(target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(*a, barrier, out)`` in one spawned process per ``a`` of ``args``, all
    released together by the barrier; each puts one answer on ``out``. The answers, in the
    order they came; every process must exit cleanly."""
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(len(args)), context.Queue()
    processes = [context.Process(target=target, args=(*a, barrier, out)) for a in args]
    for process in processes:
        process.start()
    try:
        answers = [out.get(timeout=60) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
        out.close()
    assert [process.exitcode for process in processes] == [0] * len(processes)
    return answers


class Recorder:
    """An executor that only records what it was asked to queue (tests of the store's side)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[int]]] = []

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        self.sent.append((sweep_id, list(chunks)))

    def queue_depth(self) -> int:
        return 0


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each store in turn: a fresh SQLite file, or a fresh key prefix (deleted afterwards)."""
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "data" / "sweeps.sqlite3"))
        return
    client = redis_test_client()
    prefix = f"gradsweep-test:{uuid.uuid4().hex}:"
    try:
        yield Backend("redis", prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def store(backend: Backend) -> Iterator[JobStore]:
    """The backend's store, open for the test."""
    opened = backend.open()
    yield opened
    opened.close()
