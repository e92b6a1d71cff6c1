"""The worker's Kafka topics: names and partition counts from :class:`~freshrec.settings.Settings`.

Values and keys travel as raw bytes: the events are validated by ``contracts.events`` (msgspec) in
the agent, where a bad message can go to the dead-letter topic instead of crashing a deserializer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import faust

from freshrec.settings import Settings

#: How long neighbour packs stay in their topic. A starting worker recovers every item's newest list
#: from the compacted ``neighbors`` changelog and only the packs published since from this one, so it
#: needs minutes, not history; a users worker stalled for longer misses lists until their items'
#: next publish (at most ``NEIGHBORS_MAX_AGE_MS`` for an item that keeps changing).
NEIGHBOR_PACKS_RETENTION_MS = 600_000
CONTROLLER_SETTLE_S = 60.0  # how long topic creation retries a controller that metadata still names after it died


def neighbors_name(settings: Settings) -> str:
    """The compacted topic of every item's newest neighbour list (key = item), written by the items
    side and read by a users worker when it starts (streams/bootstrap.py). Named as the Faust table
    it once was, so a deployment keeps its lists."""
    return f"{settings.worker_app_id}-neighbors-changelog"


def neighbor_packs_name(settings: Settings) -> str:
    """The broadcast topic of neighbour packs: the changelog of the users side's ``neighbor-packs``
    table, named after ``worker_app_id`` like every shared table (streams/tables.py)."""
    return f"{settings.worker_app_id}-neighbor-packs-changelog"


@dataclass(frozen=True)
class Topics:
    events: faust.TopicT
    catalog: faust.TopicT
    dead_letter: faust.TopicT
    item_updates: faust.TopicT
    neighbors: faust.TopicT
    neighbor_packs: faust.TopicT


def make_topics(app: faust.App, settings: Settings) -> Topics:
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    n = settings.topic_partitions
    return Topics(
        events=app.topic(settings.topic_events, partitions=n, **raw),
        catalog=app.topic(settings.topic_catalog, partitions=n, **raw),
        dead_letter=app.topic(settings.topic_dead_letter, partitions=1, **raw),
        # Keyed by item: the repartition step from user-partitioned events to item-partitioned tables.
        item_updates=app.topic(settings.topic_item_updates, partitions=n, **raw),
        # Written by the items side; read whole by a starting users worker (one partition).
        neighbors=app.topic(neighbors_name(settings), partitions=1, **raw),
        # Written by the items side, read by every users worker through a global table (one partition).
        neighbor_packs=app.topic(neighbor_packs_name(settings), partitions=1, **raw),
    )


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics with the right partitions and configs; returns the names created.

    Broker auto-creation would give them the broker's default partition count and no compaction.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import (KafkaConnectionError, NodeNotReadyError, NotControllerError, TopicAlreadyExistsError,
                              UnknownBrokerIdError)

    n = settings.topic_partitions
    wanted = {
        settings.topic_events: (n, {}),
        settings.topic_catalog: (n, {"cleanup.policy": "compact"}),
        settings.topic_dead_letter: (1, {}),
        settings.topic_item_updates: (n, {}),
        neighbors_name(settings): (1, {"cleanup.policy": "compact"}),
        # Before Faust declares it as a (compacted) changelog: packs are a log, not a table of keys.
        neighbor_packs_name(settings): (1, {"cleanup.policy": "delete",
                                            "retention.ms": str(NEIGHBOR_PACKS_RETENTION_MS),
                                            "segment.ms": str(NEIGHBOR_PACKS_RETENTION_MS // 4)}),
    }
    from freshrec.kafka_security import kafka_python_config

    def client() -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="freshrec-worker-admin",
                                **kafka_python_config(settings))

    # Right after a broker of a cluster dies, metadata may still name it as the controller: a create
    # sent there fails at once. A new client reads fresh metadata; give the cluster a minute to settle.
    transient = (UnknownBrokerIdError, NodeNotReadyError, NotControllerError, KafkaConnectionError)
    deadline = time.monotonic() + CONTROLLER_SETTLE_S
    admin = client()
    try:
        existing = set(admin.list_topics())
        rf, common = settings.topic_replication_factor, settings.topic_configs()
        missing = [NewTopic(name, num_partitions=p, replication_factor=rf, topic_configs={**common, **cfg})
                   for name, (p, cfg) in wanted.items() if name not in existing]
        created = []
        for topic in missing:
            while True:
                try:
                    admin.create_topics([topic])
                    created.append(topic.name)
                except TopicAlreadyExistsError:
                    pass  # another worker won the race (or the attempt before this one did)
                except transient:
                    if time.monotonic() > deadline:
                        raise
                    admin.close()
                    time.sleep(1.0)  # a retry's backoff
                    admin = client()
                    continue
                break
        return created
    finally:
        admin.close()
