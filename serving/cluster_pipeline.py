"""The serving client's automatic pipelining on a Redis Cluster: one :class:`AutoPipeline` per master.

A detail-page lookup reads three keys (the user's list, the item's list, trending) that live in three
slots, usually on different masters. Each command goes to the master that owns its key's slot (the
slot map of redis-py's cluster client), every master's share is pipelined with the other concurrent
lookups' on that master's one connection, and the masters are asked concurrently: still one round
trip of wall time, a few more packets. ``MGET`` is split into one ``GET`` per key (its keys span
slots) and answered as one list, so callers write the same commands for one node and for a cluster.

A connection error or a ``MOVED``/``ASK``/``CLUSTERDOWN`` reply fails the lookup (the client serves
its fallback) and makes the next lookups wait for nothing: the slot map is refreshed in the
background, at most once per :data:`REFRESH_S`, and pipelines of masters that left are closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, TimeoutError as RedisTimeoutError

from serving.connections import AutoPipeline

REFRESH_S = 1.0
_STALE_MAP = ("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN")


class ClusterAutoPipeline:
    def __init__(self, redis: RedisCluster):
        self.redis = redis  # the client compares it to find out whether its pipeline is still current
        self._pipes: dict[str, AutoPipeline] = {}
        self._refresh: asyncio.Task | None = None
        self._refreshed = float("-inf")

    async def execute(self, commands: Sequence[tuple], timeout: float | None = None) -> list:
        """Replies to ``commands`` in order; each command's first argument after the name is its key."""
        if self.redis._initialize:  # the first lookup learns the slot map
            await self.redis.initialize()
        expanded: list[tuple] = []
        shape: list[int | None] = []  # None: one reply; n: an MGET answered by n GETs
        for command in commands:
            if command[0].upper() == "MGET":
                expanded.extend(("GET", key) for key in command[1:])
                shape.append(len(command) - 1)
            else:
                expanded.append(tuple(command))
                shape.append(None)
        by_node: dict[str, list[int]] = {}
        for i, command in enumerate(expanded):
            by_node.setdefault(self._node_for(command[1]), []).append(i)
        names = list(by_node)
        outcomes = await asyncio.gather(
            *(self._pipe(name).execute([expanded[i] for i in by_node[name]], timeout) for name in names),
            return_exceptions=True)
        replies: list = [None] * len(expanded)
        for name, outcome in zip(names, outcomes):
            if isinstance(outcome, BaseException):
                if _stale_map(outcome):
                    self._schedule_refresh()
                raise outcome
            for i, reply in zip(by_node[name], outcome):
                replies[i] = reply
        out, at = [], 0
        for n in shape:
            if n is None:
                out.append(replies[at])
                at += 1
            else:
                out.append(replies[at:at + n])
                at += n
        return out

    def _node_for(self, key: str | bytes) -> str:
        slot = key_slot(key if isinstance(key, bytes) else key.encode())
        return self.redis.nodes_manager.get_node_from_slot(slot).name

    def _pipe(self, name: str) -> AutoPipeline:
        pipe = self._pipes.get(name)
        if pipe is None:
            node = self.redis.nodes_manager.nodes_cache[name]
            pipe = self._pipes[name] = AutoPipeline(
                self.redis, make=lambda: node.connection_class(**node.connection_kwargs))
        return pipe

    def _schedule_refresh(self) -> None:
        now = time.monotonic()
        if (self._refresh is not None and not self._refresh.done()) or now - self._refreshed < REFRESH_S:
            return
        self._refreshed = now
        self._refresh = asyncio.ensure_future(self._refresh_map())

    async def _refresh_map(self) -> None:
        try:
            await self.redis.nodes_manager.initialize()
        except Exception:  # noqa: BLE001 - no reachable node: the next failed lookup tries again
            return
        for name in [n for n in self._pipes if n not in self.redis.nodes_manager.nodes_cache]:
            await self._pipes.pop(name).close()

    async def close(self) -> None:
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
        for pipe in self._pipes.values():
            await pipe.close()
        self._pipes.clear()


def _stale_map(exc: BaseException) -> bool:
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError)):
        return True  # a master away, or failing over: the map may have changed (refreshes are rate-limited)
    return isinstance(exc, ResponseError) and str(exc).split(" ", 1)[0] in _STALE_MAP
