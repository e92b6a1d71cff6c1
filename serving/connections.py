"""Automatic pipelining of concurrent lookups onto one Redis connection.

redis-py 8's ``ConnectionPool`` and ``Pipeline`` cost more CPU per call than the Redis round trip itself
(locks, observability hooks, a pipeline object per call, an ``asyncio.wait_for`` task per write when a
socket timeout is set), and a connection per concurrent request costs a write and a read system call
each. Here every lookup queues its commands, packed to RESP bytes; one callback, scheduled once per
event-loop turn, writes all that are queued in one ``write``, and one reader task feeds what Redis
sends to a ``hiredis.Reader`` and hands the replies back in order (Redis answers a connection's commands
in the order it received them). Under load, many lookups share each system call, so throughput grows
instead of collapsing; a lone lookup still costs one write and one read.

redis-py's ``Connection`` still does connect, AUTH as the ACL user, SELECT and TLS; after that its
stream reader and writer are used directly (``_reader``/``_writer``: redis-py is pinned in uv.lock, and
the integration tests exercise this path). A lookup that times out simply stops waiting: its replies
still arrive in order and are dropped, so the stream never gets out of step. A connection error fails
every lookup in flight (they fall back) and the next lookup reconnects.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, TimeoutError as RedisTimeoutError

#: a Redis that accepts writes but never reads them must not grow our buffer without bound
MAX_UNSENT_BYTES = 4 * 1024 * 1024


def pack(command: Sequence[bytes | str | int | float]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        b = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class AutoPipeline:
    def __init__(self, redis: aioredis.Redis, make=None):
        """``make`` builds the connection (default: one like ``redis``'s pool's); a cluster's per-master
        pipelines (serving/cluster_pipeline.py) pass their node's."""
        self.redis = redis
        if make is None:
            pool = redis.connection_pool
            make = lambda: pool.connection_class(**pool.connection_kwargs)  # noqa: E731
        self._make = make
        self._conn = None
        self._writer: asyncio.StreamWriter | None = None
        self._connecting: asyncio.Task | None = None
        self._reader: asyncio.Task | None = None
        self._queued: list[tuple[bytes, int, asyncio.Future]] = []
        self._flush_scheduled = False
        self._in_flight: deque[tuple[int, asyncio.Future]] = deque()
        self._partial: list = []  # replies received so far for the head of _in_flight

    async def execute(self, commands: Sequence[tuple], timeout: float | None = None) -> list:
        """Replies to ``commands``, in order; they travel in one packet with whatever else is queued.

        ``timeout`` (s) raises :class:`redis.exceptions.TimeoutError`; cheaper than ``asyncio.timeout``,
        which schedules a cancellation of the whole task.
        """
        return await self.execute_packed(b"".join(pack(c) for c in commands), len(commands), timeout)

    async def execute_packed(self, packed: bytes, n: int, timeout: float | None = None) -> list:
        """Like :meth:`execute` for ``n`` commands already packed with :func:`pack` (constant lookups)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queued.append((packed, n, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        timer = loop.call_later(timeout, _expire, future) if timeout is not None else None
        try:
            replies = await future
        finally:
            if timer is not None:
                timer.cancel()
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._writer is None:
            if self._connecting is None or self._connecting.done():
                self._connecting = asyncio.ensure_future(self._connect())
            return  # _connect flushes when connected
        batch, self._queued = self._queued, []
        batch = [entry for entry in batch if not entry[2].done()]  # timed out while queued
        if not batch:
            return
        self._in_flight.extend((n, fut) for _, n, fut in batch)
        try:
            self._writer.write(b"".join(packed for packed, _, _ in batch))
            if self._writer.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
                raise RedisConnectionError("redis is not reading what we send")
        except Exception as exc:  # noqa: BLE001 - every waiter must learn, whatever broke
            self._fail(exc)

    async def _connect(self) -> None:
        try:
            conn = self._make()
            await conn.connect()
        except BaseException as exc:  # noqa: BLE001 - the waiters fall back; the next lookup retries
            batch, self._queued = self._queued, []
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(_as_error(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        self._conn, self._writer = conn, conn._writer
        self._reader = asyncio.ensure_future(self._read(conn, conn._reader))
        self._flush()

    async def _read(self, conn, stream: asyncio.StreamReader) -> None:
        parser = hiredis.Reader(replyError=ResponseError)
        try:
            while conn is self._conn:
                data = await stream.read(65536)
                if not data:
                    raise RedisConnectionError("redis closed the connection")
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    if not self._in_flight:
                        raise RedisConnectionError("reply without a request: the stream is out of step")
                    self._partial.append(reply)
                    n, fut = self._in_flight[0]
                    if len(self._partial) == n:
                        self._in_flight.popleft()
                        replies, self._partial = self._partial, []
                        if not fut.done():
                            fut.set_result(replies)
        except BaseException as exc:  # noqa: BLE001 - a broken stream fails everyone waiting on it
            if conn is self._conn:
                self._fail(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise

    def _fail(self, exc: BaseException) -> None:
        conn, self._conn, self._writer = self._conn, None, None
        in_flight, self._in_flight, self._partial = self._in_flight, deque(), []
        for _, fut in in_flight:
            if not fut.done():
                fut.set_exception(_as_error(exc))
        if self._reader is not None and not self._reader.done() and self._reader is not asyncio.current_task():
            self._reader.cancel()
        if conn is not None:
            conn._close()  # nowait: a broken socket has nothing to flush

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        self._fail(RedisConnectionError("closed"))
        for _, _, fut in self._queued:
            if not fut.done():
                fut.set_exception(RedisConnectionError("closed"))
        self._queued = []


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(RedisTimeoutError("redis did not answer in time"))


def _as_error(exc: BaseException) -> BaseException:
    # a cancelled connect or read (shutdown) must not look like a cancellation of the waiting request
    return RedisConnectionError(f"redis connection lost ({type(exc).__name__})") if isinstance(
        exc, asyncio.CancelledError) else exc
