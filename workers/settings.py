"""Execution settings, from environment variables prefixed ``GRADSWEEP_``.

``get_settings()`` is the one way to read them (cached; tests clear the cache or pass their own).
The service's settings extend this class with the API's own.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from optimizers import Limits
from optimizers.runner import TARGET_CHUNK_WORK

from .store import MAX_VALUE_BYTES


class WorkerSettings(BaseSettings):
    """What execution needs: where the store and broker are, chunk sizing, limits, retention."""

    model_config = SettingsConfigDict(env_prefix="GRADSWEEP_", extra="ignore")

    redis_url: str | None = Field(
        None, description="redis://host:port/db of the broker and job store; unset: embedded mode "
        "(local process pool, SQLite store in data_dir)")
    data_dir: Path = Field(Path.home() / ".gradsweep", description="embedded mode's store lives "
                           "here (sweeps.sqlite3)")
    key_prefix: str = Field("gradsweep:", description="prefix of every Redis key of the store")
    queue: str = Field("gradsweep", description="the Celery queue the chunks go to")
    max_trials: int = Field(Limits().max_trials, ge=1, description="most trials in one sweep")
    max_steps: int = Field(Limits().max_steps, ge=1, description="most steps per trial")
    max_dim: int = Field(Limits().max_dim, ge=1, description="most coordinates per trial")
    max_work: float = Field(Limits().max_work, gt=0,
                            description="most trials × dim × steps in one sweep")
    max_curve_points: int = Field(Limits().max_curve_points, ge=1, description="most trials × "
                                  "recorded steps in one sweep (its results' size)")
    results_inline_max: int = Field(10_000, ge=0, description="GET /v1/sweeps/{id}/results "
                                    "inlines every trial and setting of a sweep of at most "
                                    "this many trials; a larger sweep's document carries the "
                                    "summary, best, the top settings and links to the paged "
                                    "trials (set it alike on the API and the workers: the "
                                    "worker that finishes a sweep stores its document)")
    chunk_work: float = Field(TARGET_CHUNK_WORK, gt=0, description="trials × dim × steps per "
                              "chunk (about a second of work at the default)")
    jobs: int | None = Field(None, ge=1, description="worker processes of the local pool "
                             "(default: one per core)")
    visibility_timeout: int = Field(3600, ge=2, description="last resort only: seconds before "
                                    "the broker delivers again a chunk whose worker never "
                                    "acknowledged it (a dead worker's chunks come back through "
                                    "their leases long before); keep it above a chunk's run time")
    restore_seconds: int = Field(10, ge=1, description="how often each worker looks for "
                                 "messages past their visibility timeout and queues them again "
                                 "(the last resort behind leases)")
    retention_days: float = Field(7.0, gt=0, description="finished sweeps are deleted after this")
    heartbeat_seconds: float = Field(2.0, gt=0, description="how often a worker says it is "
                                     "alive, renews the leases of the chunks it holds, and "
                                     "(with the API) queues again the chunks whose lease expired")
    lease_seconds: float = Field(10.0, gt=0, description="how long a chunk's lease lives without "
                                 "being renewed: a chunk whose worker died (or froze) is queued "
                                 "again within about lease_seconds + heartbeat_seconds; keep it "
                                 "at least 2 heartbeats")
    worker_timeout: float = Field(10.0, gt=0, description="a worker silent this long counts as "
                                  "gone (/readyz)")
    store_retry_seconds: float = Field(60.0, ge=0, description="how long a store call retries "
                                       "while the store is unreachable")
    stuck_seconds: float = Field(600.0, gt=0, description="cluster mode: an unfinished sweep "
                                 "whose progress has not moved for this long (time the cluster "
                                 "spends on other queued chunks does not count) gets its missing "
                                 "chunks queued again; keep it well above lease_seconds + "
                                 "heartbeat_seconds")
    max_value_bytes: int | None = Field(None, ge=1, le=MAX_VALUE_BYTES, description="most "
                                        "bytes of one stored value (a chunk's records, a "
                                        "results document); a bigger one fails its sweep with "
                                        "the reason. Unset: MAX_VALUE_BYTES (256 MiB), which "
                                        "it may only lower")
    worker_max_memory_mb: int = Field(2048, ge=64, description="a worker process whose memory "
                                      "(RSS) is above this after a chunk is replaced (Celery "
                                      "worker_max_memory_per_child)")
    stuck_requeues: int = Field(2, ge=0, description="cluster mode: times a stuck sweep's missing "
                                "chunks are queued again before it is marked failed")

    @property
    def cluster(self) -> bool:
        """Cluster mode: a Redis URL is set."""
        return self.redis_url is not None

    def limits(self) -> Limits:
        """The engine's size limits."""
        return Limits(max_trials=self.max_trials, max_steps=self.max_steps,
                      max_dim=self.max_dim, max_work=self.max_work,
                      max_curve_points=self.max_curve_points)


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    """The settings from the environment, read once."""
    return WorkerSettings()


__all__ = ["WorkerSettings", "get_settings"]
