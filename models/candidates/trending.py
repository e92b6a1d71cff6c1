"""Time-decayed popularity: global, per leaf category and per hour of day ("popular in <category>").

Counts use growing weights (see :class:`~models.candidates.pairstore.DecayClock`), so decay costs
nothing per event. Each table is pruned back to ``max_items`` once it doubles, which bounds memory.
Sorted top lists are cached and recomputed after ``refresh_every`` learned events, because sorting
ten thousand items on every event would cost more than everything else the worker does.

A session is served the trending items of the categories it has been browsing (most recent first);
a new user, who has no category yet, gets global trending blended with what is popular at this hour
of the day (``context["hour"]``, else the hour of the latest interaction).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from contracts.events import CatalogItem
from models.base import Candidate, Estimator, Interaction, Session
from models.candidates.pairstore import DecayClock
from models.ranking.pool import Pool

DAY_MS = 24 * 3600 * 1000


def hour_of(session: Session) -> int | None:
    hour = session.context.get("hour")
    if isinstance(hour, int) and 0 <= hour < 24:
        return hour
    if session.interactions and session.interactions[-1].ts:
        return (session.interactions[-1].ts // 3_600_000) % 24
    return None


class Trending(Estimator):
    name = "trending"

    def __init__(self, half_life_ms: float | None = DAY_MS, max_items: int = 10_000, hour_weight: float = 0.5,
                 categories: int = 2, refresh_every: int = 256,
                 types: tuple[str, ...] = ("view", "click", "cart", "order")):
        self.half_life_ms = half_life_ms
        self.max_items = max_items
        self.hour_weight = hour_weight
        self.categories = categories
        self.refresh_every = refresh_every
        self.types = types
        self.clock = DecayClock(half_life_ms)
        self.counts: dict[str, float] = {}
        self.by_category: dict[str, dict[str, float]] = {}
        self.by_hour: list[dict[str, float]] = [{} for _ in range(24)]
        self.category_of: dict[str, str] = {}
        self._events = 0
        self._cache: dict[object, tuple[int, list[tuple[str, float]]]] = {}
        self._lists: dict[tuple, tuple[list, list[Candidate]]] = {}

    # --- learning ----------------------------------------------------------------------------------
    def learn_item(self, item: CatalogItem) -> None:
        self.category_of[item.item_id] = item.leaf_category

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        if interaction.type not in self.types:
            return
        ts = interaction.ts or None
        factor = self.clock.advance(ts)
        if factor != 1.0:
            self._rescale(factor)
        w = self.clock.weight(ts)
        self._add(self.counts, interaction.item, w)
        cat = self.category_of.get(interaction.item)
        if cat is not None:
            self._add(self.by_category.setdefault(cat, {}), interaction.item, w)
        if ts is not None:
            self._add(self.by_hour[(ts // 3_600_000) % 24], interaction.item, w)
        self._events += 1

    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        for s in sessions:
            for item in s:
                self._add(self.counts, str(item), 1.0)
        self._events += self.refresh_every  # force fresh top lists

    def _add(self, table: dict[str, float], item: str, w: float) -> None:
        table[item] = table.get(item, 0.0) + w
        if len(table) > 2 * self.max_items:
            keep = heapq.nlargest(self.max_items, table.items(), key=lambda kv: kv[1])
            table.clear()
            table.update(keep)

    def _rescale(self, factor: float) -> None:
        for table in [self.counts, *self.by_category.values(), *self.by_hour]:
            for key in table:
                table[key] *= factor
        self._cache.clear()
        self._lists.clear()

    # --- reading -----------------------------------------------------------------------------------
    def _top(self, key: object, table: dict[str, float], k: int) -> list[tuple[str, float]]:
        cached = self._cache.get((key, k))
        if cached is None or self._events - cached[0] >= self.refresh_every:
            cached = (self._events, heapq.nlargest(k, table.items(), key=lambda kv: kv[1]))
            self._cache[(key, k)] = cached
        return cached[1]

    def top(self, k: int, category: str | None = None) -> list[Candidate]:
        """Trending items, globally or in one leaf category (for the ``rec:trending`` keys)."""
        if category is None:
            return self._candidates(self._top("global", self.counts, k), 1.0, "trending now")
        table = self.by_category.get(category, {})
        return self._candidates(self._top(("cat", category), table, k), 1.0, f"popular in {category}")

    def _candidates(self, top: list[tuple[str, float]], weight: float, reason: str) -> list[Candidate]:
        if not top:
            return []
        # Candidates are immutable, so one list per (top list, weight, reason) serves every session.
        key = (id(top), len(top), weight, reason)
        hit = self._lists.get(key)
        if hit is not None and hit[0] is top:
            return hit[1]
        scale = weight / top[0][1] if top[0][1] > 0 else 0.0
        made = [Candidate(item, s * scale, reason, self.name) for item, s in top]
        if len(self._lists) > 4096:
            self._lists.clear()
        self._lists[key] = (top, made)
        return made

    def _context(self, session: Session) -> tuple[tuple[str, ...], int | None]:
        """What a session's trending list depends on: its recent categories and, for new users, the hour."""
        seen_cats: list[str] = []
        category_of = self.category_of
        for it in reversed(session.interactions[-10:]):
            cat = category_of.get(it.item)
            if cat is not None and cat not in seen_cats:
                seen_cats.append(cat)
                if len(seen_cats) == self.categories:
                    break
        hour = hour_of(session) if session.is_new_user or not seen_cats else None
        return tuple(seen_cats), hour

    def _merged(self, seen_cats: tuple[str, ...], hour: int | None, k: int) -> list[Candidate]:
        out: list[Candidate] = []
        for rank, cat in enumerate(seen_cats):
            table = self.by_category.get(cat)
            if table:
                out += self._candidates(self._top(("cat", cat), table, k), 1.0 / (rank + 1), f"popular in {cat}")
        glob = self._candidates(self._top("global", self.counts, k), 0.5 if seen_cats else 1.0, "trending now")
        if hour is not None and self.hour_weight and self.by_hour[hour]:
            glob = glob + self._candidates(self._top(("hour", hour), self.by_hour[hour], k), self.hour_weight,
                                           "popular at this time of day")
        merged: dict[str, Candidate] = {}
        for c in out + glob:
            prev = merged.get(c.item)
            if prev is None:
                merged[c.item] = c
            else:  # sum the evidence, keep the stronger reason
                keep = prev if prev.score >= c.score else c
                merged[c.item] = Candidate(c.item, prev.score + c.score, keep.reason, self.name)
        return sorted(merged.values(), key=lambda c: -c.score)[:k]

    def candidates(self, session: Session, k: int) -> list[Candidate]:
        return self._merged(*self._context(session), k)

    def candidates_pool(self, sessions: Sequence[Session], k: int, pool: Pool, source: int) -> None:
        """:meth:`candidates_many` as pool rows: one merged list per distinct context, shared by its sessions."""
        groups: dict[tuple[tuple[str, ...], int | None], list[int]] = {}
        for qi, s in enumerate(sessions):
            groups.setdefault(self._context(s), []).append(qi)
        add = pool.reasons.add
        for (cats, hour), queries in groups.items():
            merged = self._merged(cats, hour, k)
            if not merged:
                continue
            item = pool.ids.ids([c.item for c in merged])
            score = np.fromiter((c.score for c in merged), dtype=np.float64, count=len(merged))
            reason = np.fromiter((add(c.reason) for c in merged), dtype=np.int64, count=len(merged))
            n = len(queries)
            pool.add(source, np.repeat(np.asarray(queries, dtype=np.int64), len(merged)), np.tile(item, n),
                     np.tile(score, n), np.tile(reason, n))

    def candidates_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        return [self.candidates(s, k) for s in sessions]

    # --- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"clock": self.clock.state(), "counts": dict(self.counts),
                "by_category": {c: dict(t) for c, t in self.by_category.items()},
                "by_hour": [dict(t) for t in self.by_hour], "category_of": dict(self.category_of),
                "events": self._events}

    def load_state_dict(self, state: dict) -> None:
        self.clock.load(tuple(state["clock"]))
        self.counts = dict(state["counts"])
        self.by_category = {c: dict(t) for c, t in state["by_category"].items()}
        self.by_hour = [dict(t) for t in state["by_hour"]]
        self.category_of = dict(state["category_of"])
        self._events = state["events"]
        self._cache.clear()
        self._lists.clear()
