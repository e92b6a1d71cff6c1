"""The in-process closed loop: the shop, the worker's session rules and the recommender with the
experiment's A/B settings give every arm impressions, and the experiment's own report reads its log."""

from __future__ import annotations

from freshrec.experiment import inproc
from freshrec.experiment.run import Config, build_report


def test_a_short_in_process_run_serves_every_arm_and_reports(tmp_path):
    cfg = Config(variants=["popular", "batch", "fusion", "online"], hours=0.05, users=120, items=120, rate=6,
                 seed=3, start_ms=1_795_000_000_000, batch_minutes=5, bin_s=60)
    log = tmp_path / "log.jsonl"
    summary = inproc.simulate(cfg, log)
    assert summary["impression"] > 50 and len(summary["trending"]) == 2
    report = build_report(cfg, log, summary, cfg.start_ms)
    assert all(report["variants"][v]["impressions"] > 0 for v in cfg.variants), report["variants"]
    assert inproc.simulate(cfg, tmp_path / "again.jsonl") == summary  # seeded, no clock: the same run
