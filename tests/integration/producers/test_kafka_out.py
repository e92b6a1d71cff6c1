"""The shared producer and the topic helper against the real Kafka."""

from __future__ import annotations

import pytest

from contracts.events import CatalogItem, Event, decode_event, decode_item
from freshrec.settings import Settings
from producers.batch_out import BatchSender
from producers.kafka_out import DeliveryError, EventProducer, ensure_topics

pytestmark = pytest.mark.integration


def _event(i: int, user: str) -> Event:
    return Event(event_id=f"e{i}", ts=1_700_000_000_000 + i, user_id=user, item_id=f"i{i % 7}", type="view")


def test_events_are_keyed_by_user_and_items_by_item(kafka_bootstrap, tmp_topic, read_topic):
    events_topic, catalog_topic = tmp_topic("ev"), tmp_topic("cat", config={"cleanup.policy": "compact"})
    with EventProducer(kafka_bootstrap, topic_events=events_topic, topic_catalog=catalog_topic) as out:
        for i in range(200):
            out.send_event(_event(i, f"u{i % 9}"))
        out.send_item(CatalogItem(item_id="i1", title="Lamp", category=["Home", "Lamps"], price=9.5))
    assert out.sent == 201 and out.failed == 0
    got = read_topic(events_topic, 200)
    assert len(got) == 200
    partitions = {}
    for part, key, value in got:
        ev = decode_event(value)
        assert key == ev.user_id.encode()
        partitions.setdefault(ev.user_id, set()).add(part)
    assert all(len(p) == 1 for p in partitions.values()) and len({p for s in partitions.values() for p in s}) > 1
    [(_, key, value)] = read_topic(catalog_topic, 1)
    assert key == b"i1" and decode_item(value).title == "Lamp"


def test_our_partition_choice_matches_kafka_pythons_default_partitioner(kafka_bootstrap, tmp_topic, read_topic):
    from kafka import KafkaProducer

    topic = tmp_topic("part")
    plain = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    with EventProducer(kafka_bootstrap, topic_events=topic) as ours:
        for i in range(50):
            plain.send(topic, key=f"u{i}".encode(), value=b"plain")
            ours.send_event(_event(i, f"u{i}"))
    plain.flush()
    plain.close()
    by_key: dict[bytes, set[int]] = {}
    for part, key, _ in read_topic(topic, 100):
        by_key.setdefault(key, set()).add(part)
    assert len(by_key) == 50 and all(len(p) == 1 for p in by_key.values())


@pytest.mark.parametrize("make", [
    lambda b: EventProducer(b, linger_ms=5),
    lambda b: BatchSender(b, batch_bytes=64 * 1024),
], ids=["record", "bulk"])
def test_a_rejected_delivery_is_counted_and_raised_at_flush(kafka_bootstrap, tmp_topic, make):
    topic = tmp_topic("small", config={"max.message.bytes": "2000"})
    out = make(kafka_bootstrap)
    try:
        out.send_raw(topic, b"u1", b"x" * 50)
        out.send_raw(topic, b"u1", b"y" * 20_000)  # larger than the topic accepts
        with pytest.raises(DeliveryError) as info:
            out.flush()
        assert info.value.failed >= 1
    finally:
        out.close()


def test_ensure_topics_creates_a_compacted_catalog_once(kafka_bootstrap, unique):
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_partitions=3)
    names = dict(events=f"test.events.{unique}", catalog=f"test.catalog.{unique}")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert ensure_topics(settings, **names) == {names["events"]: "created", names["catalog"]: "created"}
        assert ensure_topics(settings, **names) == {names["events"]: "exists", names["catalog"]: "exists"}
        [meta] = admin.describe_topics([names["events"]])
        assert len(meta["partitions"]) == 3
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, names["catalog"],
                                                     {"cleanup.policy": None})], config_filter="all")
        assert res["topic"][names["catalog"]]["cleanup.policy"]["value"] == "compact"
    finally:
        admin.delete_topics(list(names.values()))
        admin.close()
