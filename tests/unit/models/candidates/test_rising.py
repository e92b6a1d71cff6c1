"""Rising categories: a session is one vote, steady traffic names nothing, a category that more
sessions turn to is named within a few dozen of its votes and dropped when the rise ends, and the
state round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import Interaction, Session
from models.candidates.rising import RisingCategories, session_vote

CATS = [f"c{j}" for j in range(20)]


def votes(r: RisingCategories, rng, t0: int, n: int, weights: np.ndarray, gap_ms: int = 500) -> int:
    """``n`` votes drawn by ``weights``, one every ``gap_ms``; returns the last ts."""
    t = t0
    p = weights / weights.sum()
    for j in rng.choice(len(CATS), size=n, p=p):
        t += gap_ms
        r.learn_vote(CATS[int(j)], t)
    return t


def test_session_vote_counts_a_category_once_per_session_and_never_a_click_on_a_list():
    category_of = {"a1": "A", "a2": "A", "b1": "B"}
    empty = Session("u", [])
    after_a1 = Session("u", [Interaction("a1", "view", 1)])
    assert session_vote(empty, Interaction("a1", "view", 1), "A", category_of)
    assert not session_vote(after_a1, Interaction("a2", "view", 2), "A", category_of)  # same session, same category
    assert session_vote(after_a1, Interaction("b1", "view", 2), "B", category_of)
    assert not session_vote(empty, Interaction("b1", "click", 2, shown=["b1", "a2"]), "B", category_of)
    assert not session_vote(empty, Interaction("b1", "impression", 2), "B", category_of)
    assert not session_vote(empty, Interaction("zz", "view", 2), None, category_of)


def test_one_busy_session_is_one_vote_so_it_cannot_make_its_category_rise():
    r = RisingCategories(warmup_votes=100)
    rng = np.random.default_rng(0)
    category_of = {f"i{j}": CATS[j % len(CATS)] for j in range(1000)}
    t = votes(r, rng, 0, 2000, np.ones(len(CATS)))
    history: list[Interaction] = []
    for n in range(40):  # forty views of items of c0 in one session
        ia = Interaction(f"i{20 * n}", "view", t + 100 * n)
        r.learn_one(Session("u", list(history)), ia, category_of[ia.item], category_of)
        history.append(ia)
    assert r.votes == 2001 and r.rising() == []


def test_steady_traffic_names_nothing_and_a_tripled_share_is_named_soon():
    rng = np.random.default_rng(1)
    r = RisingCategories(ratio=3.0, threshold=6.0, warmup_votes=500)
    base = rng.dirichlet(np.full(len(CATS), 2.0)) + 0.01
    t = votes(r, rng, 0, 6000, base)  # 50 minutes at 2 votes a second
    assert r.rising() == []
    shifted = base.copy()
    shifted[[3, 7]] *= 3.0
    named_after = {}
    for n in range(1, 401):
        t = votes(r, rng, t, 1, shifted)
        for c, score in r.rising():
            named_after.setdefault(c, n)
            assert score >= 1.0
    assert set(named_after) == {"c3", "c7"}, named_after
    assert max(named_after.values()) <= 300  # 150 s at 2 votes a second


def test_nothing_is_named_during_warmup_and_a_rise_that_ends_is_dropped():
    rng = np.random.default_rng(2)
    base = np.ones(len(CATS))
    hot = base.copy()
    hot[5] = 4.0  # c5: 17 % of the votes instead of 5 %
    early = RisingCategories(warmup_votes=1000)
    votes(early, rng, 0, 900, hot)
    assert early.rising() == []  # still warming up: nothing to compare with yet
    r = RisingCategories(warmup_votes=1000)
    t = votes(r, rng, 0, 3000, base)
    t = votes(r, rng, t, 400, hot)
    assert [c for c, _ in r.rising()] == ["c5"]
    votes(r, rng, t, 600, base)
    assert r.rising() == []


def test_state_round_trips_clone_is_fresh_and_an_old_detectors_state_is_ignored():
    rng = np.random.default_rng(3)
    r = RisingCategories(warmup_votes=50)
    votes(r, rng, 0, 300, np.ones(len(CATS)))
    twin = r.clone()
    assert twin.votes == 0 and twin.cusum == {}
    twin.load_state_dict(r.state_dict())
    assert [twin.score(c) for c in CATS] == [r.score(c) for c in CATS] and twin.votes == r.votes
    fresh = r.clone()
    fresh.load_state_dict({"fast_clock": (None, None), "fast": {"c0": 1.0}})  # the share-lift detector's
    assert fresh.votes == 0
    with pytest.raises(ValueError):
        RisingCategories(ratio=1.0)
