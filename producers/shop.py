"""The simulated shop: a deterministic discrete-event generator of catalog upserts and shop events.

Users have hidden tastes (favourite main categories, brand affinities, a preferred price level)
that the recommender must discover, and that drift from session to session. Each session has an
in-session intent, a main category that is often not a long-term favourite (a gift, a one-off
need): it weighs more than long-term taste in what the user clicks and buys, which is what makes
fresh, per-event recommendations worth more than ones computed an hour ago (docs/shop-model.md).
Sessions arrive as a Poisson process whose intensity follows a
time-of-day profile; each has an intent: *browse* a category, *compare* a few products, or buy an
*accessory* for a product bought earlier. New items arrive, items go out of stock and come back,
and ``shift_at_s`` makes two categories trendy for everyone (a concept drift to detect).

The simulator does no I/O: :meth:`Shop.run` yields ``(ts, record)`` in time order. With a
``recs_reader`` (the closed loop) every detail-page view asks it for the recommendations shown on
that page; the user logs an impression and may click one, with a probability from its hidden
taste. The same seed, start and reader answers give the same records, event ids included.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from contracts.events import CatalogItem, Event
from contracts.redis_keys import RecList
from producers.catalog_gen import Catalog, generate_catalog
from producers.shop_taste import INTENT_CART, INTENT_CLICK, LONG_TERM_WEIGHT, MISSION_P, drift_taste
from producers.shop_taste import draw as _draw
from producers.shop_taste import sigmoid as _sigmoid

#: (user_id, item_id) -> the list shown on that item's detail page, or None
RecsReader = Callable[[str, str], "RecList | None"]

# Share of the day's traffic per UTC hour (night trough, lunch bump, evening peak); mean 1.
_HOURLY = np.array([0.35, 0.22, 0.15, 0.12, 0.12, 0.18, 0.35, 0.65, 0.9, 1.0, 1.05, 1.15,
                    1.25, 1.15, 1.05, 1.0, 1.05, 1.15, 1.35, 1.6, 1.7, 1.5, 1.1, 0.65])
HOURLY_PROFILE = _HOURLY / _HOURLY.mean()
_BUY_BOOST = np.where(np.arange(24) >= 18, 1.3, 1.0)  # evening shoppers buy more
INTENTS = ("browse", "compare", "accessory")
_EVENTS_PER_SESSION_PRIOR = 9.0
_MAX_SLOT_CTR = 0.1
_HOUR_MS = 3_600_000


@dataclass
class _Session:
    sid: str
    user: int
    intent: str
    leaf: int
    current: int = -1
    mission: bool = False  # the intent is a one-off need, not drawn from long-term taste
    compare: list[int] = field(default_factory=list)
    owned: int = -1  # the main product an accessory session shops for
    pending: deque = field(default_factory=deque)  # (ts, kwargs) still to emit, oldest first
    done: bool = False  # an order ends the session
    n_events: int = 0


class Shop:
    """A simulated shop; iterate :meth:`run` for ``(ts, Event | CatalogItem)`` in time order.

    ``rate`` is the mean number of events per simulated second over a day (the hour-of-day profile
    makes it lower at night and higher in the evening). ``duration_s`` bounds simulated time
    (None = endless). ``shift_at_s`` (seconds after start) triggers the trend shift. ``warmup_s``
    simulates that long before the start without yielding it, so the rate is steady from the start.
    A shop's state moves on as it runs: iterate :meth:`run` once per instance.
    """

    def __init__(self, *, users: int = 1000, items: int = 2000, rate: float = 50.0, seed: int = 0,
                 start_ms: int = 1_795_000_000_000, duration_s: float | None = None,
                 shift_at_s: float | None = None, new_items_per_hour: float | None = None,
                 stock_changes_per_hour: float | None = None, mean_steps: float = 6.0, rec_slots: int = 6,
                 warmup_s: float = 0.0, recs_reader: RecsReader | None = None):
        if users < 1 or items < 30 or rate <= 0:
            raise ValueError("need users >= 1, items >= 30 and rate > 0")
        self.users, self.n_items, self.rate, self.seed = users, items, rate, seed
        self.start_ms, self.duration_s, self.shift_at_s = start_ms, duration_s, shift_at_s
        self.new_items_per_hour = items / 20 if new_items_per_hour is None else new_items_per_hour
        self.stock_changes_per_hour = items / 10 if stock_changes_per_hour is None else stock_changes_per_hour
        self.mean_steps, self.rec_slots, self.recs_reader = mean_steps, rec_slots, recs_reader
        self.warmup_s = warmup_s

        self.rng = np.random.default_rng(seed)
        # Ids derive from seed and start: reproducible, yet a new run (new start) never repeats the ids
        # of an old one, which the worker's per-user dedup would drop as re-deliveries.
        self.run_id = f"sh{seed}.{start_ms}"
        self.catalog: Catalog = generate_catalog(self.rng, items, start_ms)
        mains = self.catalog.main_leaves
        self._main_pos = {leaf: k for k, leaf in enumerate(mains)}
        self._mains = np.array(mains)
        n_brands = len(self.catalog.brands)
        # Hidden tastes: a sparse category mix, brand affinities with one favourite, a price level.
        self.leaf_taste = self.rng.dirichlet(np.full(len(mains), 0.12), size=users)
        self.brand_taste = self.rng.normal(0.0, 0.5, size=(users, n_brands))
        self.brand_taste[np.arange(users), self.rng.integers(0, n_brands, size=users)] += 1.2
        self.price_pref = self.rng.integers(0, 3, size=users)
        activity = self.rng.lognormal(0.0, 1.0, size=users)
        self._activity_cdf = np.cumsum(activity / activity.sum())
        self.trending: list[int] = []  # main leaves boosted after the shift
        self._owned: dict[int, list[int]] = {}
        self._active: set[int] = set()
        self._leaf_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._seq = itertools.count()
        self._n_events = 0
        self._n_sessions = 0
        # Events per session, a moving average over ended sessions: the closed loop (impressions,
        # click-throughs) makes sessions longer, and the arrival rate must follow to keep `rate`.
        self._per_session = _EVENTS_PER_SESSION_PRIOR
        self._oos: list[int] = []

    # --- hidden taste (exposed for tests and evaluation) ---------------------------------------
    def hidden_leaves(self, user: int, k: int = 2) -> list[int]:
        """The user's ``k`` favourite main leaves (indices into ``catalog.leaves``)."""
        return [int(self._mains[j]) for j in np.argsort(-self.leaf_taste[user])[:k]]

    def main_leaf_of(self, idx: int) -> int:
        leaf = self.catalog.leaves[self.catalog.leaf[idx]]
        return leaf.index if leaf.accessory_of is None else leaf.accessory_of

    def utility(self, user: int, idx: int) -> float:
        """Log-attractiveness of an item to a user: popularity, brand, price fit, stock, trend."""
        c = self.catalog
        u = (math.log(c.popularity[idx]) + self.brand_taste[user, c.brand[idx]]
             - 0.8 * abs(c.level[idx] - int(self.price_pref[user])))
        if not c.in_stock[idx]:
            u -= 1.5
        if self.trending and self.main_leaf_of(idx) in self.trending:
            u += 1.0
        return u

    # --- the event loop ------------------------------------------------------------------------
    def run(self) -> Iterator[tuple[int, Event | CatalogItem]]:
        """Yield the initial catalog, then ``(ts, record)`` in non-decreasing ``ts``."""
        for item in self.catalog.items:
            yield self.start_ms, item
        heap: list = []
        push = lambda ts, kind, obj=None: heapq.heappush(heap, (ts, next(self._seq), kind, obj))  # noqa: E731
        # Warm-up: sessions start before the shop's start but only their events from start on are
        # yielded, so traffic begins at its steady rate instead of ramping up over minutes.
        begin = self.start_ms - int(self.warmup_s * 1000)
        push(begin + self._arrival_gap_ms(begin), "arrival")
        if self.new_items_per_hour > 0:
            push(self.start_ms + self._exp_ms(self.new_items_per_hour), "new_item")
        if self.stock_changes_per_hour > 0:
            push(self.start_ms + self._exp_ms(self.stock_changes_per_hour), "stock")
        if self.shift_at_s is not None:
            push(self.start_ms + int(self.shift_at_s * 1000), "shift")
        end = None if self.duration_s is None else self.start_ms + int(self.duration_s * 1000)
        while heap:
            ts, _, kind, obj = heapq.heappop(heap)
            if end is not None and ts > end:
                return
            if kind == "session":
                ev = self._emit(obj, ts)
                if ts >= self.start_ms:
                    yield ts, ev
                if obj.done:
                    nxt = None
                else:
                    nxt = obj.pending[0][0] if obj.pending else self._next_step(obj, ts)
                if nxt is None:
                    self._active.discard(obj.user)
                    self._per_session += 0.02 * (obj.n_events - self._per_session)
                else:
                    push(nxt, "session", obj)
            elif kind == "arrival":
                sess = self._new_session(ts)
                if sess is not None:
                    push(sess.pending[0][0], "session", sess)
                push(ts + self._arrival_gap_ms(ts), "arrival")
            elif kind == "new_item":
                yield ts, self.catalog.add_item(self.rng, ts)
                self._leaf_cache.pop(self.catalog.leaf[-1], None)
                push(ts + self._exp_ms(self.new_items_per_hour), "new_item")
            elif kind == "stock":
                yield ts, self._stock_change()
                push(ts + self._exp_ms(self.stock_changes_per_hour), "stock")
            elif kind == "shift":
                self.trending = [int(x) for x in self.rng.choice(self._mains, size=2, replace=False)]

    def _exp_ms(self, per_hour: float) -> int:
        return max(1, int(self.rng.exponential(_HOUR_MS / per_hour)))

    def _arrival_gap_ms(self, ts: int) -> int:
        # Thinning: candidates at the peak rate, each kept with the hour's share of the peak.
        peak = self.rate / self._per_session * HOURLY_PROFILE.max() / 1000.0  # sessions per ms
        t = ts
        while True:
            t += max(1, int(self.rng.exponential(1.0 / peak)))
            if self.rng.random() * HOURLY_PROFILE.max() < HOURLY_PROFILE[(t // _HOUR_MS) % 24]:
                return t - ts

    def _stock_change(self) -> CatalogItem:
        c = self.catalog
        if self._oos and self.rng.random() < 0.5:
            idx = self._oos.pop(int(self.rng.integers(len(self._oos))))
            in_stock = True
        else:
            idx = int(self.rng.integers(len(c)))
            in_stock = not c.in_stock[idx]
            if in_stock:
                self._oos.remove(idx)
            else:
                self._oos.append(idx)
        self._leaf_cache.pop(c.leaf[idx], None)
        return c.set_stock(idx, in_stock)

    # --- sessions --------------------------------------------------------------------------------
    def _new_session(self, ts: int) -> _Session | None:
        for _ in range(10):  # one session per user at a time: draw another user if this one is busy
            user = min(int(np.searchsorted(self._activity_cdf, self.rng.random())), self.users - 1)
            if user not in self._active:
                break
        else:
            return None
        owned = [m for m in self._owned.get(user, []) if self.catalog.accessories.get(m)]
        if owned and self.rng.random() < 0.6:
            intent = "accessory"
        else:
            intent = "compare" if self.rng.random() < 0.3 else "browse"
        drift_taste(self.leaf_taste[user], self.rng)
        mission = self.rng.random() < MISSION_P
        sess = _Session(sid=f"{self.run_id}.s{self._n_sessions}", user=user, intent=intent,
                        leaf=self._pick_leaf(user, mission), mission=mission)
        self._n_sessions += 1
        self._active.add(user)
        if intent == "accessory":
            sess.owned = owned[int(self.rng.integers(len(owned)))]
            first = self._pick_accessory(user, sess.owned)
        else:
            first = self._pick_in_leaf(user, sess.leaf)
            if intent == "compare":
                sess.compare = sorted({first, *(self._pick_in_leaf(user, sess.leaf) for _ in range(3))})
        page = "search" if self.rng.random() < 0.6 else "home"
        sess.pending.append((ts, dict(type="click", item=first, page=page)))
        self._view(sess, first, ts + 400 + int(self.rng.integers(600)))
        return sess

    def _next_step(self, sess: _Session, now: int) -> int | None:
        """Plan the session's next page (or end it); return the ts of its first event."""
        if self.rng.random() < 1.0 / self.mean_steps:
            return None
        ts = now + 3000 + int(self.rng.exponential(20_000))
        cur, r = sess.current, self.rng.random()
        if sess.intent == "compare" and sess.compare:
            nxt = sess.compare[int(self.rng.integers(len(sess.compare)))]
        elif sess.intent == "accessory":
            nxt = self._pick_accessory(sess.user, sess.owned)
        elif cur >= 0 and not self.catalog.is_accessory(cur) and self.catalog.accessories.get(cur) and r < 0.2:
            nxt = self._pick_accessory(sess.user, cur)  # cross-sell: "fits your phone"
        else:
            if r > 0.9:
                sess.leaf = self._pick_leaf(sess.user)
            nxt = self._pick_in_leaf(sess.user, sess.leaf)
        if self.rng.random() < 0.3:
            sess.pending.append((ts, dict(type="click", item=nxt, page="search")))
            ts += 500
        self._view(sess, nxt, ts)
        return sess.pending[0][0]

    def _view(self, sess: _Session, idx: int, ts: int) -> None:
        """A detail-page view, maybe followed by add-to-cart and an order."""
        sess.current = idx
        sess.pending.append((ts, dict(type="view", item=idx, page="detail")))
        c = self.catalog
        if not c.in_stock[idx]:
            return
        base = {"browse": 0.015, "compare": 0.04, "accessory": 0.12}[sess.intent]
        fit = self.utility(sess.user, idx) + 0.5 + (INTENT_CART if self._in_intent(sess, idx) else 0.0)
        p_cart = base * _BUY_BOOST[(ts // _HOUR_MS) % 24] * _sigmoid(fit) * 2
        if self.rng.random() < p_cart:
            ts_cart = ts + 5000 + int(self.rng.integers(15_000))
            sess.pending.append((ts_cart, dict(type="cart", item=idx, page="detail", quantity=1)))
            if self.rng.random() < 0.5:
                sess.pending.append((ts_cart + 30_000 + int(self.rng.integers(60_000)),
                                     dict(type="order", item=idx, page="cart", quantity=1)))
                if not c.is_accessory(idx):
                    self._owned.setdefault(sess.user, []).append(idx)

    def _emit(self, sess: _Session, ts: int) -> Event:
        _, spec = sess.pending.popleft()
        kind, idx = spec["type"], spec.get("item")
        item_id = spec.get("item_id") or f"i{idx}"
        extra = {k: spec[k] for k in ("page", "quantity", "list_id", "position", "variant", "shown") if k in spec}
        if kind in ("cart", "order"):
            extra["price"] = self.catalog.items[idx].price
        ev = Event(event_id=f"{self.run_id}.{self._n_events}", ts=ts, user_id=f"u{sess.user}",
                   session_id=sess.sid, item_id=item_id, type=kind, **extra)
        self._n_events += 1
        sess.n_events += 1
        if kind == "order":
            # Ordering ends the session: drop what else was planned after it.
            sess.pending.clear()
            sess.done = True
            return ev
        if kind == "view" and self.recs_reader is not None and ts >= self.start_ms:
            self._closed_loop(sess, ev)
        return ev

    def _closed_loop(self, sess: _Session, view: Event) -> None:
        recs = self.recs_reader(view.user_id, view.item_id)
        if recs is None or not recs.items:
            return
        shown = [r.item for r in recs.items[: self.rec_slots]]
        list_id = recs.list_id or f"{view.event_id}.l"
        variant = recs.variant or "default"
        ts = view.ts + 150
        planned = list(sess.pending)
        sess.pending.clear()
        sess.pending.append((ts, dict(type="impression", item_id=view.item_id, page="detail",
                                      list_id=list_id, variant=variant, shown=shown)))
        # Cascade: look down the list, click an item with a chance from the hidden taste.
        for pos, item_id in enumerate(shown):
            idx = _item_index(item_id, len(self.catalog))
            attract = 0.002 if idx is None else self._click_prob(sess, idx)
            if self.rng.random() < attract / (1.0 + 0.5 * pos):
                click_ts = ts + 1500 + int(self.rng.integers(4000))
                sess.pending.append((click_ts, dict(type="click", item_id=item_id, item=idx, page="detail",
                                                    list_id=list_id, position=pos, variant=variant,
                                                    shown=shown)))
                if idx is not None:  # the click leads to the item's page; the old plan is dropped
                    self._view(sess, idx, click_ts + 500)
                return
        sess.pending.extend((max(t, ts + 1), s) for t, s in planned)

    def _click_prob(self, sess: _Session, idx: int) -> float:
        """Chance to click a shown item at the top slot: about 1-2 % for a random item and
        15-20 % for one of the session's intent, a favourite category or fitting the product on the
        page (CTRs of real recommendation widgets), so better recommendations earn more clicks."""
        user, context = sess.user, sess.current
        leaf_pos = self._main_pos[self.main_leaf_of(idx)]
        taste = self.leaf_taste[user, leaf_pos] * len(self._mains)  # 1 = average interest
        logit = self.utility(user, idx) + LONG_TERM_WEIGHT * math.log(taste + 0.05) - 1.0
        if self._in_intent(sess, idx):
            logit += INTENT_CLICK
        if context >= 0:
            if idx in self.catalog.accessories.get(context, ()):
                logit += 1.5  # "fits the product you are looking at"
            elif self.catalog.leaf[idx] == self.catalog.leaf[context]:
                logit += 0.5  # an alternative to compare with
        return _MAX_SLOT_CTR * _sigmoid(logit)

    def _in_intent(self, sess: _Session, idx: int) -> bool:
        """What the session shops for now: the owned product's accessories, else its main category."""
        if sess.intent == "accessory" and sess.owned >= 0:
            return idx in self.catalog.accessories.get(sess.owned, ())
        return self.main_leaf_of(idx) == sess.leaf

    # --- choices ---------------------------------------------------------------------------------
    def _pick_leaf(self, user: int, mission: bool = False) -> int:
        n = len(self._mains)
        p = np.full(n, 1.0 / n) if mission else 0.9 * self.leaf_taste[user] + 0.1 / n
        if self.trending:
            p = p.copy()
            for leaf in self.trending:
                p[self._main_pos[leaf]] *= 4.0
            p /= p.sum()
        return int(self._mains[_draw(p, self.rng.random())])

    def _leaf_arrays(self, leaf: int):
        arrs = self._leaf_cache.get(leaf)
        if arrs is None:
            c = self.catalog
            idx = np.array(c.by_leaf.get(leaf, []), dtype=np.int64)
            arrs = (idx, np.log(np.array([c.popularity[i] for i in idx])), np.array([c.brand[i] for i in idx]),
                    np.array([c.level[i] for i in idx]), np.array([c.in_stock[i] for i in idx]))
            self._leaf_cache[leaf] = arrs
        return arrs

    def _softmax_pick(self, user: int, idx: np.ndarray, logpop, brand, level, stock) -> int:
        u = (logpop + self.brand_taste[user, brand] - 0.8 * np.abs(level - self.price_pref[user])
             - 1.5 * (~stock))
        w = np.exp(u - u.max())
        return int(idx[_draw(w, self.rng.random())])

    def _pick_in_leaf(self, user: int, leaf: int) -> int:
        return self._softmax_pick(user, *self._leaf_arrays(leaf))

    def _pick_accessory(self, user: int, main: int) -> int:
        accs = self.catalog.accessories.get(main)
        if not accs:
            return self._pick_in_leaf(user, self.catalog.leaf[main])
        c = self.catalog
        idx = np.array(accs)
        return self._softmax_pick(user, idx, np.log([c.popularity[i] for i in accs]),
                                  np.array([c.brand[i] for i in accs]), np.array([c.level[i] for i in accs]),
                                  np.array([c.in_stock[i] for i in accs]))


def _item_index(item_id: str, n: int) -> int | None:
    if item_id.startswith("i") and item_id[1:].isdigit():
        idx = int(item_id[1:])
        return idx if idx < n else None
    return None
