"""The experiment's lag meter (worker behind the shop, from the shop's growing log) and the table of
several seeds' reports."""

from __future__ import annotations

import json

from freshrec.experiment import seeds
from freshrec.experiment.run import LagMeter


def test_lag_meter_reads_the_log_as_it_grows_and_compares_with_the_worker(tmp_path):
    log = tmp_path / "shop.jsonl"
    lag = LagMeter(log)
    lag.sample(0, None)  # no log yet
    assert lag.records == [] and lag.sent == 0
    with open(log, "ab") as f:
        f.write(b'{"item_id":"i1","category":["A"]}\n')  # catalog upserts are not events
        f.write(json.dumps({"type": "view", "ts": 1000}).encode() + b"\n")
        f.write(json.dumps({"type": "view", "ts": 4000}).encode() + b"\n{\"type\": \"vi")  # a half-written line
    lag.sample(1, 1000)
    assert (lag.sent, lag.records, lag.stream_ms) == (2, [1], [3000])
    with open(log, "ab") as f:
        f.write(b'ew", "ts": 9000}\n')
    lag.sample(3, 9000)
    assert (lag.sent, lag.records[-1], lag.stream_ms[-1]) == (3, 0, 0)
    s = lag.summary(clock=12)
    assert s["records_max"] == 1 and s["stream_s_max"] == 3.0 and s["wall_s_max"] == 0.25 and s["samples"] == 2


def report(seed, ctr):
    r = {"value": ctr, "lo": ctr - 0.01, "hi": ctr + 0.01}
    row = {m: r for m in ("ctr", "add_to_cart_rate", "orders_per_session", "revenue_per_session")}
    return {"config": {"seed": seed}, "variants": {"popular": row, "online": {**row, "ctr": {"value": 2 * ctr, "lo": 2 * ctr - 0.01,
                                                                               "hi": 2 * ctr + 0.01}}},
            "shift": {"follow_s": {"popular": None, "online": 30.0}},
            "list_age": {"popular": {"p50_s": 5.0}, "online": {"p50_s": 4.0}}}


def test_seeds_table_keeps_each_runs_interval_and_the_mean():
    c = seeds.combine([report(7, 0.1), report(8, 0.2)])
    assert c["seeds"] == [7, 8]
    assert abs(c["variants"]["online"]["ctr"]["mean"] - 0.3) < 1e-12
    assert c["ratios"][0]["online/popular"] == 2.0
    assert c["variants"]["online"]["follow_s"] == [30.0, 30.0]
    md = seeds.markdown([report(7, 0.1), report(8, 0.2)])
    assert "| online | 20.00 % [19.00, 21.00] | 40.00 % [39.00, 41.00] | 30.00 % |" in md
    assert "| popular | never, never | 5, 5 |" in md
