"""A pool of several sessions: each session's rows are its own candidates, once each."""

from __future__ import annotations

from models.base import Candidate, Interaction, Session
from models.online.features import build_pool
from models.online.profiles import ItemFacts, UserProfiles
from models.online.ranker import OnlineRanker


def test_rows_of_each_session_are_contiguous_and_its_own():
    sessions = [Session(f"u{i}", [Interaction(f"x{i}", "view", 1_700_000_000_000)]) for i in range(3)]
    # Two sources, so rows arrive session 0, 1, 2, then again session 0, 1, 2.
    per_source = {
        "covisit": [[Candidate(f"s{i}a{j}", 1.0 / (j + 1), "r", "covisit") for j in range(4)] for i in range(3)],
        "trending": [[Candidate(f"s{i}b{j}", 1.0 / (j + 1), "r", "trending") for j in range(3)]
                     + [Candidate(f"s{i}a0", 0.5, "r", "trending")] for i in range(3)],
    }
    pool = build_pool(sessions, per_source, {"covisit": 1.0, "trending": 0.5}, ItemFacts(), UserProfiles())
    for i in range(3):
        mine = [pool.items[r] for r in range(pool.rows(i).start, pool.rows(i).stop)]
        assert sorted(mine) == sorted({f"s{i}a{j}" for j in range(4)} | {f"s{i}b{j}" for j in range(3)})
    for i, rows in enumerate(OnlineRanker().rank_pool(pool, 5)):
        items = [pool.items[r] for r in rows]
        assert len(set(items)) == len(items) and all(it.startswith(f"s{i}") for it in items)
    assert pool.best[pool.items.index("s1a0")].source == "covisit"  # the weightier source gives the reason
