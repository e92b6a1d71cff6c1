"""The experiment's pure parts: bootstrap intervals, per-user totals, the shift-follow measure, the
timeline, and that the shop's draws are reproducible from the seed (closed loop included)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contracts.events import encode_event, encode_item
from contracts.redis_keys import RecItem, RecList
from freshrec.experiment import analysis
from freshrec.experiment.cli import render
from producers.shop import Shop

T0 = 1_795_000_000_000


def ev(ts, user, type_, item="i1", **kw):
    return {"event_id": f"e{ts}{user}{type_}", "ts": ts, "user_id": user, "item_id": item, "type": type_, **kw}


def test_bootstrap_ratio_covers_the_truth_and_narrows_with_users():
    rng = np.random.default_rng(1)
    small = analysis.bootstrap_ratio(rng.binomial(20, 0.1, 50), np.full(50, 20), seed=3)
    large = analysis.bootstrap_ratio(rng.binomial(20, 0.1, 5000), np.full(5000, 20), seed=3)
    for r in (small, large):
        assert r["lo"] <= r["value"] <= r["hi"] and r["lo"] < 0.1 < r["hi"]
    assert large["hi"] - large["lo"] < (small["hi"] - small["lo"]) / 5
    assert analysis.bootstrap_ratio([1, 2], [3, 4], seed=9) == analysis.bootstrap_ratio([1, 2], [3, 4], seed=9)
    assert analysis.bootstrap_ratio([], []) == {"value": None, "lo": None, "hi": None}


def test_per_user_counts_list_clicks_sessions_carts_and_revenue():
    rows = analysis.per_user([
        ev(1, "u1", "view", session_id="s1"), ev(2, "u1", "impression", session_id="s1", variant="a"),
        ev(3, "u1", "click", session_id="s1", list_id="l1"), ev(4, "u1", "click", session_id="s1"),  # search
        ev(5, "u1", "cart", session_id="s1"), ev(6, "u1", "cart", session_id="s1"),
        ev(7, "u1", "order", session_id="s1", price=10.0, quantity=2), ev(8, "u1", "view", session_id="s2")])
    got = dict(zip(analysis.COLUMNS, rows["u1"]))
    assert got == {"impressions": 1, "clicks": 1, "views": 2, "sessions": 2, "cart_sessions": 1, "orders": 1,
                   "revenue": 20.0}
    table = analysis.variant_table(rows, lambda u: "a", ["a", "b"], n_boot=50)
    assert table["a"]["ctr"]["value"] == 1.0 and table["a"]["orders_per_session"]["value"] == 0.5
    assert table["b"]["users"] == 0 and table["b"]["ctr"]["value"] is None


def test_shift_follow_times_each_variant_against_the_trendy_share_of_traffic():
    shift = T0 + 3_600_000
    events = []
    for s in range(0, 600, 5):  # ten minutes after the shift: half the views are trendy throughout
        ts = shift + s * 1000
        events.append(ev(ts, "u1", "view", "t1" if s % 10 == 0 else "n1"))
        # "fresh" shows trendy items from the start, "slow" only after 300 s, "never" not at all
        events.append(ev(ts, "u1", "impression", variant="fresh", shown=["t1", "n1"]))
        events.append(ev(ts, "u1", "impression", variant="slow", shown=["t1", "t2"] if s >= 300 else ["n1", "n2"]))
        events.append(ev(ts, "u1", "impression", variant="never", shown=["n1"]))
    events.append(ev(shift - 5000, "u1", "view", "n1"))  # before the shift: not counted
    out = analysis.shift_follow(events, lambda item: item.startswith("t"), ["fresh", "slow", "never"], shift)
    assert out["target"] == 0.5 and out["traffic_s"] == 0.0
    assert out["follow_s"] == {"fresh": 0.0, "slow": 270.0, "never": None}


def test_list_age_is_stream_time_from_the_lists_event_to_the_impression():
    events = [ev(T0, "u1", "view"), ev(T0 + 2000, "u1", "impression", variant="a", list_id=f"e{T0}u1view"),
              ev(T0 + 9000, "u1", "impression", variant="a", list_id=f"e{T0}u1view"),
              ev(T0 + 9000, "u1", "impression", variant="b", list_id="from-an-item-list")]
    ages = analysis.list_age(events, ["a", "b"])
    assert ages["a"] == {"p50_s": 5.5, "p90_s": 8.3, "n": 2} and ages["b"]["n"] == 0


def test_ctr_timeline_bins_by_stream_time():
    events = [ev(T0 + 10_000, "u1", "impression", variant="a"), ev(T0 + 11_000, "u1", "click", variant="a",
                                                                   list_id="l"),
              ev(T0 + 70_000, "u1", "impression", variant="a"), ev(T0 + 70_000, "u1", "impression", variant="b")]
    tl = analysis.ctr_timeline(events, ["a", "b"], T0, 60)
    assert tl["t_s"] == [30.0, 90.0] and tl["ctr"] == {"a": [1.0, 0.0], "b": [None, 0.0]}


def test_read_log_and_render(tmp_path):
    shop = Shop(users=30, items=60, rate=5, seed=2, start_ms=T0, duration_s=600)
    path = tmp_path / "log.jsonl"
    with path.open("wb") as f:
        for _, rec in shop.run():
            f.write((encode_event(rec) if hasattr(rec, "type") else encode_item(rec)) + b"\n")
    events, leaf = analysis.read_log(path)
    assert events and all(e["item_id"] in leaf for e in events if e["type"] == "view")
    rows = analysis.per_user(events)
    report = {"variants": analysis.variant_table(rows, lambda u: "x", ["x"], n_boot=20),
              "shift": {"follow_s": {"x": None}, "at_s": 300, "categories": ["c"], "target": 0.1, "traffic_s": 0},
              "json": "r.json"}
    assert "x" in render(report) and json.dumps(report)


@pytest.mark.parametrize("seed", [3, 4])
def test_same_seed_same_draws_in_the_closed_loop(seed):
    def reader(user, item):  # a deterministic "recommender": the same list for the same page
        n = int(item[1:])
        return RecList(items=[RecItem(f"i{(n + j) % 60}", 1.0, "r") for j in range(1, 7)], event_ts=0, write_ts=0,
                       variant="v")

    def records():
        shop = Shop(users=40, items=60, rate=8, seed=seed, start_ms=T0, duration_s=900, recs_reader=reader,
                    shift_at_s=450)
        return [(ts, encode_event(r) if hasattr(r, "type") else encode_item(r)) for ts, r in shop.run()]

    first, second = records(), records()
    assert first == second and any(b'"impression"' in r for _, r in first) and any(b'"click"' in r and b'"list_id"'
                                                                                  in r for _, r in first)


def test_report_section_of_the_latest_experiment(tmp_path):
    from freshrec.experiment.plot import html_section
    from freshrec.report import render

    assert "No closed-loop experiment" in html_section(tmp_path / "latest.json")
    row = {"users": 3, "impressions": 10.0, **{m: {"value": 0.5, "lo": 0.4, "hi": 0.6} for m in analysis.METRICS}}
    latest = {"variants": {"online": row}, "shift": {"follow_s": {"online": 60.0}},
              "config": {"hours": 1, "clock": 12, "users": 3, "seed": 7, "shift_at_h": 0.5},
              "deployment": {"id": "run-1"}, "plot": str(tmp_path / "missing.png")}
    (tmp_path / "latest.json").write_text(json.dumps(latest))
    section = html_section(tmp_path / "latest.json")
    assert "run-1" in section and "<td>online</td>" in section and "60 s" in section
    assert section in render([], [], "", {}, section)
