"""Ranker negatives come from the impression (the items actually shown) when the event carries one."""

from __future__ import annotations

import numpy as np

from contracts.events import Event
from models.base import Interaction, Session
from models.online.features import FEATURES
from models.online.ranker import OnlineRanker
from models.online.recommender import OnlineRecommender, shown_rows
from streams.session import to_interaction


class Recorder:
    """Stands in for River's model: which rows were learned, with which label."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool]] = []
        self.weights: dict[str, float] = {}

    def learn_one(self, x: dict, y: bool, w: float = 1.0) -> None:
        self.seen.append((int(round(x[FEATURES[0]])), y))   # row id stored in the first column
        self.w = w


def ranker_with_recorder(negatives: int = 4) -> tuple[OnlineRanker, Recorder]:
    ranker = OnlineRanker(negatives=negatives)
    ranker.model = rec = Recorder()
    return ranker, rec


def rows(n: int) -> np.ndarray:
    X = np.zeros((n, len(FEATURES)))
    X[:, 0] = np.arange(1, n + 1)          # row r carries r + 1 (0 would be dropped as sparse)
    return X


def test_ranker_draws_negatives_from_the_given_rows_only():
    ranker, rec = ranker_with_recorder(negatives=4)
    ranker.learn_one(rows(10), 0, negative_rows=[7, 2])
    assert rec.seen[0] == (1, True) and sorted(rec.seen[1:]) == [(3, False), (8, False)]
    ranker, rec = ranker_with_recorder(negatives=4)
    ranker.learn_one(rows(10), 0)                            # no impression: any other row
    assert len(rec.seen) == 5 and all(not y and r != 1 for r, y in rec.seen[1:])


def test_shown_rows_maps_the_impression_onto_the_remembered_list():
    remembered = ["a", "b", "c", "d"]
    assert shown_rows(remembered, ["a", "c", "zz", "c"], 0) == [2]    # picked one, unknown, duplicate out
    assert shown_rows(remembered, None, 0) is None                     # no impression: fall back
    assert shown_rows(remembered, ["zz", "a"], 0) is None              # nothing shown we have rows for


def fitted() -> tuple[OnlineRecommender, Session, list[str]]:
    rec = OnlineRecommender(page_rules=False, mf_factors=0)
    rec.fit([["a", "b", "c"], ["a", "b", "d"], ["b", "c", "e"], ["a", "e", "f"], ["c", "d", "f"]] * 3)
    session = Session("u", [Interaction("a", "view", 1000)])
    rec.recommend_many([session], 10)
    items = rec._last["u"][0]
    assert len(items) >= 4
    return rec, session, items


def spy(rec: OnlineRecommender) -> list:
    calls = []
    learn = rec.online_ranker.learn_one
    rec.online_ranker.learn_one = lambda X, pos, negative_rows=None, weight=1.0: (
        calls.append((pos, negative_rows) if weight == 1.0 else (pos, negative_rows, weight)),
        learn(X, pos, negative_rows, weight))
    return calls


def test_a_click_with_its_impression_learns_against_what_was_shown():
    rec, session, items = fitted()
    calls = spy(rec)
    picked = items[1]
    rec.learn_online(session, Interaction(picked, "click", 2000, shown=[items[3], picked, items[0], "gone"]))
    assert calls == [(1, [3, 0])]
    assert rec.online_ranker.learned == 1


def test_without_an_impression_the_remembered_list_gives_the_negatives():
    rec, session, items = fitted()
    calls = spy(rec)
    rec.learn_online(session, Interaction(items[2], "view", 2000))
    assert calls == [(2, None)]


def test_the_worker_hands_the_events_shown_items_to_the_model():
    click = Event(event_id="e", ts=1, user_id="u", type="click", item_id="b", list_id="l", position=1,
                  shown=["a", "b"])
    assert to_interaction(click).shown == ["a", "b"]
    assert to_interaction(Event(event_id="f", ts=1, user_id="u", type="view", item_id="b")).shown is None


def test_a_cart_and_an_order_of_the_picked_item_learn_that_choice_again_weighted():
    rec, session, items = fitted()
    rec.outcome_weights = {"cart": 2.0, "order": 4.0}
    calls = spy(rec)
    picked = items[1]
    rec.learn_online(session, Interaction(picked, "click", 2000, shown=[items[3], picked, items[0]]))
    rec._last.pop("u")  # the worker's next list is of the picked item's page: it is not in it
    rec.learn_online(session, Interaction(items[0], "cart", 2500))     # another item: nothing
    rec.learn_online(session, Interaction(picked, "cart", 3000))
    rec.learn_online(session, Interaction(picked, "order", 4000))
    rec.learn_online(session, Interaction(picked, "order", 5000))      # one order per pick
    assert calls == [(1, [3, 0]), (1, [3, 0], 2.0), (1, [3, 0], 4.0)]


def test_outcomes_off_by_default_and_the_weight_reaches_river():
    rec, session, items = fitted()
    calls = spy(rec)
    rec.learn_online(session, Interaction(items[1], "click", 2000))
    rec._last.pop("u")
    rec.learn_online(session, Interaction(items[1], "order", 3000))
    assert [c[0] for c in calls] == [1]
    ranker, recorder = ranker_with_recorder()
    ranker.learn_one(rows(3), 0, weight=3.0)
    assert recorder.w == 3.0
