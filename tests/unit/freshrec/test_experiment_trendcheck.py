"""The trend check: when a trendy category was first named after the shift, and which categories were
named (false alarms) in the quiet window before it and after it; a replay of a log names what the
detector names."""

from __future__ import annotations

import json

import pytest

from contracts.events import CatalogItem, Event, encode_event, encode_item
from freshrec.experiment.trendcheck import judge, main, named_spans
from models.candidates.rising import RisingCategories

SHIFT = 3_600_000
QUIET = 1_800_000
T0 = 1_795_000_000_000


def test_first_naming_after_the_shift_and_false_alarms_on_either_side():
    spans = {
        "hot": [[SHIFT - 600_000, SHIFT - 590_000], [SHIFT + 45_000, SHIFT + 900_000]],  # also named before
        "warm": [[SHIFT - 10_000, SHIFT + 20_000]],  # named across the shift: counts from the shift
        "acc": [[SHIFT - 3_000_000, SHIFT - 2_900_000], [SHIFT + 100_000, SHIFT + 200_000]],
        "noise": [[SHIFT - 100_000, SHIFT - 90_000], [SHIFT - 50_000, SHIFT - 40_000]],
    }
    out = judge(spans, {"hot", "warm", "cold"}, SHIFT, SHIFT + 2_700_000, QUIET)
    assert out["first_named_s"] == {"cold": None, "hot": 45.0, "warm": 0.0}
    # "acc"'s first span is older than the quiet window; "noise" twice within it
    assert out["false_before"] == {"hot": 1, "warm": 1, "noise": 2}
    assert out["trendy_named_before"] == {"hot": 1, "warm": 1}
    assert out["false_after"] == {"acc": 1}


def test_a_log_replay_names_a_category_that_many_new_sessions_turn_to(tmp_path):
    log = tmp_path / "log.jsonl"
    cats = [f"c{j}" for j in range(10)]
    lines = [encode_item(CatalogItem(item_id=f"i{j}", title="t", category=["Top", cats[j % 10]], price=1.0))
             for j in range(100)]
    n = 0
    for k in range(3000):  # one vote a second, the categories in turn; c3 takes every other vote from 2,000 s
        cat = 3 if k >= 2000 and k % 2 else k % 10
        for step in range(3):  # three views per session, one category: one vote
            n += 1
            lines.append(encode_event(Event(event_id=f"e{n}", ts=T0 + k * 1000 + step, user_id=f"u{k % 50}",
                                            type="view", item_id=f"i{cat + 10 * step}", session_id=f"s{k}")))
    log.write_bytes(b"\n".join(lines) + b"\n")
    det = RisingCategories(warmup_votes=500)
    spans, last = named_spans(log, det)
    assert det.votes == 3000 and last == T0 + 2999 * 1000 + 2
    assert set(spans) == {"c3"}, spans
    assert T0 + 2000 * 1000 <= spans["c3"][0][0] <= T0 + 2060 * 1000
    assert json.loads(lines[0])["category"][-1] == "c0"


def test_a_bad_set_is_a_usage_error_naming_the_parameters(tmp_path, capsys):
    for bad in ("nope=1", "ratio=x", "ratio"):
        with pytest.raises(SystemExit) as exit_:
            main([str(tmp_path / "r.json"), "--set", bad])
        assert exit_.value.code == 2
    assert "threshold" in capsys.readouterr().err
