"""The live panel's figures (serving/stats.py) from the worker's stats and A/B hashes."""

from __future__ import annotations

import pytest

from serving.stats import LivePanel, histogram
from serving.stats import percentile_from_histogram


def test_everything_absent_is_none():
    figures = LivePanel().figures({}, {})
    assert figures == {"events_per_s": None, "events_total": None, "freshness_p50_ms": None,
                       "freshness_p99_ms": None, "model_version": None, "variants": {}}


def test_rate_from_the_event_counter_between_calls():
    panel = LivePanel()
    assert panel.figures({"stats:worker": {"events": "100"}}, {}, now=10.0)["events_per_s"] is None
    assert panel.figures({"stats:worker": {"events": "300"}}, {}, now=12.0)["events_per_s"] == 100.0


def test_a_rate_gauge_wins():
    assert LivePanel().figures({"stats:w": {"events": "5", "events_per_s": "42"}}, {})["events_per_s"] == 42.0


def test_freshness_is_over_the_events_since_the_last_call():
    panel = LivePanel()
    first = panel.figures({"stats:w": {"fh:2.0": "90", "fh:50.0": "10"}}, {}, now=1.0)
    assert (first["freshness_p50_ms"], first["freshness_p99_ms"]) == (2.0, 50.0)
    later = panel.figures({"stats:w": {"fh:2.0": "90", "fh:50.0": "20", "fh:inf": "1"}}, {}, now=2.0)
    assert (later["freshness_p50_ms"], later["freshness_p99_ms"]) == (50.0, float("inf"))


def test_freshness_gauge_when_there_is_no_histogram():
    assert LivePanel().figures({"stats:w": {"last_freshness_ms": "7"}}, {})["freshness_p50_ms"] == 7.0


def test_ctr_per_variant_and_junk_tolerated():
    figures = LivePanel().figures({"stats:w": {"model_version": "m2", "events": "x"}},
                                  {"ab:rank:A": {"impressions": "200", "clicks": "10"},
                                   "ab:rank:B": {"impressions": "0", "clicks": "0"},
                                   "ab:rank:C": {"clicks": "3"}})
    assert figures["model_version"] == "m2"
    assert figures["variants"]["rank:A"]["ctr"] == pytest.approx(0.05)
    assert figures["variants"]["rank:B"]["ctr"] is None
    assert figures["variants"]["rank:C"]["ctr"] is None


def test_histogram_sums_hashes_and_skips_junk():
    counts = histogram([{"fh:1.0": "1", "fh:4.0": "3", "other": "9", "fh:x": "2"}, {"fh:4.0": "1", "fh:inf": "0"}])
    assert counts == {"fh:1.0": 1.0, "fh:4.0": 4.0}
    assert percentile_from_histogram(counts, 0.2) == 1.0 and percentile_from_histogram(counts, 0.5) == 4.0


def test_one_quantile_for_the_worker_and_the_panel():
    # the raw hash as Redis returns it (strings) and the writer's ints give the same answer
    raw = {"fh:2.0": "90", "fh:50.0": "10", "fh:inf": "1", "events": "7", "fh:bad": "3"}
    assert percentile_from_histogram(raw, 0.5) == 2.0
    assert percentile_from_histogram(raw, 0.995) == float("inf")
    assert percentile_from_histogram({"fh:2.0": 90, "fh:50.0": 10}, 0.99) == 50.0
    assert percentile_from_histogram({}, 0.5) is None and percentile_from_histogram({"fh:1.0": "0"}, 0.5) is None
