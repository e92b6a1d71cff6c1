"""The simulated shop: deterministic by seed, and realistic enough that a recommender has signal to find."""

from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest

from contracts.events import CatalogItem, Event, decode_event, decode_item, encode_event, encode_item
from contracts.redis_keys import RecItem, RecList
from producers.shop import Shop


def _records(**kw):
    shop = Shop(**{"users": 300, "items": 600, "rate": 20.0, "seed": 7, "duration_s": 1800, **kw})
    return shop, list(shop.run())


@pytest.fixture(scope="module")
def shop_run():
    return _records()


def _events(records) -> list[Event]:
    return [r for _, r in records if isinstance(r, Event)]


def test_same_seed_same_records_and_different_seed_differs():
    _, a = _records(duration_s=300)
    _, b = _records(duration_s=300)
    _, c = _records(duration_s=300, seed=8)
    assert [encode_event(r) if isinstance(r, Event) else encode_item(r) for _, r in a] == \
           [encode_event(r) if isinstance(r, Event) else encode_item(r) for _, r in b]
    assert _events(a)[:50] != _events(c)[:50]


def test_every_record_passes_the_wire_schema_and_time_never_goes_back(shop_run):
    _, records = shop_run
    ts = [t for t, _ in records]
    assert all(x <= y for x, y in zip(ts, ts[1:]))
    for _, rec in records:
        if isinstance(rec, Event):
            assert decode_event(encode_event(rec)) == rec
            assert rec.ts >= records[0][0]
        else:
            assert decode_item(encode_item(rec)) == rec
    events = _events(records)
    assert len({e.event_id for e in events}) == len(events)
    assert {"view", "click", "cart", "order"} <= {e.type for e in events}


def test_catalog_has_tree_brands_prices_and_accessories_pointing_at_existing_mains(shop_run):
    shop, records = shop_run
    items = {r.item_id: r for _, r in records if isinstance(r, CatalogItem)}
    assert len({tuple(i.category[:1]) for i in items.values()}) >= 4
    accessories = [i for i in items.values() if i.complements]
    assert len(accessories) > 0.2 * len(items)
    for acc in accessories:
        assert len(acc.category) == 3
        for main in acc.complements:
            assert main in items and len(items[main].category) == 2
            assert acc.category[1] == f"{items[main].category[1]} Accessories"
    by_level = collections.defaultdict(list)
    for i in items.values():
        by_level[i.attributes["price_level"]].append(i.price)
        assert i.brand and i.brand in i.title
    assert set(by_level) == {"0", "1", "2"}


def test_users_view_and_click_more_in_their_hidden_categories(shop_run):
    shop, records = shop_run
    hits = collections.Counter()
    totals = collections.Counter()
    leaf_counts = collections.Counter()
    for e in _events(records):
        if e.type in ("view", "click") and e.item_id.startswith("i"):
            u = int(e.user_id[1:])
            leaf = shop.main_leaf_of(int(e.item_id[1:]))
            leaf_counts[leaf] += 1
            totals[u] += 1
            hits[u] += leaf in shop.hidden_leaves(u)
    n = sum(leaf_counts.values())
    own = sum(hits.values()) / sum(totals.values())
    # What the same users would score if they clicked like the population as a whole.
    chance = sum(totals[u] * sum(leaf_counts[lf] for lf in shop.hidden_leaves(u)) / n for u in totals) / n
    assert own > 2.5 * chance, (own, chance)


def test_accessories_follow_their_main_products_more_than_chance(shop_run):
    shop, records = shop_run
    views = [e for e in _events(records) if e.type == "view"]
    by_session = collections.defaultdict(list)
    for e in views:
        by_session[e.session_id].append(int(e.item_id[1:]))
    cat = shop.catalog
    pairs = [(a, b) for items in by_session.values() for a, b in itertools.pairwise(items)
             if not cat.is_accessory(a) and cat.accessories.get(a)]
    follows = np.mean([b in cat.accessories[a] for a, b in pairs])
    rng = np.random.default_rng(0)
    later = [b for _, b in pairs]
    shuffled = rng.permutation(later)
    chance = np.mean([b in cat.accessories[a] for (a, _), b in zip(pairs, shuffled)])
    assert len(pairs) > 200
    assert follows > 5 * chance and follows > 0.05, (follows, chance)


def test_trend_shift_moves_traffic_to_the_trending_categories():
    shop, records = _records(duration_s=3600, shift_at_s=1800, rate=8.0)
    split = records[0][0] + 1_800_000
    before = collections.Counter()
    after = collections.Counter()
    for t, e in records:
        if isinstance(e, Event) and e.type == "view":
            (after if t >= split else before)[shop.main_leaf_of(int(e.item_id[1:])) in shop.trending] += 1
    assert shop.trending
    share = lambda c: c[True] / (c[True] + c[False])  # noqa: E731
    assert share(after) > 1.5 * share(before)


def test_new_items_and_stock_changes_arrive_as_catalog_upserts(shop_run):
    shop, records = shop_run
    start = records[0][0]
    later = [r for t, r in records if isinstance(r, CatalogItem) and t > start]
    assert any(r.created_ts and r.created_ts > start for r in later)
    assert any(not r.in_stock for r in later)


