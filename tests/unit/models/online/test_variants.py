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
    trending = [c.item for c in rec.trending.top(10)]
    for u in by_kind["popular"]:
        assert [c.item for c in lists[u]] == trending
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
