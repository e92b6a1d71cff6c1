"""What selection chooses, and that sharing one fit among candidates changes nothing."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from models.base import Interaction, Session
from models.baselines import SKNN, STAN, VSKNN
from models.recommender import StreamRecommender
from models.selection import Budget, Selected
from models.selection.spaces import BOOST
from tests.unit.models.selection.conftest import walk_sessions

SMALL = Budget(candidates=8, min_cases=60, eta=2)


def lists(model, sessions):
    probes = [Session(f"p{i}", [Interaction(x) for x in s[:-1]]) for i, s in enumerate(sessions)]
    return [[(c.item, round(c.score, 9)) for c in recs] for recs in model.recommend_many(probes, 10)]


def test_repeat_heavy_logs_select_a_repeat_boost_and_beat_the_defaults_on_validation():
    train = walk_sessions(400, repeat_p=0.6, seed=3)
    rec = Selected(SKNN, BOOST, budget=SMALL)
    rec.fit(train)
    sel = rec.selection
    assert sel.defaults == {"repeat_boost": 0.0} and sel.chosen["repeat_boost"] > 0
    assert sum(sel.validation) > sum(sel.defaults_validation) + 1.0
    assert rec.model.repeat_boost == sel.chosen["repeat_boost"]


def test_logs_without_repeats_keep_the_boost_off():
    train = walk_sessions(400, repeat_p=0.0, seed=3)
    rec = Selected(SKNN, BOOST, budget=SMALL)
    rec.fit(train)
    assert rec.selection.chosen["repeat_boost"] == 0.0


def test_same_data_and_seed_same_choice_and_the_winner_is_refitted_on_every_session():
    train = walk_sessions(300, repeat_p=0.3, seed=4)
    space = {"k": [5, 20, 100], "l1": [0.5, 2.0, 8.0], "repeat_boost": [0.0, 0.2]}
    a, b = Selected(STAN, space, budget=SMALL), Selected(STAN, space, budget=SMALL)
    a.fit(train)
    b.fit(train)
    assert a.selection.chosen == b.selection.chosen
    assert a.model._index.n_sessions == 300   # the validation tail is learned after choosing
    fresh = STAN(**a.selection.chosen)
    fresh.fit(train)
    assert lists(a, train[-20:]) == lists(fresh, train[-20:])


def test_scoring_params_on_a_fitted_knn_equal_a_fresh_fit_with_them():
    train = walk_sessions(300, repeat_p=0.3, seed=5)
    params = dict(k=20, sample_size=50, position_weight="log", neighbour_decay="div", idf_weight=2.0,
                  repeat_boost=0.1)
    shared = VSKNN()
    shared.fit(train)
    shared.set_scoring_params(**params)
    fresh = VSKNN(**params)
    fresh.fit(train)
    assert lists(shared, train[:30]) == lists(fresh, train[:30])


def test_scoring_params_on_a_fitted_stream_equal_a_fresh_fit_with_them():
    train = walk_sessions(300, repeat_p=0.3, seed=6)
    params = dict(weights={"covisit": 1.0, "repeat": 2.2, "trending": 0.0}, repeat_decay=0.9, recent=5,
                  recency_exponent=2.0, norm_exponent=0.5, candidate_k=50)
    shared = StreamRecommender(page_rules=False)
    shared.fit(train)
    before = lists(shared, train[:30])
    shared.set_scoring_params(**params)
    fresh = StreamRecommender(page_rules=False, **params)
    fresh.fit(train)
    after = lists(shared, train[:30])
    assert after == lists(fresh, train[:30]) and after != before


def test_a_parameter_that_needs_a_refit_is_refused_on_a_fitted_model():
    with pytest.raises(ValueError, match="refit"):
        StreamRecommender().set_scoring_params(window=3)
    with pytest.raises(ValueError, match="position_weight"):
        VSKNN().set_scoring_params(position_weight="nope")


def test_evaluate_json_reports_the_choice_and_no_select_runs_the_defaults(tmp_path):
    from models.evaluation.cli import evaluate
    from tests.unit.models.evaluation.conftest import write_dataset

    app = typer.Typer()
    app.command()(evaluate)
    folder = write_dataset(tmp_path / "gen", train=[[int(x) for x in s] for s in walk_sessions(200, repeat_p=0.5)],
                           test=[[int(x) for x in s] for s in walk_sessions(10, repeat_p=0.5, seed=9)])
    res = CliRunner().invoke(app, ["-d", str(folder), "-m", "sknn+boost", "--json"])
    assert res.exit_code == 0, res.output
    sel = json.loads(res.stdout)["selection"]
    assert set(sel["chosen"]) == {"k", "sample_size", "repeat_boost"} and sel["defaults"]["repeat_boost"] == 0.0
    assert set(sel["validation"]) == {"hr", "mrr"} and sel["validation_start"] == 180
    res = CliRunner().invoke(app, ["-d", str(folder), "-m", "sknn+boost", "--no-select", "--json"])
    assert res.exit_code == 0, res.output
    assert "selection" not in json.loads(res.stdout)


def test_hybrid_selection_trains_the_deep_model_once_on_sessions_that_exclude_the_validation_slice(monkeypatch):
    from models.deep.hybrid import HybridRecommender
    from models.deep.source import DeepSource

    tiny = dict(dim=8, max_len=8, epochs=1, batch_size=64, negatives=0, validation_fraction=0.05, n_popular=5)
    trained: list[int] = []
    real_fit = DeepSource.fit
    monkeypatch.setattr(DeepSource, "fit", lambda self, s: (trained.append(len(s)), real_fit(self, s))[1])
    rec = Selected(HybridRecommender, {"deep_weight": [0.0, 1.0]}, {"page_rules": False, "deep_params": tiny},
                   budget=SMALL, fraction=0.05)
    rec.fit(walk_sessions(200, repeat_p=0.3, seed=7))
    assert trained == [200] and rec.model.deep.scorer is not None
    assert rec.model.weights["deep"] == rec.selection.chosen["deep_weight"]
    # a network that would train on the sessions selection validates on is refused
    leaky = Selected(HybridRecommender, {"deep_weight": [0.0, 1.0]},
                     {"page_rules": False, "deep_params": {**tiny, "validation_fraction": 0.01}}, budget=SMALL,
                     fraction=0.05)
    with pytest.raises(ValueError, match="holds out"):
        leaky.fit(walk_sessions(200, repeat_p=0.3, seed=7))
