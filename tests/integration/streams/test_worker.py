"""The worker against the real Kafka and Redis: one subprocess worker for the module, then a restart."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer

from contracts.events import CatalogItem, Event
from contracts.redis_keys import decode_rec_list

from .conftest import wait_until

pytestmark = pytest.mark.integration

TIMEOUT = 60.0


def _now() -> int:
    return int(time.time() * 1000)


class Script:
    """Builds events with unique ids and increasing event time."""

    def __init__(self):
        self.n = 0
        self.raw = 0  # undecodable messages sent around the schema (dead letters), also counted as events
        self.t0 = _now() - 600_000

    def ev(self, user: str, item: str, type_: str = "view") -> Event:
        self.n += 1
        return Event(event_id=f"s{self.n}", ts=self.t0 + self.n * 10, user_id=user, item_id=item, type=type_)


def user_list(dep, user: str):
    raw = dep.redis.hget(dep.settings.redis_prefix + f"rec:user:{user}", "body")
    return None if raw is None else decode_rec_list(raw)


def list_items(dep, key_suffix: str) -> list[str]:
    raw = dep.redis.hget(dep.settings.redis_prefix + key_suffix, "body")
    return [] if raw is None else [r.item for r in decode_rec_list(raw).items]


@pytest.fixture(scope="module")
def running(deployment):
    deployment.worker.start()
    script = Script()
    # Other users co-view a, b, c; x, y are viewed apart (noise); everyone views b -> trending.
    with deployment.producer() as out:
        out.send_item(CatalogItem(item_id="a", title="A", category=["shoes"], price=1.0))
        for u in range(6):
            for item in ("a", "b", "c"):
                out.send_event(script.ev(f"other{u}", item))
        for u in range(3):
            for item in ("x", "y"):
                out.send_event(script.ev(f"noise{u}", item))
    wait_until(lambda: all(list_items(deployment, f"rec:item:{i}") for i in "abc"), TIMEOUT,
               lambda: f"rec:item lists (worker log: {deployment.worker.log()})")
    return deployment, script


def test_a_scripted_session_gets_items_co_viewed_by_others(running):
    dep, script = running
    with dep.producer() as out:
        out.send_event(script.ev("alice", "x"))
        out.send_event(script.ev("alice", "a"))
    rec = wait_until(lambda: (r := user_list(dep, "alice")) and r.context_item == "a" and r, TIMEOUT, "alice's list")
    items = [r.item for r in rec.items]
    assert {"b", "c"} <= set(items[:4]), items
    assert rec.items[0].reason.startswith("viewed together with")
    assert rec.event_ts == script.t0 + script.n * 10 and rec.write_ts >= rec.event_ts
    assert dep.worker.alive()


def test_an_invalid_event_reaches_the_dead_letter_topic(running):
    dep, script = running
    bad = b'{"event_id": "bad1", "ts": 1700000000000, "user_id": "../x", "type": "view", "item_id": "i"}'
    with dep.producer() as out:
        out.send_raw(dep.settings.topic_events, b"someone", bad)
        out.send_raw(dep.settings.topic_events, b"someone", b"\x00not json at all")
    script.raw += 2
    consumer = KafkaConsumer(dep.settings.topic_dead_letter, bootstrap_servers=dep.settings.kafka_bootstrap,
                             auto_offset_reset="earliest", group_id=f"dlq-{dep.unique}", consumer_timeout_ms=1000)
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < 2 and time.monotonic() < deadline:
        got.extend(consumer)
    consumer.close()
    assert [m.value for m in got] == [bad, b"\x00not json at all"]
    headers = dict(got[0].headers)
    assert headers["x-error-field"] == b"user_id"
    assert headers["x-source-topic"] == dep.settings.topic_events.encode()
    assert dep.worker.alive()


def test_a_purchased_item_is_never_recommended(running):
    dep, script = running
    with dep.producer() as out:
        out.send_event(script.ev("bob", "b", "order"))  # b: co-viewed with a, so a strong candidate
        out.send_event(script.ev("bob", "a"))
    rec = wait_until(lambda: (r := user_list(dep, "bob")) and r.context_item == "a" and r, TIMEOUT, "bob's list")
    items = [r.item for r in rec.items]
    assert "c" in items and "b" not in items


def test_a_new_user_gets_trending_items(running):
    dep, script = running
    trending = wait_until(lambda: list_items(dep, "rec:trending"), TIMEOUT, "the trending list")
    assert "b" in trending[:3]
    with dep.producer() as out:
        out.send_event(script.ev("newbie", "never-seen-item"))
    rec = wait_until(lambda: user_list(dep, "newbie"), TIMEOUT, "newbie's list")
    items = [r.item for r in rec.items]
    assert {"a", "b", "c"} & set(items)
    assert any(r.reason == "trending now" for r in rec.items)


MISSING = object()


def changelog_last(dep, table: str, key: bytes):
    """The last value written for ``key`` in a table's changelog (None: a tombstone; MISSING: none)."""
    from kafka import TopicPartition

    topic = f"{dep.settings.worker_app_id}-{table}-changelog"
    consumer = KafkaConsumer(bootstrap_servers=dep.settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends, last = consumer.end_offsets(tps), MISSING
        deadline = time.monotonic() + TIMEOUT
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for rec in records:
                    if rec.key == key:
                        last = rec.value
        return last
    finally:
        consumer.close()


def test_a_removed_item_leaves_the_item_side(running):
    dep, script = running
    wait_until(lambda: list_items(dep, "rec:item:y"), TIMEOUT, "y's item list")
    assert changelog_last(dep, "item-stats", b"y") not in (None, MISSING)
    with dep.producer() as out:
        out.delete_item("y")
    key = dep.settings.redis_prefix + "rec:item:y"
    wait_until(lambda: not dep.redis.exists(key), TIMEOUT, lambda: f"rec:item:y deleted (log: {dep.worker.log()})")
    for table in ("item-stats", "neighbors"):
        wait_until(lambda: changelog_last(dep, table, b"y") is None, TIMEOUT, f"a {table} tombstone for y")
    assert dep.worker.alive()


def test_restart_resumes_from_committed_offsets_with_recovered_tables(running):
    dep, script = running
    with dep.producer() as out:
        out.send_event(script.ev("carol", "c", "order"))
        out.send_event(script.ev("carol", "a"))
    wait_until(lambda: (r := user_list(dep, "carol")) and r.context_item == "a", TIMEOUT, "carol's list")
    stats_key = dep.settings.redis_prefix + "stats:worker"
    sent_before = script.n + script.raw  # the test runs alone too (-k restart)
    wait_until(lambda: int(dep.redis.hget(stats_key, "events") or 0) >= sent_before, TIMEOUT, "counters")
    assert dep.worker.stop() == 0
    with dep.producer() as out:
        out.send_event(script.ev("carol", "unknown-item"))
    dep.worker.start()
    rec = wait_until(lambda: (r := user_list(dep, "carol")) and r.context_item == "unknown-item" and r,
                     TIMEOUT, f"carol's list after restart (log: {dep.worker.log()})")
    items = [r.item for r in rec.items]
    # Only a recovered session knows carol viewed a (-> b via recovered neighbours) and bought c.
    assert "b" in items and "c" not in items, [(r.item, r.reason) for r in rec.items]
    assert any(r.reason == "viewed together with a" for r in rec.items)
    # Committed offsets: nothing consumed twice (the counter is cumulative over both runs).
    wait_until(lambda: int(dep.redis.hget(stats_key, "events") or 0) >= sent_before + 1, TIMEOUT, "counter")
    assert int(dep.redis.hget(stats_key, "events")) == sent_before + 1
    assert int(dep.redis.hget(stats_key, "duplicates") or 0) == 0
