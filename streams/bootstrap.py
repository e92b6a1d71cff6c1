"""What a users worker reads before it consumes: every item's newest neighbour list.

The items side writes each published list to the compacted ``neighbors`` topic (key = item) and, in
slices, to the ``neighbor-packs`` broadcast. A running users worker follows the broadcast only; one
that starts reads the compacted topic once, here, and then the packs still in their retention
(newer lists win by publish time). It is not a Faust table: a global table with a recovery buffer
of 1 (what Faust needs to recover one shared by several apps) keeps being read after recovery, a
changelog record at a time at ~0.5 ms each without yielding, and every publish held the users
worker's loop for a second or more (p50 freshness 1.2 s at 1,000 events/s).
"""

from __future__ import annotations

import logging
import time

from freshrec.settings import Settings

log = logging.getLogger(__name__)


class BootstrapError(RuntimeError):
    pass


def read_compacted(settings: Settings, topic: str, *, timeout_s: float = 60.0,
                   progress_every: int = 100_000) -> dict[bytes, bytes | None]:
    """The newest value of every key of ``topic`` up to its end when called (None = a tombstone not
    yet compacted away); an empty dict when the topic does not exist yet. Gives up when no record
    arrives for ``timeout_s``: a large catalogue takes long (~30 us a record here), a stuck one never ends."""
    from kafka import KafkaConsumer, TopicPartition

    from freshrec.kafka_security import kafka_python_config

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
                             client_id=f"{settings.worker_group}-bootstrap", **kafka_python_config(settings))
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return {}
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        latest: dict[bytes, bytes | None] = {}
        read, deadline = 0, time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise BootstrapError(f"no record of {topic} for {timeout_s:.0f} s after {read} of them, before its "
                                     f"end; is the broker reachable and not overloaded? (FRESHREC_KAFKA_BOOTSTRAP)")
            polled = consumer.poll(timeout_ms=500, max_records=10_000)
            if polled:
                deadline = time.monotonic() + timeout_s
            for tp, records in polled.items():
                for record in records:
                    if record.offset < end[tp]:
                        latest[record.key] = record.value
                read += len(records)
                if read // progress_every != (read - len(records)) // progress_every:
                    log.info("read %d neighbour lists of %s", read, topic)
        return latest
    finally:
        consumer.close()
