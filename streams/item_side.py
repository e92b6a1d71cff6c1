"""The items side: co-visitation rows from item deltas, neighbour lists to every worker and Redis.

Also where the users side takes the lists in: the compacted ``neighbors`` topic when a worker starts
(streams/bootstrap.py), and the ``neighbor-packs`` broadcast after, queued and applied in slices
between windows.
"""

from __future__ import annotations

import asyncio
import logging
from itertools import islice

import msgspec

from contracts.redis_keys import RecItem, RecList
from streams.covis import ItemDelta, ItemStats, NeighborHead, NeighborList, NeighborPack, SourcedDelta, \
    decode_batch, decode_neighbor_head, decode_neighbor_pack, decode_stats, encode
from streams.writer import now_ms

log = logging.getLogger(__name__)
PUBLISH_CHUNK = 64  # lists per loop turn and per neighbour pack
# An item window (500 ms) holds thousands of rows to update (~50 us each): in one process with the
# users side (--role all) it held the loop for 100 ms and more, and every user window waited. It
# hands the loop back every so many rows; the agent runs one window at a time, so nothing else
# writes these rows meanwhile.
ITEMS_PER_TURN = 64
ITEM_RECORDS_PER_TURN = 16
PACK_MAX_BYTES = 256 * 1024  # ... or fewer: a pack stays well under Kafka's 1 MB request limit
PACK_KEY = b"neighbors"  # the packs topic has one partition: one key keeps one store entry
NEIGHBORS_CHUNK = 1024  # lists handed to the model per loop turn (~1 us each: decoded on first use)


