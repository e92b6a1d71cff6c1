"""The Redis writer: recommendation lists and live counters, one pipeline per take window.

Every list goes through :data:`contracts.redis_keys.WRITE_IF_NEWER_LUA` (by SHA, reloaded on NOSCRIPT), so a
re-delivered or late event never replaces a newer list. Redis being down blocks the window with
backoff instead of dropping it: the agent stops consuming, Kafka keeps the events, nothing is lost.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, TimeoutError as RedisTimeoutError

from contracts.redis_keys import WRITE_IF_NEWER_LUA, WRITE_MANY_IF_NEWER_LUA, Keys, RecList, encode_rec_list

log = logging.getLogger(__name__)

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
        self.client = aioredis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
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
                sha = self._sha or await self._load()
                pipe = self.client.pipeline(transaction=False)
                build(pipe, sha)
                return await pipe.execute()
            except NoScriptError:
                self._sha = None  # Redis restarted and lost its script cache
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis unavailable (%s); retrying in %.2fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

    async def write_lists(self, lists: list[tuple[str, RecList]], ttl_ms: int, *,
                          stats: dict[str, int] | None = None, gauges: dict[str, object] | None = None) -> int:
        """Write ``(key, list)`` pairs if newer; bump counters in the same round trip. Returns #written."""
        chunks = [lists[i:i + WRITE_CHUNK] for i in range(0, len(lists), WRITE_CHUNK)] if len(lists) > 1 else []

        def build(pipe, sha):
            if chunks:  # one script call per chunk of the window (WRITE_MANY_IF_NEWER_LUA)
                for chunk in chunks:
                    args: list[object] = [ttl_ms]
                    for _, rec in chunk:
                        args += (rec.event_ts, encode_rec_list(rec))
                    pipe.evalsha(self._sha_many, len(chunk), *[key for key, _ in chunk], *args)
            else:
                for key, rec in lists:
                    pipe.evalsha(sha, 1, key, rec.event_ts, encode_rec_list(rec), ttl_ms)
            if stats:
                for field, n in stats.items():
                    if n:  # zero counters would cost a command per window for nothing
                        pipe.hincrby(self.stats_key, field, n)
            if gauges:
                pipe.hset(self.stats_key, mapping=gauges)
        results = await self.execute(build)
        if chunks:
            return sum(int(r) for r in results[: len(chunks)])
        return sum(1 for r in results[: len(lists)] if r == 1)

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
        raw = await self.client.hgetall(self.stats_key)
        return {k.decode(): v.decode() for k, v in raw.items()}


def now_ms() -> int:
    return int(time.time() * 1000)
