"""The experiment's default simulated start: the same hours of the day whenever a run is started."""

from __future__ import annotations

import pytest

from freshrec.experiment.run import DAY_MS, DEFAULT_START_OF_DAY_MS, default_start_ms

HOUR_MS = 3_600_000


@pytest.mark.parametrize("now_ms", [1_796_000_000_000, 1_796_000_000_000 + 7 * HOUR_MS,
                                    1_796_000_000_000 + 13 * HOUR_MS, 1_796_054_400_000])
def test_the_default_start_is_the_latest_fixed_time_of_day_whose_span_has_passed(now_ms):
    sim_ms = int(1.5 * HOUR_MS)
    start = default_start_ms(now_ms, sim_ms)
    assert start % DAY_MS == DEFAULT_START_OF_DAY_MS     # same time of day, so the same traffic profile
    assert start + sim_ms <= now_ms                      # the span is in the past, as before
    assert start + sim_ms > now_ms - DAY_MS              # and the latest such day: events stay recent


def test_runs_started_hours_apart_on_one_day_share_their_start():
    morning = 1_796_000_000_000 - 1_796_000_000_000 % DAY_MS + 15 * HOUR_MS
    assert default_start_ms(morning, HOUR_MS) == default_start_ms(morning + 6 * HOUR_MS, HOUR_MS)
