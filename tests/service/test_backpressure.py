"""Backpressure is atomic: concurrent POSTs never queue more chunks than
GRADSWEEP_MAX_PENDING_CHUNKS, and a cancelled sweep frees its share at once.

Real processes in both modes (``tests/harness.py``): a ``gradsweep serve`` on Redis with no
worker, so that nothing is consumed; and an embedded ``gradsweep serve`` whose one local worker
process (GRADSWEEP_JOBS=1) is kept busy by a one-chunk sweep of many seconds, so that the chunks
queued behind it stay queued. Every small sweep is 5 trials of one chunk each
(GRADSWEEP_CHUNK_WORK = one trial's dim × steps): 5 chunks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Cluster, cluster, wait_for_status

LIMIT = 30
SMALL = {"objective": "sphere", "optimizer": "sgd",  # sphere: dim 2
         "grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05]}, "steps": 10}
SMALL_CHUNKS = 5
CHUNK_WORK = 2 * 10  # one trial per chunk
# one trial, so one chunk whatever the chunk work: a minute or more of the one local worker
BLOCKER = {"objective": {"name": "sphere", "dim": 10_000}, "optimizer": "sgd",
           "grid": {"lr": 1e-6}, "steps": 1_000_000, "record_every": 100_000}
POSTS = 15


@contextmanager
def service(tmp_path: Path, mode: str) -> Iterator[tuple[Cluster, httpx.Client, int]]:
    """A started API in ``mode`` and a client on it; and the backlog it starts with (the
    blocker's one chunk in embedded mode, which it cancels at the end)."""
    with cluster(tmp_path, redis=mode == "cluster", max_pending_chunks=LIMIT,
                 chunk_work=CHUNK_WORK, jobs=1) as c:
        c.start_server()
        with c.client() as client:
            blocker = None
            if mode == "embedded":
                response = client.post("/v1/sweeps", json=BLOCKER)
                assert response.status_code == 202, response.text
                blocker = response.json()["id"]
                wait_for_status(client, blocker, {"running"}, timeout=30)
            try:
                yield c, client, 0 if blocker is None else 1
            finally:
                if blocker is not None:
                    client.delete(f"/v1/sweeps/{blocker}")


def post_at_once(url: str, n: int) -> list[httpx.Response]:
    """``n`` POSTs of SMALL, each from its own thread and connection, released together."""
    barrier = threading.Barrier(n)
    responses: list[httpx.Response | BaseException] = [RuntimeError("not run")] * n

    def post(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/healthz")  # connected before the barrier
            barrier.wait(timeout=30)
            try:
                responses[i] = client.post("/v1/sweeps", json=SMALL)
            except httpx.HTTPError as exc:
                responses[i] = exc

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    got = []
    for response in responses:
        assert isinstance(response, httpx.Response), repr(response)
        got.append(response)
    return got


def assert_backlogged(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == "5"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "too_many_requests"
    assert "chunks are waiting" in error["message"] and f"the limit is {LIMIT}" in error["message"]


def unfinished(client: httpx.Client) -> set[str]:
    ids = set()
    for status in ("queued", "running"):
        page = client.get("/v1/sweeps", params={"status": status, "limit": 100}).json()
        ids |= {item["id"] for item in page["items"]}
    return ids


@pytest.mark.parametrize("mode", ["cluster", "embedded"])
def test_concurrent_posts_never_queue_more_than_the_limit(tmp_path: Path, mode: str) -> None:
    with service(tmp_path, mode) as (c, client, backlog):
        responses = post_at_once(c.url, POSTS)
        accepted = [r.json()["id"] for r in responses if r.status_code == 202]
        for response in responses:
            if response.status_code != 202:
                assert_backlogged(response)
        assert backlog + SMALL_CHUNKS * len(accepted) <= LIMIT
        # and no fewer than fit: 6 sweeps of 5 chunks on an empty queue, 5 behind the blocker
        assert len(accepted) == (LIMIT - backlog) // SMALL_CHUNKS
        assert set(accepted) <= unfinished(client)
        assert len(unfinished(client)) == len(accepted) + backlog


@pytest.mark.parametrize("mode", ["cluster", "embedded"])
def test_cancelling_accepted_sweeps_frees_the_backlog_at_once(tmp_path: Path, mode: str) -> None:
    with service(tmp_path, mode) as (_, client, backlog):
        accepted = []
        for _ in range((LIMIT - backlog) // SMALL_CHUNKS):
            response = client.post("/v1/sweeps", json=SMALL)
            assert response.status_code == 202, response.text
            accepted.append(response.json()["id"])
        assert_backlogged(client.post("/v1/sweeps", json=SMALL))
        for sweep_id in accepted[:2]:
            assert client.delete(f"/v1/sweeps/{sweep_id}").status_code == 200
        for _ in range(2):  # each cancelled sweep's 5 chunks are free again, no waiting
            assert client.post("/v1/sweeps", json=SMALL).status_code == 202
        assert_backlogged(client.post("/v1/sweeps", json=SMALL))
