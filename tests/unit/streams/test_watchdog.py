"""The stall watchdog's decisions (streams/watchdog.py): pure samples in, verdicts out."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP

from streams.watchdog import EXIT, OK, RESUME, STALL_EXIT_CODE, StallWatch, StallWatchdog, has_lag, timer_interval

A, B = TP("events", 0), TP("events", 1)
LIMIT = 60.0


def test_has_lag():
    assert has_lag(5, 10) and has_lag(None, 1)
    assert not has_lag(10, 10) and not has_lag(None, 0) and not has_lag(3, None)


def test_a_stuck_partition_is_resumed_then_the_worker_exits():
    w = StallWatch(LIMIT)
    assert w.check(0, {A: 5, B: 0}, {A: 10, B: 0}).action == OK
    assert w.check(59, {A: 5, B: 0}, {A: 10, B: 0}).action == OK
    v = w.check(61, {A: 5, B: 0}, {A: 12, B: 0})
    assert (v.action, v.stuck, v.idle_s) == (RESUME, (A,), 61)
    assert w.check(100, {A: 5, B: 0}, {A: 12, B: 0}).action == OK  # waits a limit for the resume to work
    v = w.check(122, {A: 5, B: 0}, {A: 12, B: 0})
    assert (v.action, v.stuck) == (EXIT, (A,))


def test_a_resume_that_works_clears_the_escalation():
    w = StallWatch(LIMIT)
    w.check(0, {A: 5}, {A: 10})
    assert w.check(61, {A: 5}, {A: 10}).action == RESUME
    assert w.check(70, {A: 6}, {A: 10}).action == OK
    # a later stall starts over: resume first, not exit
    assert w.check(131, {A: 6}, {A: 10}).action == RESUME


def test_no_lag_or_progress_is_never_a_stall():
    w = StallWatch(LIMIT)
    for t in range(0, 600, 30):
        assert w.check(t, {A: 10, B: t}, {A: 10, B: t + 100}).action == OK  # A idle without lag, B moving


def test_one_partition_stalls_while_another_moves():
    w = StallWatch(LIMIT)
    w.check(0, {A: 5, B: 0}, {A: 10, B: 100})
    v = w.check(61, {A: 5, B: 50}, {A: 10, B: 100})
    assert (v.action, v.stuck) == (RESUME, (A,))


def test_no_position_yet_counts_as_nothing_consumed():
    w = StallWatch(LIMIT)
    w.check(0, {A: None}, {A: 3})
    assert w.check(60, {A: None}, {A: 3}).action == RESUME


def test_backpressure_and_reset_restart_the_clock():
    w = StallWatch(LIMIT)
    w.check(0, {A: 5}, {A: 10})
    assert w.check(61, {A: 5}, {A: 10}, busy={A}).action == OK  # a full stream buffer: waiting, not stalled
    assert w.check(100, {A: 5}, {A: 10}).action == OK
    w.reset(110)  # rebalance / recovery / broker unreachable
    assert w.check(169, {A: 5}, {A: 10}).action == OK
    assert w.check(170, {A: 5}, {A: 10}).action == RESUME


def test_revoked_partitions_are_forgotten():
    w = StallWatch(LIMIT)
    w.check(0, {A: 5, B: 5}, {A: 10, B: 10})
    assert w.check(30, {B: 5}, {B: 10}).action == OK
    v = w.check(61, {A: 5, B: 5}, {A: 10, B: 10})  # A came back: its clock starts again
    assert (v.action, v.stuck) == (RESUME, (B,))


def test_timer_interval_bounds():
    assert timer_interval(120) == 30 and timer_interval(2) == 1 and timer_interval(1000) == 30


class _Consumer:
    def __init__(self, positions, highwaters):
        self.positions, self.highwaters_ = positions, highwaters
        self.resumed, self.flow_resumed = [], 0
        self._buffered_partitions = set()

    def assignment(self):
        return set(self.positions) | {TP("app-sessions-changelog", 0)}

    async def highwaters(self, *tps):
        return {tp: self.highwaters_[tp] for tp in tps}

    async def position(self, tp):
        return self.positions[tp]

    def resume_partitions(self, tps):
        self.resumed.append(set(tps))

    def resume_flow(self):
        self.flow_resumed += 1


class _Recovery:
    def __init__(self):
        self.completed = asyncio.Event()


class _App:
    def __init__(self, consumer):
        self.consumer, self.rebalancing, self.in_recovery = consumer, False, False
        self.tables = type("T", (), {"recovery": _Recovery()})()
        self.flow_control = type("F", (), {"resume": lambda self: None})()


async def test_watchdog_resumes_then_exits_and_ignores_changelogs():
    consumer = _Consumer({A: 5}, {A: 10})
    app, now, exits = _App(consumer), [0.0], []
    dog = StallWatchdog(app, ["events"], LIMIT, exit=exits.append, clock=lambda: now[0])
    for t in (0, 61):  # recovery not complete: no counting
        now[0] = t
        assert (await dog.tick()).action == OK
    app.tables.recovery.completed.set()
    for t, action in ((70, OK), (131, RESUME), (150, OK), (191, EXIT)):
        now[0] = t
        assert (await dog.tick()).action == action
    assert consumer.resumed == [{A}] and consumer.flow_resumed == 1 and exits == [STALL_EXIT_CODE]


async def broken(*tps):
    raise ConnectionError("broker down")


async def test_unreadable_offsets_are_judged_on_the_last_sample():
    caught_up, lagging = _Consumer({A: 10}, {A: 10}), _Consumer({A: 5}, {A: 10})
    exits, now = [], [0.0]
    dogs = []
    for consumer in (caught_up, lagging):
        app = _App(consumer)
        app.tables.recovery.completed.set()
        dogs.append(StallWatchdog(app, ["events"], LIMIT, exit=exits.append, clock=lambda: now[0]))
        await dogs[-1].tick()
        consumer.highwaters = broken  # the broker goes away (or the consumer thread hangs)
    actions = []
    for t in (61, 122):
        now[0] = t
        actions.append([(await dog.tick()).action for dog in dogs])
    assert actions == [[OK, RESUME], [OK, EXIT]] and exits == [STALL_EXIT_CODE]


def test_consumer_state_names_each_partitions_faust_and_aiokafka_view():
    from types import SimpleNamespace as NS

    from streams.watchdog import consumer_state

    states = {A: NS(_position=419, highwater=440, paused=True, _status="CONSUMING"),
              B: NS(_position=120, highwater=120, paused=False, _status="CONSUMING")}
    assignment = NS(state_value=states.get)
    consumer = NS(assignment=lambda: {A, B, TP("other", 0)}, _paused_partitions={A}, _active_partitions={B},
                  _buffered_partitions=set(), _read_offset={A: 418, B: 119}, _committed_offset={A: 419, B: 120},
                  _acked={A: [421, 420]}, _unacked_messages=(), flow_active=True,
                  _thread=NS(_consumer=NS(_subscription=NS(subscription=NS(assignment=assignment)))))
    app = NS(consumer=consumer, flow_control=NS(is_active=lambda: True), rebalancing=False)
    text = consumer_state(app, ["events"])
    a_line, b_line = text.split("\n  ")[1:]
    assert a_line == ("events[0]: committed 419 read 418 first acked 420; aiokafka position 419 highwater 440 "
                      "paused CONSUMING; faust-paused, inactive")
    assert b_line.startswith("events[1]: committed 120 read 119 first acked None; aiokafka position 120")
    assert "fetching" in b_line and "inactive" not in b_line
    assert "other" not in text
    # Before the consumer thread has a consumer: still a report, not an exception.
    consumer._thread = NS()
    assert "no aiokafka state" in consumer_state(app, ["events"])
