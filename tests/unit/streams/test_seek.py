"""The offset guard (streams/seek.py): nothing committed past a dropped source record, and lost records
read again. Drives a real Faust consumer object (no broker needed) so the internals it wraps are checked."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.types import TP

from streams.seek import InOrder, LostRecords, OffsetGuard, Sample, queued_topics, uncommitted

EVENTS, CHANGELOG = "events", "app-sessions-changelog"


@pytest.fixture
def consumer():
    app = faust.App("seek-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    return app.consumer


def test_uncommitted_means_none_negative_or_zero():
    committed = {TP("e", 1): None, TP("e", 0): 0, TP("e", 2): 17, TP("e", 3): -1001}
    assert uncommitted(committed) == [TP("e", 0), TP("e", 1), TP("e", 3)]


def test_never_committed_source_partitions_are_read_from_their_first_offset(consumer):
    committed = {TP(EVENTS, 0): None, TP(EVENTS, 1): 42, TP("item-updates", 2): 0, TP(CHANGELOG, 0): None}
    sought = []

    async def seek_to_committed():
        return dict(committed)

    async def earliest_offsets(*tps):
        return {tp: 3 for tp in tps}

    async def seek(tp, offset):
        sought.append((tp, offset))

    consumer.seek_to_committed, consumer.earliest_offsets, consumer.seek = seek_to_committed, earliest_offsets, seek
    guard = OffsetGuard(consumer, {EVENTS, "item-updates"})
    guard.install()
    assert asyncio.run(consumer.seek_to_committed()) == committed  # Faust's perform_seek gets what it got
    assert sought == [(TP(EVENTS, 0), 3), (TP("item-updates", 2), 3)]  # changelogs: recovery's business
    assert guard.commit_start(TP(EVENTS, 0)) == 3
    sought.clear()
    # Every seek to the commits, not only the first: a rebalance since may have dropped fetched records.
    asyncio.run(consumer.seek_to_committed())
    assert sought == [(TP(EVENTS, 0), 3), (TP("item-updates", 2), 3)]
    assert guard.order.next == {TP(EVENTS, 0): 3, TP(EVENTS, 1): 42, TP("item-updates", 2): 3}


def test_no_commit_past_a_hole_at_the_head_of_a_source_partition(consumer):
    OffsetGuard(consumer, {EVENTS}).install()
    src, other = TP(EVENTS, 0), TP("other", 0)
    for tp in (src, other):
        consumer._committed_offset[tp] = 4
        consumer._acked[tp] = [5, 6, 7]  # offset 4 never processed
        consumer._acked_index[tp] = {5, 6, 7}
    assert consumer._new_offset(src) is None
    assert consumer._new_offset(other) == 8  # Faust's own rule tolerates a one-record hole elsewhere
    consumer._acked[src].append(4)
    consumer._acked_index[src].add(4)
    assert consumer._new_offset(src) == 8


def test_a_never_committed_partition_commits_only_from_where_reading_began(consumer):
    guard = OffsetGuard(consumer, {EVENTS})
    guard.install()
    tp = TP(EVENTS, 1)
    guard.start[tp] = 0
    consumer._acked[tp], consumer._acked_index[tp] = [2, 3], {2, 3}
    assert consumer._new_offset(tp) is None
    consumer._acked[tp], consumer._acked_index[tp] = [0, 1, 2, 3], {0, 1, 2, 3}
    assert consumer._new_offset(tp) == 4


def test_skipped_fetch_offsets_are_not_marked_processed_on_source_topics(consumer):
    OffsetGuard(consumer, {EVENTS}).install()
    asyncio.run(consumer._add_gap(TP(EVENTS, 0), 10, 20))
    asyncio.run(consumer._add_gap(TP("other", 0), 10, 20))
    assert not consumer._gap[TP(EVENTS, 0)]
    assert consumer._gap[TP("other", 0)]


def test_lost_records_are_read_again_once_nothing_moves_for_a_while():
    lost, tp = LostRecords(after_s=10), TP(EVENTS, 3)
    tail = Sample(start=126, position=160, first_acked=None, delivered=159)  # handed to a stream, gone
    assert lost.check(0, {tp: tail}, busy_topics=()) == []
    assert lost.check(9, {tp: tail}, busy_topics=()) == []
    assert lost.check(10, {tp: tail}, busy_topics=()) == [(tp, 126)]
    assert lost.check(11, {tp: tail}, busy_topics=()) == []  # counting again after the seek
    hole = Sample(start=126, position=160, first_acked=140, delivered=159)  # 126..139 never acknowledged
    lost.check(20, {tp: hole}, busy_topics=())
    assert lost.check(30, {tp: hole}, busy_topics=()) == [(tp, 126)]


def test_slow_commits_waiting_records_and_work_in_flight_are_not_losses():
    lost, tp = LostRecords(after_s=10), TP(EVENTS, 0)
    samples = [
        Sample(start=100, position=160, first_acked=100, delivered=159),  # processed, commit slow (85 s seen)
        Sample(start=100, position=160, first_acked=None, delivered=99),  # fetched, delivery blocked
        Sample(start=160, position=160, first_acked=None, delivered=159),  # caught up
        Sample(start=None, position=160),  # commit start unknown
    ]
    for sample in samples:
        for t in (0, 10, 20):
            assert lost.check(t, {tp: sample}, busy_topics=()) == [], sample
    tail = Sample(start=100, position=160, first_acked=None, delivered=159)
    lost.check(30, {tp: tail}, busy_topics=())
    assert lost.check(45, {tp: tail}, busy_topics={EVENTS}) == []  # a window is being processed
    assert lost.check(50, {tp: tail}, busy_topics=()) == []  # counting restarts after busy
    progressed = Sample(start=120, position=160, first_acked=None, delivered=159)
    assert lost.check(60, {tp: progressed}, busy_topics=()) == []  # the commit moved


def test_messages_waiting_in_a_stream_queue_make_their_topic_busy():
    app = faust.App("seek-queue-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    topic = app.topic(EVENTS)
    app.topics._topic_name_index[EVENTS].add(topic)
    assert queued_topics(app, [EVENTS, "other"]) == set()  # no queue created yet
    topic.queue.put_nowait("a message")
    assert queued_topics(app, [EVENTS, "other"]) == {EVENTS}


def test_records_are_delivered_in_order_and_a_hole_is_read_again():
    order, tp = InOrder(), TP(EVENTS, 0)
    order.reset(tp, 10)
    assert [order.admit(tp, o) for o in (10, 11)] == [(True, None), (True, None)]
    assert order.admit(tp, 14) == (False, 12)  # 12 and 13 were dropped: not past them
    assert order.admit(tp, 11) == (True, None)  # a re-delivery: Faust drops it by its read offset
    order.reset(tp, 12)
    assert order.admit(tp, 12) == (True, None)
    assert order.next[tp] == 13


def test_offsets_without_records_are_believed_after_two_seeks_or_one_on_a_compacted_topic():
    order, tp, cat = InOrder(compacted={"catalog"}), TP(EVENTS, 0), TP("catalog", 0)
    order.reset(tp, 5)
    assert order.admit(tp, 9) == (False, 5)  # maybe a fetch from before the seek
    order.reset(tp, 5)
    assert order.admit(tp, 9) == (True, 5)  # twice: offsets 5..8 hold nothing (retention)
    assert order.admit(tp, 10) == (True, None)
    order.reset(cat, 0)
    assert order.admit(cat, 3) == (True, 0)
    assert order.admit(cat, 7) == (False, 4)  # a gap not right after a seek is still a hole


def test_partitions_no_longer_assigned_are_forgotten():
    order = InOrder()
    order.reset(TP(EVENTS, 0), 1)
    order.reset(TP(EVENTS, 1), 1)
    order.keep_only([TP(EVENTS, 1)])
    assert set(order.next) == set(order.sought) == {TP(EVENTS, 1)}


def test_a_stream_never_gets_a_record_past_a_dropped_one(consumer):
    src, other = TP(EVENTS, 0), TP("other", 0)
    batch = [(src, 0), (other, 0), (src, 1), (src, 4), (src, 5), (other, 7)]
    sought = []

    async def getmany(timeout):
        for tp, offset in batch:
            yield tp, faust.types.Message(tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None)

    async def seek(tp, offset):
        sought.append((tp, offset))

    consumer.getmany, consumer.seek = getmany, seek
    OffsetGuard(consumer, {EVENTS}).install()

    async def drain():
        return [(tp.topic, m.offset) async for tp, m in consumer.getmany(timeout=1.0)]

    assert asyncio.run(drain()) == [(EVENTS, 0), ("other", 0), (EVENTS, 1), ("other", 7)]
    assert sought == [(src, 2)]


def test_offsets_known_to_hold_nothing_may_be_committed_past(consumer):
    guard = OffsetGuard(consumer, {"catalog"}, compacted={"catalog"})
    guard.install()
    tp = TP("catalog", 0)
    consumer._committed_offset[tp] = 4
    consumer._acked[tp], consumer._acked_index[tp] = [9], {9}  # 4..8 compacted away
    assert consumer._new_offset(tp) is None
    guard.mark_absent(tp, 4, 9)
    assert consumer._new_offset(tp) == 10


def test_a_resume_while_the_flow_runs_keeps_queued_records():
    from mode.utils.queues import FlowControlEvent, FlowControlQueue

    from streams.seek import keep_queues_on_repeated_resume

    flow = FlowControlEvent()  # Faust's app.flow_control starts suspended
    queue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    keep_queues_on_repeated_resume(flow)
    flow.resume()  # the recovery's first resume: ends the suspension
    queue.put_nowait("record 264")
    flow.resume()  # its second one, after the seek: the record is live, not stale
    assert flow.is_active() and queue.qsize() == 1
    flow.suspend()  # a rebalance: records queued before it may belong to partitions that moved
    flow.resume()
    assert queue.qsize() == 0
