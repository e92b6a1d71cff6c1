"""The worker's side of a published tuning configuration (streams/tuning_swap.py, streams/covis.py)."""

from __future__ import annotations

import math

import pytest

from contracts.artifacts import TUNING, CURRENT, point_tuning, write_tuning
from models.recommender import StreamRecommender
from streams.covis import CovisPolicy, ItemDelta, ItemStats, decode_stats, encode
from streams.metrics import WorkerMetrics
from streams.tuning_swap import TuningSwapper
from tests.unit.contracts.test_tuning import COVIS, SCORING, config

HOUR = 3_600_000.0
T0 = 1_796_765_400_000   # event times are epoch ms (a row's base 0 means "no event yet")


def test_a_newer_configuration_reaches_both_sides_and_is_reported(tmp_path):
    model, policy, metrics = StreamRecommender(), CovisPolicy(half_life_ms=7 * 24 * HOUR, top_k=200), WorkerMetrics()
    swapper = TuningSwapper(tmp_path, recommender=model, policy=policy, metrics=metrics)
    assert swapper.poll() is None and swapper.report() == {}   # nothing published: the worker's settings
    c = config()
    write_tuning(tmp_path, c)
    point_tuning(tmp_path, c.version)
    assert swapper.poll() == c.version
    assert model.weights == SCORING["weights"] and model.repeat.decay == SCORING["repeat_decay"]
    assert (model.covisit.window, model.covisit.backward) == (COVIS["window"], COVIS["backward"])
    assert (policy.half_life_ms, policy.top_k) == (COVIS["half_life_s"] * 1000, COVIS["top_k"])
    assert swapper.report() == {"tuning_version_users": c.version, "tuning_version_items": c.version}
    exported = metrics.registry.get_sample_value("freshrec_worker_model_version_info",
                                                 {"model": "tuning", "version": c.version})
    assert exported == 1.0
    assert swapper.poll() is None   # the same version is not applied twice


def test_older_or_unreadable_versions_are_skipped_and_the_running_one_stays(tmp_path, caplog):
    model = StreamRecommender()
    swapper = TuningSwapper(tmp_path, recommender=model)
    new, old = config(created=2000.0), config(created=1000.0, covis={**COVIS, "window": 2})
    for c in (new, old):
        write_tuning(tmp_path, c)
    point_tuning(tmp_path, new.version)
    assert swapper.poll() == new.version
    point_tuning(tmp_path, old.version)   # an operator pointing back: versions only move forward
    assert swapper.poll() is None and swapper.version == new.version and model.covisit.window == COVIS["window"]
    assert "older than the running" in caplog.text
    (tmp_path / TUNING / CURRENT).write_text("20990101T000000000Z-deadbeef\n")   # names a missing file
    assert swapper.poll() is None and swapper.version == new.version
    assert "rejected" in caplog.text


def test_an_items_only_worker_leaves_the_model_alone(tmp_path):
    policy = CovisPolicy()
    swapper = TuningSwapper(tmp_path, policy=policy)
    c = config()
    write_tuning(tmp_path, c)
    point_tuning(tmp_path, c.version)
    swapper.poll()
    assert swapper.report() == {"tuning_version_items": c.version} and policy.top_k == COVIS["top_k"]


def weight(policy: CovisPolicy, stats: ItemStats, other: str = "b") -> float:
    return dict(policy.neighbors(stats).similar)[other]


def test_a_new_half_life_applies_from_the_change_on_and_old_rows_keep_their_weights():
    policy = CovisPolicy(half_life_ms=HOUR)
    stats = ItemStats()
    policy.apply(stats, ItemDelta(ts=T0, similar={"b": 1.0}))
    policy.apply(stats, ItemDelta(ts=T0 + int(HOUR), similar={"c": 1.0}))
    assert weight(policy, stats) == pytest.approx(0.5)   # an hour under a one-hour half-life
    policy.retune(half_life_ms=4 * HOUR)
    # Published before its next update, the row still decays as it was counted.
    assert weight(policy, decode_stats(encode(stats))) == pytest.approx(0.5)
    policy.apply(stats, ItemDelta(ts=T0 + int(5 * HOUR), similar={"c": 1.0}))
    # Four more hours under the new four-hour half-life: 0.5 -> 0.25.
    assert weight(policy, stats) == pytest.approx(0.25)
    assert stats.half_life_ms == 4 * HOUR
    assert weight(policy, stats, "c") == pytest.approx(1.0 + 0.5 ** (4 / 4))


def test_rows_from_before_rows_recorded_their_half_life_use_the_starting_one():
    legacy = ItemStats(base=T0, ts=T0 + int(HOUR), similar={"b": 1.0})   # half_life_ms 0: counted under the start's
    policy = CovisPolicy(half_life_ms=HOUR)
    assert weight(policy, legacy) == pytest.approx(0.5)
    policy.retune(half_life_ms=2 * HOUR)
    assert weight(policy, legacy) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        policy.retune(half_life_ms=0)
    assert math.isclose(policy.half_life_ms, 2 * HOUR)


def test_a_smaller_top_k_prunes_rows_as_they_grow_and_lists_at_once():
    policy = CovisPolicy(top_k=10)
    stats = ItemStats()
    policy.apply(stats, ItemDelta(ts=T0, similar={f"n{i}": float(i + 1) for i in range(15)}))
    assert len(policy.neighbors(stats).similar) == 10
    policy.retune(top_k=3)
    assert [n for n, _ in policy.neighbors(stats).similar] == ["n14", "n13", "n12"]
    policy.apply(stats, ItemDelta(ts=T0 + 1, similar={"m": 0.5}))
    assert len(stats.similar) <= 6   # pruned to 3 once past twice the new K
