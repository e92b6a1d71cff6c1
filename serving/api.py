"""The HTTP API (FastAPI): recommendations, catalog items, event intake, health, metrics and the demo page.

``create_app`` takes its collaborators (lookup client, event sink) so tests pass fakes or real ones;
``freshrec serve`` builds them from :class:`Settings`. Every bad input is a 4xx whose JSON names the
field: ``{"detail": {"field": "user", "reason": "..."}}`` (FastAPI's own 422s name it in ``loc``).
"""

from __future__ import annotations

import gc
import time
from contextlib import asynccontextmanager
from html import escape
from urllib.parse import urlencode

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from contracts.events import EventError, decode_event
from freshrec.kafka_security import aiokafka_config
from freshrec.settings import Settings
from serving.client import MAX_K, REDIS_ERRORS, InvalidIdError, RecClient
from serving.events import KafkaEventSink, SinkUnavailable
from serving.fastpath import PATH, RecommendationsFastPath, recommendations_body
from serving.metrics import ApiMetrics, MetricsMiddleware
from serving.page import render_page, render_warming
from serving.stats import LivePanel

MAX_EVENT_BYTES = 64 * 1024
GC_THRESHOLDS = (20_000, 20, 100)  # CPython's default is (700, 10, 10)
STATS_TTL_S = 1.0  # the panel polls every 2 s per open page; one Redis scan per second is plenty


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _bad(field: str, reason: str, status: int = 422) -> Response:
    return _json({"detail": {"field": field, "reason": reason}}, status)


