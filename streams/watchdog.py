"""Stall watchdog: a worker that holds source partitions with lag but consumes nothing restarts itself.

Why: a process that is up but consumes nothing is the worst failure for a recommender (lists silently
go stale), while a restart is cheap and exact: offsets are committed only after the work they cover is
in Kafka, so the new process re-reads the uncommitted tail, and replays are idempotent (event ids,
per-partition offsets in the item rows). The stalled restarts of issue #10 had a cause now fixed
(records Faust dropped in a rebalance were never fetched again: ``streams/seek.py``); this stays as the
safeguard for any other way a consumer can stop.

Escalation, per :class:`StallWatch`: a watched partition whose highwater is above its position and
whose position has not moved for ``limit_s`` is *stuck*; the first time, the worker resumes the stuck
partitions and the consumer flow and logs a warning; if a partition is still stuck ``limit_s`` later,
it logs an error and exits with :data:`STALL_EXIT_CODE`, for the supervisor (compose
``restart: unless-stopped``, systemd ``Restart=on-failure``) to start it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

OK, RESUME, EXIT = "ok", "resume", "exit"
STALL_EXIT_CODE = 3
PROBE_TIMEOUT_S = 10.0


def has_lag(position: int | None, highwater: int | None) -> bool:
    """``highwater`` is the next offset to be written, ``position`` the next to be consumed (None: the
    consumer has no position yet, so any record at all is lag)."""
    if highwater is None:
        return False
    return highwater > (position if position is not None else 0)


@dataclass(frozen=True)
class Verdict:
    action: str  # OK, RESUME or EXIT
    stuck: tuple = ()  # the stuck partitions, sorted
    idle_s: float = 0.0  # how long the longest-stuck one has not moved


@dataclass
class StallWatch:
    """The watchdog's decisions, pure: fed one sample of positions and highwaters per tick."""

    limit_s: float
    _moved_at: dict = field(default_factory=dict)  # partition -> (position, when it last moved or had no lag)
    _resumed_at: float | None = None

    def reset(self, now: float) -> None:
        """A rebalance or a recovery is not a stall: start counting again."""
        self._moved_at = {tp: (pos, now) for tp, (pos, _) in self._moved_at.items()}
        self._resumed_at = None

    def check(self, now: float, positions: Mapping[Hashable, int | None],
              highwaters: Mapping[Hashable, int | None], busy: Iterable[Hashable] = ()) -> Verdict:
        """``positions`` holds every watched partition; ``busy`` ones are held back by a full stream
        buffer (a slow agent, a Redis outage): waiting, not stalled."""
        busy = set(busy)
        moved_at = {}
        for tp, pos in positions.items():
            prev = self._moved_at.get(tp)
            if prev is None or prev[0] != pos or tp in busy or not has_lag(pos, highwaters.get(tp)):
                moved_at[tp] = (pos, now)
            else:
                moved_at[tp] = prev
        self._moved_at = moved_at  # revoked partitions drop out
        stuck = sorted(tp for tp, (_, since) in moved_at.items() if now - since >= self.limit_s)
        if not stuck:
            self._resumed_at = None
            return Verdict(OK)
        idle = max(now - moved_at[tp][1] for tp in stuck)
        if self._resumed_at is None:
            self._resumed_at = now
            return Verdict(RESUME, tuple(stuck), idle)
        if now - self._resumed_at >= self.limit_s:
            return Verdict(EXIT, tuple(stuck), idle)
        return Verdict(OK, tuple(stuck), idle)


async def position_or_none(consumer, tp, timeout_s: float = PROBE_TIMEOUT_S) -> int | None:
    """The consumer's position of ``tp``; None when it has none yet: aiokafka waits while an offset
    reset is in progress, and a partition still without a position after ``timeout_s`` is not being
    consumed either."""
    try:
        return await asyncio.wait_for(consumer.position(tp), timeout_s)
    except asyncio.TimeoutError:
        return None


def consuming(app) -> bool:
    """The app holds its assignment and has recovered its tables: positions mean something."""
    if app.rebalancing or getattr(app, "in_recovery", False):
        return False
    recovery = getattr(app.tables, "recovery", None)
    return recovery is None or recovery.completed.is_set()


def exit_for_supervisor(code: int) -> None:
    # Not a graceful stop: a consumer that stalled may not stop either, and kill -9 is already safe
    # (see the module docstring). Flush the logs so the error line reaches the supervisor's journal.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


