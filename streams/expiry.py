"""Idle-user expiry for the ``sessions`` table: what bounds the worker's memory by time, not by users.

Every per-user collection in a session is capped (``streams.session``), but the table itself gains a
row per distinct user; with an open user population (a shop) that is unbounded. :class:`IdleIndex`
keeps the table's keys in order of their last write, with its time, so a sweep reads only the keys it
expires (the oldest, at the front) instead of decoding every session. :func:`expire` deletes them
through the table, so each deletion is a changelog tombstone and a recovering worker does not bring
the user back.

Idle time is *processing* time (a monotonic clock at the table write), like the TTL of the
``rec:user`` lists in Redis: the bound is "users this worker has written in the last TTL seconds",
whatever the events' own timestamps say (a replay of last year's log must not expire everything at
once, nor keep everything because its clock is old). Keys a recovery restores count as written when
the recovery finished, so a restart lengthens a user's life by at most one TTL.

Several workers: each sweeps only the keys it holds, and deletes (tombstones) only those of the
events partitions it owns now; a key of a partition that moved to another worker is dropped from the
local store without a tombstone, since the new owner's copy is the live one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

CHUNK = 1000            # deletions between two yields to the event loop (each is a changelog send)
MAX_PER_SWEEP = 50_000  # the rest waits for the next tick: a backlog never stalls the events agent


class IdleIndex:
    """Keys in order of their last write, with its time; the least recently written first."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._last: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._last

    def touch(self, key: Hashable, now: float | None = None) -> None:
        last = self._last
        if key in last:
            last.move_to_end(key)
        last[key] = self.clock() if now is None else now

    def discard(self, key: Hashable) -> None:
        self._last.pop(key, None)

    def discard_where(self, pred: Callable[[Hashable], bool]) -> int:
        """Forget every key for which ``pred`` is true (a partition re-assigned); how many."""
        gone = [key for key in self._last if pred(key)]
        for key in gone:
            del self._last[key]
        return len(gone)

    def adopt(self, keys: Iterable[Hashable], now: float | None = None) -> int:
        """Track ``keys`` not tracked yet (restored by a recovery) as written ``now``; how many were new."""
        now = self.clock() if now is None else now
        last, added = self._last, 0
        for key in keys:
            if key not in last:
                last[key] = now
                added += 1
        return added

    def pop_expired(self, now: float | None = None, limit: int | None = None) -> list[Hashable]:
        """Remove and return the keys idle for ``ttl_s`` or longer, oldest first (at most ``limit``)."""
        now = self.clock() if now is None else now
        cutoff = now - self.ttl_s
        last, out = self._last, []
        while last and (limit is None or len(out) < limit):
            key, ts = next(iter(last.items()))
            if ts > cutoff:
                break  # written in order: every later key is younger
            del last[key]
            out.append(key)
        return out


@dataclass
class ExpiryResult:
    deleted: int = 0   # tombstoned: this worker owns the key's partition
    dropped: int = 0   # removed locally only: the partition belongs to another worker now
    gone: int = 0      # already not in the store (forgotten, or its partition's rows were dropped)


async def expire(table, index: IdleIndex, owns: Callable[[Hashable], bool], *, now: float | None = None,
                 limit: int = MAX_PER_SWEEP, chunk: int = CHUNK) -> ExpiryResult:
    """Delete ``table``'s rows idle for the index's TTL; ``owns(key)`` says whether to tombstone them."""
    result = ExpiryResult()
    keys = index.pop_expired(now, limit)
    store = table.data
    for n, key in enumerate(keys, start=1):
        if key not in store:
            result.gone += 1
        elif owns(key):
            del table[key]  # Table.on_key_del sends the tombstone to the key's changelog partition
            result.deleted += 1
        else:
            store.pop(key, None)
            # The memory store remembers recovered keys' partitions and never forgets live deletes.
            getattr(store, "_key_partition", {}).pop(key, None)
            result.dropped += 1
        if n % chunk == 0:
            await asyncio.sleep(0)
    if keys:
        log.info("expired %d idle sessions (%d dropped as another worker's, %d already gone); %d tracked",
                 result.deleted, result.dropped, result.gone, len(index))
    return result
