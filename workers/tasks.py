"""The Celery worker side: the chunk task and the worker's heartbeat.

``gradsweep worker`` starts a Celery worker on this module's ``app``. The task is thin: it
unpacks a sweep id and a chunk number and calls ``workers.jobs.execute_chunk``, which runs the
engine and writes the chunk to the job store idempotently.

Redis going away: every store call retries for ``store_retry_seconds`` (60 s by default), so a
chunk that is running when Redis restarts saves its records once Redis is back. A store that
stays unreachable past that makes the task reject its message with ``requeue=True``: kombu puts
it back at the head of the queue — or, if Redis is still down, the reject fails and the message
stays in kombu's ``unacked`` hash, to be delivered again after the visibility timeout. Either
way the message is never removed without the chunk being saved.

(Celery's ``autoretry_for`` is not used for this on purpose: a retry publishes a new message —
to the broker, the same Redis that is down — and when that publish fails Celery rejects the
original *without* requeueing it; if that reject reaches a Redis that has just come back, the
chunk is gone. ``test_faults.py::test_redis_sigkill_and_restart_loses_nothing[writes-give-up]``
lost a chunk that way.)

Any other error is permanent — a chunk or results document the store refuses
(``StoreRejected``, which ``execute_chunk`` turns into a failed sweep itself), or a bug: the
sweep is marked failed with the reason and the message is acknowledged, so it is never
delivered again and again. After every chunk the process gives its memory back
(``workers.memory.release_memory``), and Celery replaces a pool process still over
``GRADSWEEP_WORKER_MAX_MEMORY_MB`` (``worker_max_memory_per_child``).
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Reject
from celery.signals import worker_ready, worker_shutdown

from .celery_app import RUN_CHUNK, make_celery
from .jobs import execute_chunk, fail_sweep
from .memory import release_memory
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


#: Seconds a task waits before handing back a chunk it could not save (no hot loop when the
#: store fails fast, e.g. GRADSWEEP_STORE_RETRY_SECONDS=0 or a read-only Redis).
REQUEUE_PAUSE_SECONDS = 1.0


@app.task(name=RUN_CHUNK, bind=True)
def run_chunk_task(self: Task, sweep_id: str, chunk: int) -> int:
    """Run chunk ``chunk`` of sweep ``sweep_id``; how many trials ran."""
    settings = get_settings()
    started = time.monotonic()
    try:
        ran = execute_chunk(worker_store(), sweep_id, chunk)
    except StoreUnavailable as exc:
        _hand_back(sweep_id, chunk, exc)
    except Exception as exc:  # noqa: BLE001 — permanent: fail the sweep, acknowledge the chunk
        log.exception("chunk %d of sweep %s failed outside the engine", chunk, sweep_id)
        try:
            fail_sweep(worker_store(), sweep_id, f"chunk {chunk} failed outside the engine: "
                       f"{type(exc).__name__}: {exc}")
        except StoreUnavailable as unavailable:
            _hand_back(sweep_id, chunk, unavailable)
        return 0
    finally:
        release_memory()
    seconds = time.monotonic() - started
    if seconds > settings.visibility_timeout / 2:
        log.warning("chunk %d of sweep %s took %.1f s, more than half the visibility timeout "
                    "(%d s): if chunks are often this slow, raise GRADSWEEP_VISIBILITY_TIMEOUT "
                    "or lower GRADSWEEP_CHUNK_WORK, or they will be delivered twice",
                    chunk, sweep_id, seconds, settings.visibility_timeout)
    return ran


def _hand_back(sweep_id: str, chunk: int, exc: StoreUnavailable) -> NoReturn:
    """Reject the chunk's message back to the queue, after a pause (the store is down)."""
    log.warning("chunk %d of sweep %s: the job store is unavailable (%s); handing the "
                "chunk back to the queue", chunk, sweep_id, exc)
    time.sleep(REQUEUE_PAUSE_SECONDS)
    raise Reject(f"job store unavailable: {exc}", requeue=True) from exc


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


__all__ = ["REQUEUE_PAUSE_SECONDS", "app", "run_chunk_task", "worker_store"]
