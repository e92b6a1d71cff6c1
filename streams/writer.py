"""The Redis writer: recommendation lists and live counters, one pipeline per take window.

Every list goes through :data:`contracts.redis_keys.WRITE_IF_NEWER_LUA` (by SHA, reloaded on NOSCRIPT), so a
re-delivered or late event never replaces a newer list. Redis being down blocks the window with
backoff instead of dropping it: the agent stops consuming, Kafka keeps the events, nothing is lost.

On a Redis Cluster (a ``redis+cluster://`` URL, freshrec/redis_url.py) a script may only touch keys of
one hash slot, and every list key is a slot of its own (no hash tags: frontends read the keys by
name). The window's lists are therefore grouped by slot: one ``WRITE_MANY_IF_NEWER_LUA`` call per
slot that holds several of them, ``WRITE_IF_NEWER_LUA`` for the rest (most, with 16384 slots), all in
one cluster pipeline, which redis-py splits into one pipeline per master sent concurrently. Newer-wins
holds per key either way: it is decided inside the script, on the node that owns the key.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time

from redis.crc import key_slot
from redis.exceptions import ClusterDownError, MasterDownError, RedisClusterException, SlotNotCoveredError
from redis.exceptions import TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError, TimeoutError as RedisTimeoutError

from contracts.redis_keys import WRITE_IF_NEWER_LUA, WRITE_MANY_IF_NEWER_LUA, Keys, RecList, encode_rec_list

from freshrec.redis_url import async_client, is_cluster

log = logging.getLogger(__name__)

#: a node that is away (connection refused, timeout) or a cluster reorganising its slots: wait, retry
RETRIED = (RedisConnectionError, RedisTimeoutError, OSError, ClusterDownError, SlotNotCoveredError,
           TryAgainError, MasterDownError)

#: Upper bounds (ms) of the freshness histogram kept in the stats hash: ~19% steps from 0.5 ms to ~60 s.
FRESHNESS_BUCKETS_MS: tuple[float, ...] = tuple(round(0.5 * 2 ** (i / 4), 2) for i in range(68))


#: Lists per script call: a script blocks Redis while it runs, so a large window is cut into calls
#: that let other clients' reads in between (a few ms each at most).
WRITE_CHUNK = 1000


def freshness_bucket(ms: float) -> str:
    i = bisect.bisect_left(FRESHNESS_BUCKETS_MS, ms)
    return f"fh:{FRESHNESS_BUCKETS_MS[i]}" if i < len(FRESHNESS_BUCKETS_MS) else "fh:inf"


class RedisWriter:
    """Async writer for the ``rec:*``, ``item:*`` and ``stats:*`` keys of one prefix."""

    def __init__(self, url: str, keys: Keys, *, user_ttl_ms: int, item_ttl_ms: int, trending_ttl_ms: int,
                 stats_name: str = "worker", max_backoff_s: float = 5.0):
        self.client = async_client(url, socket_timeout=10, socket_connect_timeout=5)
        self.cluster = is_cluster(url)
        # redis-py's cluster pipeline closes every connection of its client when a node fails, under
        # the feet of other tasks' pipelines (AttributeError on a closed writer crashed a worker while
        # a master was away): on a cluster the writer's round trips take turns
        self._turns = asyncio.Lock() if self.cluster else contextlib.nullcontext()
        self.keys = keys
        self.user_ttl_ms = user_ttl_ms
        self.item_ttl_ms = item_ttl_ms
        self.trending_ttl_ms = trending_ttl_ms
        self.stats_key = keys.stats(stats_name)
        self.max_backoff_s = max_backoff_s
        self._sha: str | None = None
        self._sha_many: str | None = None

    async def close(self) -> None:
        await self.client.aclose()

    async def _load(self) -> str:
        self._sha_many = await self.client.script_load(WRITE_MANY_IF_NEWER_LUA)
        self._sha = await self.client.script_load(WRITE_IF_NEWER_LUA)
        return self._sha

    async def execute(self, build) -> list:
        """Run ``build(pipe, sha)`` in one pipeline, retrying with backoff until Redis answers."""
        delay = 0.05
        while True:
            try:
                async with self._turns:
                    sha = self._sha or await self._load()
                    pipe = self.client.pipeline(transaction=False)
                    build(pipe, sha)
                    return await pipe.execute()
            except NoScriptError:
                self._sha = None  # Redis restarted and lost its script cache
            except (*RETRIED, RedisClusterException, ResponseError) as exc:
                if isinstance(exc, RedisClusterException) and not _unreachable(exc):
                    raise  # a cluster client's refusal of a command is a bug, not an outage
                if isinstance(exc, ResponseError) and not isinstance(exc, RETRIED) and not _cluster_down(exc):
                    raise
                log.warning("redis unavailable (%s); retrying in %.2fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

    async def write_lists(self, lists: list[tuple[str, RecList]], ttl_ms: int, *,
                          stats: dict[str, int] | None = None, gauges: dict[str, object] | None = None) -> int:
        """Write ``(key, list)`` pairs if newer; bump counters in the same round trip. Returns #written."""
        groups = self._groups(lists)

        def build(pipe, sha):
            for group in groups:  # one script call per group: all of a chunk's keys in one slot
                if len(group) == 1:
                    key, rec = group[0]
                    pipe.execute_command("EVALSHA", sha, 1, key, rec.event_ts, encode_rec_list(rec), ttl_ms)
                    continue
                args: list[object] = [ttl_ms]
                for _, rec in group:
                    args += (rec.event_ts, encode_rec_list(rec))
                # execute_command: redis-py's cluster pipeline refuses its evalsha() method, though it
                # routes an EVALSHA by its keys like any keyed command
                pipe.execute_command("EVALSHA", self._sha_many, len(group), *[key for key, _ in group], *args)
            if stats:
                for field, n in stats.items():
                    if n:  # zero counters would cost a command per window for nothing
                        pipe.hincrby(self.stats_key, field, n)
            if gauges:
                pipe.hset(self.stats_key, mapping=gauges)
        results = await self.execute(build)
        return sum(int(r) for r in results[: len(groups)])  # each: lists written (the one-key script: 1 or 0)

    def _groups(self, lists: list[tuple[str, RecList]]) -> list[list[tuple[str, RecList]]]:
        """The window's lists cut into script calls: chunks of ``WRITE_CHUNK``, each within one slot on a
        cluster. Order within a slot is kept, so a key listed twice ends with its newer list."""
        if not self.cluster:
            return [lists[i:i + WRITE_CHUNK] for i in range(0, len(lists), WRITE_CHUNK)]
        by_slot: dict[int, list[tuple[str, RecList]]] = {}
        for entry in lists:
            by_slot.setdefault(key_slot(entry[0].encode()), []).append(entry)
        return [group[i:i + WRITE_CHUNK] for group in by_slot.values() for i in range(0, len(group), WRITE_CHUNK)]

    async def record_freshness(self, freshness_ms: list[float]) -> None:
        counts: dict[str, int] = {}
        for ms in freshness_ms:
            b = freshness_bucket(ms)
            counts[b] = counts.get(b, 0) + 1

        def build(pipe, sha):
            for field, n in counts.items():
                pipe.hincrby(self.stats_key, field, n)
        if counts:
            await self.execute(build)

    async def set_item(self, item_id: str, body: bytes | None) -> None:
        key = self.keys.item(item_id)

        def build(pipe, sha):
            if body is None:
                pipe.delete(key)
            else:
                pipe.set(key, body)
        await self.execute(build)

    async def stats(self) -> dict[str, str]:
        async with self._turns:
            raw = await self.client.hgetall(self.stats_key)
        return {k.decode(): v.decode() for k, v in raw.items()}


def _unreachable(exc: RedisClusterException) -> bool:
    # redis-py raises the bare RedisClusterException when no node answers while it learns the slot map
    return isinstance(exc, SlotNotCoveredError) or "cannot be connected" in str(exc)


def _cluster_down(exc: ResponseError) -> bool:
    # a node that has just rejoined refuses a script's writes with a plain error until it sees the
    # cluster healthy again (not CLUSTERDOWN, so redis-py gives it no class of its own)
    return "cluster is down" in str(exc)


def now_ms() -> int:
    return int(time.time() * 1000)
