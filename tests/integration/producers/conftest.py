"""Helpers for the producer tests against the real Kafka: read a topic back until a count is reached."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def read_topic(kafka_bootstrap: str, unique: str):
    """``read_topic(topic, n)`` -> every record (partition, key, value), waiting up to 30 s for ``n`` of them."""
    from kafka import KafkaConsumer

    def read(topic: str, n: int, timeout: float = 30.0, events: bool = False) -> list:
        """With ``events``, a pack record (contracts/packs.py) counts as its events, each returned as
        (partition, None, the event's bytes): the pack's key is no user's."""
        from contracts.packs import is_pack, split_pack

        consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=f"test-{unique}-{topic}",
                                 auto_offset_reset="earliest", enable_auto_commit=False)
        out: list = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < n and time.monotonic() < deadline:
                for recs in consumer.poll(timeout_ms=500).values():
                    for r in recs:
                        if events and r.value is not None and is_pack(r.value):
                            out.extend((r.partition, None, raw) for raw in split_pack(r.value))
                        else:
                            out.append((r.partition, r.key, r.value))
        finally:
            consumer.close()
        return out

    return read
