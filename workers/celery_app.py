"""The Celery application of cluster mode, configured for at-least-once delivery of chunks.

Settings that matter (RELIABILITY.md):

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a chunk is acknowledged only after it ran;
  a pool process that dies mid-chunk makes the worker requeue its message at once.
- ``worker_prefetch_multiplier = 1``: a worker reserves one chunk per process, so a dead worker
  holds back one chunk per process, not four.
- the Redis transport's ack emulation (``broker_transport_options``, see ``transport_options``):
  a delivered message waits in kombu's ``unacked`` hash until it is acknowledged. When the whole
  worker dies (SIGKILL, power loss) nobody requeues it; a surviving or new worker does, once it
  is older than ``visibility_timeout``, at its next periodic scan (every ``restore_seconds``).
  That is the last resort only (an hour by default): a dead worker's chunks come back through
  their leases within seconds (``workers.tasks``, ``workers.jobs.requeue_expired``). The
  visibility timeout must stay above a chunk's run time, or healthy chunks are delivered a
  second time (harmless — saving a chunk is idempotent — but wasted work).
- ``broker_transport`` is ``RedisTransport``: kombu's, but an ack that cannot reach Redis
  still frees its prefetch slot (see ``_QoS``).
- ``worker_max_memory_per_child``: a pool process whose RSS is above
  ``GRADSWEEP_WORKER_MAX_MEMORY_MB`` after a chunk is replaced by a fresh one, so a worker's
  memory stays bounded between chunks (the task also trims the heap after every chunk).
- results are not stored in Celery (``task_ignore_result``, no result backend, so
  ``result_backend_transport_options`` is never read): a chunk's records go to the job store,
  keyed by sweep and chunk, so a chunk that runs twice counts once.
- the broker and the job store are the same Redis: an executor that cannot reach the broker
  raises ``QueueUnavailable`` (a ``StoreUnavailable``), which the API answers with 503.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual.base import QoS as VirtualQoS
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .jobs import QueueUnavailable
from .settings import WorkerSettings

RUN_CHUNK = "gradsweep.run_chunk"
#: Seconds a broker socket may wait for Redis: bounds a publish (the API's POST) or a queue
#: length query against a Redis that accepts connections but does not answer.
BROKER_SOCKET_TIMEOUT = 10.0
BROKER_CONNECT_TIMEOUT = 5.0
#: Seconds kombu's restore lock lives: a worker killed during its (millisecond) scan would
#: otherwise block every other worker's scans for kombu's default of 300 s.
RESTORE_MUTEX_SECONDS = 30
#: How many times a publish is retried (0.2 s apart) before the API gives up (503).
PUBLISH_RETRIES = 3
_BROKER_ERRORS = (OperationalError, RedisConnectionError, RedisTimeoutError, OSError)


class _QoS(kombu_redis.QoS):
    """kombu's Redis QoS, but an acknowledgement (or reject) that cannot reach Redis still frees
    the consumer's prefetch slot.

    kombu 5.7 removes a message from its local ``_delivered`` only after the Redis side of the
    ack succeeded; when Redis dies just as a chunk ends, the ack raises ("Couldn't ack"), the
    slot stays taken, and once every slot is taken ``can_consume`` is False for good: the worker
    reconnects but never consumes again (seen in ``test_redis_sigkill_and_restart_loses_nothing``
    once chunks released their lease after saving, which moved the ack into the kill). The
    message itself stays in Redis's ``unacked``: its chunk is saved (an ack) or its lease, no
    longer renewed, expires and the chunk is queued again (a reject)."""

    def ack(self, delivery_tag: Any) -> None:
        try:
            super().ack(delivery_tag)  # type: ignore[no-untyped-call]
        except BaseException:
            VirtualQoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]
            raise

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]
        except BaseException:
            VirtualQoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]
            raise


class _Channel(kombu_redis.Channel):
    QoS = _QoS


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with ``_QoS`` (``broker_transport``)."""

    Channel = _Channel


def transport_options(settings: WorkerSettings) -> dict[str, Any]:
    """kombu's Redis transport options (``broker_transport_options``).

    kombu 5.7 scans ``unacked`` every ``unacked_restore_interval`` (default 10 s) seconds but
    only acts on every ``unacked_restore_throttle``-th (default 10th) scan: ~100 s between real
    restores by default. The throttle is set to 1 so that ``restore_seconds`` alone sets the
    cadence.
    """
    return {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": settings.restore_seconds,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": RESTORE_MUTEX_SECONDS,
        "socket_timeout": BROKER_SOCKET_TIMEOUT,
        "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
    }


