"""Co-visitation halves: pair extraction, per-window sums, forward decay and top-K pruning."""

from __future__ import annotations

import pytest

from models.base import Interaction, Session
from streams.covis import (COMPLEMENTARY, SIMILAR, CovisPolicy, DeltaBatch, ItemDelta, ItemDeltas, ItemStats,
                           decode_batch, encode, session_pairs)

DAY = 86_400_000


def test_pairs_weight_by_distance_both_ways_and_complements_for_baskets():
    s = Session("u", [Interaction("a", "cart"), Interaction("b"), Interaction("c")])
    pairs = session_pairs(s, "d", "order", window=2)
    assert ("c", "d", 1.0, SIMILAR) in pairs and ("d", "c", 1.0, SIMILAR) in pairs
    assert ("b", "d", 0.5, SIMILAR) in pairs
    assert ("a", "d", 1.0 / 3, SIMILAR) not in pairs  # beyond the window
    assert ("a", "d", 1.0, COMPLEMENTARY) in pairs and ("d", "a", 1.0, COMPLEMENTARY) in pairs


def test_deltas_sum_per_item_and_round_trip():
    d = ItemDeltas()
    d.add_pair("a", "b", 1.0, 10)
    d.add_pair("a", "b", 0.5, 20)
    d.add_view("a", 5)
    got = decode_batch(encode(DeltaBatch(d.by_item))).items["a"]
    assert got.similar == {"b": 1.5} and got.views == 1.0 and got.ts == 20


def test_decay_halves_old_weights_relative_to_new_ones():
    policy = CovisPolicy(half_life_ms=DAY, top_k=10, popularity_half_life_ms=DAY)
    s = ItemStats()
    policy.apply(s, ItemDelta(ts=DAY, views=1.0, similar={"old": 1.0}))
    policy.apply(s, ItemDelta(ts=2 * DAY, views=1.0, similar={"new": 1.0}))
    nb = dict(policy.neighbors(s).similar)
    assert nb["old"] == pytest.approx(0.5 * nb["new"])
    assert policy.neighbors(s).popularity == pytest.approx(1.5)


def test_rescaling_keeps_ratios_over_many_half_lives():
    policy = CovisPolicy(half_life_ms=1000, top_k=10)
    s = ItemStats()
    policy.apply(s, ItemDelta(ts=1, similar={"x": 1.0}))
    policy.apply(s, ItemDelta(ts=1 + 100_000, similar={"y": 1.0}))  # 100 half-lives: forces a rescale
    policy.apply(s, ItemDelta(ts=1 + 101_000, similar={"y": 1.0}))
    nb = dict(policy.neighbors(s).similar)
    assert nb["y"] == pytest.approx(1.5) and nb.get("x", 0.0) < 1e-12


def test_pruning_bounds_memory_and_keeps_the_heaviest():
    policy = CovisPolicy(top_k=5)
    s = ItemStats()
    for i in range(100):
        policy.apply(s, ItemDelta(ts=1, similar={f"n{i}": float(i)}))
        assert len(s.similar) <= 10
    assert [i for i, _ in policy.neighbors(s).similar] == ["n99", "n98", "n97", "n96", "n95"]


def test_per_event_shares_keep_their_source_and_unsourced_ones_are_summed():
    d = ItemDeltas()
    d.begin("e1")
    d.add_view("a", 10)
    d.add_pair("a", "b", 1.0, 10)
    d.begin("e2")
    d.add_view("a", 20)
    sources = {"e1": (2, 7)}
    batches = d.batches(4, lambda item, n: 0, sources.get)
    got = decode_batch(encode(batches[0]))
    assert [(s.partition, s.offset, s.delta.views) for s in got.sourced["a"]] == [(2, 7, 1.0)]
    assert got.items["a"].views == 1.0 and got.items["a"].ts == 20  # e2 had no source
    assert sorted(i for i, _ in got.deltas()) == ["a", "a"] and len(d) == 1


def test_popularity_does_not_depend_on_the_order_of_deltas():
    policy = CovisPolicy(half_life_ms=DAY, top_k=10, popularity_half_life_ms=DAY)
    deltas = [ItemDelta(ts=DAY + t * DAY // 4, views=1.0 + t) for t in range(6)]
    forward, backward = ItemStats(), ItemStats()
    for x in deltas:
        policy.apply(forward, x)
    for x in reversed(deltas):
        policy.apply(backward, x)
    assert backward.popularity == pytest.approx(forward.popularity, rel=1e-12)


def test_large_delta_batches_split_by_item_into_records_under_the_bound():
    from streams.covis import DeltaBatch, ItemDelta, SourcedDelta, decode_batch, encode_batches

    sourced = {f"i{n}": [SourcedDelta(0, k, ItemDelta(ts=k, views=1.0, similar={f"j{m}": 1.0 for m in range(20)}))
                         for k in range(3)] for n in range(200)}
    batch = DeltaBatch({}, sourced)
    records = encode_batches(batch, max_bytes=8 * 1024)
    assert len(records) > 1 and all(len(r) <= 8 * 1024 for r in records)
    merged: dict = {}
    for r in records:
        for item, shares in decode_batch(r).sourced.items():
            assert item not in merged  # an item's shares stay in one record
            merged[item] = shares
    assert merged == sourced
