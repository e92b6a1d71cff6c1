"""Offset guard: Faust must never commit past a source record it did not process, never hand a stream
a record while an earlier one of its partition is missing, and re-reads any it dropped.

Why (issue #10): after a restart or rebalance Faust can drop records it already fetched (the stream
queues are cleared on a rebalance, and records returned by aiokafka while the flow stops are thrown
away), relying on a seek back to the committed offsets to fetch them again. Four holes let such
records go for good or come back out of order; the crash and rebalance tests hit them:

1. aiokafka's ``seek_to_committed`` seeks only partitions whose committed offset is above 0, so a
   partition never committed keeps its position *after* the dropped records. Here such partitions are
   sought to their first offset (what ``auto_offset_reset=earliest`` means for a missing commit) on
   every seek to the commits: a rebalance drops records whether or not it is the partition's first.
2. Records after dropped ones were delivered, and the dropped ones re-read later: each user's session
   got its events out of order. :class:`InOrder` filters Faust's fetches so a partition's records reach
   the streams in offset order only; a jump seeks back to the missing offset.
3. Faust commits the first run of consecutive acknowledged offsets without checking that it starts at
   the committed offset when there is none yet, and tolerates a one-record hole after one; a jump in
   the fetched offsets is marked as acknowledged. For source topics nothing is committed past a hole;
   offsets known to hold no record (compaction, retention) are marked by the in-order filter instead.
4. A hole that never fills would then hold commits back: :class:`LostRecords` notices a partition with
   records below its position that can no longer be processed (:meth:`Sample.lost`) while nothing of
   its topic is in flight, and seeks it back to the commit.

Re-read records are skipped by the session dedup and the item rows' per-partition offsets, so the
state stays exact. The wrappers use faust-streaming 0.15 internals (the consumer's ``getmany``,
``_new_offset``, ``_add_gap``, ``_gap``, ``_committed_offset``, ``_acked``, ``_read_offset``,
``_unacked_messages``; the conductor's ``_topic_name_index``): re-check them on Faust upgrades
(``tests/unit/streams/test_seek.py`` drives real Faust objects).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streams.watchdog import position_or_none

log = logging.getLogger(__name__)

POSITION_TIMEOUT_S = 5.0
LOST_AFTER_S = 20.0  # a partition unchanged this long with nothing in flight has lost records


def uncommitted(committed: Mapping) -> list:
    """The partitions a committed-offset map says were never committed (None, negative or 0)."""
    return sorted((tp for tp, offset in committed.items() if offset is None or offset <= 0),
                  key=lambda tp: (tp.topic, tp.partition))


@dataclass(frozen=True)
class Sample:
    """One source partition as the guard sees it: where its next commit must start, the consumer's
    position, the lowest acknowledged offset not yet committed (None: none), the last offset Faust
    handed to a stream (None: none since the last seek)."""

    start: int | None
    position: int | None
    first_acked: int | None = None
    delivered: int | None = None

    def lost(self) -> bool:
        """Records between the commit and the position that can no longer be processed: a hole below
        acknowledged ones, or records handed to a stream and gone. Records fetched but still waiting
        for the stream (a full producer buffer blocks delivery) have ``delivered`` below ``start``;
        processed ones waiting for a slow commit start the acknowledged run at ``start``."""
        if self.start is None or self.position is None or self.position <= self.start:
            return False
        if self.first_acked is not None:
            return self.first_acked > self.start
        return self.delivered is not None and self.delivered >= self.start


class LostRecords:
    """Pure decisions: fed, per tick, each source partition's :class:`Sample` and the topics with
    messages in flight; answers the partitions to seek back, with their offsets."""

    def __init__(self, after_s: float = LOST_AFTER_S):
        self.after_s = after_s
        self._since: dict = {}  # tp -> (sample, first seen so)

    def check(self, now: float, samples: Mapping, busy_topics: Iterable[str]) -> list[tuple]:
        busy = set(busy_topics)
        since, out = {}, []
        for tp, sample in samples.items():
            if tp.topic in busy or not sample.lost():
                continue
            prev = self._since.get(tp)
            first = prev[1] if prev is not None and prev[0] == sample else now
            since[tp] = (sample, first)
            if now - first >= self.after_s:
                out.append((tp, sample.start))
                del since[tp]  # start counting again after the seek
        self._since = since
        return sorted(out, key=lambda x: (x[0].topic, x[0].partition))


class InOrder:
    """Pure decisions: the next offset each source partition must deliver, so a stream never gets a
    record while an earlier one of its partition is missing (re-reading it later would apply events
    out of order: the session rows would differ from an uninterrupted run's).

    A record past the wanted offset means records were dropped (seek back), or that the offsets hold
    no record (compaction, retention). It is taken for the latter only once a seek to the wanted offset
    still yields it ``confirm(topic)`` times in a row: records a fetch already had in flight can arrive
    after one seek, so one is proof only on a compacted topic, where gaps are normal."""

    def __init__(self, compacted: Iterable[str] = ()):
        self.compacted = frozenset(compacted)
        self.next: dict = {}  # tp -> the offset the next delivered record must have
        self.sought: dict = {}  # tp -> (offset, seeks to it in a row with nothing delivered since)

    def reset(self, tp, offset: int) -> None:
        """The consumer was sought to ``offset``: reading resumes there."""
        self.next[tp] = offset
        prev = self.sought.get(tp)
        self.sought[tp] = (offset, prev[1] + 1 if prev is not None and prev[0] == offset else 1)

    def keep_only(self, tps) -> None:
        keep = set(tps)
        for table in (self.next, self.sought):
            for tp in [tp for tp in table if tp not in keep]:
                del table[tp]

    def admit(self, tp, offset: int) -> tuple[bool, int | None]:
        """``(True, None)``: deliver. ``(True, want)``: deliver; offsets ``[want, offset)`` hold no
        record. ``(False, want)``: records from ``want`` were dropped before delivery; seek back there."""
        want = self.next.get(tp)
        if want is None or offset <= want:  # the first since the assignment, in order, or a re-delivery
            self.sought.pop(tp, None)
            if want is None or offset == want:
                self.next[tp] = offset + 1
            return True, None
        seeks = self.sought.get(tp)
        if seeks is not None and seeks[0] == want and seeks[1] >= (1 if tp.topic in self.compacted else 2):
            del self.sought[tp]
            self.next[tp] = offset + 1
            return True, want
        return False, want


class OffsetGuard:
    """Installs the guards on a Faust consumer for the source topics named in ``topics``."""

    def __init__(self, consumer, topics: Iterable[str], after_s: float = LOST_AFTER_S, compacted: Iterable[str] = ()):
        self.consumer = consumer
        self.topics = frozenset(topics)
        self.lost = LostRecords(after_s)
        self.order = InOrder(compacted)
        self.start: dict = {}  # never-committed partition -> the first offset, where reading began

    def install(self) -> None:
        c = self.consumer
        seek_to_committed, new_offset, add_gap, getmany = c.seek_to_committed, c._new_offset, c._add_gap, c.getmany

        async def seek_to_committed_or_beginning():
            committed = await seek_to_committed()
            log.info("sought to the committed offsets %s", _offsets(committed, self.topics))
            # Every time, not only on a first assignment: records fetched and dropped since (a rebalance
            # stops the flow) left the position past them, and nothing was committed to go back to.
            fresh = [tp for tp in uncommitted(committed) if tp.topic in self.topics]
            mine = [tp for tp in committed if tp.topic in self.topics]
            self.order.keep_only(mine)
            for tp in mine:
                if tp not in fresh:
                    self.start.pop(tp, None)
                    self.order.reset(tp, committed[tp])
            if fresh:
                # Faust's consumer has no seek_to_beginning; its seek also resets the read offset.
                earliest = await c.earliest_offsets(*fresh)
                for tp in fresh:
                    self.start[tp] = earliest.get(tp) or 0
                    await self.seek(tp, self.start[tp])
                log.info("no committed offset for %s: reading from the beginning", _names(fresh))
            return committed

        async def getmany_in_order(timeout: float):
            dropped: set = set()
            async for tp, message in getmany(timeout):
                if tp.topic in self.topics:
                    if tp in dropped:
                        continue
                    deliver, want = self.order.admit(tp, message.offset)
                    if not deliver:
                        dropped.add(tp)  # the rest of this batch follows the hole: fetched again after the seek
                        log.info("%s[%d]: got offset %d before %d; reading again from %d",
                                 tp.topic, tp.partition, message.offset, want, want)
                        await self.seek(tp, want)
                        continue
                    if want is not None:
                        self.mark_absent(tp, want, message.offset)
                yield tp, message

        def new_offset_without_holes(tp):
            start = self.commit_start(tp)
            if tp.topic in self.topics and start is not None:
                first = self.first_done(tp)
                if first is not None and first > start:
                    return None  # offsets [start, first) are not processed: commit nothing yet
            return new_offset(tp)

        async def add_gap_except_sources(tp, offset_from: int, offset_to: int):
            if tp.topic in self.topics:
                return None  # real gaps are marked on delivery (mark_absent); any other is records dropped
            return await add_gap(tp, offset_from, offset_to)

        c.seek_to_committed = seek_to_committed_or_beginning
        c.getmany = getmany_in_order
        c._new_offset = new_offset_without_holes
        c._add_gap = add_gap_except_sources

    async def seek(self, tp, offset: int) -> None:
        self.order.reset(tp, offset)
        await self.consumer.seek(tp, offset)

    def mark_absent(self, tp, first: int, end: int) -> None:
        """Offsets ``[first, end)`` hold no record: commits may pass them (Faust's gap intervals)."""
        log.info("%s[%d]: no records at offsets %d..%d (compacted or expired)", tp.topic, tp.partition, first, end - 1)
        gaps = self.consumer._gap[tp]
        gaps.addi(first, end)
        gaps.merge_overlaps()

    def first_done(self, tp) -> int | None:
        """The lowest offset acknowledged or known absent and not yet committed (None: none)."""
        acked, gaps = self.consumer._acked.get(tp), self.consumer._gap.get(tp)
        firsts = ([min(acked)] if acked else []) + ([gaps.begin()] if gaps else [])
        return min(firsts) if firsts else None

    def commit_start(self, tp) -> int | None:
        """The offset the next commit of ``tp`` must start at (None: unknown, e.g. before recovery)."""
        committed = self.consumer._committed_offset.get(tp)
        return committed if committed else self.start.get(tp)

    async def tick(self, now: float) -> list[tuple]:
        """Seek partitions that lost records back to their commit; returns what it sought."""
        c, names = self.consumer, self.topics
        tps = [tp for tp in c.assignment() if tp.topic in names]
        samples = {}
        for tp in tps:
            samples[tp] = Sample(self.commit_start(tp), await position_or_none(c, tp, POSITION_TIMEOUT_S),
                                 self.first_done(tp), c._read_offset.get(tp))
        busy = {m.tp.topic for m in list(c._unacked_messages) if not m.acked} | queued_topics(c.app, names)
        sought = self.lost.check(now, samples, busy)
        for tp, offset in sought:
            log.warning("%s[%d]: fetched up to %s but nothing after %d was processed; re-reading from %d",
                        tp.topic, tp.partition, samples[tp].position, offset, offset)
            await self.seek(tp, offset)
        return sought


def keep_queues_on_repeated_resume(flow_control) -> None:
    """Make ``flow_control.resume()`` clear the stream queues only when it ends a suspension.

    Why (issue #10, found by tracing every record of a failing crash test): Faust's recovery resumes
    the flow twice, once to read the changelogs and again after seeking the source partitions to
    their commits, and every resume clears all stream queues. Between the two the consumer already
    hands source records to the streams, so the second resume threw away records sitting in a queue
    while the ones after them went through: a hole inside a partition. The offset guard re-read it
    20 s later, out of order (a session's event applied after later ones; an item row skipped an
    older batch as already applied). Clearing is only meant for records queued before a suspension
    (partitions that may have moved away), and ``suspend`` already clears through
    ``on_partitions_revoked``; a resume while the flow runs has nothing stale to drop."""
    resume = flow_control.resume

    def resume_keeping_live_records() -> None:
        if flow_control.is_active():
            return
        resume()

    flow_control.resume = resume_keeping_live_records


def queued_topics(app, names: Iterable[str]) -> set[str]:
    """Topics with messages waiting in a stream's queue: delivered but not yet taken by a slow agent
    (an overloaded loop), so not lost. Faust's queues are created lazily (None: nothing queued)."""
    index = getattr(app.topics, "_topic_name_index", {})
    out = set()
    for name in names:
        for channel in index.get(name, ()):
            queue = getattr(channel, "_queue", None)
            if queue is not None and queue.qsize():
                out.add(name)
    return out


def _offsets(committed: Mapping, topics) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]={offset}" for tp, offset in
                     sorted(committed.items(), key=lambda x: (x[0].topic, x[0].partition)) if tp.topic in topics)


def _names(tps) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in tps)
