"""One store poll per watched sweep, however many clients watch it.

An event stream (``GET /v1/sweeps/{id}/events``) follows one sweep. Polling the store per stream
made the API's cost grow with its viewers: 100 dashboards on one sweep were 500 store reads and
status views a second, queued in the thread pool in front of every other request. Here every
stream of the same sweep shares one ``Feed``: a task that polls the store every ``poll_seconds``
(in a worker thread: the store is a blocking client), builds the ``SweepView`` JSON once per
change of (done, status), and wakes its watchers. So the work is per watched sweep, not per
viewer; a feed stops with its last watcher, and what ``Feeds`` holds is one small entry per
sweep being watched right now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from workers.store import StoreUnavailable, SweepRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What a feed last saw: the record, its view as JSON text, and a change counter."""

    version: int
    record: SweepRecord | None  # None: the sweep is gone (deleted while watched)
    view: str

    @property
    def final(self) -> bool:
        """Nothing will change any more: the sweep is finished, or gone."""
        return self.record is None or self.record.status.is_finished()


class Feed:
    """The latest ``Snapshot`` of one sweep, and the task that keeps it current (version 0, the
    record it started from with no view yet, until the task has built the first view)."""

    def __init__(self, first: SweepRecord) -> None:
        self.snapshot = Snapshot(0, first, "")
        self.watchers = 0
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    async def publish(self, record: SweepRecord | None, view: str) -> None:
        """A new snapshot; wake every watcher."""
        async with self._changed:
            self.snapshot = Snapshot(self.snapshot.version + 1, record, view)
            self._changed.notify_all()

    async def after(self, version: int) -> Snapshot:
        """The first snapshot newer than ``version`` (at once if there is one); ``after(0)`` is
        the first with a view."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.snapshot.version > version)
            return self.snapshot


class Feeds:
    """The feeds of the sweeps being watched in this process.

    Args:
      get: reads a sweep's record from the store (blocking; None if there is no such sweep).
      view: the ``SweepView`` JSON of a record (blocking: it reads the best so far).
      poll_seconds: how often a feed reads the store.
    """

    def __init__(self, get: Callable[[str], SweepRecord | None],
                 view: Callable[[SweepRecord], str], poll_seconds: float) -> None:
        self._get = get
        self._view = view
        self.poll_seconds = poll_seconds
        self._feeds: dict[str, Feed] = {}

    def __len__(self) -> int:
        return len(self._feeds)

    @contextlib.asynccontextmanager
    async def watch(self, record: SweepRecord) -> AsyncIterator[Feed]:
        """The feed of ``record``'s sweep, started if nobody watches it yet; it stops when its
        last watcher leaves."""
        feed = self._feeds.get(record.id)
        if feed is None:  # registered before any await: watchers arriving at once share it
            feed = self._feeds[record.id] = Feed(record)
            feed.task = asyncio.create_task(self._follow(feed, record))
        feed.watchers += 1
        try:
            yield feed
        finally:
            feed.watchers -= 1
            if feed.watchers == 0 and self._feeds.get(record.id) is feed:
                del self._feeds[record.id]
                if feed.task is not None:
                    feed.task.cancel()

    async def _follow(self, feed: Feed, record: SweepRecord) -> None:
        """Poll the store; publish each change of (done, status) until the sweep is final (an
        unexpected error ends the streams, as if the sweep were gone, rather than leave them
        waiting forever)."""
        try:
            await self._poll(feed, record)
        except Exception:
            log.exception("the event feed of sweep %s failed; its streams end", record.id)
            await feed.publish(None, feed.snapshot.view)

    async def _poll(self, feed: Feed, record: SweepRecord) -> None:
        """The first view, then a store read every ``poll_seconds`` and a view per change."""
        await feed.publish(record, await run_in_threadpool(self._view, record))
        seen = (record.done, record.status)
        while not record.status.is_finished():
            await asyncio.sleep(self.poll_seconds)
            try:
                latest = await run_in_threadpool(self._get, record.id)
                if latest is None:  # deleted (retention) while watched
                    await feed.publish(None, feed.snapshot.view)
                    return
                if (latest.done, latest.status) == seen:
                    continue
                view = await run_in_threadpool(self._view, latest)
            except StoreUnavailable:
                continue  # again at the next poll; the streams' pings keep them open
            seen, record = (latest.done, latest.status), latest
            await feed.publish(latest, view)


__all__ = ["Feed", "Feeds", "Snapshot"]
