"""The Faust app and its assembly: app, topics, tables, agents, all configured from one Settings.

No module-level app: :func:`build` makes one per call, so tests and the benchmark run isolated
workers (own app id, topics, key prefix) side by side.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import faust

from freshrec.kafka_security import faust_credentials
from freshrec.settings import Settings
from streams.agents import register_agents
from streams.handlers import Handlers
from streams.keys import Keys
from streams.processor import EventProcessor
from streams.session import SessionPolicy
from streams.tables import Tables, make_tables
from streams.topics import Topics, make_topics
from streams.watchdog import STALL_EXIT_CODE, exit_for_supervisor
from streams.writer import RedisWriter

log = logging.getLogger(__name__)


PRODUCER_BUFFER_MAX = 20_000


class RecommenderLoadError(ValueError):
    """``worker_recommender`` does not name an importable ``module:factory``."""


def load_recommender(spec: str, settings: Settings | None = None):
    """Import ``module:factory`` and call it; a factory with a ``settings`` parameter (the
    ``from_settings`` ones) gets ``settings``, so a worker built with overrides is configured by them."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise RecommenderLoadError(f"FRESHREC_WORKER_RECOMMENDER={spec!r}: expected 'module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RecommenderLoadError(f"FRESHREC_WORKER_RECOMMENDER={spec!r}: cannot import it ({exc})") from None
    if settings is not None and _takes_settings(factory):
        return factory(settings=settings)
    return factory()


def _takes_settings(factory) -> bool:
    try:
        return "settings" in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins and some C types have no signature
        return False


def make_app(settings: Settings) -> faust.App:
    broker = ";".join(f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",") if h.strip())
    web = settings.worker_web_port > 0
    datadir = settings.cache_dir / "worker" / settings.worker_app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.worker_app_id,
        broker=broker,
        broker_credentials=faust_credentials(settings),  # SASL/TLS from FRESHREC_KAFKA_* (None = plaintext)
        store=settings.worker_store,
        autodiscover=False,
        datadir=str(datadir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=web,
        web_port=settings.worker_web_port or 6066,
        web_bind="127.0.0.1",
        # Commit often: a restart replays at most this much, and replays are idempotent (event ids).
        broker_commit_interval=timedelta(seconds=1),
        # Changelog and repartition records are off the freshness path: batch them.
        producer_linger_ms=10,
        producer_max_batch_size=1 << 20,
        stream_buffer_maxsize=8192,
        table_standby_replicas=0,
        broker_session_timeout=settings.worker_session_timeout_s,
    )
    # Faust stops feeding streams while >100 produced records wait (ProducerBuffer.max_messages); one
    # window writes hundreds of changelog records, so that bound would serialise windows and sends.
    app.producer.buffer.max_messages = PRODUCER_BUFFER_MAX
    drain_fully_before_commit(app.producer.buffer, stuck_s=settings.worker_stall_s)
    return app


def drain_fully_before_commit(buffer, stuck_s: float = 0.0, *,
                              on_stuck: Callable[[int], None] = exit_for_supervisor,
                              clock: Callable[[], float] = time.monotonic) -> None:
    """Faust flushes its producer buffer before it commits offsets, but gives up as soon as no record
    left it for 100 ms (a busy event loop, a metadata wait): the commit then covers events whose
    changelog records are still queued, and a crash loses them. Here the flush sends every record
    queued when it started (the buffer is FIFO and the offsets to commit were taken before, so those
    are all the commit covers); records agents add meanwhile wait for the next commit, so a worker
    that keeps producing cannot keep the commit waiting for an empty buffer.

    Waiting has a bound: if no record leaves the buffer for ``stuck_s`` seconds the Kafka producer is
    wedged (seen in a soak: a commit waited 5+ minutes and every agent with it). Committing would
    lose the queued records and waiting helps nobody, so the worker exits (code 3) for its supervisor
    to restart it from the last commit. ``stuck_s`` 0 waits forever."""
    flush_atmost = buffer.flush_atmost

    async def flush() -> None:
        left, last_progress = buffer.size, clock()
        while left > 0 and buffer.size:
            sent = await flush_atmost(left)
            if sent:
                left -= sent
                last_progress = clock()
            elif stuck_s and clock() - last_progress > stuck_s:
                log.error("producer wedged: %d records queued and none sent for %.0f s; exiting for a "
                          "restart from the last commit", buffer.size, clock() - last_progress)
                on_stuck(STALL_EXIT_CODE)
                return

    buffer.flush = flush


@dataclass
class Pipeline:
    """One assembled worker."""

    settings: Settings
    app: faust.App
    topics: Topics
    tables: Tables
    handlers: Handlers
    agents: dict


def build(settings: Settings, recommender=None) -> Pipeline:
    if recommender is None:
        recommender = load_recommender(settings.worker_recommender, settings)
    app = make_app(settings)
    policy = SessionPolicy(max_events=settings.session_max_events,
                           inactivity_ms=int(settings.session_inactivity_s * 1000),
                           max_items=settings.session_max_items, max_event_ids=settings.session_max_event_ids)
    processor = EventProcessor(recommender, policy, covis_window=settings.covis_window, k=settings.rec_k)
    writer = RedisWriter(getattr(settings, "writer_url", settings.redis_url), Keys(settings.redis_prefix),
                         user_ttl_ms=settings.rec_user_ttl_s * 1000, item_ttl_ms=settings.rec_item_ttl_s * 1000,
                         trending_ttl_ms=settings.trending_ttl_s * 1000)
    handlers = Handlers(settings, recommender, processor, writer)
    topics = make_topics(app, settings)
    tables = make_tables(app, settings, on_neighbors=handlers.on_neighbors_changelog,
                         on_catalog=handlers.on_catalog_changelog)
    handlers.bind(topics, tables)
    agents = register_agents(app, settings, topics, handlers)
    return Pipeline(settings, app, topics, tables, handlers, agents)
