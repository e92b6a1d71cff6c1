from contracts.events import CatalogItem
from models.base import Interaction, Session
from models.candidates.trending import Trending

HOUR = 3_600_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % (24 * HOUR))  # midnight UTC


def learn(model, item, ts, n=1):
    for _ in range(n):
        model.learn_one(Session("u"), Interaction(item, "view", ts))


def test_decay_lets_a_recent_item_overtake_an_old_favourite():
    model = Trending(half_life_ms=HOUR, refresh_every=1, hour_weight=0.0)
    learn(model, "old", T0, n=10)
    learn(model, "new", T0 + 5 * HOUR, n=1)  # old is worth 10 / 32 now
    assert [c.item for c in model.top(2)] == ["new", "old"]
    model2 = Trending(half_life_ms=None, refresh_every=1)
    learn(model2, "old", T0, n=10)
    learn(model2, "new", T0 + 5 * HOUR, n=1)
    assert [c.item for c in model2.top(2)] == ["old", "new"]


def test_popular_in_the_sessions_category():
    model = Trending(refresh_every=1)
    model.learn_item(CatalogItem(item_id="shoe1", title="Shoe", category=["shoes"], price=50))
    model.learn_item(CatalogItem(item_id="shoe2", title="Shoe", category=["shoes"], price=60))
    model.learn_item(CatalogItem(item_id="tv", title="TV", category=["tv"], price=500))
    learn(model, "tv", T0, n=10)
    learn(model, "shoe2", T0, n=3)
    learn(model, "shoe1", T0, n=1)
    got = model.candidates(Session("u", [Interaction("shoe1", "view", T0)]), 3)
    assert got[0].item == "shoe2" and got[0].reason == "popular in shoes"
    assert [c.item for c in model.top(5, category="shoes")] == ["shoe2", "shoe1"]


def test_new_user_gets_trending_blended_with_the_hour_of_day():
    model = Trending(half_life_ms=None, refresh_every=1, hour_weight=2.0)
    learn(model, "daily", T0 + 9 * HOUR, n=5)
    learn(model, "nightly", T0 + 22 * HOUR, n=3)
    night = model.candidates(Session("new", context={"hour": 22}), 2)
    morning = model.candidates(Session("new", context={"hour": 9}), 2)
    plain = model.candidates(Session("new"), 2)
    assert night[0].item == "nightly" and night[0].reason == "popular at this time of day"
    assert morning[0].item == "daily"
    assert plain[0].item == "daily" and plain[0].reason == "trending now"


def test_tables_are_bounded():
    model = Trending(max_items=10, refresh_every=1)
    for n in range(100):
        learn(model, f"i{n}", T0 + n)
    assert len(model.counts) <= 20
