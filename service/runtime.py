"""What the API runs on: the job store and the executor of its mode, made once at start-up.

- Embedded mode (no ``GRADSWEEP_REDIS_URL``): a SQLite store in the data directory and a local
  process pool; sweeps interrupted by a restart are resumed at start-up (one that cannot be is
  marked failed, and the server comes up all the same).
- Cluster mode: the Redis store and Celery on the same Redis; workers run elsewhere. The
  housekeeping thread also queues again, every ``heartbeat_seconds``, the chunks whose lease
  expired (``workers.jobs.requeue_expired``: a dead worker's chunks run again even while no
  worker is alive to notice, as soon as one starts) — and, at start and after an outage, the
  chunks nothing holds any more (``requeue_orphans``) — and runs the ``Watchdog`` that
  re-queues (then fails) stuck sweeps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from threading import Event, Thread

from prometheus_client import CollectorRegistry

from workers.datasets import DatasetCatalog
from workers.jobs import (
    BrokerView,
    Executor,
    Watchdog,
    delete_expired,
    requeue_expired,
    requeue_orphans,
    resume_unfinished,
)
from workers.store import JobStore, StoreUnavailable
from workers.sweeps import SweepService

from .settings import ServiceSettings

log = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 600.0
#: The watchdog looks this many times per ``stuck_seconds`` (and at least every minute), so a
#: stuck sweep is acted on within stuck_seconds × (1 + 1/WATCHDOG_CHECKS_PER_DEADLINE).
WATCHDOG_CHECKS_PER_DEADLINE = 5
WATCHDOG_MAX_INTERVAL = 60.0
WATCHDOG_MIN_INTERVAL = 0.2


@dataclass
class Runtime:
    """The store, the executor and the settings of a running API, and the sweep service on
    them (``sweeps``: what the routes call)."""

    settings: ServiceSettings
    store: JobStore
    executor: Executor
    mode: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    started_at: float = field(default_factory=time.time)

    _stop: Event = field(default_factory=Event)
    _housekeeping: Thread | None = None
    watchdog: Watchdog | None = None
    sweeps: SweepService = field(init=False)
    datasets: DatasetCatalog = field(init=False)

    def __post_init__(self) -> None:
        self.datasets = DatasetCatalog(self.store)
        self.sweeps = SweepService(self.store, self.executor, mode=self.mode,
                                   chunk_work=self.settings.chunk_work,
                                   max_pending_chunks=self.settings.max_pending_chunks,
                                   worker_timeout=self.settings.worker_timeout)

    @classmethod
    def start(cls, settings: ServiceSettings) -> Runtime:
        """Open the store and the executor of the settings' mode."""
        if settings.redis_url is not None:
            from workers.celery_app import CeleryExecutor, make_celery
            from workers.store_redis import RedisStore

            store: JobStore = RedisStore(settings.redis_url, settings.key_prefix,
                                         settings.api_store_retry_seconds)
            runtime = cls(settings, store,
                          CeleryExecutor(make_celery(settings), settings.queue,
                                         connect_seconds=settings.api_store_retry_seconds),
                          "cluster")
            runtime.watchdog = Watchdog(store, runtime.executor,
                                        stuck_seconds=settings.stuck_seconds,
                                        max_requeues=settings.stuck_requeues,
                                        worker_timeout=settings.worker_timeout)
            redelivery = settings.lease_seconds + settings.heartbeat_seconds
            if settings.stuck_seconds <= redelivery:
                log.warning("GRADSWEEP_STUCK_SECONDS (%g) is not above lease_seconds + "
                            "heartbeat_seconds (%g): the watchdog may re-queue chunks that are "
                            "only waiting for their lease to expire", settings.stuck_seconds,
                            redelivery)
            if settings.lease_seconds < 2 * settings.heartbeat_seconds:
                log.warning("GRADSWEEP_LEASE_SECONDS (%g) is under two heartbeats (%g s): a "
                            "live worker's chunks may be queued twice", settings.lease_seconds,
                            settings.heartbeat_seconds)
            runtime._start_housekeeping()
            return runtime
        from workers.local import LocalExecutor
        from workers.store_sqlite import SQLiteStore

        store = SQLiteStore(settings.data_dir / "sweeps.sqlite3")
        executor = LocalExecutor(settings.data_dir / "sweeps.sqlite3", settings.jobs)
        runtime = cls(settings, store, executor, "embedded")
        try:  # a sweep it cannot resume is failed by resume_unfinished; this is the backstop
            resumed = resume_unfinished(store, executor)
        except Exception:  # noqa: BLE001 — never keep the server (and every sweep) down
            log.exception("resuming the unfinished sweeps failed; starting without")
            resumed = []
        if resumed:
            log.info("resumed %d unfinished sweep(s): %s", len(resumed), ", ".join(resumed))
        runtime._start_housekeeping()
        return runtime

    def _start_housekeeping(self) -> None:
        """A thread that deletes sweeps past their retention now and then, and — in cluster
        mode — queues again the chunks of expired leases every ``heartbeat_seconds`` and runs
        the watchdog every ``stuck_seconds / WATCHDOG_CHECKS_PER_DEADLINE``."""
        retention_interval = min(HOUSEKEEPING_SECONDS, self.settings.retention_days * 86_400 / 4)
        interval = retention_interval
        watchdog_interval = max(WATCHDOG_MIN_INTERVAL, min(
            WATCHDOG_MAX_INTERVAL, self.settings.stuck_seconds / WATCHDOG_CHECKS_PER_DEADLINE))
        if self.watchdog is not None:
            interval = min(interval, watchdog_interval, self.settings.heartbeat_seconds)

        def run() -> None:
            next_retention = next_watchdog = time.monotonic()
            orphan_scan = True  # at start and after an outage: ``requeue_orphans``
            while not self._stop.is_set():
                if time.monotonic() >= next_retention:
                    try:
                        deleted = delete_expired(self.store, self.settings.retention_days)
                        if deleted:
                            log.info("deleted %d sweep(s) past retention", deleted)
                        next_retention = time.monotonic() + retention_interval
                    except StoreUnavailable:
                        log.warning("job store unavailable; retention check skipped")
                if self.watchdog is not None:
                    try:
                        requeue_expired(self.store, self.executor, who="the API")
                        if orphan_scan and isinstance(self.executor, BrokerView):
                            requeue_orphans(self.store, self.executor)
                        orphan_scan = False
                    except StoreUnavailable as exc:
                        log.warning("job store unavailable; lease scan skipped: %s", exc)
                        orphan_scan = True
                    except Exception:  # never let the housekeeping thread die
                        log.exception("lease scan failed")
                if self.watchdog is not None and time.monotonic() >= next_watchdog:
                    next_watchdog = time.monotonic() + watchdog_interval
                    try:
                        self.watchdog.check()
                    except StoreUnavailable as exc:
                        log.warning("job store unavailable; watchdog check skipped: %s", exc)
                    except Exception:  # never let the housekeeping thread die
                        log.exception("watchdog check failed")
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


__all__ = ["Runtime"]
