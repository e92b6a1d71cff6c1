"""Replay readers and loop, without Kafka: formats, synthetic time, malformed lines, resume, pacing."""

from __future__ import annotations

import collections
import gzip
import json
from pathlib import Path

import pytest
import typer

from contracts.datasets import TSV_BASE_MS
from contracts.events import decode_event
from producers.replay import parse_speed, replay
from producers.replay_formats import Bad, FormatError, detect_format, read

OTTO = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "otto_sample" / "train.jsonl"
if not OTTO.exists():  # a clone elsewhere: the data folder sits beside the main checkout
    OTTO = Path("/work/shared/data/otto_sample/train.jsonl")


def test_otto_sample_maps_types_sessions_and_keeps_order():
    records = list(read(OTTO, detect_format(OTTO)))
    assert detect_format(OTTO) == "otto"
    assert not [r for r in records if isinstance(r, Bad)]
    events = [decode_event(v) for _, _, v in records]
    assert len(events) == 862
    assert collections.Counter(e.type for e in events) == {"view": 800, "cart": 52, "order": 10}
    assert len({e.user_id for e in events}) == 20 and len({e.item_id for e in events}) == 510
    assert all(e.user_id == e.session_id for e in events)
    assert len({e.event_id for e in events}) == 862
    first = json.loads(OTTO.read_text().splitlines()[0])
    mine = [e for e in events if e.user_id == str(first["session"])]
    assert [(int(e.item_id), e.ts) for e in mine] == [(x["aid"], x["ts"]) for x in first["events"]]


def _write(tmp_path: Path, name: str, text: str, gz: bool = False) -> Path:
    path = tmp_path / (name + (".gz" if gz else ""))
    (gzip.open(path, "wt") if gz else open(path, "w")).write(text)  # noqa: SIM115
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_tsv_gets_strictly_increasing_synthetic_time_and_reports_bad_lines(tmp_path, gz):
    path = _write(tmp_path, "s.tsv", "session_id\titems\n1\t5 6 7\nnot a session\n2\t8 x\n3\t9 9\n", gz)
    records = list(read(path, detect_format(path), "ds"))
    bad = [r for r in records if isinstance(r, Bad)]
    assert [b.line for b in bad] == [3, 4] and "integer" in bad[0].reason
    good = [decode_event(v) for r in records if not isinstance(r, Bad) for v in [r[2]]]
    assert [(e.user_id, e.item_id) for e in good] == [("1", "5"), ("1", "6"), ("1", "7"), ("3", "9"), ("3", "9")]
    ts = [e.ts for e in good]
    assert ts[0] == TSV_BASE_MS and all(a < b for a, b in zip(ts, ts[1:]))
    assert good[0].event_id == "ds.1.0" and good[-1].event_id == "ds.3.1"


def test_tsv_with_a_wrong_header_is_refused_with_a_clear_message(tmp_path):
    path = _write(tmp_path, "s.tsv", "prefix\tnext_item\n1 2\t3\n")
    with pytest.raises(FormatError, match="session_id<TAB>items"):
        list(read(path, "tsv"))


def test_our_jsonl_passes_valid_lines_through_and_names_the_bad_field(tmp_path):
    good = {"event_id": "e1", "ts": 1_700_000_000_000, "user_id": "u1", "type": "cart", "item_id": "i1"}
    lines = [json.dumps(good), "", "{oops", json.dumps({**good, "type": "buy"}), json.dumps({**good, "event_id": "e2"})]
    path = _write(tmp_path, "ev.jsonl", "\n".join(lines) + "\n")
    assert detect_format(path) == "events"
    records = list(read(path, "events"))
    assert [str(r) for r in records if isinstance(r, Bad)][0].startswith("line 3: $")
    assert [r.line for r in records if isinstance(r, Bad)] == [3, 4]
    assert "type" in str(records[2])
    assert [decode_event(r[2]).event_id for r in records if not isinstance(r, Bad)] == ["e1", "e2"]


def test_otto_bad_events_inside_a_line_are_reported_and_the_rest_kept(tmp_path):
    line = {"session": 5, "events": [{"aid": 1, "ts": 1659304800025, "type": "clicks"},
                                     {"aid": 2, "ts": 1659304800026, "type": "wishlist"},
                                     {"aid": 3, "ts": 1659304800, "type": "orders"}]}
    path = _write(tmp_path, "o.jsonl", json.dumps(line) + "\n{\"session\": \"x\"}\n")
    records = list(read(path, "otto"))
    assert [str(r) for r in records if isinstance(r, Bad)][0].startswith("line 1 event 1: type")
    assert any(isinstance(r, Bad) and r.line == 2 for r in records)
    ok = [decode_event(r[2]) for r in records if not isinstance(r, Bad)]
    assert [(e.item_id, e.type, e.ts) for e in ok] == [("1", "view", 1659304800025), ("3", "order", 1659304800000)]


def test_replay_counts_limits_resumes_and_keeps_going_after_bad_records():
    records = [("u1", 1000 + i, b"%d" % i) for i in range(10)]
    records[3] = Bad(4, "broken")
    sent: list[tuple[str, bytes]] = []
    stats = replay(iter(records), lambda u, v: sent.append((u, v)), limit=6)
    assert (stats.records, stats.sent, stats.malformed, stats.next_from) == (6, 5, 1, 6)
    assert stats.errors == ["line 4: broken"]
    rest = replay(iter(records), lambda u, v: sent.append((u, v)), start=stats.next_from)
    assert (rest.records, rest.sent, rest.next_from) == (4, 4, 10)
    assert [v for _, v in sent] == [b"%d" % i for i in range(10) if i != 3]


def test_replay_paces_by_event_time_times_speed_and_ignores_time_going_back():
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(round(s, 3))
        now[0] += s

    records = [("u", 0, b""), ("u", 2000, b""), ("v", 500, b""), ("v", 4000, b"")]
    replay(iter(records), lambda u, v: None, speed=2.0, clock=lambda: now[0], sleep=sleep)
    assert sleeps == [1.0, 1.0]  # 2 s of event time at 2x, the step back to 500 costs nothing


def test_speed_parsing():
    assert parse_speed("max") is None and parse_speed("60") == 60.0
    for bad in ("fast", "0", "-1"):
        with pytest.raises(typer.BadParameter):
            parse_speed(bad)
