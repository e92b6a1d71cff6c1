"""The trend slot: a rising category's item takes its place only while none is shown, and never twice."""

from __future__ import annotations

from models.base import Candidate
from models.online.trendslot import with_trend_slot


def c(item: str) -> Candidate:
    return Candidate(item, 1.0, "r", "covisit")


CATEGORY = {"a": "x", "b": "x", "c": "y", "d": "y", "r1": "hot", "r2": "hot"}


def test_inserted_at_its_slot_when_no_rising_category_is_shown():
    ranked = [c(i) for i in "abcd"]
    out = with_trend_slot(ranked, [c("r1"), c("r2")], CATEGORY, {"hot"}, slot=1, shown=3, k=4)
    assert [x.item for x in out] == ["a", "r1", "b", "c"]


def test_left_alone_when_shown_already_or_nothing_rises():
    ranked = [c("a"), c("r2"), c("b")]
    assert with_trend_slot(ranked, [c("r1")], CATEGORY, {"hot"}, slot=0, shown=3, k=3) is ranked
    assert with_trend_slot(ranked, [], CATEGORY, {"hot"}, slot=0, shown=3, k=3) is ranked
    assert with_trend_slot(ranked, [c("r1")], CATEGORY, set(), slot=0, shown=3, k=3) is ranked


def test_a_rising_item_further_down_moves_up_and_is_not_repeated():
    ranked = [c(i) for i in ("a", "b", "c", "d", "r1")]
    out = with_trend_slot(ranked, [c("r1")], CATEGORY, {"hot"}, slot=0, shown=3, k=5)
    assert [x.item for x in out] == ["r1", "a", "b", "c", "d"]
    short = with_trend_slot([c("a")], [c("r1")], CATEGORY, {"hot"}, slot=3, shown=3, k=5)
    assert [x.item for x in short] == ["a", "r1"]
