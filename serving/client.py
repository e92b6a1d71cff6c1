"""The detail-page lookup: one Redis round trip, typed results, and a page that never sees an exception.

>>> client = RecClient.from_settings(Settings())                         # doctest: +SKIP
>>> recs = await client.get_recommendations("u1", item_id="i9", k=10)     # doctest: +SKIP
>>> [(r.item, r.reason) for r in recs.items], recs.source                 # doctest: +SKIP

The user's list, the page item's list and trending are fetched with three pipelined HGETs in one round
trip (no transaction: they are independent keys, and the read-only user may not run scripts), written
together with other concurrent lookups' by :class:`serving.connections.AutoPipeline`. Which list is
shown is decided by :func:`serving.blend.choose`. Decoded item lists and trending are kept by their exact body
bytes: they are the same bytes for thousands of lookups, and decoding them again was a third of a
lookup's CPU.

When Redis is slow or down, the page gets, in order: the last good list served for the same
(user, item) from a bounded in-process cache, the last good trending list, or an empty list, each
marked ``degraded=True``. Bad ids are the caller's bug and raise :class:`InvalidIdError`.

On a Redis Cluster (``redis+cluster://``) the three keys live on different masters: the same commands
go through :class:`serving.cluster_pipeline.ClusterAutoPipeline`, one pipelined connection per master,
asked concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

import msgspec
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError

from contracts.redis_keys import BODY_FIELD, Keys, RecList, decode_rec_list
from freshrec.settings import Settings
from serving.blend import Recommendations, choose
from freshrec.redis_url import async_client, is_cluster_client
from serving.cluster_pipeline import ClusterAutoPipeline
from serving.connections import AutoPipeline, pack

log = logging.getLogger(__name__)

MAX_K = 100
#: what a Redis outage or a slow Redis raises through redis.asyncio
#: (a cluster client's "no node reachable" and "slot not covered" are RedisClusterException, not RedisError)
REDIS_ERRORS = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)
DISCOVER_S = 30.0
# Until a first stats/ab key exists, look again after this long: caching "none yet" for DISCOVER_S
# kept the demo's live panel at "-" for half a minute after the worker's first write.
DISCOVER_EMPTY_S = 1.0
DECODED_CACHE = 4096  # lists kept decoded, by body bytes


class InvalidIdError(ValueError):
    """A user or item id the key schema refuses; ``field`` names which."""

    def __init__(self, field: str, value: object):
        self.field = field
        super().__init__(f"{field}: {value!r} is not a valid id (1-64 characters of A-Z a-z 0-9 _ . -)")


class RecClient:
    """Reads recommendations, catalog items and live stats; async, safe to share across requests."""

    def __init__(self, redis: aioredis.Redis, keys: Keys | None = None, *, timeout_s: float = 0.05,
                 fresh_s: float = 300.0, cache_size: int = 10_000):
        self.redis = redis
        self.keys = keys or Keys()
        self.timeout_s = timeout_s
        self.fresh_ms = fresh_s * 1000.0
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str | None, str | None], Recommendations] = OrderedDict()
        self._trending: Recommendations | None = None
        self._pipeline: AutoPipeline | ClusterAutoPipeline | None = None
        self._decoded: dict[bytes, RecList | None] = {}
        self._trending_hget: tuple[Keys, bytes] | None = None  # (for which keys, packed HGET)
        self._discovered: dict[str, tuple[float, list[str]]] = {}
        self._last_warning = 0.0
        self._unlogged_failures = 0
        self.degraded_total = 0  # read by the API's metrics

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> RecClient:
        timeout_s = settings.serve_timeout_ms / 1000.0
        client = async_client(
            url or settings.reader_url, socket_timeout=max(timeout_s, 0.5), socket_connect_timeout=1.0,
            health_check_interval=0, max_connections=16)
        return cls(client, Keys(settings.redis_prefix), timeout_s=timeout_s, fresh_s=settings.serve_fresh_s,
                   cache_size=settings.serve_cache_size)

    async def close(self) -> None:
        if self._pipeline is not None:
            await self._pipeline.close()
        await self.redis.aclose()

    # --- recommendations --------------------------------------------------------------------
    async def get_recommendations(self, user_id: str | None, item_id: str | None = None,
                                  k: int = 10) -> Recommendations:
        """The detail-page list for ``user_id`` (None: anonymous) on ``item_id``'s page (None: no item)."""
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"k: must be an integer between 1 and {MAX_K}, got {k!r}")
        user_key = self._key(self.keys.user_recs, user_id, "user") if user_id else None
        item_key = self._key(self.keys.item_recs, item_id, "item") if item_id else None
        keys = [key for key in (user_key, item_key) if key]
        if self._trending_hget is None or self._trending_hget[0] is not self.keys:  # keys were replaced
            self._trending_hget = (self.keys, pack(("HGET", self.keys.trending(), BODY_FIELD)))
        pipeline = self.pipeline
        try:
            if isinstance(pipeline, ClusterAutoPipeline):  # routed by key: commands, not packed bytes
                bodies = await pipeline.execute([*(("HGET", key, BODY_FIELD) for key in keys),
                                                 ("HGET", self.keys.trending(), BODY_FIELD)], self.timeout_s)
            else:
                packed = b"".join([*(pack(("HGET", key, BODY_FIELD)) for key in keys), self._trending_hget[1]])
                bodies = await pipeline.execute_packed(packed, len(keys) + 1, self.timeout_s)
        except REDIS_ERRORS as exc:
            return self._fallback(user_id, item_id, k, exc)
        user = self._decode(user_key, bodies[0], keep=False) if user_key else None
        item = self._decode(item_key, bodies[-2]) if item_key else None
        trending = self._decode("trending", bodies[-1])
        recs = choose(user, item, trending, page_item=item_id, k=k, now_ms=int(time.time() * 1000),
                      fresh_ms=self.fresh_ms)
        self._remember(user_id, item_id, recs, trending, k)
        return recs

    @property
    def pipeline(self) -> AutoPipeline | ClusterAutoPipeline:
        if self._pipeline is None or self._pipeline.redis is not self.redis:  # lazily: needs a running loop
            cluster = is_cluster_client(self.redis)
            self._pipeline = ClusterAutoPipeline(self.redis) if cluster else AutoPipeline(self.redis)
        return self._pipeline

    def _key(self, build, value: str, field: str) -> str:
        try:
            return build(value)
        except ValueError:
            raise InvalidIdError(field, value) from None

    def _decode(self, key: str, body: bytes | None, keep: bool = True) -> RecList | None:
        # keep=False for user lists: each is read by one user, and would only push the shared ones out
        if body is None:
            return None
        if keep:
            try:
                return self._decoded[body]
            except KeyError:
                pass
        try:
            decoded = decode_rec_list(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            # a malformed list is the writer's bug; the page falls through to the next source
            log.warning("ignoring malformed list at %s: %s", key, exc)
            decoded = None
        if keep:
            if len(self._decoded) >= DECODED_CACHE:
                self._decoded.clear()  # crude but O(1) per lookup; hot lists come back within a lookup or two
            self._decoded[body] = decoded
        return decoded

    # --- outage fallbacks -------------------------------------------------------------------
    def _remember(self, user_id: str | None, item_id: str | None, recs: Recommendations,
                  trending: RecList | None, k: int) -> None:
        if recs.items:
            cache_key = (user_id, item_id)
            self._cache[cache_key] = recs
            self._cache.move_to_end(cache_key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        if trending is not None and (self._trending is None or self._trending.event_ts != trending.event_ts):
            self._trending = choose(None, None, trending, page_item=None, k=MAX_K, now_ms=trending.event_ts,
                                    fresh_ms=0)

    def _fallback(self, user_id: str | None, item_id: str | None, k: int, exc: BaseException) -> Recommendations:
        self.degraded_total += 1
        self._unlogged_failures += 1
        now = time.monotonic()
        if now - self._last_warning >= 5.0:  # an outage at 2,000 req/s must not write 2,000 lines/s
            log.warning("redis lookup failed %d time(s) (last: %s: %s); serving fallback lists",
                        self._unlogged_failures, type(exc).__name__, exc)
            self._last_warning, self._unlogged_failures = now, 0
        cached = self._cache.get((user_id, item_id))
        if cached is not None:
            return cached.limited(k, exclude=item_id, degraded=True, source="cache")
        if self._trending is not None:
            return self._trending.limited(k, exclude=item_id, degraded=True, source="trending")
        return Recommendations(items=(), source="none", degraded=True)

    # --- catalog and live stats -------------------------------------------------------------
    async def get_item(self, item_id: str) -> dict[str, Any] | None:
        """The catalog entry ``item:{id}`` as a dict, None when unknown."""
        key = self._key(self.keys.item, item_id, "item")
        (raw,) = await self.pipeline.execute([("GET", key)], max(self.timeout_s, 0.5))
        return _catalog_entry(key, raw)

    async def get_titles(self, item_ids: list[str]) -> dict[str, str]:
        """Titles of the catalog entries of ``item_ids`` (unknown ones left out), in one ``MGET``.

        Same connection as the lookups (already connected and authenticated when a list was just read,
        so one round trip); raises on a Redis error or timeout so the caller can say the titles are missing.
        """
        if not item_ids:
            return {}
        keys = [self._key(self.keys.item, i, "item") for i in item_ids]
        (raws,) = await self.pipeline.execute([("MGET", *keys)], max(self.timeout_s, 0.5))
        out = {}
        for item_id, key, raw in zip(item_ids, keys, raws):
            value = _catalog_entry(key, raw)
            if value is not None and isinstance(value.get("title"), str):
                out[item_id] = value["title"]
        return out

    async def get_hashes(self, pattern_kind: str, limit: int = 200) -> dict[str, dict[str, str]]:
        """Every ``stats:*`` or ``ab:*`` hash (at most ``limit``), by key without the prefix."""
        if pattern_kind not in ("stats", "ab"):
            raise ValueError("pattern_kind: 'stats' or 'ab'")
        async with asyncio.timeout(max(self.timeout_s, 1.0)):
            found = await self._discover(pattern_kind, limit)
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in found:
                    pipe.hgetall(key)
                values = await pipe.execute()
        return {key.removeprefix(self.keys.prefix): {_s(f): _s(v) for f, v in value.items()}
                for key, value in zip(found, values) if isinstance(value, dict) and value}

    async def _discover(self, kind: str, limit: int) -> list[str]:
        # SCAN walks the whole keyspace (millions of user lists): find the few stats/ab keys once
        # every DISCOVER_S, read them by name in between
        now = time.monotonic()
        cached = self._discovered.get(kind)
        if cached is not None and now - cached[0] < (DISCOVER_S if cached[1] else DISCOVER_EMPTY_S):
            return cached[1]
        found: list[str] = []
        async for key in self.redis.scan_iter(match=f"{self.keys.prefix}{kind}:*", count=1000):
            found.append(key.decode() if isinstance(key, bytes) else key)
            if len(found) >= limit:
                break
        self._discovered[kind] = (now, found)
        return found

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(max(self.timeout_s, 0.5)):
                return bool(await self.redis.ping())
        except REDIS_ERRORS:
            return False


def _catalog_entry(key: str, raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        log.warning("ignoring malformed catalog entry at %s", key)
        return None
    return value if isinstance(value, dict) else None


def _s(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
