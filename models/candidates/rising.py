"""Rising categories: which leaf categories take a larger share of the last minutes than of the last hour.

:class:`~models.candidates.trending.Trending` ranks by counts decayed with a half-life of an hour (the
worker's default), which is what makes its lists stable, and also why they follow a shift in taste
(a category turning trendy for everyone) only after tens of minutes. A short window alone would be
noisy: a few minutes hold tens of events per category. So this compares *shares*: a category's
share of events decayed with ``fast_half_life_ms`` against its share decayed with
``slow_half_life_ms`` (both scale-free, so the two clocks never need converting), with ``prior``
pseudo-events at the slow share so that a category seen a handful of times cannot look rising. A
category whose lift reaches ``min_lift`` is rising; :meth:`rising` names them, strongest first.

Only per-category totals are kept (two dicts of a few hundred floats); the items shown for a rising
category are its trending items (the caller's :class:`Trending`).
"""

from __future__ import annotations

from models.base import Estimator, Interaction
from models.candidates.pairstore import DecayClock

MINUTE_MS = 60_000.0


class RisingCategories(Estimator):
    name = "rising"

    def __init__(self, fast_half_life_ms: float = 2 * MINUTE_MS, slow_half_life_ms: float = 60 * MINUTE_MS,
                 min_lift: float = 1.5, prior: float = 20.0, max_categories: int = 2,
                 types: tuple[str, ...] = ("view", "click", "cart", "order")):
        if not 0 < fast_half_life_ms < slow_half_life_ms:
            raise ValueError("need 0 < fast_half_life_ms < slow_half_life_ms")
        self.fast_half_life_ms = fast_half_life_ms
        self.slow_half_life_ms = slow_half_life_ms
        self.min_lift = min_lift
        self.prior = prior
        self.max_categories = max_categories
        self.types = types
        self.fast_clock = DecayClock(fast_half_life_ms)
        self.slow_clock = DecayClock(slow_half_life_ms)
        self.fast: dict[str, float] = {}
        self.slow: dict[str, float] = {}
        self.fast_total = 0.0
        self.slow_total = 0.0
        self._cached: list[tuple[str, float]] | None = None

    def learn_category(self, category: str | None, interaction: Interaction) -> None:
        """One event of an item in ``category`` (the caller knows the catalog)."""
        if category is None or interaction.type not in self.types:
            return
        ts = interaction.ts or None
        for clock, table, attr in ((self.fast_clock, self.fast, "fast_total"),
                                   (self.slow_clock, self.slow, "slow_total")):
            factor = clock.advance(ts)
            if factor != 1.0:
                for key in table:
                    table[key] *= factor
                setattr(self, attr, getattr(self, attr) * factor)
            w = clock.weight(ts)
            table[category] = table.get(category, 0.0) + w
            setattr(self, attr, getattr(self, attr) + w)
        self._cached = None

    def lift(self, category: str) -> float:
        """Fast share over slow share, the fast share shrunk towards the slow one by ``prior`` events."""
        if self.slow_total <= 0 or self.fast_total <= 0:
            return 1.0
        slow_share = self.slow.get(category, 0.0) / self.slow_total
        if slow_share <= 0:
            return 1.0
        # The fast table in events: its total weight over the clock's scale at now.
        fast_events = self.fast_total * self.fast_clock.to_now()
        fast_share = (self.fast.get(category, 0.0) * self.fast_clock.to_now() + self.prior * slow_share) \
            / (fast_events + self.prior)
        return fast_share / slow_share

    def rising(self) -> list[tuple[str, float]]:
        """``(category, lift)`` of the rising categories, strongest first, at most ``max_categories``."""
        if self._cached is None:
            lifts = [(c, self.lift(c)) for c in self.fast]
            self._cached = sorted(((c, x) for c, x in lifts if x >= self.min_lift),
                                  key=lambda cx: -cx[1])[: self.max_categories]
        return self._cached

    def state_dict(self) -> dict:
        return {"fast_clock": self.fast_clock.state(), "slow_clock": self.slow_clock.state(),
                "fast": dict(self.fast), "slow": dict(self.slow), "fast_total": self.fast_total,
                "slow_total": self.slow_total}

    def load_state_dict(self, state: dict) -> None:
        self.fast_clock.load(tuple(state["fast_clock"]))
        self.slow_clock.load(tuple(state["slow_clock"]))
        self.fast, self.slow = dict(state["fast"]), dict(state["slow"])
        self.fast_total, self.slow_total = state["fast_total"], state["slow_total"]
        self._cached = None
