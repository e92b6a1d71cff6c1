"""Prometheus metrics of the stream worker, served on ``FRESHREC_WORKER_METRICS_PORT`` (0 = off).

Conventional names (``*_total`` counters, ``*_seconds`` histograms); one registry per worker object
so tests and benchmarks can run several workers in one process without clashing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Freshness is event time -> Redis write; the target is p99 <= 100 ms, so resolve that range finely.
FRESHNESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WINDOW_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter("freshrec_worker_events_total", "Events consumed, by outcome", ["outcome"],
                              registry=r)
        self.lists = Counter("freshrec_worker_lists_written_total", "Recommendation lists written to Redis",
                             registry=r)
        self.window_seconds = Histogram("freshrec_worker_window_seconds", "Processing time of one take window",
                                        buckets=WINDOW_BUCKETS, registry=r)
        self.window_events = Histogram("freshrec_worker_window_events", "Events per take window",
                                       buckets=(1, 10, 50, 100, 250, 500, 1000, 5000), registry=r)
        self.freshness = Histogram("freshrec_worker_freshness_seconds",
                                   "From an event's time to its user's list in Redis",
                                   buckets=FRESHNESS_BUCKETS, registry=r)
        self.model_version = Gauge("freshrec_worker_model_version_info", "Model version in use (value 1)",
                                   ["model", "version"], registry=r)
        self.ab_events = Counter("freshrec_ab_events_total", "Recommendation impressions, clicks, orders",
                                 ["experiment", "variant", "kind"], registry=r)
        self.ab_ctr = Gauge("freshrec_ab_ctr_ratio", "Clicks per impression since start", ["experiment", "variant"],
                            registry=r)
        self._ab: dict[tuple[str, str], list[int]] = {}
        self._versions: dict[str, str] = {}

    def observe_window(self, *, accepted: int, dead_letters: int, duplicates: int, lists: int, seconds: float,
                       freshness_ms: Iterable[float]) -> None:
        self.events.labels("accepted").inc(accepted)
        self.events.labels("dead_letter").inc(dead_letters)
        self.events.labels("duplicate").inc(duplicates)
        self.lists.inc(lists)
        self.window_seconds.observe(seconds)
        self.window_events.observe(accepted + dead_letters + duplicates)
        for ms in freshness_ms:
            self.freshness.observe(max(ms, 0.0) / 1000.0)

    def set_model_version(self, model: str, version: str) -> None:
        old = self._versions.get(model)
        if old == version:
            return
        if old is not None:
            self.model_version.remove(model, old)
        self.model_version.labels(model, version).set(1)
        self._versions[model] = version

    def observe_ab(self, experiment: str, variant: str, kind: str, n: int = 1) -> None:
        self.ab_events.labels(experiment, variant, kind).inc(n)
        counts = self._ab.setdefault((experiment, variant), [0, 0])
        if kind == "impressions":
            counts[0] += n
        elif kind == "clicks":
            counts[1] += n
        if counts[0]:
            self.ab_ctr.labels(experiment, variant).set(counts[1] / counts[0])

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Expose ``/metrics`` on ``port`` in a background thread (Prometheus scrapes it)."""
        start_http_server(port, addr=addr, registry=self.registry)


class TaskCounter:
    """Counts the asyncio tasks created on a loop (the bench reports tasks per event: each costs a
    few loop callbacks, and Faust creates several per record). Wraps the loop's task factory."""

    def __init__(self) -> None:
        self.created = 0
        self._loop = None

    def install(self, loop) -> None:
        if self._loop is loop:
            return
        self._loop = loop
        inner = loop.get_task_factory()

        def factory(loop, coro, **kwargs):
            self.created += 1
            if inner is not None:
                return inner(loop, coro, **kwargs)
            return asyncio.Task(coro, loop=loop, **kwargs)
        loop.set_task_factory(factory)
