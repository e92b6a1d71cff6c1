"""The worker's recommender spec: the default honours FRESHREC_COVIS_* / FRESHREC_TRENDING_* settings."""

from __future__ import annotations

import pytest

from freshrec.settings import Settings
from models.recommender import StreamRecommender
from streams.app import RecommenderLoadError, load_recommender


def test_default_spec_is_built_from_the_workers_settings():
    s = Settings(covis_window=3, covis_top_k=50, covis_half_life_s=60.0, trending_half_life_s=10.0)
    rec = load_recommender(Settings.model_fields["worker_recommender"].default, s)
    assert isinstance(rec, StreamRecommender)
    assert (rec.window, rec.top_k, rec.half_life_ms, rec.trending_half_life_ms) == (3, 50, 60_000.0, 10_000.0)
    assert rec.page_rules  # the product's detail page, not the papers' protocol


def test_a_factory_without_settings_is_called_bare():
    rec = load_recommender("models.recommender:StreamRecommender", Settings(covis_window=3))
    assert rec.window == StreamRecommender().window


def test_a_bad_spec_says_what_to_fix():
    with pytest.raises(RecommenderLoadError, match="expected 'module:factory'"):
        load_recommender("models.recommender", Settings())
    with pytest.raises(RecommenderLoadError, match="cannot import"):
        load_recommender("models.nope:x", Settings())