def freeze_gc() -> None:
    """Call once startup is done: what it allocated lives as long as the process.

    Moved out of the collector's reach, a full collection no longer walks it (up to ~100 ms measured on
    the loaded VM, i.e. the p99); a larger first threshold makes young collections rarer too.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None, *, client: RecClient | None = None,
               sink: KafkaEventSink | None = None, tune_gc: bool = False) -> ServingApp:
    """The app; ``tune_gc`` (``freshrec serve``) freezes what startup allocated out of the collector."""
    settings = settings or Settings()
    metrics = ApiMetrics()
    panel = LivePanel()
    stats_cache: dict[str, tuple[float, dict]] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.client = client or RecClient.from_settings(settings)
        app.state.sink = sink or KafkaEventSink(settings.kafka_bootstrap, settings.topic_events,
                                                pack_max=settings.producer_pack_max, **aiokafka_config(settings))
        if tune_gc:
            freeze_gc()
        try:
            yield
        finally:
            if sink is None:
                await app.state.sink.close()
            if client is None:
                await app.state.client.close()

    app = FastAPI(title="Freshrec serving API", lifespan=lifespan,
                  description="Detail-page recommendations from Redis; events into Kafka.")
    app.state.metrics = metrics

    @app.get("/recommendations", summary="The detail-page list for a user on an item's page")
    async def recommendations(request: Request, user: str | None = Query(None, description="user id; none = anonymous"),
                              item: str | None = Query(None, description="item on the page"),
                              k: int = Query(10, description=f"how many items, 1..{MAX_K}"),
                              details: bool = Query(False, description="add each item's title")) -> Response:
        # served by RecommendationsFastPath before routing; this route documents it and answers the same
        # way if the app is mounted without the fast path
        if not 1 <= k <= MAX_K:
            return _bad("k", f"must be between 1 and {MAX_K}, got {k}")
        status, body = await recommendations_body(request.app.state.client, metrics, user or None, item or None,
                                                  k, details)
        return Response(body, status_code=status, media_type="application/json")

    @app.get("/items/{item_id}", summary="A catalog item as the worker stored it")
    async def get_item(request: Request, item_id: str) -> Response:
        try:
            found = await request.app.state.client.get_item(item_id)
        except InvalidIdError as exc:
            return _bad(exc.field, str(exc))
        except REDIS_ERRORS as exc:
            return _bad("redis", f"catalog unavailable: {type(exc).__name__}", 503)
        if found is None:
            return _bad("item_id", f"no item {item_id!r} in the catalog", 404)
        return _json(found)

    @app.post("/events", status_code=202, summary="Validate one event and produce it to Kafka")
    async def post_event(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_EVENT_BYTES:
            metrics.events.labels("rejected").inc()
            return _bad("$", f"event larger than {MAX_EVENT_BYTES} bytes", 413)
        try:
            event = decode_event(raw)
        except EventError as exc:
            metrics.events.labels("rejected").inc()
            return _bad(exc.field, exc.reason)
        try:
            await request.app.state.sink.send(event)
        except SinkUnavailable as exc:
            metrics.events.labels("unavailable").inc()
            return _bad("kafka", str(exc), 503)
        metrics.events.labels("accepted").inc()
        return _json({"accepted": event.event_id}, 202)

    @app.get("/health", summary="Redis reachable (and whether the Kafka producer has started)")
    async def health(request: Request) -> Response:
        up = await request.app.state.client.ping()
        metrics.redis_up.set(1 if up else 0)
        body = {"status": "ok" if up else "degraded", "redis": "up" if up else "down",
                "kafka_producer": "started" if request.app.state.sink.started else "idle"}
        return _json(body, 200 if up else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def live_figures(rc: RecClient) -> dict:
        cached = stats_cache.get("panel")
        if cached and time.monotonic() - cached[0] < STATS_TTL_S:
            return cached[1]
        try:
            figures = panel.figures(await rc.get_hashes("stats"), await rc.get_hashes("ab"))
        except REDIS_ERRORS:  # the panel shows "-" while Redis is down
            figures = panel.figures({}, {})
        stats_cache["panel"] = (time.monotonic(), figures)
        return figures

    @app.get("/stats", summary="Live figures for the demo panel; null when the worker has not written them")
    async def stats(request: Request) -> Response:
        return _json(await live_figures(request.app.state.client))

    @app.get("/", include_in_schema=False)
    async def index(request: Request, user: str | None = None) -> Response:
        recs = await request.app.state.client.get_recommendations(None, None, 1)
        if not recs.items:
            # nothing trending yet: a starting worker, said so, with how far it has got
            figures = await live_figures(request.app.state.client)
            return HTMLResponse(render_warming(figures["events_total"]))
        suffix = "?" + urlencode({"user": user}) if user else ""
        return RedirectResponse(f"/p/{recs.items[0].item}{suffix}", status_code=307)

    @app.get("/p/{item_id}", include_in_schema=False)
    async def page(request: Request, item_id: str, user: str | None = None,
                   k: int = Query(8, ge=1, le=MAX_K)) -> Response:
        rc: RecClient = request.app.state.client
        try:
            if user:
                rc.keys.user_recs(user)
            item = await rc.get_item(item_id)
        except (InvalidIdError, ValueError) as exc:
            return HTMLResponse(f"<h1>Bad request</h1><p>{escape(str(exc))}</p>", status_code=422)
        except REDIS_ERRORS:  # render the page without the item's details
            item = None
        return HTMLResponse(render_page(item_id, item, user, k), status_code=200 if item else 404)

    @app.exception_handler(InvalidIdError)
    async def invalid_id(request: Request, exc: InvalidIdError) -> JSONResponse:
        return JSONResponse({"detail": {"field": exc.field, "reason": str(exc)}}, status_code=422)

    route = next(r for r in app.routes if getattr(r, "path", None) == PATH)
    return ServingApp(app, metrics, route)


class ServingApp:
    """The ASGI app ``freshrec serve`` runs: metrics around the ``/recommendations`` fast path around
    FastAPI. Outside FastAPI, not added to it: its own middleware (error pages, body limit, telemetry
    in recent versions) wrapped every request, the fast path's included; profiled at 2,000/s that
    stack was a fifth of the server's CPU on the path every product page calls. Everything else
    (``state``, ``routes``, ``openapi``) is the FastAPI app's."""

    def __init__(self, app: FastAPI, metrics: ApiMetrics, route) -> None:
        self.fastapi = app
        self._entry = MetricsMiddleware(RecommendationsFastPath(app, metrics=metrics, route=route, state=app.state),
                                        metrics=metrics)

    async def __call__(self, scope, receive, send) -> None:
        await self._entry(scope, receive, send)

    def __getattr__(self, name: str):
        return getattr(self.fastapi, name)

