"""The stack's Kafka and Redis are real services: data makes the round trip."""

from __future__ import annotations

import json

import pytest
import redis

pytestmark = pytest.mark.integration


def test_thousand_events_round_trip_through_kafka(kafka_bootstrap, tmp_topic, unique):
    from kafka import KafkaConsumer, KafkaProducer

    topic = tmp_topic("roundtrip")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    sent = {}
    for i in range(1000):
        user = f"u{i % 37}"
        value = {"seq": i, "user": user}
        sent[i] = value
        producer.send(topic, key=user.encode(), value=json.dumps(value).encode())
    producer.flush(timeout=30)
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=f"g-{unique}",
                             auto_offset_reset="earliest", consumer_timeout_ms=20_000)
    got = {}
    last_seq_per_user: dict[str, int] = {}
    for msg in consumer:
        value = json.loads(msg.value)
        got[value["seq"]] = value
        # keyed by user, so one user's events keep their order within a partition
        assert value["seq"] > last_seq_per_user.get(value["user"], -1)
        last_seq_per_user[value["user"]] = value["seq"]
        if len(got) == len(sent):
            break
    consumer.close()
    assert got == sent


def test_redis_round_trip_with_password(redis_client, unique):
    key = f"test:{unique}:hello"
    redis_client.set(key, "world", ex=60)
    assert redis_client.get(key) == b"world"
    assert 0 < redis_client.ttl(key) <= 60


def test_redis_wrong_password_fails_clearly(redis_url):
    scheme, _, rest = redis_url.partition("://")
    host = rest.rpartition("@")[2]
    client = redis.Redis.from_url(f"{scheme}://:not-the-password@{host}", socket_timeout=2)
    with pytest.raises(redis.AuthenticationError) as exc:
        client.ping()
    assert "password" in str(exc.value).lower()


def test_redis_without_password_is_refused(redis_url):
    host = redis_url.partition("://")[2].rpartition("@")[2]
    client = redis.Redis.from_url(f"redis://{host}", socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        client.ping()
