"""ab report rows (fields, intervals) and the closed-loop counters the worker feeds them with."""

from __future__ import annotations

import pytest

from contracts.events import Event
from models.online.counters import AbCounters
from models.online.metrics import Prequential
from models.online.report import variant_row

FIELDS = {"experiment", "variant", "impressions", "clicks", "orders", "ctr", "ctr_ci", "cvr", "cvr_ci",
          "preq_n", "hr", "hr_ci", "mrr", "mrr_ci"}


def test_counters_credit_lists_and_assigned_variant():
    c = AbCounters(variant_of=lambda user: "fusion" if user.endswith("1") else "online")
    evs = [Event(event_id="e1", ts=1, user_id="u1", type="impression", item_id="i", variant="online",
                 list_id="l", shown=["a"]),
           Event(event_id="e2", ts=2, user_id="u1", type="click", item_id="a", variant="online", list_id="l",
                 position=0),
           Event(event_id="e3", ts=3, user_id="u1", type="order", item_id="a"),
           Event(event_id="e4", ts=4, user_id="u2", type="view", item_id="a")]
    c.count(evs)
    p = Prequential()
    p.record("online", 1)
    c.add(p.drain())
    rows = c.drain()
    assert rows == {"online": {"impressions": 1, "clicks": 1, "preq_n": 1, "preq_hits": 1,
                               "preq_rr_e6": 1_000_000, "preq_rr2_e6": 1_000_000},
                    "fusion": {"orders": 1}}
    assert c.drain() == {}


def test_variant_row_fields_and_intervals():
    row = variant_row("exp", "online", {"impressions": "200", "clicks": "38", "orders": "4", "preq_n": "100",
                                        "preq_hits": "50", "preq_rr_e6": str(20 * 1_000_000),
                                        "preq_rr2_e6": str(12 * 1_000_000)})
    assert set(row) == FIELDS
    assert row["ctr"] == pytest.approx(0.19) and row["ctr_ci"][0] < 0.19 < row["ctr_ci"][1]
    assert row["hr"] == pytest.approx(50.0) and row["hr_ci"][0] < 50 < row["hr_ci"][1]
    assert row["mrr"] == pytest.approx(20.0) and row["mrr_ci"][0] < 20 < row["mrr_ci"][1]
    empty = variant_row("exp", "x", {"junk": "?"})
    assert empty["ctr"] is None and empty["hr"] is None and empty["impressions"] == 0
