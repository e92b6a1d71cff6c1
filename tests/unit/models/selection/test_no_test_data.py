"""The test split never chooses anything: every selecting model's ``fit`` is watched for test data.

``freshrec evaluate`` hands ``fit`` the training sessions and scores the test cases afterwards. Here the
test sessions and cases are sentinels that raise when read while any ``fit`` runs, so a selection path
that reached for them (or an evaluation that handed them over) fails; and handing test sessions to
``fit`` inside the training list makes every path fail too, because selection scores the newest sessions.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from models.evaluation import registry
from models.evaluation.protocol import StrData, evaluate
from tests.unit.models.selection.conftest import walk_sessions

TINY_DEEP = dict(dim=8, max_len=8, epochs=1, batch_size=64, negatives=0, validation_fraction=0.05, n_popular=5)
SELECTING = [n for n in registry.names() if registry.spec(n).space]


class LeakedTestData(AssertionError):
    pass


class Fitting:
    """Set while a model's ``fit`` runs."""

    def __init__(self) -> None:
        self.on = False

    def wrap(self, model) -> None:
        fit = model.fit

        def guarded(sessions):
            self.on = True
            try:
                fit(sessions)
            finally:
                self.on = False

        model.fit = guarded


class Guarded(list):
    """Test sessions or cases: readable by the protocol after ``fit``, an error during it."""

    def __init__(self, items, fitting: Fitting) -> None:
        super().__init__(items)
        self.fitting = fitting

    def _check(self) -> None:
        if self.fitting.on:
            raise LeakedTestData("test data read while the model was fitting")

    def __iter__(self):
        self._check()
        return super().__iter__()

    def __getitem__(self, i):
        self._check()
        return super().__getitem__(i)

    def __len__(self) -> int:
        self._check()
        return super().__len__()


class Poison(Sequence):
    """A test session slipped into the training list: any read of its clicks fails."""

    def __len__(self) -> int:
        raise LeakedTestData("a test session was read")

    def __getitem__(self, i):
        raise LeakedTestData("a test session was read")

    def __iter__(self):
        raise LeakedTestData("a test session was read")


def build(name: str):
    return registry.create(name, deep_params=TINY_DEEP) if name == "hybrid" else registry.create(name)


def test_every_selecting_model_is_registered_with_a_space():
    # Guards the parametrisation below against silently covering nothing.
    assert {"sknn", "vsknn+boost", "stan+boost", "stream", "hybrid"} <= set(SELECTING)


@pytest.mark.parametrize("name", SELECTING)
def test_selection_reads_only_the_newest_training_sessions(name):
    train = walk_sessions(200, repeat_p=0.3, seed=1)
    test = walk_sessions(20, repeat_p=0.3, seed=2, prefix="t")   # items no training session has
    fitting = Fitting()
    cases = [(s[:t], s[t]) for s in test for t in range(len(s) - 1, 0, -1)]
    data = StrData("generated", train, Guarded(test, fitting), Guarded(cases, fitting), 200)
    model = build(name)
    fitting.wrap(model)
    result = evaluate(model, data, mode="offline", k=5, name=name)
    sel = result.selection
    n_val = 10 if name == "hybrid" else 20   # its own 5 %, the deep model's held-out slice; else 10 %
    assert sel is not None and sel["training_sessions"] == 200
    assert (sel["validation_start"], sel["validation_sessions"]) == (200 - n_val, n_val)
    assert 0 < sel["cases"] <= sel["validation_cases"] == sum(len(s) - 1 for s in train[-n_val:])
    assert set(sel["chosen"]) == set(registry.spec(name).space)


@pytest.mark.parametrize("name", SELECTING)
def test_every_selection_path_fails_when_handed_test_sessions(name):
    train = walk_sessions(100, repeat_p=0.3, seed=1)
    model = build(name)
    with pytest.raises(LeakedTestData):
        model.fit(train + [Poison() for _ in range(10)])


def test_the_guard_catches_a_fit_that_reads_the_test_cases():
    # The control for the test above: the same sentinels do fire when a fit looks at test data.
    from models.baselines import Pop

    fitting = Fitting()
    cases = Guarded([(["t1"], "t2")], fitting)

    class Peeking(Pop):
        def fit(self, sessions):
            super().fit(list(sessions) + [[item for item, _ in cases]])

    model = Peeking()
    fitting.wrap(model)
    data = StrData("generated", walk_sessions(20, repeat_p=0.0), Guarded([], fitting), cases, 60)
    with pytest.raises(LeakedTestData):
        evaluate(model, data, mode="offline", k=5)


def test_the_production_re_tune_fails_when_handed_test_sessions():
    # The trainer's path (models/selection/retune.py): the newest sessions of the log are its validation
    # slice, so test sessions among them are read, and the sentinel fails the re-tune.
    from models.recommender import StreamRecommender
    from models.selection import Budget
    from models.selection.retune import Retuner

    retuner = Retuner(StreamRecommender(), budget=Budget(candidates=3, min_cases=20, eta=2))
    train = walk_sessions(100, repeat_p=0.3, seed=1)
    with pytest.raises(LeakedTestData):
        retuner.run(train + [Poison() for _ in range(10)], None, created=0.0)
