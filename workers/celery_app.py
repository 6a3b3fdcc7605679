"""The Celery application of cluster mode, configured for at-least-once delivery of chunks.

Settings that matter (DESIGN §8):

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a chunk is acknowledged only after it ran;
  a worker process that dies mid-chunk leaves its message to be delivered again.
- ``worker_prefetch_multiplier = 1``: a worker reserves one chunk per process, so a dead worker
  holds back one chunk, not four.
- the Redis transport's ``visibility_timeout`` (settings): how long an unacknowledged chunk waits
  before redelivery; it must stay well above a chunk's run time (about a second by default).
- results are not stored in Celery (``task_ignore_result``): a chunk's records go to the job
  store, keyed by sweep and chunk, so a chunk that runs twice counts once.
"""

from __future__ import annotations

from celery import Celery

from .settings import WorkerSettings

RUN_CHUNK = "gradsweep.run_chunk"


def make_celery(settings: WorkerSettings) -> Celery:
    """A Celery app on the settings' Redis, with the delivery guarantees above."""
    if settings.redis_url is None:
        raise RuntimeError("cluster mode needs GRADSWEEP_REDIS_URL (redis://host:6379/0)")
    app = Celery("gradsweep", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )
    return app


class CeleryExecutor:
    """Cluster mode's executor: one Celery task per chunk, on the settings' queue."""

    def __init__(self, app: Celery, queue: str) -> None:
        self.app = app
        self.queue = queue

    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        """Send one task per chunk (ids and numbers only, never model objects)."""
        with self.app.producer_or_acquire() as producer:
            for chunk in chunks:
                self.app.send_task(RUN_CHUNK, args=[sweep_id, chunk], queue=self.queue,
                                   producer=producer)

    def queue_depth(self) -> int:
        """Chunks waiting in the broker's queue (the Redis list named after the queue)."""
        with self.app.connection_for_write() as connection:
            client = connection.default_channel.client
            return int(client.llen(self.queue))

    def close(self) -> None:
        """Release the broker connections."""
        self.app.close()


__all__ = ["RUN_CHUNK", "CeleryExecutor", "make_celery"]
