"""Successive halving and the validation slice, on stand-in scores where the right answer is known."""

from __future__ import annotations

import pytest

from models.selection.search import Budget, draw, successive_halving
from models.selection.validation import ValidationSlice, assert_suffix, validation_slice


def test_rungs_keep_a_third_and_triple_the_cases_and_the_best_wins():
    space = {"x": list(range(100))}
    candidates = draw(space, {"x": 50}, Budget(candidates=27, seed=1))
    assert candidates[0] == {"x": 50} and len({c["x"] for c in candidates}) == 27
    seen: list[tuple[int, int]] = []

    def evaluate(cands, cases):
        seen.append((len(cands), len(cases)))
        return [(float(c["x"]), 0.0) for c in cands]   # larger x is better, whatever the cases

    sel = successive_halving(candidates, evaluate, list(range(100_000)), Budget(min_cases=10))
    assert sel.chosen["x"] == max(c["x"] for c in candidates)
    assert seen[:3] == [(27, 10), (9, 30), (3, 90)]
    # the defaults (x=50) were dropped along the way, so they are scored once more on the last rung's cases
    assert sel.defaults == {"x": 50} and sel.defaults_validation == (50.0, 0.0) and seen[-1] == (1, 90)
    assert sel.rungs == seen and sel.cases == 90


def test_ties_go_to_the_defaults_and_a_small_validation_set_ends_in_one_rung():
    calls = []

    def evaluate(cands, cases):
        calls.append(len(cases))
        return [(10.0, 5.0)] * len(cands)

    cands = [{"x": 0}, {"x": 1}, {"x": 2}, {"x": 3}]
    sel = successive_halving(cands, evaluate, list(range(7)), Budget(min_cases=100))
    assert sel.chosen == {"x": 0} and calls == [7]


def test_validation_slice_is_the_newest_tenth_of_the_training_sessions():
    sessions = [[str(i), str(i + 1)] for i in range(50)]
    cut = validation_slice(sessions, 0.1)
    assert cut.start == 45 and cut.tail == sessions[45:] and cut.head == sessions[:45]
    assert all(a is b for a, b in zip(cut.tail, sessions[45:]))
    cases = cut.cases()
    assert sorted(cases) == sorted((s[:1], s[1]) for s in sessions[45:])
    assert cut.cases(limit=3, seed=0) == cases[:3]   # nested: a smaller budget scores a prefix of the cases


def test_a_validation_slice_that_is_not_the_suffix_of_the_training_sessions_is_refused():
    sessions = [[str(i), str(i + 1)] for i in range(10)]
    copied = ValidationSlice(sessions[:9], [list(sessions[9])], 9, 10)   # equal content, another object
    with pytest.raises(AssertionError, match="not a training session"):
        assert_suffix(sessions, copied)
    elsewhere = ValidationSlice(sessions[:8], sessions[8:9], 8, 10)
    with pytest.raises(AssertionError, match="not the suffix"):
        assert_suffix(sessions, elsewhere)
