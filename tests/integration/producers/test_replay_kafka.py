"""Replay of the real OTTO sample into the real Kafka: every event arrives, each user's in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.events import decode_event
from freshrec.cli import app
from streams.tables import key_partition

pytestmark = pytest.mark.integration

OTTO = Path("/work/shared/data/otto_sample/train.jsonl")
_here = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "otto_sample" / "train.jsonl"
OTTO = _here if _here.exists() else OTTO


def _source_order() -> dict[str, list[tuple[str, int]]]:
    out = {}
    for line in OTTO.read_text().splitlines():
        sess = json.loads(line)
        out[str(sess["session"])] = [(str(e["aid"]), e["ts"]) for e in sess["events"]]
    return out


@pytest.mark.parametrize("speed", ["max", "1000000000"], ids=["bulk", "paced"])
def test_otto_sample_replays_with_equal_counts_and_per_user_order(tmp_topic, read_topic, speed):
    topic = tmp_topic("otto")
    tmp_topic("cat", config={"cleanup.policy": "compact"})
    result = CliRunner().invoke(app, ["replay", str(OTTO), "--topic", topic, "--speed", speed, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["sent"] == 862 and summary["malformed"] == 0 and summary["format"] == "otto"
    got = read_topic(topic, 862, events=True)
    assert len(got) == 862
    per_user: dict[str, list[tuple[str, int]]] = {}
    partitions: dict[str, set[int]] = {}
    for part, key, value in got:  # read_topic keeps each partition's order, and a pack's
        ev = decode_event(value)
        assert key in (None, ev.user_id.encode())  # a lone event keyed by its user, packed ones unkeyed
        assert part == key_partition(ev.user_id, 4)  # ... and every one in its user's partition
        per_user.setdefault(ev.user_id, []).append((ev.item_id, ev.ts))
        partitions.setdefault(ev.user_id, set()).add(part)
    assert per_user == _source_order()
    assert all(len(p) == 1 for p in partitions.values())


def test_resume_sends_exactly_the_rest(tmp_topic, read_topic):
    topic = tmp_topic("otto")
    runner = CliRunner()
    first = runner.invoke(app, ["replay", str(OTTO), "--topic", topic, "--limit", "300", "--json"])
    nxt = json.loads(first.stdout.strip().splitlines()[-1])["next_from"]
    rest = runner.invoke(app, ["replay", str(OTTO), "--topic", topic, "--from", str(nxt), "--json"])
    assert rest.exit_code == 0, rest.output
    assert json.loads(rest.stdout.strip().splitlines()[-1])["sent"] == 862 - 300
    ids = [decode_event(v).event_id for _, _, v in read_topic(topic, 862, events=True)]
    assert len(ids) == 862 and len(set(ids)) == 862
