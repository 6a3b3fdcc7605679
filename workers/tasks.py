"""The Celery worker side: the chunk task and the worker's heartbeat.

``gradsweep worker`` starts a Celery worker on this module's ``app``. The task is thin: it
unpacks a sweep id and a chunk number and calls ``workers.jobs.execute_chunk``, which runs the
engine and writes the chunk to the job store idempotently. A store that stays unreachable past
its own retries makes the task retry later (it is acknowledged only after it ran, so nothing is
lost meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Any

from celery import Task
from celery.signals import worker_ready, worker_shutdown

from .celery_app import RUN_CHUNK, make_celery
from .jobs import execute_chunk
from .settings import get_settings
from .store import StoreUnavailable
from .store_redis import RedisStore

log = logging.getLogger(__name__)
app = make_celery(get_settings())


@lru_cache(maxsize=1)
def worker_store() -> RedisStore:
    """This process's connection to the job store."""
    settings = get_settings()
    assert settings.redis_url is not None
    return RedisStore(settings.redis_url, settings.key_prefix, settings.store_retry_seconds)


@app.task(name=RUN_CHUNK, bind=True, autoretry_for=(StoreUnavailable,), retry_backoff=1,
          retry_backoff_max=30, retry_jitter=True, max_retries=None)
def run_chunk_task(self: Task, sweep_id: str, chunk: int) -> int:
    """Run chunk ``chunk`` of sweep ``sweep_id``; how many trials ran."""
    return execute_chunk(worker_store(), sweep_id, chunk)


_stop_heartbeat = threading.Event()


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    """Tell the store every few seconds that this worker is alive (for /readyz)."""
    name = getattr(sender, "hostname", None) or "worker"
    interval = get_settings().heartbeat_seconds

    def beat() -> None:
        while not _stop_heartbeat.is_set():
            try:
                worker_store().heartbeat(name, time.time())
            except StoreUnavailable:
                log.warning("job store unreachable; heartbeat skipped")
            _stop_heartbeat.wait(interval)

    threading.Thread(target=beat, name="gradsweep-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop(**_: Any) -> None:
    _stop_heartbeat.set()


__all__ = ["app", "run_chunk_task", "worker_store"]
