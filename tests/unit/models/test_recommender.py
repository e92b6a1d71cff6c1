import pickle
import random

from contracts.events import CatalogItem
from models.base import Interaction, Recommender, Session
from models.recommender import StreamRecommender

T0 = 1_700_000_000_000


def session(*items, user="u", **kw):
    return Session(user, [Interaction(i, "view", T0 + n) for n, i in enumerate(items)], **kw)


def synthetic_log(n_sessions, seed):
    """Sessions that walk a ring of 300 items: the next item is usually one of the next three."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_sessions):
        item = rng.randrange(300)
        s = [item]
        for _ in range(rng.randrange(2, 8)):
            item = (item + rng.choice((1, 1, 2, 3))) % 300 if rng.random() < 0.8 else rng.randrange(300)
            if rng.random() < 0.15:
                item = rng.choice(s)  # revisits, as in real logs
            s.append(item)
        out.append([str(i) for i in s])
    return out


def hit_rate(model, sessions, k=20):
    cases = [(s[:n], s[n]) for s in sessions for n in range(1, len(s))]
    recs = model.recommend_many([session(*p) for p, _ in cases], k)
    return sum(t in [c.item for c in r] for (_, t), r in zip(cases, recs)) / len(cases)


def test_quality_smoke_beats_popularity_on_a_synthetic_log():
    train, test = synthetic_log(3000, seed=1), synthetic_log(300, seed=2)
    model = StreamRecommender(page_rules=False)
    model.fit(train)
    pop = StreamRecommender(page_rules=False, weights={"trending": 1.0})
    pop.fit(train)
    ours, baseline = hit_rate(model, test), hit_rate(pop, test)
    assert ours > 0.6 and ours > 3 * baseline


def test_implements_the_recommender_protocol_and_clone_is_untrained():
    model = StreamRecommender(page_rules=False, window=4)
    model.fit([["a", "b"], ["a", "b", "c"]])
    assert isinstance(model, Recommender) and model.name == "stream"
    twin = model.clone()
    assert twin.window == 4 and twin.page_rules is False
    assert twin.recommend(session("a"), 5) == [c for c in twin.recommend(session("a"), 5) if c.source == "repeat"]
    assert [c.item for c in model.recommend(session("a"), 5)] == ["a", "b", "c"]  # repeat boost first


def test_page_rules_drop_the_current_item_papers_protocol_keeps_it():
    sessions = [["a", "b"], ["b", "a"], ["a", "c"]]
    paper, page = StreamRecommender(page_rules=False), StreamRecommender(page_rules=True)
    paper.fit(sessions)
    page.fit(sessions)
    assert "a" in [c.item for c in paper.recommend(session("b", "a"), 5)]
    assert "a" not in [c.item for c in page.recommend(session("b", "a"), 5)]


def test_purchased_never_recommended_even_when_co_viewed():
    model = StreamRecommender()
    model.fit([["a", "b"], ["a", "b"], ["a", "c"]])
    assert [c.item for c in model.recommend(session("a"), 5)][0] == "b"
    assert "b" not in [c.item for c in model.recommend(session("a", purchased={"b"}), 5)]


def test_learn_one_makes_fresh_pairs_recommendable_with_reasons():
    model = StreamRecommender()
    s = Session("u")
    for n, item in enumerate(["x", "y"]):
        it = Interaction(item, "view", T0 + n)
        model.learn_one(s, it)
        s.interactions.append(it)
    got = model.recommend(session("x", user="v"), 5)
    assert got[0].item == "y" and got[0].reason == "viewed together with x"


def test_new_user_gets_trending_and_catalog_drives_rules():
    model = StreamRecommender()
    for n in range(6):
        model.learn_item(CatalogItem(item_id=f"i{n}", title=f"shoe {n}", category=["shoes"], price=10.0 + n,
                                     in_stock=n != 0))
    for n, item in enumerate(["i0", "i0", "i0", "i1", "i1", "i2"]):
        model.learn_one(Session(f"u{n}"), Interaction(item, "view", T0 + n))
    model.trending.refresh_every = 1
    got = model.recommend(Session("new"), 10)
    assert got and got[0].item == "i1" and got[0].source == "trending"
    assert "i0" not in [c.item for c in got]  # out of stock
    assert len(got) <= model.diversity_cap  # all in one category
    sim = model.similar_items("i3", 3)
    assert sim and all(c.item not in ("i3", "i0") for c in sim)


def test_state_round_trip_and_pickle_give_identical_recommendations():
    model = StreamRecommender()
    model.fit(synthetic_log(200, seed=3))
    model.learn_item(CatalogItem(item_id="5", title="five", category=["k"], price=5.0, complements=["6"]))
    s = Session("u")
    for n, item in enumerate(["5", "6", "7"]):
        it = Interaction(item, "cart", T0 + n)
        model.learn_one(s, it)
        s.interactions.append(it)
    probes = [session(*p) for p in (["5"], ["10", "11"], ["299"], [])]
    expected = model.recommend_many(probes, 10)
    twin = StreamRecommender()
    twin.load_state_dict(pickle.loads(pickle.dumps(model.state_dict())))
    assert twin.recommend_many(probes, 10) == expected
    assert pickle.loads(pickle.dumps(model)).recommend_many(probes, 10) == expected
    assert {c.item for c in twin.complementary_items("5", 5)} == {"6", "7"}


def test_from_settings_maps_the_worker_settings():
    from freshrec.settings import Settings
    from models.recommender import from_settings

    model = from_settings(Settings(covis_window=3, covis_top_k=50, covis_half_life_s=60.0, trending_half_life_s=10.0))
    assert (model.window, model.top_k, model.half_life_ms, model.trending_half_life_ms) == (3, 50, 60_000.0, 10_000.0)
    assert model.covisit.store.clock.half_life_ms == 60_000.0 and model.page_rules
