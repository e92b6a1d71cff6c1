import pytest

from models.base import Candidate, Ranker, Session
from models.ranking.fusion import WeightedFusion


def test_sums_normalised_scores_and_keeps_the_strongest_reason():
    ranker = WeightedFusion({"covisit": 1.0, "content": 0.5, "repeat": 1.0})
    pool = [
        Candidate("a", 10.0, "viewed together with x", "covisit"),
        Candidate("b", 5.0, "viewed together with y", "covisit"),
        Candidate("b", 2.0, "similar to y", "content"),
        Candidate("c", 1.0, "similar to z", "content"),
        Candidate("c", 0.3, "you looked at c earlier", "repeat"),
    ]
    got = ranker.rank(Session("u"), pool, 10)
    assert [c.item for c in got] == ["a", "b", "c"]
    assert [c.score for c in got] == pytest.approx([1.0, 0.5 + 0.5, 0.25 + 0.3])
    assert got[0].reason == "viewed together with x"
    assert got[1].reason == "viewed together with y"  # 0.5 vs 0.5: first strongest kept
    assert got[2].reason == "you looked at c earlier" and got[2].source == "repeat"  # 0.3 > 0.25


def test_raw_sources_are_not_max_normalised_and_k_cuts():
    ranker = WeightedFusion({"covisit": 1.0, "repeat": 1.0})
    pool = [Candidate("a", 0.1, "r", "repeat"), Candidate("b", 50.0, "c", "covisit")]
    got = ranker.rank(Session("u"), pool, 1)
    assert [(c.item, c.score) for c in got] == [("b", 1.0)]
    assert isinstance(ranker, Ranker)


def test_zero_weight_sources_are_ignored():
    ranker = WeightedFusion({"covisit": 1.0})
    assert ranker.rank(Session("u"), [Candidate("a", 1.0, "r", "unknown")], 5) == []
