"""The Faust app and its assembly: app, topics, tables, agents, all configured from one Settings.

No module-level app: :func:`build` makes one per call, so tests and the benchmark run isolated
workers (own app id, topics, key prefix) side by side.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import faust

from contracts.redis_keys import Keys
from freshrec.kafka_security import faust_credentials
from freshrec.settings import Settings
from streams.agents import exit_on_crash, register_agents
from streams.topic_wait import wait_for_new_topics_everywhere
from streams.handlers import Handlers
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
    datadir = settings.cache_dir / "worker" / settings.worker_group
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.worker_group,
        broker=broker,
        broker_credentials=faust_credentials(settings),  # SASL/TLS from FRESHREC_KAFKA_* (None = plaintext)
        store=settings.worker_store,
        autodiscover=False,
        datadir=str(datadir),
        topic_partitions=settings.topic_partitions,
        # Faust's own topics (changelogs, repartitions); their min.insync.replicas is the broker's default
        # (2 in the stack's three-node Kafka). Its producer waits for acks=all (Faust's default, -1).
        topic_replication_factor=settings.topic_replication_factor,
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
    if settings.topic_replication_factor > 1:
        wait_for_new_topics_everywhere()  # a changelog must reach every broker before the group assigns
    drain_fully_before_commit(app.producer.buffer, stuck_s=settings.worker_stall_s)
    return app


def drain_fully_before_commit(buffer, stuck_s: float = 0.0, *,
                              on_stuck: Callable[[int], None] = exit_for_supervisor) -> None:
    """Faust flushes its producer buffer before it commits offsets, but gives up as soon as no record
    left it for 100 ms (a busy event loop, a metadata wait): the commit then covers events whose
    changelog records are still queued, and a crash loses them. Here the flush waits until every
    record queued when it started has been handed to the Kafka producer (the buffer is FIFO and the
    offsets to commit were taken before, so those are all the commit covers); records agents add
    meanwhile wait for the next commit, so a worker that keeps producing cannot keep the commit
    waiting for an empty buffer.

    The wait is one future per flush, resolved by the buffer's sender once it has sent the target
    count: Faust's own ``flush_atmost`` wakes (and makes an ``asyncio.wait_for`` task) per record,
    which was ~10 % of the worker's CPU with tens of thousands of changelog records a second.

    Waiting has a bound: if no record leaves the buffer for ``stuck_s`` seconds the Kafka producer is
    wedged (seen in a soak: a commit waited 5+ minutes and every agent with it). Committing would
    lose the queued records and waiting helps nobody, so the worker exits (code 3) for its supervisor
    to restart it from the last commit. ``stuck_s`` 0 waits forever."""
    send_pending = buffer._send_pending  # bound by Faust's sender task when it starts: patch before
    state = {"sent": 0, "target": 0, "waiter": None}

    async def counting_send(fut) -> None:
        await send_pending(fut)
        state["sent"] += 1
        waiter = state["waiter"]
        if waiter is not None and state["sent"] >= state["target"] and not waiter.done():
            waiter.set_result(None)

    async def flush() -> None:
        target = state["sent"] + buffer.size
        progress = state["sent"]
        while state["sent"] < target:
            waiter = asyncio.get_running_loop().create_future()
            state["waiter"], state["target"] = waiter, target
            try:
                async with asyncio.timeout(stuck_s or None):
                    await waiter
            except TimeoutError:
                if state["sent"] == progress:
                    log.error("producer wedged: %d records queued and none sent for %.0f s; exiting for a "
                              "restart from the last commit", buffer.size, stuck_s)
                    on_stuck(STALL_EXIT_CODE)
                    return
                progress = state["sent"]
            finally:
                state["waiter"] = None

    buffer._send_pending = counting_send
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


def build(settings: Settings, recommender=None, *, on_agent_crash=exit_on_crash) -> Pipeline:
    """The worker's app, tables and agents; ``on_agent_crash(agent, exc)`` replaces the default exit
    for the supervisor (streams/agents.py) where a test must see the crash instead."""
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
    tables = make_tables(app, settings, on_neighbor_pack=handlers.on_neighbor_pack,
                         on_catalog=handlers.on_catalog_changelog)
    handlers.bind(topics, tables)
    agents = register_agents(app, settings, topics, handlers, on_crash=on_agent_crash)
    return Pipeline(settings, app, topics, tables, handlers, agents)