def test_time_of_day_profile_shapes_traffic():
    # One simulated day at a low rate: the evening hours carry more events than the night.
    midnight = 1_795_000_000_000 // 86_400_000 * 86_400_000
    shop = Shop(users=200, items=100, rate=0.4, seed=3, duration_s=86400, start_ms=midnight,
                new_items_per_hour=0, stock_changes_per_hour=0)
    hours = collections.Counter((t // 3_600_000) % 24 for t, r in shop.run() if isinstance(r, Event))
    assert sum(hours[h] for h in (19, 20, 21)) > 3 * sum(hours[h] for h in (2, 3, 4))


def test_closed_loop_logs_impressions_and_taste_driven_clicks():
    # Every page shows the same list; each user clicks it according to its own taste.
    shop = Shop(users=50, items=300, rate=5.0, seed=11, duration_s=1200)
    items = [f"i{k}" for k in range(0, 300, 7)][:10]
    calls = []

    def reader(user_id: str, item_id: str) -> RecList:
        calls.append((user_id, item_id))
        return RecList(items=[RecItem(i, 1.0, "test") for i in items], event_ts=0, write_ts=0,
                       list_id=f"L{len(calls)}", variant="B")

    shop.recs_reader = reader
    events = [r for _, r in shop.run() if isinstance(r, Event)]
    views = [e for e in events if e.type == "view"]
    imps = [e for e in events if e.type == "impression"]
    clicks = [e for e in events if e.type == "click" and e.list_id]
    assert len(calls) == len(views)
    assert 0 <= len(views) - len(imps) <= 1  # a view in the run's last 150 ms has no impression yet
    assert all(e.shown == items[: shop.rec_slots] and e.variant == "B" for e in imps)
    assert clicks and all(c.item_id == items[c.position] and c.variant == "B" for c in clicks)
    assert all(c.shown == items[: shop.rec_slots] for c in clicks)  # the impression, for rankers' negatives
    lists = {e.list_id: e for e in imps}
    assert all(c.list_id in lists and lists[c.list_id].user_id == c.user_id for c in clicks)


def test_warmup_opens_the_shop_at_its_steady_rate():
    def first_minute(warmup_s: float) -> int:
        shop = Shop(users=400, items=100, rate=10.0, seed=2, duration_s=60, warmup_s=warmup_s)
        return sum(isinstance(r, Event) for _, r in shop.run())

    cold, warm = first_minute(0.0), first_minute(300.0)
    assert warm > 2 * cold and warm > 0.4 * 10.0 * 60


def test_closed_loop_clicks_follow_hidden_taste_and_the_rate_holds():
    from producers.shop import HOURLY_PROFILE

    def run(kind: str) -> tuple[float, float]:
        shop = Shop(users=400, items=400, rate=10.0, seed=4, duration_s=900, warmup_s=300)
        rng = np.random.default_rng(0)

        def reader(user_id: str, item_id: str) -> RecList:
            if kind == "random":
                pool = range(len(shop.catalog))
            else:
                pool = shop.catalog.by_leaf[shop.hidden_leaves(int(user_id[1:]), 1)[0]]
            picks = rng.choice(list(pool), size=min(6, len(pool)), replace=False)
            return RecList(items=[RecItem(f"i{k}", 1.0, "t") for k in picks], event_ts=0, write_ts=0)

        shop.recs_reader = reader
        events = [r for _, r in shop.run() if isinstance(r, Event)]
        kinds = collections.Counter(e.type for e in events)
        ctr = sum(1 for e in events if e.type == "click" and e.list_id) / kinds["impression"]
        hour = (shop.start_ms // 3_600_000) % 24
        return ctr, len(events) / 900 / (10.0 * HOURLY_PROFILE[hour])

    random_ctr, random_rate = run("random")
    taste_ctr, taste_rate = run("taste")
    assert 0.005 < random_ctr < 0.08 and taste_ctr > 2.5 * random_ctr, (random_ctr, taste_ctr)
    assert 0.7 < random_rate < 1.4 and 0.7 < taste_rate < 1.4, (random_rate, taste_rate)


def test_a_paced_shop_that_fell_behind_goes_on_at_its_pace_instead_of_catching_up():
    from producers.shop_cli import MAX_LATE_S, pace

    assert pace(100.0, 5.0, 104.0, live=False) == (1.0, 100.0, 0.0)           # early: wait
    delay, t0, late = pace(100.0, 5.0, 105.5, live=False)                      # a little late: send now
    assert (t0, late) == (100.0, 0.0) and delay < 0
    delay, t0, late = pace(100.0, 5.0, 105.0 + MAX_LATE_S + 60, live=False)    # suspended a minute
    assert delay == 0.0 and late == MAX_LATE_S + 60 and t0 == 100.0 + late
    assert pace(t0, 6.0, 105.0 + MAX_LATE_S + 61, live=False) == (0.0, t0, 0.0)  # the next record: on time
    assert pace(100.0, 5.0, 200.0, live=True)[1:] == (100.0, 0.0)              # live: event time is wall time
