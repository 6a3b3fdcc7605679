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

Leases: a chunk is leased to the worker *node* (its Celery hostname, shared by the main process
and its prefork children) as soon as the main process receives its message (``task_received``
— a prefetched message waits in kombu's ``unacked`` too, so leasing only at task start would
leave it unprotected), and again by the child at task start. The node's heartbeat thread renews
each ``heartbeat_seconds`` the leases of the chunks the node holds (``held_chunks``) and queues
again the chunks whose lease expired (any node's: a dead or frozen worker's), as the API's
housekeeping does. A chunk whose
whole worker was SIGKILLed so runs again within about ``lease_seconds + heartbeat_seconds``,
while a chunk that runs for hours on a live worker keeps its lease and is never delivered
twice. At a warm shutdown (SIGTERM) the node hands its chunks back at once: it releases its
leases and queues those chunks again; its running tasks see the lease gone at their next cancel
poll and stop (acknowledged: no second copy is queued). The broker's visibility timeout stays,
long (an hour), as a last resort only. At start and after every outage the heartbeat also
queues again the chunks nothing holds any more (``workers.jobs.requeue_orphans``: a message
Redis popped for a worker just as it died is in no queue, no ``unacked``, no lease).

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
from celery.signals import task_received, worker_ready, worker_shutdown, worker_shutting_down
from celery.worker import state as worker_state

from .celery_app import RUN_CHUNK, CeleryExecutor, make_celery
from .jobs import (
    Lease,
    execute_chunk,
    fail_sweep,
    requeue_chunks,
    requeue_expired,
    requeue_orphans,
)
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


#: Seconds the main process's own store calls retry (taking a lease on receipt, the hand-back
#: at shutdown): they run in Celery's event loop, which must not stall for a minute.
NODE_STORE_RETRY_SECONDS = 2.0


@lru_cache(maxsize=1)
def node_store() -> RedisStore:
    """The main process's connection to the job store for calls made from Celery's event loop
    (short retries)."""
    settings = get_settings()
    assert settings.redis_url is not None
    return RedisStore(settings.redis_url, settings.key_prefix,
                      min(NODE_STORE_RETRY_SECONDS, settings.store_retry_seconds))


@lru_cache(maxsize=1)
def node_executor() -> CeleryExecutor:
    """What the main process queues chunks again with (its own Celery app: the consumer's
    connections are not shared with the heartbeat thread)."""
    settings = get_settings()
    return CeleryExecutor(make_celery(settings), settings.queue,
                          connect_seconds=NODE_STORE_RETRY_SECONDS)


def _lease(owner: str) -> Lease:
    return Lease(owner, get_settings().lease_seconds)


#: Seconds a task waits before handing back a chunk it could not save (no hot loop when the
#: store fails fast, e.g. GRADSWEEP_STORE_RETRY_SECONDS=0 or a read-only Redis).
REQUEUE_PAUSE_SECONDS = 1.0


@app.task(name=RUN_CHUNK, bind=True)
def run_chunk_task(self: Task, sweep_id: str, chunk: int) -> int:
    """Run chunk ``chunk`` of sweep ``sweep_id``; how many trials ran."""
    settings = get_settings()
    started = time.monotonic()
    try:
        ran = execute_chunk(worker_store(), sweep_id, chunk,
                            _lease(self.request.hostname or "worker"),
                            submit=node_executor().submit)
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
#: Set once the node hands its chunks back (warm shutdown): leases taken after that (a message
#: still being received) are handed back too, not renewed.
_handing_back = threading.Event()


def held_chunks() -> list[tuple[str, int]]:
    """The (sweep, chunk) of every chunk message this node holds — received, prefetched or
    running, not yet acknowledged or rejected: Celery's own bookkeeping of the main process
    (``celery.worker.state.requests``). A chunk handed back (rejected) is no longer in it, so
    its lease stops being renewed and expires even if the reject never reached the broker."""
    for _ in range(10):  # the consumer changes the dict while this thread copies it
        try:
            requests = tuple(worker_state.requests.values())
            break
        except RuntimeError:
            continue
    else:
        return []
    held = []
    for request in requests:
        try:
            if request.name == RUN_CHUNK:
                held.append((str(request.args[0]), int(request.args[1])))
        except (AttributeError, IndexError, TypeError, ValueError):
            continue
    return held


@task_received.connect
def _lease_on_receipt(sender: Any = None, request: Any = None, **_: Any) -> None:
    """Main process: lease a chunk as soon as its message is received (before it starts)."""
    if request is None or getattr(request, "name", None) != RUN_CHUNK:
        return
    try:
        sweep_id, chunk = request.args[0], int(request.args[1])
        node_store().lease(sweep_id, chunk, request.hostname, get_settings().lease_seconds)
    except StoreUnavailable as exc:  # the child leases it again when it starts
        log.warning("chunk lease not taken on receipt: %s", exc)
    except (IndexError, TypeError, ValueError):
        log.warning("a %s message without (sweep id, chunk) arguments", RUN_CHUNK)


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    """Every ``heartbeat_seconds``: tell the store this worker is alive (for /readyz), renew
    the leases of the chunks it holds, and queue again the chunks whose lease expired."""
    name = getattr(sender, "hostname", None) or "worker"
    settings = get_settings()

    def beat() -> None:
        orphan_scan = True  # at start, and after every outage: see ``requeue_orphans``
        while not _stop_heartbeat.is_set():
            started = time.monotonic()
            try:
                store = worker_store()
                store.heartbeat(name, time.time())
                # a beat that waited for the store (retried through an outage) counts too
                orphan_scan |= time.monotonic() - started > settings.heartbeat_seconds
                if not _handing_back.is_set():
                    store.renew_leases(name, settings.lease_seconds, held_chunks())
                requeue_expired(store, node_executor(), who=name)
                if orphan_scan:
                    requeue_orphans(store, node_executor())
                    orphan_scan = False
            except StoreUnavailable as exc:
                log.warning("job store unreachable; heartbeat skipped: %s", exc)
                orphan_scan = True
            except Exception:  # noqa: BLE001 — never let the heartbeat thread die
                log.exception("heartbeat failed")
            _stop_heartbeat.wait(settings.heartbeat_seconds)

    threading.Thread(target=beat, name="gradsweep-heartbeat", daemon=True).start()


@worker_shutting_down.connect
def _hand_back_leases(sender: Any = None, **_: Any) -> None:
    """Warm shutdown (SIGTERM): release this node's leases and queue those chunks again at
    once, instead of making them wait for a running chunk to end (or for the lease to expire).
    The running tasks stop at their next cancel poll (their lease is gone)."""
    name = str(sender or "worker")
    _handing_back.set()
    try:
        released = node_store().release_owner(name)
        queued = requeue_chunks(node_store(), node_executor(), released)
    except StoreUnavailable as exc:  # the leases expire by themselves
        log.warning("chunks not handed back at shutdown: %s", exc)
        return
    if queued:
        log.warning("shutting down: handed back %d chunk(s): %s", len(queued),
                    ", ".join(f"{sweep_id}/{chunk}" for sweep_id, chunk in queued))


@worker_shutdown.connect
def _stop(**_: Any) -> None:
    _stop_heartbeat.set()


__all__ = ["NODE_STORE_RETRY_SECONDS", "REQUEUE_PAUSE_SECONDS", "app", "node_executor",
           "node_store", "run_chunk_task", "worker_store"]
