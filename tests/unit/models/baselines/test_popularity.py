import numpy as np

from models.baselines import Pop, SessionPop
from models.baselines.ranking import PopularTop

from .conftest import TRAIN, replay, session


def test_pop_is_most_clicked_ties_to_smaller_id():
    model = Pop()
    model.fit(TRAIN)
    # clicks: 2 -> 4, 3 -> 3, 5 -> 3, then 1, 4, 6 with 2
    assert [c.item for c in model.recommend_many([session(["6"])], 4)[0]] == ["2", "3", "5", "1"]


def test_spop_ranks_session_items_first_by_count_then_popularity():
    model = SessionPop()
    model.fit(TRAIN)
    recs = [c.item for c in model.recommend_many([session(["1", "4", "4", "6"])], 5)[0]]
    # 4 twice; 1 and 6 once each (tied on global clicks 2, smaller id first); then popular 2, 3
    assert recs == ["4", "1", "6", "2", "3"]


def test_spop_recommends_items_it_never_saw():
    model = SessionPop()
    model.fit(TRAIN)
    recs = [c.item for c in model.recommend_many([session(["new", "new", "1"])], 3)[0]]
    assert recs == ["new", "1", "2"]


def test_popular_top_stays_exact_under_single_increments():
    rng = np.random.default_rng(3)
    clicks = np.zeros(50)
    top = PopularTop(size=7)
    for item in rng.integers(0, 50, size=2000):
        clicks[item] += 1
        top.bump(int(item), clicks)
        if rng.random() < 0.05:
            expected = PopularTop(size=7)
            expected.rebuild(clicks)
            assert top.top == expected.top


def test_stream_replay_equals_fit():
    fitted = Pop()
    fitted.fit(TRAIN)
    streamed = replay(Pop(), TRAIN)
    s = [session(["1"])]
    assert streamed.recommend_many(s, 5) == fitted.recommend_many(s, 5)


def test_empty_model_recommends_nothing_rather_than_failing():
    assert Pop().recommend_many([session(["1"])], 5) == [[]]
    assert SessionPop().recommend_many([session(["1"])], 5)[0][0].item == "1"