class StallWatchdog:
    """Samples the app's consumer for :class:`StallWatch` and acts on its verdicts."""

    def __init__(self, app, topics: Iterable[str], limit_s: float, *,
                 exit: Callable[[int], None] = exit_for_supervisor, clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.topics = frozenset(topics)
        self.watch = StallWatch(limit_s)
        self._exit = exit
        self._clock = clock
        self._last: tuple[dict, dict] = ({}, {})  # positions, highwaters of the last answered probe

    async def tick(self) -> Verdict:
        now = self._clock()
        if not consuming(self.app):
            self.watch.reset(now)
            return Verdict(OK)
        consumer = self.app.consumer
        tps = {tp for tp in consumer.assignment() if tp.topic in self.topics}
        try:
            highwaters = dict(await asyncio.wait_for(consumer.highwaters(*tps), PROBE_TIMEOUT_S)) if tps else {}
            ordered = list(tps)
            positions = dict(zip(ordered, await asyncio.gather(*(position_or_none(consumer, tp) for tp in ordered))))
        except Exception as exc:  # noqa: BLE001 - judged on the last sample, see below
            # No answer is no progress seen: judged on the last sample, so a caught-up worker never
            # counts an unreachable broker as a stall, while one whose consumer thread hangs (the
            # offset calls go through it too) is still caught.
            log.info("stall watchdog: cannot read offsets (%r); judging on the last sample", exc)
            positions = {tp: p for tp, p in self._last[0].items() if tp in tps}
            highwaters = self._last[1]
        self._last = (positions, highwaters)
        busy = getattr(consumer, "_buffered_partitions", ())  # Faust's own backpressure, see StallWatch.check
        verdict = self.watch.check(now, positions, highwaters, busy)
        if verdict.action == RESUME:
            log.warning("stall watchdog: %s have lag but consumed nothing for %.0f s; resuming them "
                        "and the consumer flow; consumer state:\n  %s", _describe(verdict.stuck, positions, highwaters),
                        verdict.idle_s, consumer_state(self.app, self.topics))
            consumer.resume_partitions(verdict.stuck)
            self.app.flow_control.resume()
            consumer.resume_flow()
        elif verdict.action == EXIT:
            log.error("stall watchdog: %s still consume nothing %.0f s after being resumed; exiting with "
                      "code %d so the supervisor restarts the worker (committed offsets make this safe)",
                      _describe(verdict.stuck, positions, highwaters), self.watch.limit_s, STALL_EXIT_CODE)
            self._exit(STALL_EXIT_CODE)
        return verdict


def consumer_state(app, topics: Iterable[str]) -> str:
    """Where each watched partition stands, as Faust and aiokafka each see it: the first thing to read
    when a worker holds lag and consumes nothing (logged on ``SIGUSR2`` and when the watchdog acts).

    Reads private attributes of faust-streaming 0.15 and aiokafka 0.14 from another thread's objects
    without locks: a diagnostic snapshot, possibly torn, never used for decisions."""
    names = frozenset(topics)
    c = app.consumer
    try:
        tps = sorted((tp for tp in c.assignment() if tp.topic in names), key=lambda tp: (tp.topic, tp.partition))
    except Exception as exc:  # noqa: BLE001 - no assignment yet (or none any more): say so
        return f"no assignment ({exc!r})"
    paused, active = getattr(c, "_paused_partitions", set()), getattr(c, "_active_partitions", None)
    buffered = getattr(c, "_buffered_partitions", set())
    read, committed = getattr(c, "_read_offset", {}), getattr(c, "_committed_offset", {})
    acked = getattr(c, "_acked", {})
    try:
        assignment = c._thread._consumer._subscription.subscription.assignment
    except AttributeError:
        assignment = None
    app_flow = getattr(getattr(app, "flow_control", None), "is_active", lambda: None)()
    lines = [f"consumer flow {'active' if getattr(c, 'flow_active', None) else 'stopped'}, "
             f"app flow {'active' if app_flow else 'suspended'}, "
             f"rebalancing {getattr(app, 'rebalancing', None)}, unacked {len(getattr(c, '_unacked_messages', ()))}"]
    for tp in tps:
        flags = [name for name, on in (("faust-paused", tp in paused), ("buffered", tp in buffered),
                                       ("inactive", active is not None and tp not in active)) if on]
        kafka = "no aiokafka state"
        state = assignment.state_value(tp) if assignment is not None else None
        if state is not None:
            kafka = (f"aiokafka position {getattr(state, '_position', None)} highwater {state.highwater} "
                     f"{'paused' if state.paused else 'fetching'} {getattr(state, '_status', '')}")
        first_acked = min(acked[tp]) if acked.get(tp) else None
        lines.append(f"{tp.topic}[{tp.partition}]: committed {committed.get(tp)} read {read.get(tp)} "
                     f"first acked {first_acked}; {kafka}{'; ' + ', '.join(flags) if flags else ''}")
    return "\n  ".join(lines)


def _describe(stuck, positions, highwaters) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}] at {positions.get(tp)} of {highwaters.get(tp)}" for tp in stuck)


def timer_interval(limit_s: float) -> float:
    """Ticks often enough to act within ~a quarter limit of the deadline, never busier than 1/s."""
    return max(1.0, min(30.0, limit_s / 4))
