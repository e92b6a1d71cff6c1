"""The pre-commit flush drains the producer buffer, and gives up (exit for a restart) on a wedged producer."""

from __future__ import annotations

import pytest

from streams.app import drain_fully_before_commit
from streams.watchdog import STALL_EXIT_CODE


class FakeBuffer:
    """``sends`` says how many records leave per flush_atmost call; the clock moves 1 s per call."""

    def __init__(self, size: int, sends: list[int]):
        self.size, self.sends, self.now = size, list(sends), 0.0

    async def flush_atmost(self, max_messages):
        self.now += 1.0
        sent = min(self.sends.pop(0) if self.sends else 0, self.size,
                   self.size if max_messages is None else max_messages)
        self.size -= sent
        return sent


def install(buf: FakeBuffer, stuck_s: float):
    exits: list[int] = []
    drain_fully_before_commit(buf, stuck_s, on_stuck=exits.append, clock=lambda: buf.now)
    return exits


async def test_slow_progress_is_waited_for_until_empty():
    buf = FakeBuffer(5, [1, 0, 0, 1, 0, 0, 3])  # pauses shorter than the bound
    exits = install(buf, stuck_s=2.5)
    await buf.flush()
    assert buf.size == 0 and exits == []


async def test_no_progress_for_the_bound_exits_for_the_supervisor():
    buf = FakeBuffer(5, [2])  # then nothing ever leaves
    exits = install(buf, stuck_s=3)
    await buf.flush()
    assert exits == [STALL_EXIT_CODE] and buf.size == 3
    assert buf.now == pytest.approx(5.0)  # gave up right after the bound, not before


async def test_zero_bound_never_gives_up():
    buf = FakeBuffer(2, [0] * 50 + [2])
    exits = install(buf, stuck_s=0)
    await buf.flush()
    assert buf.size == 0 and exits == []


async def test_records_added_during_the_flush_wait_for_the_next_commit():
    class Inflow(FakeBuffer):
        async def flush_atmost(self, max_messages):
            sent = await super().flush_atmost(max_messages)
            self.size += 3  # agents keep producing faster than the sender drains
            return sent

    buf = Inflow(4, [2] * 100)
    install(buf, stuck_s=10)
    await buf.flush()
    assert buf.now == 2.0  # the 4 queued at the start are sent: done, though the buffer never empties