class ItemSide:
    """The ``item-updates`` agent's and ``publish-neighbors`` timer's work (a mixin of Handlers)."""

    # --- item side: co-visitation and popularity ---------------------------------------------
    async def on_item_updates(self, window) -> None:
        self._pending["item_records"] = self._pending.get("item_records", 0) + len(window)
        # Per item, in arrival order: (item-updates offset, the share's events partition/offset or None).
        merged: dict[str, list[tuple[int, SourcedDelta | None, ItemDelta]]] = {}
        for n, event in enumerate(window, start=1):
            if n % ITEM_RECORDS_PER_TURN == 0:
                await asyncio.sleep(0)  # see ITEMS_PER_TURN
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
        for n, (item, deltas) in enumerate(merged.items(), start=1):
            if n % ITEMS_PER_TURN == 0:
                await asyncio.sleep(0)
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
        """Publish changed items' lists to every worker and to ``rec:item:*``: each list goes to the
        compacted ``neighbors`` topic (what a starting worker reads) and, a slice per record, to the
        ``neighbor-packs`` broadcast (what running users workers read)."""
        if not self.dirty_items:
            return 0
        dirty, self.dirty_items = self.dirty_items, set()
        table, snapshot = self.tables.item_stats, self._snapshot
        keys, k = self.writer.keys, self.settings.rec_k
        lists, pack, pack_bytes = [], {}, 0
        write_ts = now_ms()
        published = 0
        for n, item in enumerate(dirty, start=1):
            raw = table.get(item)
            if raw is None:
                continue  # the partition moved to another worker since
            nb = self.covis.neighbors(decode_stats(raw))
            if not self.publish_filter.worth(item, nb, write_ts):
                continue
            nb.published = write_ts
            value = pack[item] = snapshot[item] = encode(nb)
            pack_bytes += len(value) + len(item)
            self.apply_neighbors(item, nb, write_ts)
            lists.append((keys.item_recs(item), self.item_list(item, nb, k, write_ts)))
            if pack_bytes >= PACK_MAX_BYTES:
                await self.send_neighbor_pack(write_ts, pack)
                pack, pack_bytes = {}, 0
            if n % PUBLISH_CHUNK == 0:
                # Hand the loop back between chunks: a publish of thousands of items must not stall
                # the events agent (freshness) for the whole batch.
                await self.send_neighbor_pack(write_ts, pack)
                pack, pack_bytes = {}, 0
                published += await self.writer.write_lists(lists, self.item_ttl_ms)
                lists = []
                await asyncio.sleep(0)
        await self.send_neighbor_pack(write_ts, pack)
        published += await self.writer.write_lists(lists, self.item_ttl_ms)
        if write_ts - self._snapshot_at >= self.settings.neighbors_snapshot_s * 1000:
            await self.write_snapshot(write_ts)
        return published

    async def write_snapshot(self, now: int) -> int:
        """Send the lists published since the last snapshot, newest per item, to the compacted
        ``neighbors`` topic. It is what a users worker reads when it starts, and it reads the packs
        still in retention after it, so the topic may lag the packs by ``neighbors_snapshot_s``: a hot
        item republished every few seconds becomes one record per snapshot, where each publish was a
        record (a fifth of the items worker's time, issue #18). A crash loses at most one snapshot's
        records, which the packs hold for their retention; after that, a worker starting before the
        item's next publish gets its previous list."""
        self._snapshot_at = now
        pending, self._snapshot = self._snapshot, {}
        topic = self.topics.neighbors
        for n, (item, value) in enumerate(pending.items(), start=1):
            await topic.send(key=item.encode(), value=value)
            if n % PUBLISH_CHUNK == 0:
                await asyncio.sleep(0)
        return len(pending)

    async def send_neighbor_pack(self, published: int, lists: dict[str, bytes | None]) -> None:
        if lists:
            await self.topics.neighbor_packs.send(key=PACK_KEY, value=encode(NeighborPack(published, lists)))

    def apply_neighbors(self, item: str, nb: NeighborList | None, version: int | None = None) -> None:
        if version is not None:
            self._nb_version[item] = version
        if self.scores:
            self.processor.model.set_neighbors(item, nb)
        if nb is None:
            self.popularity.pop(item, None)
        else:
            self.popularity[item] = (nb.popularity, nb.ts)

    def apply_encoded(self, item: str, value: bytes | None) -> NeighborHead | None:
        """A list from the broadcast or the compacted topic as it arrived: the model decodes it when it
        first reads the item's row (ModelAdapter.set_neighbors_raw); popularity and version come from
        its head. Raises on a list whose head does not decode."""
        if value is None:
            self.apply_neighbors(item, None)
            return None
        head = decode_neighbor_head(value)
        if self.scores:
            self.processor.model.set_neighbors_raw(item, value)
        self.popularity[item] = (head.popularity, head.ts)
        return head

    def install_neighbors(self, lists: dict[bytes, bytes | None]) -> int:
        """The lists a starting users worker read from the compacted topic (streams/bootstrap.py),
        applied before any window; the packs read next replace those they hold newer ones of."""
        installed = 0
        for key, value in lists.items():
            if value is None:
                continue  # a removed item not compacted away yet
            item = key.decode()
            try:
                head = self.apply_encoded(item, value)
            except Exception as exc:  # noqa: BLE001 - one bad list must not stop the worker
                log.error("skipping bad neighbour list of %r: %s", key, exc)
                continue
            self._nb_version[item] = head.published
            installed += 1
        return installed

    async def on_neighbor_pack(self, event) -> None:
        """A record of the ``neighbor-packs`` broadcast: its lists are queued, newest per item, and
        :meth:`apply_pending_neighbors` feeds them to the model in slices between windows. Applied
        here, a publish of thousands of lists held the loop for a second and every user window
        waited behind it. A list no newer than the item's last one (this worker's own publish read
        back, or a pack re-read at start) is skipped."""
        try:
            pack = decode_neighbor_pack(event.value)
        except Exception as exc:  # noqa: BLE001 - a bad record must not stop the reader
            log.error("skipping undecodable neighbour pack: %s", exc)
            return
        versions, pending = self._nb_version, self._pending_neighbors
        for item, value in pack.lists.items():
            if pack.published <= versions.get(item, -1):
                continue
            versions[item] = pack.published
            pending.pop(item, None)
            pending[item] = value

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
                    self.apply_encoded(item, value)
                except Exception as exc:  # noqa: BLE001 - one bad list must not stop the others
                    log.error("skipping bad neighbour list of %s: %s", item, exc)
            done += len(batch)
            await asyncio.sleep(0)
        return done

    async def forget_item_side(self, item: str) -> None:
        """A removed item's co-visitation row, neighbour list and ``rec:item`` list go with it, so the
        item side is bounded by the live catalogue rather than by every item ever seen. The catalog and
        item-updates topics are co-partitioned (same key, same partition count), so the worker that gets
        the tombstone owns the item's row and publishes its list. Other items' lists drop it at their
        next publish (the model no longer recommends it meanwhile); a later event about the item starts
        a new row."""
        self.dirty_items.discard(item)
        self.publish_filter.forget(item)
        self._snapshot.pop(item, None)  # a pending list written after the tombstone would revive it
        if item in self.tables.item_stats:
            del self.tables.item_stats[item]
        await self.topics.neighbors.send(key=item.encode(), value=None)  # compaction drops its list
        removed = now_ms()
        self.apply_neighbors(item, None, removed)
        await self.send_neighbor_pack(removed, {item: None})
        key = self.writer.keys.item_recs(item)
        await self.writer.execute(lambda pipe, sha: [pipe.delete(key)])

    def item_list(self, item: str, nb: NeighborList, k: int, write_ts: int) -> RecList:
        """``rec:item:{item}`` for anonymous visitors: similar (viewed together) and complementary."""
        similar, comp = self.processor.model.item_lists(item, nb, k)
        return RecList(items=[RecItem(c.item, float(c.score), c.reason) for c in similar],
                       complementary=[RecItem(c.item, float(c.score), c.reason) for c in comp],
                       event_ts=nb.ts, write_ts=write_ts, context_item=item,
                       model_version=self.processor.model_version)
