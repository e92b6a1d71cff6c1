"""Fixtures for serving: a key prefix per test, lists written the way the worker writes them."""

from __future__ import annotations

import time

import pytest

from streams.keys import WRITE_IF_NEWER_LUA, Keys, RecItem, RecList, encode_rec_list


@pytest.fixture
def keys(unique) -> Keys:
    return Keys(f"t{unique}:")


def rec_list(*items: str, ctx: str | None = None, age_ms: int = 1000, comp: tuple[str, ...] = (),
             reason: str = "similar to {ctx}", **kw) -> RecList:
    ts = int(time.time() * 1000) - age_ms
    return RecList(items=[RecItem(i, round(1.0 - n / 100, 3), reason.format(ctx=ctx, item=i))
                          for n, i in enumerate(items)],
                   event_ts=ts, write_ts=ts + 3, context_item=ctx,
                   complementary=[RecItem(i, 0.4, f"bought with {ctx}") for i in comp], **kw)


@pytest.fixture
def write_list(redis_client):
    """Write a RecList through the worker's own compare-and-set script (returns 1 if written)."""
    script = redis_client.register_script(WRITE_IF_NEWER_LUA)

    def write(key: str, rec: RecList, ttl_ms: int = 120_000) -> int:
        return script(keys=[key], args=[rec.event_ts, encode_rec_list(rec), ttl_ms])

    return write
