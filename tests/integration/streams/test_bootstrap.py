"""streams/bootstrap.py against the real Kafka: the newest value per key, up to the end when called."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from freshrec.settings import Settings
from streams.bootstrap import read_compacted

pytestmark = pytest.mark.integration


@pytest.fixture
def topic():
    settings = Settings()
    name = f"test.bootstrap.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="test-bootstrap")
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                  topic_configs={"cleanup.policy": "compact"})])
    yield settings, name
    admin.delete_topics([name])
    admin.close()


def test_the_newest_value_of_each_key_and_tombstones_as_none(topic):
    settings, name = topic
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    for key, value in ((b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"c", b"1"), (b"c", None)):
        producer.send(name, key=key, value=value)
    producer.flush()
    producer.close()
    assert read_compacted(settings, name) == {b"a": b"2", b"b": b"1", b"c": None}


def test_a_topic_that_does_not_exist_yet_has_no_lists():
    assert read_compacted(Settings(), f"test.bootstrap.absent.{uuid.uuid4().hex[:10]}") == {}
