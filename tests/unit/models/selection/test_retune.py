"""The production re-tune (models/selection/retune.py): the running configuration is what a choice must
beat, on the same validation cases, and only a win is published."""

from __future__ import annotations

import pytest

from contracts.artifacts import current_tuning, read_tuning
from models.recommender import StreamRecommender
from models.selection import Budget
from models.selection.retune import Retuner, apply_users, publish, running_config, settings_of
from tests.unit.models.selection.conftest import walk_sessions

SMALL = Budget(candidates=6, min_cases=60, eta=2)


def retuner(template=None, **kw) -> Retuner:
    return Retuner(template or StreamRecommender(page_rules=False), budget=SMALL, **kw)


def test_settings_of_the_worker_model_name_every_block_key():
    scoring, covis = settings_of(StreamRecommender(window=5, top_k=50), half_life_s=60.0)
    assert set(scoring) == {"weights", "repeat_decay", "recent", "recency_exponent", "norm_exponent"}
    assert covis == {"window": 5, "backward": 0.5, "top_k": 50, "half_life_s": 60.0}


def test_a_choice_that_beats_the_running_settings_is_published_and_then_kept(tmp_path):
    # Running settings that ignore the repeats a repeat-heavy log is full of: the search beats them.
    sessions = walk_sessions(300, repeat_p=0.6, seed=4)
    poor = StreamRecommender(page_rules=False, weights={"covisit": 1.0, "repeat": 0.0, "trending": 0.01})
    first = retuner(poor).run(sessions, None, created=1000.0, data={"events": 1234})
    v = first.config.validation
    assert first.publish, first.reason
    assert sum(v["chosen"].values()) > sum(v["running"].values()) and v["running_version"] is None
    assert first.config.scoring["weights"]["repeat"] > 0
    assert first.config.data["events"] == 1234 and first.config.data["sessions"] == 300
    assert first.config.data["validation_start"] == 270
    assert "running configuration" in first.config.rule
    assert publish(tmp_path, first) and current_tuning(tmp_path) == first.config.version
    running = running_config(tmp_path)
    assert running == read_tuning(tmp_path, first.config.version)

    # The same log again, from the published settings: the search starts from them (candidate 0), and a
    # choice no better than them on the same cases is not published.
    second = retuner(poor).run(sessions, running, created=2000.0)
    assert second.config.validation["running_version"] == first.config.version
    if not second.publish:
        assert not publish(tmp_path, second) and current_tuning(tmp_path) == first.config.version
    else:   # a strictly better candidate was drawn: the rule still holds
        v = second.config.validation
        assert sum(v["chosen"].values()) > sum(v["running"].values())


def test_running_settings_are_candidate_zero():
    sessions = walk_sessions(120, repeat_p=0.3, seed=5)
    template = StreamRecommender(page_rules=False, recent=8, window=3)
    r = Retuner(template, budget=Budget(candidates=1, min_cases=20, eta=2))   # only candidate 0
    decision = r.run(sessions, None, created=1.0, half_life_s=120.0)
    assert not decision.publish and "kept" in decision.reason
    assert decision.config.scoring["recent"] == 8 and decision.config.covis["window"] == 3
    assert decision.config.covis["half_life_s"] == 120.0   # carried, never searched
    assert decision.config.validation["chosen"] == decision.config.validation["running"]


def test_an_older_version_is_never_published_over_a_newer_one(tmp_path):
    sessions = walk_sessions(300, repeat_p=0.6, seed=4)
    poor = StreamRecommender(page_rules=False, weights={"covisit": 1.0, "repeat": 0.0, "trending": 0.01})
    newer = retuner(poor).run(sessions, None, created=2000.0)
    older = retuner(poor).run(sessions, None, created=1000.0)
    assert newer.publish and older.publish
    assert publish(tmp_path, newer)
    assert not publish(tmp_path, older) and "is newer" in older.reason
    assert current_tuning(tmp_path) == newer.config.version


def test_apply_users_sets_scoring_and_pair_settings_and_skips_what_the_model_lacks():
    sessions = walk_sessions(300, repeat_p=0.6, seed=4)
    poor = StreamRecommender(page_rules=False, weights={"covisit": 1.0, "repeat": 0.0, "trending": 0.01})
    config = retuner(poor).run(sessions, None, created=1.0).config
    model = StreamRecommender(page_rules=False)
    model.fit(sessions)
    applied = apply_users(model, config)
    assert applied["weights"] == config.scoring["weights"] == model.weights == model.ranker.weights
    assert (model.covisit.window, model.covisit.backward) == (config.covis["window"], config.covis["backward"])
    assert "top_k" not in applied and "half_life_s" not in applied   # the items side's

    class Plain:
        pass
    assert apply_users(Plain(), config) == {}


def test_too_few_sessions_is_a_value_error_the_trainer_skips():
    with pytest.raises(ValueError):
        retuner().run([["a", "b"]], None, created=1.0)
