"""Trending lists: time-decayed popularity, global and per category, from the published item lists.

Popularity is counted on the item side (``item-stats``) and published with each item's neighbour
list, so every worker holds all items' popularity and any worker can build the complete lists
(the leader writes them, see ``agents.py``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from streams.covis import decayed


def trending(popularity: Iterable[tuple[str, float, int]], categories: Mapping[str, str], *,
             k: int, half_life_ms: float, now_ts: int | None = None,
             max_categories: int = 500) -> dict[str | None, list[tuple[str, float]]]:
    """``(item, popularity, ts)`` -> ``{None: global top k, category: top k in it}``.

    ``now_ts`` defaults to the newest item ts (event time, so replays of old logs trend too).
    """
    rows = list(popularity)
    if not rows:
        return {}
    if now_ts is None:
        now_ts = max(ts for _, _, ts in rows)
    scored = [(item, decayed(pop, ts, now_ts, half_life_ms)) for item, pop, ts in rows]
    out: dict[str | None, list[tuple[str, float]]] = {None: heapq.nlargest(k, scored, key=lambda r: r[1])}
    by_cat: dict[str, list[tuple[str, float]]] = {}
    for item, score in scored:
        cat = categories.get(item)
        if cat is not None:
            by_cat.setdefault(cat, []).append((item, score))
    # The busiest categories first, so a catalog with 100k leaf categories cannot flood Redis.
    ranked = sorted(by_cat.items(), key=lambda kv: -sum(s for _, s in kv[1]))[:max_categories]
    for cat, rows_ in ranked:
        out[cat] = heapq.nlargest(k, rows_, key=lambda r: r[1])
    return out
