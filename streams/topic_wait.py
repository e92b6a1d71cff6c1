"""Faust's topic creation, made to wait until every broker serves the new topic (several brokers only).

Faust creates a table's changelog as the table starts and subscribes straight after. With several
brokers the CreateTopics answer comes from the controller before the other brokers' metadata has the
topic, so the group leader could assign without it ("Ignoring missing topic ...") and the worker sat
in its first assignment for good: on the three-node stack a worker's first start hung so in 2 runs
of 4 (tests/integration/reliability/test_scaleout.py). After Faust's own ``_create_topic`` returns,
this asks each broker for the topic's metadata until all of them list it with a leader for every
partition. One broker answers with the topic at once, so a single-node deployment is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)

#: how long to wait for a new topic to reach every broker before letting Faust go on regardless
VISIBLE_TIMEOUT_S = 30.0


def wait_for_new_topics_everywhere() -> None:
    """Wrap ``faust.transport.drivers.aiokafka.Transport._create_topic`` (idempotent)."""
    from faust.transport.drivers.aiokafka import Transport

    original = Transport._create_topic
    if getattr(original, "_waits_everywhere", False):
        return

    async def create_and_wait(self, owner, client, topic, partitions, replication, **kwargs):
        await original(self, owner, client, topic, partitions, replication, **kwargs)
        if replication > 1:
            await _served_by_every_broker(client, topic, partitions)

    create_and_wait._waits_everywhere = True
    Transport._create_topic = create_and_wait


async def _served_by_every_broker(client, topic: str, partitions: int) -> None:
    from aiokafka.protocol.metadata import MetadataRequest

    deadline = time.monotonic() + VISIBLE_TIMEOUT_S
    while True:
        missing = []
        for node_id in [b.nodeId for b in client.cluster.brokers()]:
            try:
                response = await client.send(node_id, MetadataRequest([topic], allow_auto_topic_creation=False))
            except Exception as exc:  # noqa: BLE001 - a broker that is away does not serve anything yet
                missing.append(f"{node_id} ({type(exc).__name__})")
                continue
            if not _complete(response, topic, partitions):
                missing.append(str(node_id))
        if not missing:
            return
        if time.monotonic() > deadline:
            log.warning("topic %s not served by broker(s) %s after %.0f s; going on", topic, ", ".join(missing),
                        VISIBLE_TIMEOUT_S)
            return
        await asyncio.sleep(0.1)


def _complete(response, topic: str, partitions: int) -> bool:
    # topics: (error_code, name, [is_internal,] partitions); partitions: (error_code, id, leader, ...)
    for entry in response.topics:
        if entry[1] == topic:
            parts = entry[-1] if isinstance(entry[-1], list) else entry[3]
            return entry[0] == 0 and len(parts) >= partitions and all(p[2] >= 0 for p in parts)
    return False
