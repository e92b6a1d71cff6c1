"""What each agent and timer does with a window: the async glue between Faust and the plain logic.

Agents (``agents.py``) only loop and call these methods; the decisions live in ``processor.py``,
``covis.py``, ``session.py`` and ``trending.py``, and Redis I/O in ``writer.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import islice

import msgspec

from freshrec.settings import Settings
from producers.schema import CatalogItem, decode_item
from models.online import checkpoint as online_checkpoint
from models.online.counters import AbCounters
from streams.covis import CovisPolicy, ItemDelta, ItemStats, NeighborList, SourcedDelta, decode_batch, \
    decode_neighbors, decode_stats, encode, encode_batches
from streams.gc_tune import settle_after_recovery
from streams.metrics import TaskCounter, WorkerMetrics
from streams.keys import RecItem, RecList
from streams.processor import EventProcessor
from streams.routing import DeadLetter, route_item, route_record
from streams.session import decode_state, encode_state
from streams.tables import key_partition
from streams.trending import trending
from streams.writer import RedisWriter, freshness_bucket, now_ms

log = logging.getLogger(__name__)
_json = msgspec.json.Encoder()
PUBLISH_CHUNK = 64
NEIGHBORS_CHUNK = 128  # lists applied to the model per loop turn (~0.1 ms each)


class Handlers:
    """Per-worker state that is *not* in tables (caches rebuilt from them) plus the window logic."""

    def __init__(self, settings: Settings, recommender, processor: EventProcessor, writer: RedisWriter):
        self.settings = settings
        self.recommender = recommender
        self.processor = processor
        self.writer = writer
        self.covis = CovisPolicy(half_life_ms=settings.covis_half_life_s * 1000, top_k=settings.covis_top_k,
                                 popularity_half_life_ms=settings.trending_half_life_s * 1000)
        self.topics = None
        self.tables = None
        self.dirty_items: set[str] = set()
        self.popularity: dict[str, tuple[float, int]] = {}
        self.categories: dict[str, str] = {}
        self._pending: dict[str, int] = {}  # stats counters not yet in Redis (freshness buckets, ...)
        self._first_window_ms: int | None = None
        self._pending_neighbors: dict[str, bytes | None] = {}  # item -> newest list not yet applied
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

    # --- events: route, session state, learn, pairs, score, write ---------------------------
    def route(self, event) -> tuple[list, int]:
        """A record's events with their places in the log, and how many there are (the take window's
        weight, streams/take.py). A record is one event or a pack (producers/schema.py); an event's
        place, (partition, offset * PACK_SLOTS + index), is the item side's dedup key."""
        msg = event.message
        routed = route_record(event.value, event.key, topic=msg.topic, partition=msg.partition,
                              offset=msg.offset, partitions=self.item_partitions)
        return [(ev, (msg.partition, seq)) for ev, seq in routed], len(routed)

    async def on_events(self, window) -> None:
        """``window``: ``[(faust event, [(event or dead letter, place), ...]), ...]`` in log order."""
        started = now_ms()
        routed, places = [], []
        offsets = self.offsets
        for event, decoded in window:
            for ev, place in decoded:
                routed.append(ev)
                places.append(place)
            msg = event.message
            offsets[f"{msg.topic}:{msg.partition}"] = msg.offset
        sessions = self.tables.sessions

        def get_state(user: str):
            raw = sessions.get(user)
            return decode_state(raw) if raw is not None else None

        out = self.processor.process(routed, get_state)
        self.ab.count(out.kept)
        # Crash safety: the item deltas go first and the session rows (which make a re-delivered event
        # a duplicate) only once Kafka has acknowledged them, below; docs/reliability.md.
        delta_acks = await self.send_item_deltas(routed, places, out)
        for dl in out.dead_letters:
            await self.send_dead_letter(dl)
        write_ts = now_ms()
        lists = self.processor.recommend(out, write_ts)
        keys = self.writer.keys
        stats = {"windows": 1, "records": len(window), "events": len(routed), "accepted": out.accepted, "dead_letters": len(out.dead_letters),
                 "duplicates": out.duplicates, "lists": len(lists)}
        stats.update(self._pending)
        self._pending = {}
        gauges = {"last_write_ms": write_ts, "tasks_created": self.tasks.created}
        if self._first_window_ms is None:
            self._first_window_ms = gauges["first_window_ms"] = started
            self.tasks.install(asyncio.get_running_loop())
            settle_after_recovery()  # tables are recovered once events flow (streams/gc_tune.py)
        if out.event_ts:
            gauges["last_event_ts"] = max(out.event_ts)
            gauges["last_freshness_ms"] = write_ts - max(out.event_ts)
        await self.writer.write_lists([(keys.user_recs(u), rec) for u, rec in lists], self.user_ttl_ms,
                                      stats=stats, gauges=gauges)
        if out.forgotten:
            await self.writer.execute(lambda pipe, sha: [pipe.delete(keys.user_recs(u)) for u in out.forgotten])
        await self.save_sessions(out, delta_acks)
        # Freshness ends when Redis has the list: measured now, flushed with the next window's counters.
        done = time.time() * 1000
        pending = self._pending
        for ts in out.event_ts:
            b = freshness_bucket(done - ts)
            pending[b] = pending.get(b, 0) + 1
        self.metrics.observe_window(accepted=out.accepted, dead_letters=len(out.dead_letters),
                                    duplicates=out.duplicates, lists=len(lists), seconds=(done - started) / 1000,
                                    freshness_ms=[done - ts for ts in out.event_ts])

    async def send_item_deltas(self, routed, places, out) -> list:
        """Send the window's item deltas, one batch per item partition, each event's share tagged with
        the event's partition and place in it (the item side's dedup); returns the sends' futures."""
        source = {id(ev): place for ev, place in zip(routed, places)}
        topic, acks = self.topics.item_updates, []
        for partition, batch in out.deltas.batches(self.item_partitions, key_partition,
                                                   lambda ev: source.get(id(ev))).items():
            for value in encode_batches(batch):
                acks.append(await topic.send(key=b"p%d" % partition, value=value, partition=partition))
        return acks

    async def save_sessions(self, out, delta_acks: list) -> None:
        """Write the window's session rows once its item deltas are in Kafka: a crash before the rows
        are in the changelog re-processes the events (their shares are skipped by the item side), and
        none after can leave an event applied to the session but missing from the item side."""
        pending = [ack for ack in delta_acks if asyncio.isfuture(ack)]
        if pending:
            await asyncio.gather(*pending)
        sessions = self.tables.sessions
        for user, state in out.states.items():
            sessions[user] = encode_state(state)
        for user in out.forgotten:
            if user in sessions:
                del sessions[user]

    async def send_dead_letter(self, dl: DeadLetter) -> None:
        log.info("dead letter from %s[%d]@%d: %s: %s", dl.topic, dl.partition, dl.offset, dl.field,
                 dl.reason[:200])
        await self.topics.dead_letter.send(key=dl.key, value=dl.value, headers=dl.headers())

    async def flush_stats(self) -> None:
        if self._pending:
            stats, self._pending = self._pending, {}
            await self.writer.write_lists([], 0, stats=stats)
        await self.flush_ab()

    def restore_online(self) -> dict | None:
        """Load the newest online-model checkpoint into the recommender; its sidecar, or ``None``."""
        load = getattr(self.recommender, "load_online_state_dict", None)
        if load is None or self.checkpoint_dir is None:
            return None
        found = online_checkpoint.load_latest(self.checkpoint_dir)
        if found is None:
            return None
        state, meta = found
        load(state)
        self.offsets = dict(meta.get("offsets", {}))
        log.info("online models restored from %s (offsets %s)", meta.get("file"), meta.get("offsets"))
        return meta

    def checkpoint_online(self) -> None:
        """Save the online models with the offsets they reflect (timer and shutdown)."""
        dump = getattr(self.recommender, "online_state_dict", None)
        if dump is None or self.checkpoint_dir is None or not self.offsets:
            return
        online_checkpoint.save(self.checkpoint_dir, dump(), self.offsets,
                               events=getattr(self.recommender, "_events", 0))

    async def flush_ab(self) -> None:
        """Per-variant closed-loop and prequential counters into ``ab:{experiment}:{variant}``."""
        drain = getattr(self.recommender, "drain_metrics", None)
        if drain is not None:
            self.ab.add(drain())
        rows = self.ab.drain()
        if not rows:
            return
        keys, exp = self.writer.keys, self.ab_experiment
        for variant, fields in rows.items():
            for kind in ("impressions", "clicks", "orders"):
                if fields.get(kind):
                    self.metrics.observe_ab(exp, variant, kind, fields[kind])

        def build(pipe, sha):
            for variant, fields in rows.items():
                for field, n in fields.items():
                    pipe.hincrby(keys.ab(exp, variant), field, n)
                    if field.startswith("preq_"):  # the worker-wide prequential figures
                        pipe.hincrby(self.writer.stats_key, field, n)
        await self.writer.execute(build)

    # --- item side: co-visitation and popularity ---------------------------------------------
    async def on_item_updates(self, window) -> None:
        self._pending["item_records"] = self._pending.get("item_records", 0) + len(window)
        # Per item, in arrival order: (item-updates offset, the share's events partition/offset or None).
        merged: dict[str, list[tuple[int, SourcedDelta | None, ItemDelta]]] = {}
        for event in window:
            offset = event.message.offset
            try:
                batch = decode_batch(event.value)
            except (msgspec.DecodeError, TypeError) as exc:
                # Only the worker writes this topic; a bad record is a bug, never a reason to stop.
                log.error("skipping undecodable item update at offset %s: %s", offset, exc)
                continue
            for item, delta in batch.items.items():
                merged.setdefault(item, []).append((offset, None, delta))
            for item, shares in batch.sourced.items():
                rows = merged.setdefault(item, [])
                rows.extend((offset, share, share.delta) for share in shares)
        table = self.tables.item_stats
        for item, deltas in merged.items():
            raw = table.get(item)
            stats = decode_stats(raw) if raw is not None else ItemStats()
            fresh = []
            for off, share, delta in deltas:
                if off <= stats.offset:
                    continue  # a re-delivered batch this row already holds
                if share is not None:
                    # An event processed again after a user-side crash: its share is already here.
                    if share.offset <= stats.sources.get(share.partition, -1):
                        continue
                    stats.sources[share.partition] = share.offset
                fresh.append(delta)
            if not fresh:
                continue
            for delta in sorted(fresh, key=lambda d: d.ts):
                self.covis.apply(stats, delta)
            stats.offset = max(off for off, _, _ in deltas)
            table[item] = encode(stats)
            self.dirty_items.add(item)

    async def publish_neighbors(self) -> int:
        """Publish changed items' lists to every worker (global table) and to ``rec:item:*``."""
        if not self.dirty_items:
            return 0
        dirty, self.dirty_items = self.dirty_items, set()
        table, neighbors = self.tables.item_stats, self.tables.neighbors
        keys, k = self.writer.keys, self.settings.rec_k
        lists = []
        write_ts = now_ms()
        published = 0
        for n, item in enumerate(dirty, start=1):
            raw = table.get(item)
            if raw is None:
                continue  # the partition moved to another worker since
            nb = self.covis.neighbors(decode_stats(raw))
            neighbors[item] = encode(nb)
            self.apply_neighbors(item, nb)
            lists.append((keys.item_recs(item), self.item_list(item, nb, k, write_ts)))
            if n % PUBLISH_CHUNK == 0:
                # Hand the loop back between chunks: a publish of thousands of items must not stall
                # the events agent (freshness) for the whole batch.
                published += await self.writer.write_lists(lists, self.item_ttl_ms)
                lists = []
                await asyncio.sleep(0)
        published += await self.writer.write_lists(lists, self.item_ttl_ms)
        return published

    def apply_neighbors(self, item: str, nb: NeighborList | None) -> None:
        if self.scores:
            self.processor.model.set_neighbors(item, nb)
        if nb is None:
            self.popularity.pop(item, None)
        else:
            self.popularity[item] = (nb.popularity, nb.ts)

    async def on_neighbors_changelog(self, event) -> None:
        try:
            item = event.key.decode() if isinstance(event.key, bytes) else event.key
            if event.value is not None and self.tables.neighbors.data.get(item) == event.value:
                return  # our own write read back: the model already has it (set_neighbors is not free)
            if self._first_window_ms is None or not self.scores:
                self.apply_neighbors(item, decode_neighbors(event.value) if event.value else None)
                return  # recovery (scoring waits for it anyway), or no model to update
            # The items side publishes thousands of lists at once; applied here, one changelog batch
            # held the loop for a second and every user window waited behind it (p99 freshness of
            # 1.7 s at 500 events/s with --role users). They queue, newest per item, and
            # apply_pending_neighbors feeds them to the model in slices between windows.
            self._pending_neighbors.pop(item, None)
            self._pending_neighbors[item] = event.value
        except Exception as exc:  # noqa: BLE001 - a bad changelog record must not stop recovery
            log.error("skipping bad neighbors changelog record: %s", exc)

    async def apply_pending_neighbors(self, chunk: int = NEIGHBORS_CHUNK) -> int:
        """Apply the queued neighbour lists, oldest first, ``chunk`` at a time with the loop handed
        back in between (the events agent runs a window in each gap); returns how many."""
        done = 0
        pending = self._pending_neighbors
        while pending:
            batch = list(islice(pending.items(), chunk))
            for item, value in batch:
                del pending[item]
                try:
                    self.apply_neighbors(item, decode_neighbors(value) if value else None)
                except Exception as exc:  # noqa: BLE001 - one bad list must not stop the others
                    log.error("skipping bad neighbour list of %s: %s", item, exc)
            done += len(batch)
            await asyncio.sleep(0)
        return done

    # --- trending ------------------------------------------------------------------------------
    async def publish_trending(self) -> int:
        if not self.popularity:
            return 0
        s = self.settings
        lists = trending(((i, p, ts) for i, (p, ts) in self.popularity.items()), self.categories,
                         k=s.trending_k, half_life_ms=s.trending_half_life_s * 1000)
        keys, write_ts, out = self.writer.keys, now_ms(), []
        event_ts = max(ts for _, ts in self.popularity.values())
        for cat, rows in lists.items():
            try:
                key = keys.trending(cat)
            except ValueError:
                continue  # a category name the key schema cannot hold; it still counts globally
            reason = f"popular in {cat}" if cat else "trending now"
            out.append((key, RecList(items=[RecItem(i, round(sc, 6), reason) for i, sc in rows],
                                     event_ts=event_ts, write_ts=write_ts, model_version="trending")))
        await self.writer.write_lists(out, self.trending_ttl_ms)
        return len(out)

    # --- catalog -----------------------------------------------------------------------------
    async def on_catalog(self, window) -> None:
        table = self.tables.catalog
        for event in window:
            msg = event.message
            routed = route_item(event.value, event.key, topic=msg.topic, partition=msg.partition,
                                offset=msg.offset)
            if isinstance(routed, DeadLetter):
                await self.send_dead_letter(routed)
            elif isinstance(routed, str):
                if routed in table:
                    del table[routed]
                self.apply_item(routed, None)
                await self.writer.set_item(routed, None)
                await self.forget_item_side(routed)
            else:
                body = _json.encode(routed)
                table[routed.item_id] = body
                self.apply_item(routed.item_id, routed)
                await self.writer.set_item(routed.item_id, body)

    async def forget_item_side(self, item: str) -> None:
        """A removed item's co-visitation row, neighbour list and ``rec:item`` list go with it, so the
        item side is bounded by the live catalogue rather than by every item ever seen. The catalog and
        item-updates topics are co-partitioned (same key, same partition count), so the worker that gets
        the tombstone owns the item's row and publishes its list. Other items' lists drop it at their
        next publish (the model no longer recommends it meanwhile); a later event about the item starts
        a new row."""
        self.dirty_items.discard(item)
        for table in (self.tables.item_stats, self.tables.neighbors):
            if item in table:
                del table[item]
        self.apply_neighbors(item, None)
        key = self.writer.keys.item_recs(item)
        await self.writer.execute(lambda pipe, sha: [pipe.delete(key)])

    def apply_item(self, item_id: str, item: CatalogItem | None) -> None:
        if item is None:
            self.categories.pop(item_id, None)
            if self.scores:
                self.processor.model.remove_item(item_id)
            return
        self.categories[item_id] = item.leaf_category
        if self.scores:
            self.processor.model.learn_item(item)

    async def on_catalog_changelog(self, event) -> None:
        try:
            item_id = event.key.decode() if isinstance(event.key, bytes) else event.key
            self.apply_item(item_id, decode_item(event.value) if event.value else None)
        except Exception as exc:  # noqa: BLE001
            log.error("skipping bad catalog changelog record: %s", exc)


    def item_list(self, item: str, nb: NeighborList, k: int, write_ts: int) -> RecList:
        """``rec:item:{item}`` for anonymous visitors: similar (viewed together) and complementary."""
        similar, comp = self.processor.model.item_lists(item, nb, k)
        return RecList(items=[RecItem(c.item, float(c.score), c.reason) for c in similar],
                       complementary=[RecItem(c.item, float(c.score), c.reason) for c in comp],
                       event_ts=nb.ts, write_ts=write_ts, context_item=item,
                       model_version=self.processor.model_version)
