"""The users side of a window: route records, fold events into sessions, learn, score, write lists.

Crash safety lives in the order of the steps: item deltas go to Kafka first, the Redis lists next,
and the session rows (which make a re-delivered event a duplicate) only once Kafka acknowledged the
deltas (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
import time

from streams.covis import encode_batches
from streams.gc_tune import settle_after_recovery
from streams.routing import route_record
from streams.session import decode_state, encode_state
from streams.tables import key_partition
from streams.watchdog import STALL_EXIT_CODE, exit_for_supervisor
from streams.writer import freshness_bucket, now_ms

log = logging.getLogger(__name__)
UNSAVED_WINDOWS = 4  # windows whose session rows may wait for Kafka's acknowledgement at once


class UserSide:
    """The ``events`` agent's work (a mixin of :class:`streams.handlers.Handlers`)."""

    # --- events: route, session state, learn, pairs, score, write ---------------------------
    def route(self, event) -> tuple[list, int]:
        """A record's events with their places in the log, and how many there are (the take window's
        weight, streams/take.py). A record is one event or a pack (contracts/packs.py); an event's
        place, (partition, offset * PACK_SLOTS + index), is the item side's dedup key."""
        msg = event.message
        routed = route_record(event.value, event.key, topic=msg.topic, partition=msg.partition,
                              offset=msg.offset, partitions=self.item_partitions)
        return [(ev, (msg.partition, seq)) for ev, seq in routed], len(routed)

    async def on_events(self, window) -> asyncio.Future:
        """``window``: ``[(faust event, [(event or dead letter, place), ...]), ...]`` in log order.
        Returns the future of its session rows' save (:meth:`save_sessions`)."""
        started = now_ms()
        routed, places = [], []
        offsets = self.offsets
        for event, decoded in window:
            for ev, place in decoded:
                routed.append(ev)
                places.append(place)
            msg = event.message
            offsets[f"{msg.topic}:{msg.partition}"] = msg.offset
        sessions, unsaved = self.tables.sessions, self._unsaved

        def get_state(user: str):
            # A row of an earlier window whose deltas Kafka has not acknowledged yet is newer than the table's.
            raw = unsaved[user] if user in unsaved else sessions.get(user)
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
        stats = {"windows": 1, "records": len(window), "events": len(routed), "accepted": out.accepted,
                 "dead_letters": len(out.dead_letters), "duplicates": out.duplicates, "lists": len(lists)}
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
        saved = await self.save_sessions(out, delta_acks)
        # Freshness ends when Redis has the list: measured now, flushed with the next window's counters.
        done = time.time() * 1000
        pending = self._pending
        for ts in out.event_ts:
            b = freshness_bucket(done - ts)
            pending[b] = pending.get(b, 0) + 1
        self.metrics.observe_window(accepted=out.accepted, dead_letters=len(out.dead_letters),
                                    duplicates=out.duplicates, lists=len(lists), seconds=(done - started) / 1000,
                                    freshness_ms=[done - ts for ts in out.event_ts])
        return saved

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

    async def save_sessions(self, out, delta_acks: list) -> asyncio.Future:
        """Write the window's session rows once its item deltas are in Kafka: a crash before the rows
        are in the changelog re-processes the events (their shares are skipped by the item side), and
        none after can leave an event applied to the session but missing from the item side.

        The wait for Kafka's acknowledgement (the producer's linger plus a round trip, 10-20 ms) does
        not hold the next window: the rows wait in ``_unsaved``, where the next windows read them, and
        a task writes them, window after window in order. The returned future is done when they are
        in the table: the window's records are acknowledged to Faust (and so committed) only then
        (streams/take.py). At most ``UNSAVED_WINDOWS`` windows wait; a rebalance waits for all, since
        Faust waits for every record's ack before it hands partitions over (``stream_wait_empty``)."""
        rows: dict[str, bytes | None] = {user: encode_state(state) for user, state in out.states.items()}
        rows.update(dict.fromkeys(out.forgotten))
        self._unsaved.update(rows)
        before = self._saving[-1] if self._saving else None
        task = asyncio.ensure_future(self._save_rows(before, rows, delta_acks))
        self._saving.append(task)
        while len(self._saving) > UNSAVED_WINDOWS:
            await asyncio.shield(self._saving[0])
        return task

    async def _save_rows(self, before, rows: dict[str, bytes | None], delta_acks: list) -> None:
        try:
            if before is not None:
                await asyncio.shield(before)
            pending = [ack for ack in delta_acks if asyncio.isfuture(ack)]
            try:
                if pending:
                    await asyncio.gather(*pending)
            except Exception:  # noqa: BLE001
                # Kafka refused the window's item deltas: its rows must not be written, and no later
                # window's either (they build on it). A restart re-reads all from the last commit.
                log.exception("item deltas not acknowledged by Kafka; exiting for a restart")
                exit_for_supervisor(STALL_EXIT_CODE)
                return
            sessions, unsaved = self.tables.sessions, self._unsaved
            for user, raw in rows.items():
                if raw is None:
                    if user in sessions:
                        del sessions[user]
                else:
                    sessions[user] = raw
                if user in unsaved and unsaved[user] is raw:
                    del unsaved[user]  # no later window changed the user meanwhile
        finally:
            self._saving.popleft()
