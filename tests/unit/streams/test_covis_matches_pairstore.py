"""The worker's item side (streams/covis.py) publishes the neighbour lists the model's PairStore would.

Both use one decay rule and one top-K rule (``decay_factor`` and ``top_k`` in
models/candidates/pairstore.py), so the co-visitation the worker serves is the one evaluation measures;
this fails if either side grows its own again. Compared below the pruning point (the two stores keep
different slack above K, a memory trade-off of each layout) and within the rebase horizon (both
rebase forward-decayed weights, after 40 and 60 half-lives).
"""

from __future__ import annotations

import random

import pytest

from models.candidates.pairstore import PairStore, decay_factor
from streams.covis import CovisPolicy, ItemDelta, ItemStats

DAY = 86_400_000
ITEMS = [f"i{n}" for n in range(10)]  # 9 neighbours at most: no row reaches either pruning point


def _pairs(seed: int) -> list[tuple[str, str, float, int]]:
    rng = random.Random(seed)
    ts, out = 1_700_000_000_000, []
    for _ in range(400):
        ts += rng.randrange(1, 3 * 3600_000)
        a, b = rng.sample(ITEMS, 2)
        out.append((a, b, rng.choice([1.0, 0.5, 1 / 3]), ts))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_item_side_lists_are_the_pairstore_lists(seed):
    half_life = 2 * DAY
    policy, store = CovisPolicy(half_life_ms=half_life, top_k=6), PairStore(top_k=6, half_life_ms=half_life)
    rows: dict[str, ItemStats] = {}
    for a, b, w, ts in _pairs(seed):
        policy.apply(rows.setdefault(a, ItemStats()), ItemDelta(ts=ts, similar={b: w}))
        store.add(a, b, w, ts)
    now = store.clock.now
    for item, row in rows.items():
        worker, model = policy.neighbors(row).similar, store.neighbors(item)
        assert [i for i, _ in worker] == [i for i, _ in model], item
        # the worker decays a list to its item's latest event, the store to its own latest event
        assert [s * decay_factor(now - row.ts, half_life) for _, s in worker] == \
            pytest.approx([s for _, s in model], rel=1e-5), item


def test_pruning_keeps_the_heaviest_on_both_sides():
    policy, store = CovisPolicy(half_life_ms=DAY, top_k=3), PairStore(top_k=3, half_life_ms=DAY, merge_every=1)
    row = ItemStats()
    for n, item in enumerate(ITEMS[1:], start=1):  # 9 neighbours, heavier and heavier: both prune
        policy.apply(row, ItemDelta(ts=1_700_000_000_000, similar={item: float(n)}))
        store.add("i0", item, float(n), 1_700_000_000_000)
    assert [i for i, _ in policy.neighbors(row).similar] == [i for i, _ in store.neighbors("i0")] == \
        ["i9", "i8", "i7"]
