"""A bulk sender for replay at full speed: whole record batches built in C, shipped with acks=all.

Why a second sender: kafka-python (:class:`producers.kafka_out.EventProducer`) encodes every
record and its CRC in pure Python, which tops out near 10k records/s on this 2-core machine.
aiokafka, already installed with Faust, exposes a ``create_batch``/``send_batch`` API whose batch
builder is compiled; filling one batch per partition and sending it whole reaches several times
the target. Records keep the contract of :class:`EventProducer`: key = user id, the same murmur2
partition as every other client, per-partition order kept (idempotent producer, acks=all), and
failures counted and raised at :meth:`flush`.

It is synchronous for its caller: an event loop private to the sender runs only while a full
batch is handed over and at :meth:`flush`. Batches go out when full, so use it where latency does
not matter (a replay at ``--speed max``); paced replays use :class:`EventProducer`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from contracts.packs import partition_of

from producers.kafka_out import DeliveryError, FlushOnExit, ProducerError

_MAX_CACHED_KEYS = 1_000_000


class BatchSender(FlushOnExit):
    """``send(topic, key, value)`` appends to the partition's open batch; ``flush()`` waits for all."""

    def __init__(self, bootstrap: str, *, batch_bytes: int = 1024 * 1024, client_id: str = "freshrec-bulk",
                 pack_topics: frozenset[str] = frozenset(), pack_max: int = 1, **kafka_config: Any):
        from aiokafka import AIOKafkaProducer
        from aiokafka.errors import KafkaError

        self.sent = 0
        self.failed = 0
        self._loop = asyncio.new_event_loop()

        async def make() -> AIOKafkaProducer:  # aiokafka binds to the loop running its constructor
            return AIOKafkaProducer(
                bootstrap_servers=bootstrap, client_id=client_id, acks="all", enable_idempotence=True,
                max_batch_size=batch_bytes, max_request_size=max(1_048_576, 2 * batch_bytes),
                **kafka_config)  # SASL/TLS: freshrec.kafka_security.aiokafka_config(settings)

        self._producer = self._loop.run_until_complete(make())
        try:
            self._loop.run_until_complete(self._producer.start())
        except (KafkaError, OSError) as exc:
            self._loop.run_until_complete(self._producer.stop())
            self._loop.close()
            raise ProducerError(f"cannot reach Kafka at {bootstrap} ({exc}); "
                                "run `freshrec stack up` or set FRESHREC_KAFKA_BOOTSTRAP") from None
        self._open: dict[tuple[str, int], Any] = {}
        self._inflight: list[tuple[asyncio.Future, int]] = []
        self._partitions: dict[str, int] = {}
        self._key_partition: dict[tuple[str, bytes], int] = {}
        self._first_error: BaseException | None = None
        self._reported = 0
        # Events topics carry packs (contracts/packs.py): full speed fills every pack to pack_max.
        self._pack_topics = pack_topics if pack_max > 1 else frozenset()
        self._packs: dict[str, Any] = {}
        if self._pack_topics:
            from producers.packing import PackBuffer
            self._packs = {t: PackBuffer(max_events=pack_max) for t in self._pack_topics}

    def send_raw(self, topic: str, key: bytes, value: bytes) -> None:
        part = self._key_partition.get((topic, key))
        if part is None:
            part = self._partition_for(topic, key)
        packs = self._packs.get(topic)
        if packs is not None and value is not None:
            for record in packs.add(part, key, value):
                self._append(topic, *record)
        else:
            self._append(topic, part, key, value)
        self.sent += 1

    def _append(self, topic: str, part: int, key: bytes | None, value: bytes) -> None:
        batch = self._open.get((topic, part))
        if batch is None:
            batch = self._open[(topic, part)] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: ship it, start another
            self._ship(topic, part, batch)
            batch = self._open[(topic, part)] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ProducerError(f"a record of {len(value)} bytes does not fit in an empty batch")

    def _partition_for(self, topic: str, key: bytes) -> int:
        n = self._partitions.get(topic)
        if n is None:
            parts = self._loop.run_until_complete(self._producer.partitions_for(topic))
            n = self._partitions[topic] = len(parts)
        if len(self._key_partition) >= _MAX_CACHED_KEYS:
            self._key_partition.clear()
        part = self._key_partition[(topic, key)] = partition_of(key, n)
        return part

    def _ship(self, topic: str, part: int, batch: Any) -> None:
        batch.close()
        fut = self._loop.run_until_complete(self._producer.send_batch(batch, topic, partition=part))
        self._inflight.append((fut, batch.record_count()))
        # Collect finished batches now and then, so a failure surfaces early and the list stays short.
        if len(self._inflight) > 64:
            self._collect(done_only=True)

    def _collect(self, done_only: bool) -> None:
        pending = []
        for fut, count in self._inflight:
            if done_only and not fut.done():
                pending.append((fut, count))
                continue
            if not fut.done():
                self._loop.run_until_complete(asyncio.wait([fut]))
            if fut.exception() is not None:
                self.failed += count
                self._first_error = self._first_error or fut.exception()
        self._inflight = pending

    def flush(self) -> None:
        """Send every open batch and wait for all acknowledgements; raise :class:`DeliveryError` on failures."""
        for topic, packs in self._packs.items():
            for record in packs.take():
                self._append(topic, *record)
        for (topic, part), batch in self._open.items():
            if batch.record_count():
                self._ship(topic, part, batch)
        self._open.clear()
        self._collect(done_only=False)
        new, self._reported = self.failed - self._reported, self.failed
        if new:
            raise DeliveryError(new, self._first_error)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._producer.stop())
            self._loop.close()
