"""The pre-commit flush waits for the records queued when it started, and gives up (exit for a
restart) on a wedged producer. Driven with a buffer whose sender the test releases record by record."""

from __future__ import annotations

import asyncio

from streams.app import drain_fully_before_commit
from streams.watchdog import STALL_EXIT_CODE


class Buffer:
    """Faust's ProducerBuffer as the flush sees it: ``size``, and ``_send_pending`` called per record
    by a sender task (here :meth:`release`)."""

    def __init__(self, size: int):
        self.size = size
        self.sent: list[int] = []

    async def _send_pending(self, fut) -> None:
        self.sent.append(fut)

    async def release(self, n: int) -> None:
        for _ in range(n):
            self.size -= 1
            await self._send_pending(len(self.sent))


def install(buf: Buffer, stuck_s: float) -> list[int]:
    exits: list[int] = []
    drain_fully_before_commit(buf, stuck_s, on_stuck=exits.append)
    return exits


async def test_waits_until_every_record_queued_at_the_start_is_sent():
    buf = Buffer(5)
    exits = install(buf, stuck_s=5)
    flush = asyncio.create_task(buf.flush())
    await buf.release(4)
    await asyncio.sleep(0)
    assert not flush.done()  # one of the five is still queued
    await buf.release(1)
    await asyncio.wait_for(flush, 1)
    assert buf.size == 0 and exits == []


async def test_records_added_during_the_flush_wait_for_the_next_commit():
    buf = Buffer(4)
    install(buf, stuck_s=5)
    flush = asyncio.create_task(buf.flush())
    await asyncio.sleep(0)
    buf.size += 100  # agents keep producing
    await buf.release(4)
    await asyncio.wait_for(flush, 1)  # done, though the buffer never empties
    assert buf.size == 100


async def test_no_progress_for_the_bound_exits_for_the_supervisor():
    buf = Buffer(5)
    exits = install(buf, stuck_s=0.2)
    flush = asyncio.create_task(buf.flush())
    await buf.release(2)  # then nothing ever leaves
    await asyncio.wait_for(flush, 2)
    assert exits == [STALL_EXIT_CODE] and buf.size == 3


async def test_slow_progress_within_the_bound_is_waited_for():
    buf = Buffer(3)
    exits = install(buf, stuck_s=0.3)

    async def trickle():
        for _ in range(3):
            await asyncio.sleep(0.15)  # a slow producer, each pause shorter than the bound
            await buf.release(1)
    await asyncio.gather(buf.flush(), trickle())
    assert buf.size == 0 and exits == []


async def test_empty_buffer_returns_at_once():
    buf = Buffer(0)
    exits = install(buf, stuck_s=0)
    await asyncio.wait_for(buf.flush(), 1)
    assert exits == []
