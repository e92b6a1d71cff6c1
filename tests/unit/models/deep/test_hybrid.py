"""The deep model as a stream source: candidates with their reason, version label, clean twins."""

from __future__ import annotations

from models.base import Interaction, Session
from models.deep.hybrid import HybridRecommender
from models.deep.source import REASON, DeepSource
from tests.unit.models.deep.conftest import cycle_sessions

TINY = dict(dim=16, max_len=8, layers=1, heads=2, dropout=0.0, epochs=4, batch_size=32, negatives=0,
            validation_fraction=0.1, n_popular=5, seed=0)


def session(*items: str) -> Session:
    return Session("u", [Interaction(i) for i in items])


def test_an_empty_source_proposes_nothing():
    assert DeepSource().candidates_many([session("i1"), session()], 5) == [[], []]
    assert DeepSource().version == ""


def test_hybrid_adds_the_deep_models_next_item_with_its_reason():
    rec = HybridRecommender(page_rules=False, deep_params=TINY, weights={"deep": 1.0, "trending": 0.0})
    rec.fit(cycle_sessions(300))
    deep = rec.deep.candidates(session("i3", "i4"), 3)
    assert deep[0].item == "i5" and deep[0].reason == REASON and deep[0].source == "deep"
    top = rec.recommend(session("i3", "i4"), 3)
    assert top[0].item == "i5" and top[0].source == "deep"
    # Unknown items only: the scorer's popular fallback has no score, so the source stays silent.
    assert rec.deep.candidates(session("nope"), 3) == []


def test_clone_is_an_untrained_twin_and_version_names_the_deep_model():
    rec = HybridRecommender(page_rules=False, deep_weight=0.5, deep_params=TINY, window=3)
    assert rec.version == "hybrid:none"
    rec.fit(cycle_sessions(100))
    twin = rec.clone()
    assert twin.deep.scorer is None and twin.deep_weight == 0.5 and twin.weights["deep"] == 0.5
    assert twin.deep_params == rec.deep_params and twin.window == 3 and not twin.page_rules


def test_weight_tuning_scores_each_weight_from_one_candidate_pass():
    from models.deep.tune_hybrid import score_weights

    rec = HybridRecommender(page_rules=False, deep_params=TINY, weights={"deep": 1.0})
    rec.fit(cycle_sessions(300))
    cases = [(["i3", "i4"], "i5"), (["i10"], "i11"), (["i7", "i8", "i9"], "i10")]
    results = score_weights(rec, cases, [0.0, 1.0])
    assert results[0.0] == (0.0, 0.0)  # no other source has a weight: nothing ranked without the deep one
    assert results[1.0] == (100.0, 100.0)
