"""What the API runs on: the job store and the executor of its mode, made once at start-up.

- Embedded mode (no ``GRADSWEEP_REDIS_URL``): a SQLite store in the data directory and a local
  process pool; sweeps interrupted by a restart are resumed at start-up.
- Cluster mode: the Redis store and Celery on the same Redis; workers run elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Event, Lock, Thread
from typing import Any

from prometheus_client import CollectorRegistry

from optimizers.results import Best, score_settings
from workers.jobs import Executor, delete_expired, resume_unfinished, stored_spec
from workers.store import JobStore, StoreUnavailable, SweepRecord

from .settings import ServiceSettings

log = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 600.0


class BestSoFar:
    """The best grid point of each sweep among its saved chunks, kept up to date cheaply.

    Each new chunk's records are read once and reduced to what scoring needs (index, status,
    metric); a sweep's entry is dropped when the cache is full (least recently used first).
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._lock = Lock()
        self._seen: OrderedDict[str, tuple[set[int], list[dict[str, Any]], Best | None]] = (
            OrderedDict())

    def get(self, store: JobStore, record: SweepRecord) -> Best | None:
        """The best setting among the chunks of ``record`` saved so far."""
        if record.chunks_done == 0:
            return None
        with self._lock:
            seen, compact, best = self._seen.get(record.id, (set(), [], None))
        saved = store.saved_chunks(record.id)
        new = saved - seen
        if not new:
            return best
        spec = stored_spec(record)
        metric = spec.metric
        compact = compact + [{"index": r["index"], "status": r["status"], metric: r[metric]}
                             for r in store.chunk_records(record.id, sorted(new))]
        candidates = [s for s in score_settings(spec, compact) if s["score"] is not None]
        top = min(candidates, key=lambda s: (s["score"], s["index"]), default=None)
        best = None if top is None else Best(params=top["params"], score=top["score"],
                                             score_std=top["score_std"], trials=top["trials"])
        with self._lock:
            self._seen[record.id] = (seen | new, compact, best)
            self._seen.move_to_end(record.id)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return best


@dataclass
class Runtime:
    """The store, the executor and the settings of a running API."""

    settings: ServiceSettings
    store: JobStore
    executor: Executor
    mode: str
    best: BestSoFar = field(default_factory=BestSoFar)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    started_at: float = field(default_factory=time.time)

    _stop: Event = field(default_factory=Event)
    _housekeeping: Thread | None = None

    @classmethod
    def start(cls, settings: ServiceSettings) -> Runtime:
        """Open the store and the executor of the settings' mode."""
        if settings.redis_url is not None:
            from workers.celery_app import CeleryExecutor, make_celery
            from workers.store_redis import RedisStore

            store: JobStore = RedisStore(settings.redis_url, settings.key_prefix,
                                         settings.api_store_retry_seconds)
            runtime = cls(settings, store,
                          CeleryExecutor(make_celery(settings), settings.queue), "cluster")
            runtime._start_housekeeping()
            return runtime
        from workers.local import LocalExecutor
        from workers.store_sqlite import SQLiteStore

        store = SQLiteStore(settings.data_dir / "sweeps.sqlite3")
        executor = LocalExecutor(settings.data_dir / "sweeps.sqlite3", settings.jobs)
        runtime = cls(settings, store, executor, "embedded")
        resumed = resume_unfinished(store, executor)
        if resumed:
            log.info("resumed %d unfinished sweep(s): %s", len(resumed), ", ".join(resumed))
        runtime._start_housekeeping()
        return runtime

    def _start_housekeeping(self) -> None:
        """A thread that deletes sweeps past their retention, now and then."""
        interval = min(HOUSEKEEPING_SECONDS, self.settings.retention_days * 86_400 / 4)

        def run() -> None:
            while not self._stop.is_set():
                try:
                    deleted = delete_expired(self.store, self.settings.retention_days)
                    if deleted:
                        log.info("deleted %d sweep(s) past retention", deleted)
                except StoreUnavailable:
                    log.warning("job store unavailable; retention check skipped")
                self._stop.wait(interval)

        self._housekeeping = Thread(target=run, name="gradsweep-housekeeping", daemon=True)
        self._housekeeping.start()

    def close(self) -> None:
        """Stop housekeeping and the executor, and close the store."""
        self._stop.set()
        if self._housekeeping is not None:  # it may be using the store: let it finish first
            self._housekeeping.join()
        close = getattr(self.executor, "close", None)
        if close is not None:
            close()
        self.store.close()


__all__ = ["BestSoFar", "Runtime"]
