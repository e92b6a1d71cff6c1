"""bench pipeline's machine budget: every process's CPU per event and the rate that fills the cores."""

import pytest

from freshrec.benchmarks.pipeline import machine_budget


def test_budget_sums_every_process_and_bounds_the_rate():
    result = {"worker_cpu_ms_per_event": 0.2, "items_cpu_ms_per_event": 0.1, "producer_cpu_ms_per_event": 0.05}
    machine_budget(result, {"kafka": 0.5, "redis": 0.1}, events=10_000, cpus=2)
    assert result["kafka_cpu_ms_per_event"] == 0.05 and result["redis_cpu_ms_per_event"] == 0.01
    assert result["machine_cpu_ms_per_event"] == pytest.approx(0.41)
    assert result["machine_events_per_s_bound"] == pytest.approx(2 * 1000 / 0.41, abs=0.1)


def test_budget_without_paced_or_split_figures_counts_what_there_is():
    result = {"worker_cpu_ms_per_event": 0.1}  # a backlog run of one process: no producer, no items side
    machine_budget(result, {}, events=1000, cpus=2)
    assert result["machine_cpu_ms_per_event"] == 0.1 and result["machine_events_per_s_bound"] == 20_000
