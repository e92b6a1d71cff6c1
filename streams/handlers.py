"""The worker's per-process state and what each agent and timer does with a window.

:class:`Handlers` is the glue between Faust and the plain logic, one module per side: the users side
(``user_side.py``), the items side (``item_side.py``), the catalog (``catalog_side.py``), and what is
reported and kept besides lists (``reporting.py``). Agents (``agents.py``) only loop and call these
methods; the decisions live in ``processor.py``, ``covis.py``, ``session.py`` and ``trending.py``, and
Redis I/O in ``writer.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from freshrec.settings import Settings
from models.online.counters import AbCounters
from streams.covis import CovisPolicy, PublishFilter
from streams.metrics import TaskCounter, WorkerMetrics
from streams.processor import EventProcessor
from streams.routing import DeadLetter
from streams.writer import RedisWriter
from streams.user_side import UserSide
from streams.item_side import ItemSide
from streams.catalog_side import CatalogSide
from streams.reporting import Reporting

log = logging.getLogger(__name__)


class Handlers(UserSide, ItemSide, CatalogSide, Reporting):
    """Per-worker state that is *not* in tables (caches rebuilt from them) plus the window logic."""

    def __init__(self, settings: Settings, recommender, processor: EventProcessor, writer: RedisWriter):
        self.settings = settings
        self.recommender = recommender
        self.processor = processor
        self.writer = writer
        self.covis = CovisPolicy.from_settings(settings)
        self.topics = None
        self.tables = None
        self.dirty_items: set[str] = set()
        self.popularity: dict[str, tuple[float, int]] = {}
        self.categories: dict[str, str] = {}
        self._pending: dict[str, int] = {}  # stats counters not yet in Redis (freshness buckets, ...)
        self._first_window_ms: int | None = None
        self._pending_neighbors: dict[str, bytes | None] = {}  # item -> newest list not yet applied
        self._nb_version: dict[str, int] = {}  # item -> publish ms of the newest list applied or queued
        self._snapshot: dict[str, bytes] = {}  # item -> newest published list not yet in the compacted topic
        self._snapshot_at = 0  # when the last snapshot was written, ms
        self.publish_filter = PublishFilter(settings.rec_k)  # which changed lists are worth republishing
        self._unsaved: dict[str, bytes | None] = {}  # user -> session row waiting for its window's acks
        self._saving: deque[asyncio.Future] = deque()  # the windows' row writes, oldest first
        self.item_partitions = settings.topic_partitions
        self.user_ttl_ms = settings.rec_user_ttl_s * 1000
        self.item_ttl_ms = settings.rec_item_ttl_s * 1000
        self.trending_ttl_ms = settings.trending_ttl_s * 1000
        self.ab = AbCounters(getattr(recommender, "variant_of", None))
        self.ab_experiment = settings.ab_experiment or "default"
        # Last offset learned per "topic:partition": what an online-model checkpoint reflects.
        self.offsets: dict[str, int] = {}
        self.checkpoint_dir = settings.resolved_online_checkpoint_dir
        self.metrics = WorkerMetrics()
        # Only a worker that runs the users side scores: an items-only worker keeps no model state.
        self.scores = settings.runs("users")
        self.tasks = TaskCounter()
        self.restored = self.restore_online()

    def bind(self, topics, tables) -> None:
        self.topics = topics
        self.tables = tables

    async def send_dead_letter(self, dl: DeadLetter) -> None:
        log.info("dead letter from %s[%d]@%d: %s: %s", dl.topic, dl.partition, dl.offset, dl.field,
                 dl.reason[:200])
        await self.topics.dead_letter.send(key=dl.key, value=dl.value, headers=dl.headers())