def make_celery(settings: WorkerSettings) -> Celery:
    """A Celery app on the settings' Redis, with the delivery guarantees above."""
    if settings.redis_url is None:
        raise RuntimeError("cluster mode needs GRADSWEEP_REDIS_URL (redis://host:6379/0)")
    app = Celery("gradsweep", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        broker_transport=f"{__name__}:RedisTransport",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024,  # KiB
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        # A chunk running when the broker connection drops keeps running: its store writes
        # retry until Redis is back and saving it is idempotent; its message stays in
        # ``unacked`` (Redis persists it) and comes back after the visibility timeout if the
        # acknowledgement is lost. Cancelling it would only throw its work away.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": PUBLISH_RETRIES, "interval_start": 0,
                                   "interval_step": 0.2, "interval_max": 0.5},
        worker_send_task_events=False,
        # No remote control (``celery inspect``/``control``, unused here): it keeps a pub/sub
        # connection whose loss, noticed while the BRPOP is in flight, can make kombu 5.7 close
        # the channel twice and die with "AttributeError: 'NoneType' object has no attribute
        # 'hostname'" (an unrecoverable error: the worker exits) when Redis restarts.
        worker_enable_remote_control=False,
        worker_hijack_root_logger=False,
    )
    return app


def _chunk_of(raw: bytes) -> set[tuple[str, int]]:
    """The (sweep, chunk) of a kombu message as the Redis transport keeps it in a queue's list,
    or nothing if it is not a chunk message."""
    try:
        data = json.loads(raw)
        if data.get("headers", {}).get("task") != RUN_CHUNK:
            return set()
        args = json.loads(base64.b64decode(data["body"]))[0]
        return {(str(args[0]), int(args[1]))}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return set()


class CeleryExecutor:
    """Cluster mode's executor: one Celery task per chunk, on the settings' queue.

    ``connect_seconds`` bounds the time spent (re)connecting to the broker before an operation
    gives up with ``QueueUnavailable`` (kombu's own default is 2 s, 4 s, … between attempts for
    ``broker_connection_timeout``, which made a POST against a dead Redis take 6 s).
    """

    def __init__(self, app: Celery, queue: str, connect_seconds: float = 2.0) -> None:
        self.app = app
        self.queue = queue
        self.connect_seconds = connect_seconds

    def _connected(self, connection: Any) -> None:
        connection.ensure_connection(max_retries=None, interval_start=0.1, interval_step=0.2,
                                     interval_max=0.5, timeout=max(0.1, self.connect_seconds))

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        """Send one task per chunk (ids and numbers only, never model objects); raise
        ``QueueUnavailable`` if the broker cannot be reached (some chunks may have been sent)."""
        try:
            with self.app.producer_or_acquire() as producer:
                self._connected(producer.connection)
                for chunk in chunks:
                    self.app.send_task(RUN_CHUNK, args=[sweep_id, chunk], queue=self.queue,
                                       producer=producer)
        except _BROKER_ERRORS as exc:
            raise QueueUnavailable(f"the broker cannot be reached: {exc}") from exc

    def queue_depth(self) -> int:
        """Chunks waiting in the broker's queue (the Redis list named after the queue)."""
        try:
            with self.app.connection_for_write() as connection:
                self._connected(connection)
                client = connection.default_channel.client
                return int(client.llen(self.queue))
        except _BROKER_ERRORS as exc:
            raise QueueUnavailable(f"the broker cannot be reached: {exc}") from exc

    def queued_chunks(self) -> set[tuple[str, int]]:
        """The (sweep, chunk) of every chunk message waiting in this queue's list. O(messages):
        for the orphan scan, which runs after an outage and at start, not at every heartbeat."""
        try:
            with self.app.connection_for_write() as connection:
                self._connected(connection)
                client = connection.default_channel.client
                queued = client.lrange(self.queue, 0, -1)
        except _BROKER_ERRORS as exc:
            raise QueueUnavailable(f"the broker cannot be reached: {exc}") from exc
        return {found for raw in queued for found in _chunk_of(raw)}

    def close(self) -> None:
        """Release the broker connections."""
        self.app.close()


__all__ = ["RUN_CHUNK", "CeleryExecutor", "make_celery", "transport_options"]
