"""What CTR could any list earn under the experiment's judge? The shop scored against an oracle.

The closed-loop experiment's judge (docs/shop-model.md) clicks a shown item at slot ``p`` with
chance ``0.1 * sigmoid(logit) / (1 + 0.5 p)``, stopping at the first click. Two ceilings follow:

- the **bound**: a list whose six items all had ``sigmoid = 1`` would be clicked with chance
  ``1 - prod(1 - 0.1 / (1 + 0.5 p))`` = 28.1 %, whatever the user, so no recommender can do better;
- the **oracle**: the same simulated shop (:class:`producers.shop.Shop`, its code and constants
  unchanged), run in process, whose users are shown at each detail view the six items with the
  highest click chance *for that user in that session*, computed from their hidden tastes and intent
  (the judge's own formula, vectorised; a unit test checks it against ``Shop._click_prob``).

Each reader is run alone over the whole population (no Kafka, no worker): ``popular`` is the
experiment's popular arm (the model's global :class:`~models.candidates.trending.Trending`,
one-hour half-life, fed every event in order, i.e. a worker without lag); ``page-popular`` is
trending within the on-screen item's leaf category; ``oracle`` maximises the click chance,
``oracle-orders`` the click chance times the viewed item's add-to-cart chance. Besides the realised
CTR each impression's *expected* CTR (the cascade's click chance of the shown list) is averaged: it
has far less noise. ``python -m freshrec.experiment.ceiling --seeds 7,8,9 --json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from contracts.events import CatalogItem, Event
from contracts.redis_keys import RecItem, RecList
from models.base import Interaction, Session
from models.candidates.trending import Trending
from producers.shop import _MAX_SLOT_CTR, Shop, _Session
from producers.shop_cli import WARMUP_EVENTS, WARMUP_S
from producers.shop_taste import INTENT_CART, INTENT_CLICK, LONG_TERM_WEIGHT

READERS = ("popular", "page-popular", "oracle", "oracle-orders")
SLOTS = 6


def cascade_ctr(probs: Sequence[float]) -> float:
    """Chance that the judge clicks one of ``probs`` (top-slot chances, best slot first)."""
    miss = 1.0
    for pos, p in enumerate(probs):
        miss *= 1.0 - p / (1.0 + 0.5 * pos)
    return 1.0 - miss


#: No list can earn more: every slot at the judge's largest chance.
BOUND = cascade_ctr([_MAX_SLOT_CTR] * SLOTS)


class JudgeScores:
    """The judge's click (and add-to-cart) chances of every catalog item for one session, as arrays.

    Mirrors ``Shop._click_prob`` / ``Shop._view`` term by term; ``tests/unit/freshrec/
    test_experiment_ceiling.py`` compares it with them on every item, so a change to the judge that
    is not carried here fails a test instead of skewing the ceiling.
    """

    def __init__(self, shop: Shop):
        self.shop = shop
        self._n = -1

    def _static(self) -> None:
        shop, c = self.shop, self.shop.catalog
        n = len(c)
        if n == self._n:
            return
        self._n = n
        self.leaf = np.array(c.leaf)
        self.main = np.array([shop.main_leaf_of(i) for i in range(n)])
        self.main_pos = np.array([shop._main_pos[m] for m in self.main])
        self.logpop = np.log(np.array(c.popularity))
        self.brand = np.array(c.brand)
        self.level = np.array(c.level)

    def utility(self, user: int) -> np.ndarray:
        self._static()
        shop = self.shop
        stock = np.array(shop.catalog.in_stock)
        u = (self.logpop + shop.brand_taste[user, self.brand] - 0.8 * np.abs(self.level - int(shop.price_pref[user]))
             - 1.5 * (~stock))
        if shop.trending:
            u = u + 1.0 * np.isin(self.main, shop.trending)
        return u

    def in_intent(self, sess: _Session) -> np.ndarray:
        self._static()
        if sess.intent == "accessory" and sess.owned >= 0:
            out = np.zeros(self._n, dtype=bool)
            out[self.shop.catalog.accessories.get(sess.owned, [])] = True
            return out
        return self.main == sess.leaf

    def click(self, sess: _Session) -> np.ndarray:
        """Top-slot click chance of every item, shown on the page of ``sess.current``."""
        shop, user = self.shop, sess.user
        u = self.utility(user)
        taste = shop.leaf_taste[user, self.main_pos] * len(shop._mains)
        logit = u + LONG_TERM_WEIGHT * np.log(taste + 0.05) - 1.0 + INTENT_CLICK * self.in_intent(sess)
        if sess.current >= 0:
            acc = np.zeros(self._n, dtype=bool)
            acc[shop.catalog.accessories.get(sess.current, [])] = True
            logit = logit + np.where(acc, 1.5, np.where(self.leaf == self.leaf[sess.current], 0.5, 0.0))
        return _MAX_SLOT_CTR / (1.0 + np.exp(-logit))

    def cart(self, sess: _Session) -> np.ndarray:
        """Add-to-cart chance of a view of every item, up to the intent's base rate and the hour's boost
        (the same for every item of one impression, so they do not change a ranking)."""
        fit = self.utility(sess.user) + 0.5 + INTENT_CART * self.in_intent(sess)
        return np.array(self.shop.catalog.in_stock) * 2.0 / (1.0 + np.exp(-fit))


class ScoredShop(Shop):
    """The judge unchanged; its closed loop also records what the shown list was expected to earn."""

    def __init__(self, *, pick: Callable[[ScoredShop, _Session, str], list[str]], pick_name: str, **kwargs):
        super().__init__(recs_reader=self._read, **kwargs)
        self.pick, self.pick_name = pick, pick_name
        self.scores = JudgeScores(self)
        self.expected: list[float] = []
        self._sess: _Session | None = None

    def _closed_loop(self, sess: _Session, view: Event) -> None:
        self._sess = sess  # the reader's signature has no session: the oracle needs it
        try:
            super()._closed_loop(sess, view)
        finally:
            self._sess = None

    def _read(self, user_id: str, item_id: str) -> RecList | None:
        sess = self._sess
        items = self.pick(self, sess, item_id)[:SLOTS]
        if not items:
            return None
        p = self.scores.click(sess)
        self.expected.append(cascade_ctr([float(p[int(i[1:])]) for i in items]))
        return RecList(items=[RecItem(item=i, score=0.0, reason=self.pick_name) for i in items], event_ts=0,
                       write_ts=0, variant=self.pick_name)


def _top_items(values: np.ndarray, exclude: int, k: int = SLOTS) -> list[str]:
    values = values.copy()
    if exclude >= 0:
        values[exclude] = -np.inf  # never the product on the page, as the recommenders' rules do
    top = np.argpartition(-values, k)[:k]
    return [f"i{j}" for j in top[np.argsort(-values[top], kind="stable")]]


def _oracle(shop: ScoredShop, sess: _Session, item_id: str) -> list[str]:
    return _top_items(shop.scores.click(sess), sess.current)


def _oracle_orders(shop: ScoredShop, sess: _Session, item_id: str) -> list[str]:
    return _top_items(shop.scores.click(sess) * shop.scores.cart(sess), sess.current)


@dataclass
class _TrendingPick:
    trending: Trending
    page: bool

    def __call__(self, shop: ScoredShop, sess: _Session, item_id: str) -> list[str]:
        cat = self.trending.category_of.get(item_id) if self.page else None
        return [c.item for c in self.trending.top(SLOTS + 1, cat) if c.item != item_id]


def simulate(reader: str, *, seed: int, hours: float = 1.5, users: int = 1000, items: int = 1000,
             rate: float | None = None, shift_at_h: float | None = None,
             start_ms: int = 1_795_000_000_000, trending_half_life_s: float = 3600.0) -> dict:
    """One run of the judge whose every user is served by ``reader``; its rates per impression and session."""
    trending = Trending(half_life_ms=trending_half_life_s * 1000.0)
    pick = {"oracle": _oracle, "oracle-orders": _oracle_orders,
            "popular": _TrendingPick(trending, page=False), "page-popular": _TrendingPick(trending, page=True)}[reader]
    rate = rate if rate is not None else max(1.0, users / 50)  # the experiment's default
    shift = hours / 2 if shift_at_h is None else shift_at_h
    shop = ScoredShop(pick=pick, pick_name=reader, users=users, items=items, rate=rate, seed=seed, start_ms=start_ms,
                      duration_s=hours * 3600, shift_at_s=shift * 3600, warmup_s=min(WARMUP_S, WARMUP_EVENTS / rate))
    n = {"impression": 0, "list_click": 0, "order": 0}
    sessions, revenue = set(), 0.0
    empty = Session("")
    for _, rec in shop.run():
        if isinstance(rec, CatalogItem):
            trending.learn_item(rec)
            continue
        if rec.session_id:
            sessions.add(rec.session_id)
        if rec.type == "impression":
            n["impression"] += 1
        elif rec.type == "click" and rec.list_id is not None:
            n["list_click"] += 1
        elif rec.type == "order":
            n["order"] += 1
            revenue += float(rec.price or 0.0) * int(rec.quantity or 1)
        if rec.item_id and rec.type in trending.types:
            trending.learn_one(empty, Interaction(rec.item_id, rec.type, rec.ts))
    imp = max(n["impression"], 1)
    return {"reader": reader, "seed": seed, "impressions": n["impression"], "ctr": n["list_click"] / imp,
            "expected_ctr": float(np.mean(shop.expected)) if shop.expected else None,
            "sessions": len(sessions), "orders_per_session": n["order"] / max(len(sessions), 1),
            "revenue_per_session": revenue / max(len(sessions), 1)}


def ceiling(seeds: Sequence[int], readers: Sequence[str] = READERS, **kwargs) -> dict:
    """Every reader over every seed; per reader the mean and range over seeds, and ratios to ``popular``."""
    runs = [simulate(r, seed=s, **kwargs) for r in readers for s in seeds]
    summary: dict[str, dict] = {}
    for r in readers:
        rows = [x for x in runs if x["reader"] == r]
        summary[r] = {m: {"mean": float(np.mean([x[m] for x in rows])), "min": float(min(x[m] for x in rows)),
                          "max": float(max(x[m] for x in rows))}
                      for m in ("ctr", "expected_ctr", "orders_per_session", "revenue_per_session")}
    if "popular" in summary:
        base = summary["popular"]
        for r, row in summary.items():
            row["ctr_vs_popular"] = row["ctr"]["mean"] / base["ctr"]["mean"]
            row["expected_ctr_vs_popular"] = row["expected_ctr"]["mean"] / base["expected_ctr"]["mean"]
    return {"bound": BOUND, "bound_vs_popular": (BOUND / summary["popular"]["expected_ctr"]["mean"]
                                                 if "popular" in summary else None),
            "config": {"seeds": list(seeds), **kwargs}, "summary": summary, "runs": runs}


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="7,8,9", help="comma-separated shop seeds")
    p.add_argument("--readers", default=",".join(READERS))
    p.add_argument("--hours", type=float, default=1.5)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--items", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    out = ceiling([int(s) for s in a.seeds.split(",")], a.readers.split(","), hours=a.hours, users=a.users,
                  items=a.items)
    if a.json:
        print(json.dumps(out))
        return
    print(f"bound (every slot at the judge's maximum): CTR {100 * out['bound']:.1f} %")
    for r, row in out["summary"].items():
        c, e = row["ctr"], row["expected_ctr"]
        print(f"{r:<14} CTR {100 * c['mean']:.2f} % [{100 * c['min']:.2f}, {100 * c['max']:.2f}]  "
              f"expected {100 * e['mean']:.2f} %  x popular {row.get('expected_ctr_vs_popular', math.nan):.2f}  "
              f"orders/session {row['orders_per_session']['mean']:.3f}  "
              f"revenue/session {row['revenue_per_session']['mean']:.1f}")


if __name__ == "__main__":
    main()
