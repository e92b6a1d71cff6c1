"""Rising categories: a category whose share of the last minutes jumps is named within a minute or
two, steady traffic names none, and the state round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import Interaction
from models.candidates.rising import MINUTE_MS, RisingCategories

CATS = [f"c{j}" for j in range(20)]


def feed(r: RisingCategories, rng, t0: int, seconds: int, weights: np.ndarray, per_s: int = 20) -> int:
    t = t0
    for _ in range(seconds * per_s):
        t += 1000 // per_s
        r.learn_category(CATS[int(rng.choice(len(CATS), p=weights / weights.sum()))], Interaction("i", "view", t))
    return t


def test_steady_traffic_names_nothing_and_a_jump_is_named_within_two_minutes():
    rng = np.random.default_rng(1)
    r = RisingCategories(fast_half_life_ms=2 * MINUTE_MS, slow_half_life_ms=60 * MINUTE_MS, min_lift=1.5)
    base = rng.dirichlet(np.full(len(CATS), 2.0)) + 0.01
    t = feed(r, rng, 0, 3600, base)
    assert r.rising() == []
    shifted = base.copy()
    shifted[[3, 7]] *= 4.0
    t = feed(r, rng, t, 120, shifted)
    named = [c for c, _ in r.rising()]
    assert set(named) == {"c3", "c7"}, r.rising()
    assert all(lift >= 1.5 for _, lift in r.rising())


def test_other_types_and_unknown_categories_are_ignored_and_state_round_trips():
    r = RisingCategories(types=("view",))
    r.learn_category(None, Interaction("i", "view", 1000))
    r.learn_category("c0", Interaction("i", "impression", 1000))
    assert r.fast == {} and r.lift("c0") == 1.0
    for n in range(50):
        r.learn_category(CATS[n % 3], Interaction("i", "view", 1000 + 100 * n))
    twin = r.clone()
    twin.load_state_dict(r.state_dict())
    assert [twin.lift(c) for c in CATS[:3]] == [r.lift(c) for c in CATS[:3]]
    with pytest.raises(ValueError):
        RisingCategories(fast_half_life_ms=10.0, slow_half_life_ms=5.0)
