"""``service.feeds``: every event stream of a sweep shares one poll of the store.

The store here is a list of real ``SweepRecord`` snapshots that a sweep goes through, read by a
counting ``get``: what is measured is how often the feeds read it, whatever the number of
watchers.
"""

from __future__ import annotations

import asyncio
import dataclasses

from optimizers import SweepStatus
from service.feeds import Feeds, Snapshot
from workers.store import SweepRecord

POLL = 0.01
RUNNING = SweepRecord(id="a" * 32, name="s", status=SweepStatus.RUNNING, spec={}, total=4,
                      done=0, n_chunks=4, chunks_done=0, created_at=0.0)


class Sweep:
    """A sweep that moves one chunk every ``every`` reads, then succeeds."""

    def __init__(self, every: int = 5) -> None:
        self.reads = 0
        self.every = every
        self.record = RUNNING

    def get(self, sweep_id: str) -> SweepRecord | None:
        self.reads += 1
        if self.reads % self.every == 0 and not self.record.status.is_finished():
            done = self.record.done + 1
            status = SweepStatus.SUCCEEDED if done == self.record.total else SweepStatus.RUNNING
            self.record = dataclasses.replace(self.record, done=done, chunks_done=done,
                                              status=status)
        return self.record


def view(record: SweepRecord) -> str:
    return f"{record.done}/{record.total} {record.status.value}"


async def follow(feeds: Feeds, record: SweepRecord) -> list[str]:
    """What one stream would send: each snapshot's view until the final one."""
    seen: list[str] = []
    async with feeds.watch(record) as feed:
        version = 0
        while True:
            snapshot: Snapshot = await feed.after(version)
            version = snapshot.version
            seen.append(snapshot.view)
            if snapshot.final:
                return seen


def test_many_watchers_share_one_poll_and_see_every_change() -> None:
    async def main() -> None:
        alone, crowd = Sweep(), Sweep()
        one = await follow(Feeds(alone.get, view, POLL), RUNNING)
        feeds = Feeds(crowd.get, view, POLL)
        many = await asyncio.gather(*(follow(feeds, RUNNING) for _ in range(100)))
        expected = ["0/4 running", "1/4 running", "2/4 running", "3/4 running", "4/4 succeeded"]
        assert one == expected
        assert all(seen == expected for seen in many)
        # 100 watchers read the store as often as one did (not 100 times as often)
        assert crowd.reads <= alone.reads + 1, (crowd.reads, alone.reads)
        assert len(feeds) == 0  # the feed went with its last watcher

    asyncio.run(main())


def test_a_late_watcher_starts_from_the_latest_snapshot_and_the_feed_stops_when_all_leave() -> None:
    async def main() -> None:
        sweep = Sweep(every=10**9)  # never moves
        feeds = Feeds(sweep.get, view, POLL)

        async def watch_a_while() -> str:
            async with feeds.watch(RUNNING) as feed:
                await asyncio.sleep(5 * POLL)
                return feed.snapshot.view

        first = asyncio.create_task(watch_a_while())
        await asyncio.sleep(2 * POLL)
        assert await watch_a_while() == "0/4 running" and await first == "0/4 running"
        assert len(feeds) == 0
        reads = sweep.reads
        await asyncio.sleep(5 * POLL)
        assert sweep.reads == reads  # nobody watches: nobody polls

    asyncio.run(main())


def test_a_finished_sweep_is_one_snapshot_and_no_poll() -> None:
    async def main() -> None:
        sweep = Sweep()
        done = dataclasses.replace(RUNNING, done=4, chunks_done=4, status=SweepStatus.SUCCEEDED)
        assert await follow(Feeds(sweep.get, view, POLL), done) == ["4/4 succeeded"]
        assert sweep.reads == 0

    asyncio.run(main())


def test_a_sweep_deleted_while_watched_ends_the_streams() -> None:
    async def main() -> None:
        feeds = Feeds(lambda sweep_id: None, view, POLL)
        async with feeds.watch(RUNNING) as feed:
            first = await asyncio.wait_for(feed.after(0), timeout=5)
            snapshot = await asyncio.wait_for(feed.after(first.version), timeout=5)
        assert snapshot.record is None and snapshot.final

    asyncio.run(main())
