"""Automatic pipelining of concurrent lookups onto one Redis connection.

redis-py 8's ``ConnectionPool`` and ``Pipeline`` cost more CPU per call than the Redis round trip itself
(locks, observability hooks, a pipeline object per call), and a connection per concurrent request costs
a write and a read system call each. Here every lookup queues its commands; one flush task writes all
that are queued in one packet, and one reader task hands the replies back in order (Redis answers a
connection's commands in the order it received them). Under load, many lookups share each system call,
so throughput grows instead of collapsing; a lone lookup still costs one write and one read.

redis-py's ``Connection`` still does connect, AUTH as the ACL user, TLS and RESP parsing (hiredis).
A lookup that times out simply stops waiting: its replies still arrive in order and are dropped, so the
stream never gets out of step. A connection error fails every lookup in flight (they fall back) and the
next lookup reconnects.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import ResponseError


class AutoPipeline:
    def __init__(self, redis: aioredis.Redis):
        pool = redis.connection_pool
        self.redis = redis
        self._make = lambda: pool.connection_class(**pool.connection_kwargs)
        self._conn = None
        self._queued: list[tuple[Sequence[tuple], asyncio.Future]] = []
        self._in_flight: deque[tuple[int, asyncio.Future]] = deque()
        self._flusher: asyncio.Task | None = None
        self._reader: asyncio.Task | None = None

    async def execute(self, commands: Sequence[tuple]) -> list:
        """Replies to ``commands``, in order; they travel in one packet with whatever else is queued."""
        future = asyncio.get_running_loop().create_future()
        self._queued.append((commands, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        replies = await future
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            batch = [(cmds, fut) for cmds, fut in batch if not fut.done()]  # timed out while queued
            if not batch:
                continue
            try:
                if self._conn is None:
                    conn = self._make()
                    await conn.connect()
                    self._conn = conn
                conn = self._conn
                packed = conn.pack_commands([cmd for cmds, _ in batch for cmd in cmds])
                self._in_flight.extend((len(cmds), fut) for cmds, fut in batch)
                await conn.send_packed_command(packed, check_health=False)
            except BaseException as exc:  # noqa: BLE001 - every waiter must learn, whatever broke
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(_as_error(exc))
                await self._fail(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            if self._reader is None or self._reader.done():
                self._reader = asyncio.ensure_future(self._read(conn))

    async def _read(self, conn) -> None:
        try:
            while self._in_flight and conn is self._conn:
                n, fut = self._in_flight[0]
                replies = []
                for _ in range(n):
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as exc:  # read in full: the stream is still in step
                        replies.append(exc)
                self._in_flight.popleft()
                if not fut.done():
                    fut.set_result(replies)
        except BaseException as exc:  # noqa: BLE001 - a broken stream fails everyone waiting on it
            if conn is self._conn:
                await self._fail(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def _fail(self, exc: BaseException) -> None:
        conn, self._conn = self._conn, None
        in_flight, self._in_flight = self._in_flight, deque()
        for _, fut in in_flight:
            if not fut.done():
                fut.set_exception(_as_error(exc))
        if conn is not None:
            await conn.disconnect(nowait=True)

    async def close(self) -> None:
        for task in (self._flusher, self._reader):
            if task is not None and not task.done():
                task.cancel()
        await self._fail(ConnectionError("closed"))


def _as_error(exc: BaseException) -> BaseException:
    # a cancelled flush or read (shutdown) must not look like a cancellation of the waiting request
    return ConnectionError(f"redis connection lost ({type(exc).__name__})") if isinstance(
        exc, asyncio.CancelledError) else exc
