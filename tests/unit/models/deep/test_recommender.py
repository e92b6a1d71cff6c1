from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.base import Interaction, Recommender, Session
from models.deep.recommender import DeepRecommender
from tests.unit.models.deep.conftest import N_ITEMS, cycle_sessions, tiny_model


def session(*items: str) -> Session:
    return Session("u", [Interaction(i) for i in items])


def test_is_a_recommender_named_deep():
    assert isinstance(DeepRecommender(), Recommender)
    assert DeepRecommender.name == "deep"


def test_deterministic_next_item_reaches_high_hr_at_1(trained):
    cases = [(s[:t], s[t]) for s in cycle_sessions(200, seed=1) for t in range(1, len(s))]
    recs = trained.recommend_many([session(*p) for p, _ in cases], 1)
    hr1 = np.mean([r[0].item == nxt for r, (_, nxt) in zip(recs, cases)])
    assert hr1 >= 0.95, hr1
    assert trained.validation["hr@20"] == 100.0
    assert trained.validation["mrr@20"] >= 95.0


@pytest.mark.parametrize("readout", ["mix", "core"])
def test_learns_repeats_through_the_repeat_head(readout):
    # The next item is always the session's first item: only pointing back at the session can know it.
    rng = np.random.default_rng(3)
    sessions = []
    for _ in range(500):
        a, b = rng.choice(N_ITEMS, 2, replace=False)
        sessions.append([f"i{a}", f"i{b}", f"i{a}"])
    model = tiny_model(epochs=8, readout=readout)
    model.fit(sessions)
    recs = model.recommend_many([session("i3", "i7"), session("i11", "i2")], 1)
    assert [r[0].item for r in recs] == ["i3", "i11"]


def test_recommend_many_shapes_and_unknown_items(trained):
    recs = trained.recommend_many([session("i1"), session("nope"), session()], 5)
    assert [len(r) for r in recs] == [5, 5, 5]
    assert recs[0][0].item == "i2" and recs[0][0].source == "deep"
    scores = [c.score for c in recs[0]]
    assert scores == sorted(scores, reverse=True)
    # No known item: the popular fallback, not an error.
    assert [c.item for c in recs[1]] == trained.popular[:5]
    assert recs[1][0].reason == "popular"


def test_learn_one_buffers_without_changing_scores(trained):
    before = trained.torch_probs([["i4"]])
    trained.learn_one(session("i4"), Interaction("i9"))
    assert trained.buffer[-1] == ("u", "i9")
    np.testing.assert_array_equal(before, trained.torch_probs([["i4"]]))


def test_clone_is_untrained_and_same_seed_same_output(trained):
    twin = trained.clone()
    assert twin.net is None and twin.dim == trained.dim
    a, b = tiny_model(epochs=1), tiny_model(epochs=1)
    data = cycle_sessions(100)
    a.fit(data)
    b.fit(data)
    np.testing.assert_allclose(a.torch_probs([["i1", "i2"]]), b.torch_probs([["i1", "i2"]]), atol=1e-6)


def test_pickles(trained):
    copy = pickle.loads(pickle.dumps(trained))
    np.testing.assert_allclose(copy.torch_probs([["i5"]]), trained.torch_probs([["i5"]]), atol=1e-7)
