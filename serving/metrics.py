"""Prometheus metrics of the HTTP API, in a registry per app (no global state, so tests can build many apps).

Conventional names: ``freshrec_http_requests_total`` and ``freshrec_http_request_duration_seconds``
(labelled by method, route template and status), plus counters of what the API served and accepted.
The request middleware is plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs a task
and a memory stream per request: too much for a millisecond budget.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# sub-millisecond resolution where the lookup lives, seconds where a broken dependency shows
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("freshrec_http_requests", "HTTP requests handled",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("freshrec_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.recommendations = Counter("freshrec_recommendations_served", "Recommendation lists served",
                                       ["source", "degraded"], registry=self.registry)
        self.freshness = Histogram("freshrec_recommendation_age_seconds",
                                   "Age of the served list: now minus the time of the event it answers",
                                   buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
                                   registry=self.registry)
        self.events = Counter("freshrec_api_events", "Events received by POST /events",
                              ["outcome"], registry=self.registry)
        self.titles_missing = Counter("freshrec_details_degraded", "details=1 answers sent without titles "
                                      "because the catalog read failed or timed out", registry=self.registry)
        self.redis_up = Gauge("freshrec_redis_up", "1 when the last health check reached Redis",
                              registry=self.registry)

        self._children: dict[tuple, tuple] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # labels() costs a lock and a dict build per call; the label sets are few, so keep the children
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.latency.labels(method, route), self.requests.labels(method, route, str(status)))
            self._children[key] = children
        children[0].observe(seconds)
        children[1].inc()

    def served(self, source: str, degraded: bool, freshness_ms: float | None) -> None:
        key = ("served", source, degraded)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.recommendations.labels(source, "true" if degraded else "false")
        child.inc()
        if freshness_ms is not None and not degraded:
            self.freshness.observe(freshness_ms / 1000.0)

    def details_degraded(self) -> None:
        self.titles_missing.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every request under its route template (``/items/{item_id}``), never the raw path."""

    def __init__(self, app, metrics: ApiMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope.get("method", "GET"), template, status[0],
                                         time.perf_counter() - start)
