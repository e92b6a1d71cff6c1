"""Recommendation lists shaped like the worker's, for the serving tests."""

from __future__ import annotations

import time

from contracts.redis_keys import RecItem, RecList


def rec_list(*items: str, ctx: str | None = None, age_ms: int = 1000, comp: tuple[str, ...] = (),
             reason: str = "similar to {ctx}", **kw) -> RecList:
    ts = int(time.time() * 1000) - age_ms
    return RecList(items=[RecItem(i, round(1.0 - n / 100, 3), reason.format(ctx=ctx, item=i))
                          for n, i in enumerate(items)],
                   event_ts=ts, write_ts=ts + 3, context_item=ctx,
                   complementary=[RecItem(i, 0.4, f"bought with {ctx}") for i in comp], **kw)
