"""The experiment's A/B arms: each serves its own kind of list through the one ``recommend_many``."""

from __future__ import annotations

from models.base import Interaction, Session
from models.online.ab import kind_of
from models.online.batch import BatchClock
from models.online.recommender import OnlineRecommender
from tests.unit.models.online.test_online import replay, synthetic

HOUR = 3_600_000
VARIANTS = {"popular": 1, "batch": 1, "fusion": 1, "online": 1}


def test_kind_is_the_start_of_the_name():
    assert [kind_of(v) for v in ("popular", "batch-60", "fusion2", "hybrid", "online", "B")] == \
        ["popular", "batch", "fusion", "hybrid", "online", "online"]


def test_batch_clock_refreshes_once_per_period_from_the_state_at_the_boundary():
    clock = BatchClock(HOUR, salt="s")
    t0 = clock.boundary("u1", 10 * HOUR) + HOUR  # the user's next boundary
    events = [Interaction(f"i{n}", "view", t0 - 1000 + n * 600_000) for n in range(8)]  # 70 minutes
    due = []
    for n in range(1, len(events) + 1):
        at = clock.due(Session("u1", events[:n]))
        due.append(None if at is None else [it.item for it in at.interactions])
    # the first event is before the boundary t0: a refresh of the period before, from the state then
    assert due[0] == []
    # the first event after t0 refreshes from the events before t0 only; the next hour's events wait
    assert due[1] == ["i0"] and due[2:7] == [None] * 5
    assert due[7] == [f"i{n}" for n in range(7)]  # t0 + 1 h: the next boundary


def _trained(variants):
    items, events = synthetic(users=40, events=1500)
    rec = OnlineRecommender(page_rules=False, experiment="exp", variants=variants, batch_period_ms=HOUR)
    for it in items:
        rec.learn_item(it)
    for u, inter in events:
        rec.learn_one(Session(u), inter)
    return rec, events


def test_each_arm_serves_its_kind_of_list():
    rec, events = _trained(VARIANTS)
    users = sorted({u for u, _ in events})
    by_kind = {k: [u for u in users if rec.variant_of(u) == k] for k in VARIANTS}
    assert all(by_kind.values()), by_kind
    last_ts = events[-1][1].ts
    sessions = [Session(u, [Interaction(events[-1][1].item, "view", last_ts)]) for u in users]
    lists = dict(zip(users, rec.recommend_many(sessions, 10)))
    for u, s in zip(users, sessions):  # popular: trending in the session's categories, then overall
        if u in by_kind["popular"]:
            want = rec.rules.apply(s, rec.trending.candidates(s, 15), 10, rec.facts)
            assert [c.item for c in lists[u]] == [c.item for c in want]
            assert {c.source for c in lists[u]} == {"trending"}
    for u in by_kind["batch"]:  # scored once at this boundary ...
        assert lists[u] is not None
    again = dict(zip(users, rec.recommend_many(sessions, 10)))
    for u in by_kind["batch"]:  # ... and not again within the period
        assert again[u] is None
    for u in by_kind["fusion"] + by_kind["online"]:  # per event: every call scores
        assert again[u] is not None and [c.item for c in again[u]] == [c.item for c in lists[u]]
    later = [Session(u, s.interactions + [Interaction("c0i0", "view", last_ts + HOUR)])
             for u, s in zip(users, sessions)]
    after = dict(zip(users, rec.recommend_many(later, 10)))
    assert all(after[u] is not None for u in by_kind["batch"])


def test_batch_users_are_never_scored_by_the_bootstrap():
    rec, events = _trained({"batch": 1, "online": 1})
    sess = [Session(u, [i]) for u, i in events[-50:] if rec.variant_of(u) == "batch"]
    assert sess and all(r is not None for r in rec.recommend_many(sess[:1], 10))


def test_single_arm_online_is_unchanged():
    items, events = synthetic(users=20, events=400)
    a = OnlineRecommender(page_rules=False)
    b = OnlineRecommender(page_rules=False, experiment="x", variants={"online": 1})
    assert replay(a, items, events) == replay(b, items, events)


def test_batch_refreshes_and_rising_categories_survive_a_checkpoint():
    import pickle

    rec, events = _trained(VARIANTS)
    users = sorted({u for u, _ in events})
    batch_users = [u for u in users if rec.variant_of(u) == "batch"]
    last_ts = events[-1][1].ts
    sessions = [Session(u, [Interaction(events[-1][1].item, "view", last_ts)]) for u in batch_users]
    assert all(x is not None for x in rec.recommend_many(sessions, 10))
    restored = OnlineRecommender(page_rules=False, experiment="exp", variants=VARIANTS, batch_period_ms=HOUR)
    restored.load_online_state_dict(pickle.loads(pickle.dumps(rec.online_state_dict())))
    # refreshed before the restart: no second refresh within the period after it
    assert restored.recommend_many(sessions, 10) == [None] * len(sessions)
    assert restored.rising.state_dict() == rec.rising.state_dict()
    old = rec.online_state_dict()
    del old["batch"], old["rising"]  # a checkpoint written before they were kept still loads
    OnlineRecommender(page_rules=False).load_online_state_dict(old)


def test_the_trend_slot_shows_a_rising_category_in_per_event_lists_only_while_one_rises():
    rec, events = _trained({"online": 1, "fusion": 1})
    rec.trend_slot = 1
    users = sorted({u for u, _ in events})
    last = events[-1][1]
    sessions = [Session(u, [Interaction(last.item, "view", last.ts)]) for u in users]
    assert rec.rising.rising() == []  # steady synthetic traffic
    before = rec.recommend_many(sessions, 10)
    cats = sorted(set(rec.trending.category_of.values()))
    hot = next(c for c in cats if rec.trending.top(5, c))
    hot_items = [c.item for c in rec.trending.top(5, hot)]
    t = last.ts
    for n in range(400):  # a burst in one category
        t += 50
        rec.learn_one(Session(f"burst{n}"), Interaction(hot_items[n % len(hot_items)], "view", t))
    assert hot in [c for c, _ in rec.rising.rising()]
    after = rec.recommend_many([Session(s.user_id, s.interactions) for s in sessions], 10)
    for b, a in zip(before, after):
        assert any(rec.facts.category_of.get(c.item) == hot for c in a[:6])
    assert any(all(rec.facts.category_of.get(c.item) != hot for c in b[:6]) for b in before)
