import pytest

from models.base import Interaction, Session
from models.candidates.covisit import CoVisitation

HOUR = 3_600_000


def session(*items, ts=0):
    return Session("u", [Interaction(i, "view", ts) for i in items])


def replay(model, sessions, ts=0):
    for items in sessions:
        s = Session("u")
        for item in items:
            it = Interaction(item, "view", ts)
            model.learn_one(s, it)
            s.interactions.append(it)


def test_co_viewed_items_come_first():
    model = CoVisitation(half_life_ms=None)
    replay(model, [["a", "b"], ["a", "b"], ["a", "b", "c"], ["x", "y"], ["a", "z"]])
    got = model.candidates(session("a"), 10)
    assert got[0].item == "b"
    assert {c.item for c in got} == {"b", "c", "z"}
    assert got[0].reason == "viewed together with a"
    assert got[0].source == "covisit"


def test_pairs_weight_by_distance_and_direction():
    model = CoVisitation(window=2, backward=0.5)
    pairs = model.pairs(session("a", "b", "c"), Interaction("d"))
    assert pairs == [("c", "d", 1.0), ("d", "c", 0.5), ("b", "d", 0.5), ("d", "b", 0.25)]
    assert model.pairs(session("a"), Interaction("a")) == []
    assert model.pairs(session("a"), Interaction("b", "impression")) == []


def test_learn_one_equals_pairs_plus_add_pair():
    local, split = CoVisitation(), CoVisitation()
    s = session("a", "b", "c", ts=HOUR)
    it = Interaction("d", "view", 2 * HOUR)
    local.learn_one(s, it)
    for a, b, w in split.pairs(s, it):
        split.add_pair(a, b, w, it.ts)
    for item in "abcd":
        assert local.neighbors(item) == split.neighbors(item)


def test_fit_equals_replay_through_learn_one():
    sessions = [["a", "b", "c", "a", "d"], ["b", "c"], ["c", "a", "b"], ["e"]]
    fitted, replayed = CoVisitation(half_life_ms=None), CoVisitation(half_life_ms=None)
    fitted.fit(sessions)
    replay(replayed, sessions)
    for item in "abcde":
        assert dict(fitted.neighbors(item)) == pytest.approx(dict(replayed.neighbors(item)))


def test_recent_items_weigh_more_and_reason_names_the_contributor():
    model = CoVisitation(half_life_ms=None, recent=2)
    replay(model, [["a", "x"], ["b", "y"]])
    got = model.candidates(session("a", "b"), 10)
    assert [c.item for c in got[:2]] == ["y", "x"]
    assert got[0].reason == "viewed together with b"
    assert [c.reason for c in got if c.item == "x"] == ["viewed together with a"]


def test_time_decay_lets_fresh_pairs_win():
    model = CoVisitation(half_life_ms=HOUR, backward=0.0)
    for _ in range(3):
        model.learn_one(session("a", ts=0), Interaction("old", "view", HOUR))
    model.learn_one(session("a", ts=0), Interaction("new", "view", 10 * HOUR))
    assert [c.item for c in model.candidates(session("a"), 2)] == ["new", "old"]


def test_memory_is_bounded_by_top_k():
    model = CoVisitation(top_k=20, half_life_ms=None)
    model.fit([["hub", f"i{n}"] for n in range(1000)])
    model.candidates(session("hub"), 5)
    assert len(model.neighbors("hub")) == 20
    assert model.store.nnz <= 1000 + 30  # one back-link per spoke, hub row pruned


def test_candidates_many_matches_one_by_one():
    model = CoVisitation(half_life_ms=None)
    model.fit([["a", "b", "c"], ["b", "d"], ["c", "d", "a"]])
    sessions = [session("a"), session("b", "c"), session("zzz"), session()]
    many = model.candidates_many(sessions, 3)
    assert many == [model.candidates(s, 3) for s in sessions]
    assert many[2] == [] and many[3] == []
