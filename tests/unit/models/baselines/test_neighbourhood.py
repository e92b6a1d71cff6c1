import numpy as np
import pytest

from models.base import Candidate
from models.baselines import SKNN, STAN, VSKNN, ItemKNN
from models.baselines.index import SessionIndex
from models.baselines.sknn import sharing_sessions

from .conftest import TRAIN, replay, session

MODELS = [ItemKNN(), SKNN(k=3, sample_size=10), VSKNN(k=3, sample_size=10), STAN(k=3, sample_size=10),
          VSKNN(k=3, sample_size=10, repeat_boost=0.2), STAN(k=3, sample_size=10, repeat_boost=0.2)]


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_contract_k_distinct_items_best_first(model):
    model = model.clone()
    model.fit(TRAIN)
    recs = model.recommend_many([session(["1", "2"]), session(["4"], user="v")], 5)
    for lst in recs:
        assert len(lst) == 5 and all(isinstance(c, Candidate) for c in lst)
        assert len({c.item for c in lst}) == 5
        scores = [c.score for c in lst]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_clone_is_untrained_with_same_settings(model):
    trained = model.clone()
    trained.fit(TRAIN)
    twin = trained.clone()
    assert repr(twin) == repr(model)
    assert twin._index.n_sessions == 0


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_stream_replay_equals_fit(model):
    fitted = model.clone()
    fitted.fit(TRAIN)
    streamed = replay(model.clone(), TRAIN)
    cases = [session(["1", "2"], user="x"), session(["5"], user="y"), session(["3", "6", "3"], user="z")]
    for a, b in zip(fitted.recommend_many(cases, 6), streamed.recommend_many(cases, 6)):
        assert [c.item for c in a] == [c.item for c in b]
        assert [c.score for c in a] == pytest.approx([c.score for c in b])


@pytest.mark.parametrize("model", MODELS[1:4], ids=repr)
def test_neighbours_items_score_and_others_do_not(model):
    model = model.clone()
    model.fit([["a", "b"], ["c", "d"], ["c", "d"]])
    recs = model.recommend_many([session(["a"])], 4)[0]
    scored = {c.item for c in recs if c.score > 0}
    assert scored == {"a", "b"}   # prefix items are not excluded (the papers' protocol)
    assert recs[-1].score == 0.0   # padding with popular items


def test_a_session_is_never_its_own_neighbour():
    model = replay(SKNN(k=5, sample_size=10), [["a", "b"]], prefix="u")
    # "u-0" has clicked a and b; scoring it must not find itself (it is the only session)
    recs = model.recommend_many([session(["a", "b"], user="u-0")], 2)[0]
    assert all(c.score == 0 for c in recs)


def test_repeat_boost_adds_beta_per_click_in_session():
    plain, boosted = VSKNN(k=5, sample_size=10), VSKNN(k=5, sample_size=10, repeat_boost=1.0)
    for m in (plain, boosted):
        m.fit(TRAIN)
    s = [session(["6", "6", "2"])]
    base = {c.item: c.score for c in plain.recommend_many(s, 6)[0]}
    top = max(base.values())
    got = {c.item: c.score for c in boosted.recommend_many(s, 6)[0]}
    assert got["6"] == pytest.approx(base["6"] / top + 2.0)
    assert got["2"] == pytest.approx(base["2"] / top + 1.0)


def test_itemknn_cosine_by_hand():
    model = ItemKNN()
    model.fit(TRAIN)
    recs = {c.item: c.score for c in model.recommend_many([session(["6"])], 3)[0]}
    # 6 is in 2 sessions; 5 shares 1 of its 2, 2 shares 1 of its 4
    assert recs["5"] == pytest.approx(1 / np.sqrt(2 * 2))
    assert recs["2"] == pytest.approx(1 / np.sqrt(2 * 4))
    assert "6" not in recs or recs["6"] == 0.0


def test_sharing_sessions_keeps_the_m_most_recent():
    index = SessionIndex()
    index.build([["a", "x"], ["b"], ["a"], ["b", "a"], ["c"]])
    ids = np.array([index.item_id("a"), index.item_id("b")])
    sids, rows, which = sharing_sessions(index, ids, m=2, own_sid=None)
    assert sids.tolist() == [2, 3]
    # session 3 holds both a and b
    assert sorted(which[rows == 1].tolist()) == [0, 1]
    sids, _, _ = sharing_sessions(index, ids, m=2, own_sid=3)
    assert sids.tolist() == [1, 2]


def test_unknown_settings_are_rejected_clearly():
    with pytest.raises(ValueError, match="position_weight"):
        VSKNN(position_weight="cubic")


def test_vsknn_by_hand():
    # prefix [a, b]: linear position weights a 1/2, b 1; sims 0.5/2 and 1/2 (divided by 2 distinct items);
    # linear decay: the neighbour matching b (1 step back) keeps 0.9, the one matching a keeps 0.8
    model = VSKNN(k=10, sample_size=10, idf_weight=0.0)
    model.fit([["a", "x"], ["b", "y"]])
    got = {c.item: c.score for c in model.recommend_many([session(["a", "b"])], 4)[0]}
    assert got == pytest.approx({"y": 0.45, "b": 0.45, "x": 0.2, "a": 0.2})
    weighted = VSKNN(k=10, sample_size=10, idf_weight=2.0)
    weighted.fit([["a", "x"], ["b", "y"]])
    got = {c.item: c.score for c in weighted.recommend_many([session(["a", "b"])], 4)[0]}
    assert got["y"] == pytest.approx(0.45 * (1 + 2.0 * np.log(2)))


def test_stan_by_hand():
    # prefix [a, b], l1=1: weights a e^-1, b 1; neighbour [b, y] has 2 distinct items
    model = STAN(k=10, sample_size=10, l1=1.0, l2=1e9, l3=1.0)
    model.fit([["b", "y"]])
    got = {c.item: c.score for c in model.recommend_many([session(["a", "b"])], 2)[0]}
    sim = 1.0 / (np.sqrt(np.exp(-2.0) + 1.0) * np.sqrt(2.0))
    # y sits one position after b, the neighbour's latest shared item: weight e^-1
    assert got == pytest.approx({"b": sim, "y": sim * np.exp(-1.0)})
