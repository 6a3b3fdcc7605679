"""Prometheus metrics, read at scrape time from the job store and the executor.

Counts live in the store, which every API replica and every worker shares, so any replica
reports the whole cluster: sweeps by status, trials done, the chunk run-time histogram (observed
by whichever process ran the chunk) and the depth of the chunk queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from optimizers import SweepStatus
from workers.store import CHUNK_SECONDS_BUCKETS, StoreUnavailable


class StoreCollector(Collector):
    """Collects gradsweep's metrics from a runtime's store and executor."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        store, executor = self.runtime.store, self.runtime.executor
        up = GaugeMetricFamily("gradsweep_store_up", "1 if the job store answered this scrape")
        try:
            counts = store.count_by_status()
            stats = store.chunk_stats()
        except StoreUnavailable:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        sweeps = GaugeMetricFamily("gradsweep_sweeps", "Sweeps in the store, by status",
                                   labels=["status"])
        for status in SweepStatus:
            sweeps.add_metric([status.value], counts.get(status, 0))
        yield sweeps
        trials = CounterMetricFamily("gradsweep_trials_done", "Trials run and saved")
        trials.add_metric([], stats.trials)
        yield trials
        cumulative, buckets = 0, []
        for bound in CHUNK_SECONDS_BUCKETS:
            cumulative += stats.buckets.get(bound, 0)
            buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", cumulative))
        histogram = HistogramMetricFamily("gradsweep_chunk_seconds",
                                          "Run time of a chunk of trials, in seconds")
        histogram.add_metric([], buckets, stats.seconds)
        yield histogram
        try:
            pending = executor.queue_depth()
        except StoreUnavailable:  # the broker went away between the store's answer and this
            return
        depth = GaugeMetricFamily("gradsweep_queue_depth", "Chunks waiting to run")
        depth.add_metric([], pending)
        yield depth


def make_registry(runtime: Any) -> CollectorRegistry:
    """A registry of its own per app (tests run several apps in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(runtime))
    return registry


__all__ = ["StoreCollector", "make_registry"]
