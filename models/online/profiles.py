"""What the online ranker knows about items and users, learned from the stream as it goes.

:class:`ItemFacts` holds each item's category, brand and price band (from catalog upserts) and its
time-decayed popularity and first-seen time (from events). :class:`UserProfiles` keeps, per user,
decayed affinities to categories, brands and price bands: they outlive the session (a returning
user's taste is known before their first click of the day) and cover items nobody co-visited yet.

Decay is applied lazily per user (multiply the user's tables when their next event arrives), so an
idle user costs nothing. Features read affinities as *shares* of the user's mass, which the uniform
decay factor leaves unchanged, so reads never need to decay.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from contracts.events import CatalogItem
from models.base import Estimator, Interaction

DAY_MS = 24 * 3600 * 1000
#: Interaction weights: an order says more about taste than a view.
TYPE_WEIGHT = {"view": 1.0, "click": 1.0, "cart": 2.0, "order": 3.0}


def price_band(price: float | None) -> int:
    """Log-scale price band (about one band per doubling); -1 when unknown."""
    if price is None or price <= 0:
        return -1
    return int(math.log2(price + 1.0))


class ItemFacts(Estimator):
    """Per item: ``(category, brand, band)`` from the catalog, decayed popularity and first-seen ts."""

    def __init__(self, half_life_ms: float = DAY_MS, max_items: int = 200_000):
        self.half_life_ms = half_life_ms
        self.max_items = max_items
        self.meta: dict[str, tuple[str | None, str | None, int]] = {}
        # item -> [decayed count, ts of last update, first seen ts]
        self.stats: dict[str, list[float]] = {}
        self.max_pop = 1.0

    def learn_item(self, item: CatalogItem) -> None:
        self.meta[item.item_id] = (item.leaf_category, item.brand, price_band(item.price))
        if item.created_ts is not None and item.item_id not in self.stats:
            self.stats[item.item_id] = [0.0, float(item.created_ts), float(item.created_ts)]

    def remove_item(self, item_id: str) -> None:
        self.meta.pop(item_id, None)

    def learn_one(self, interaction: Interaction) -> None:
        ts = float(interaction.ts)
        row = self.stats.get(interaction.item)
        if row is None:
            if len(self.stats) >= self.max_items:
                self._prune()
            self.stats[interaction.item] = row = [0.0, ts, ts]
        elif ts > row[1]:
            row[0] *= 0.5 ** ((ts - row[1]) / self.half_life_ms)
            row[1] = ts
        row[0] += 1.0
        if row[0] > self.max_pop:
            self.max_pop = row[0]

    def _prune(self) -> None:
        # Drop the least recently touched half: bounded memory, old tail items first.
        keep = sorted(self.stats.items(), key=lambda kv: kv[1][1])[len(self.stats) // 2:]
        self.stats = dict(keep)

    def state_dict(self) -> dict:
        return {"meta": dict(self.meta), "stats": {k: list(v) for k, v in self.stats.items()},
                "max_pop": self.max_pop}

    def load_state_dict(self, state: dict) -> None:
        self.meta = {k: tuple(v) for k, v in state["meta"].items()}
        self.stats = {k: list(v) for k, v in state["stats"].items()}
        self.max_pop = state["max_pop"]


class Profile:
    """One user's decayed affinities; ``total`` is the mass every table shares."""

    __slots__ = ("categories", "brands", "bands", "total", "band_sum", "ts")

    def __init__(self) -> None:
        self.categories: dict[str, float] = {}
        self.brands: dict[str, float] = {}
        self.bands: dict[int, float] = {}
        self.total = 0.0
        self.band_sum = 0.0
        self.ts = 0.0

    def mean_band(self) -> float | None:
        mass = sum(self.bands.values())
        return self.band_sum / mass if mass > 0 else None

    def as_tuple(self) -> tuple:
        return (self.categories, self.brands, self.bands, self.total, self.band_sum, self.ts)

    @classmethod
    def from_tuple(cls, t) -> Profile:
        p = cls()
        p.categories, p.brands, p.bands = dict(t[0]), dict(t[1]), {int(k): v for k, v in t[2].items()}
        p.total, p.band_sum, p.ts = t[3], t[4], t[5]
        return p


class UserProfiles(Estimator):
    """Category, brand and price-band affinities per user, with decay; LRU-bounded to ``max_users``."""

    def __init__(self, half_life_ms: float = 7 * DAY_MS, max_users: int = 200_000, max_keys: int = 32):
        self.half_life_ms = half_life_ms
        self.max_users = max_users
        self.max_keys = max_keys
        self.profiles: OrderedDict[str, Profile] = OrderedDict()

    def get(self, user: str) -> Profile | None:
        return self.profiles.get(user)

    def learn_one(self, user: str, interaction: Interaction, facts: ItemFacts) -> None:
        meta = facts.meta.get(interaction.item)
        if meta is None:
            return
        p = self.profiles.get(user)
        if p is None:
            if len(self.profiles) >= self.max_users:
                self.profiles.popitem(last=False)
            self.profiles[user] = p = Profile()
        else:
            self.profiles.move_to_end(user)
        ts = float(interaction.ts)
        if p.ts and ts > p.ts:
            f = 0.5 ** ((ts - p.ts) / self.half_life_ms)
            for table in (p.categories, p.brands, p.bands):
                for key in table:
                    table[key] *= f
            p.total *= f
            p.band_sum *= f
        p.ts = max(p.ts, ts)
        w = TYPE_WEIGHT.get(interaction.type, 1.0)
        cat, brand, band = meta
        p.total += w
        if cat is not None:
            _bump(p.categories, cat, w, self.max_keys)
        if brand is not None:
            _bump(p.brands, brand, w, self.max_keys)
        if band >= 0:
            _bump(p.bands, band, w, self.max_keys)
            p.band_sum += w * band

    def top_categories(self, user: str, n: int) -> list[str]:
        p = self.profiles.get(user)
        if p is None:
            return []
        return [c for c, _ in sorted(p.categories.items(), key=lambda kv: -kv[1])[:n]]

    def state_dict(self) -> dict:
        return {"profiles": [(u, p.as_tuple()) for u, p in self.profiles.items()]}

    def load_state_dict(self, state: dict) -> None:
        self.profiles = OrderedDict((u, Profile.from_tuple(t)) for u, t in state["profiles"])


def _bump(table: dict, key, w: float, max_keys: int) -> None:
    table[key] = table.get(key, 0.0) + w
    if len(table) > max_keys:  # forget the weakest affinity: bounded per user
        del table[min(table, key=table.__getitem__)]
