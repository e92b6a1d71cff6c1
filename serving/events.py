"""Events posted by frontends, produced to Kafka's events topic keyed by user (one user, one partition, in order).

The producer starts lazily and retries its start on the next event, so the API serves recommendations
while Kafka is still starting or briefly gone; a POST meanwhile gets a clear 503.
"""

from __future__ import annotations

import asyncio
import logging

from contracts.events import Event, encode_event
from contracts.packs import encode_pack, partition_of

log = logging.getLogger(__name__)


class SinkUnavailable(RuntimeError):
    """Kafka could not take the event; the frontend may retry (the event id makes that idempotent)."""


class KafkaEventSink:
    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = 5.0, pack_max: int = 500, **kafka_config):
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self.kafka_config = kafka_config  # SASL/TLS: freshrec.kafka_security.aiokafka_config(settings)
        self._producer = None
        self._lock = asyncio.Lock()
        self.pack_max = pack_max
        self._partitions: int | None = None
        self._queued: dict[int, list[tuple[bytes, bytes, asyncio.Future]]] = {}
        # partition -> its drain task; held here, since the event loop keeps only weak references
        self._draining: dict[int, asyncio.Future] = {}

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def _ensure(self):
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                from aiokafka import AIOKafkaProducer

                producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=0,
                                            request_timeout_ms=int(self.timeout_s * 1000), client_id="freshrec-api",
                                            **self.kafka_config)
                try:
                    async with asyncio.timeout(self.timeout_s):
                        await producer.start()
                except Exception as exc:  # noqa: BLE001 - any start failure means "not now"
                    await producer.stop()
                    raise SinkUnavailable(f"Kafka at {self.bootstrap} is unavailable ({exc or type(exc).__name__})")
                self._producer = producer
        return self._producer

    async def send(self, event: Event) -> None:
        """Produce ``event`` and return once Kafka has acknowledged it (acks=all).

        Group commit per partition: while one record of a partition is on its way, the events posted
        for that partition meanwhile queue, and leave together as one pack record (contracts/packs.py)
        when it is acknowledged. A lone POST waits for nothing more than its own round trip; under
        load, one record carries many events and the worker's cost per event falls."""
        producer = await self._ensure()
        key = event.user_id.encode()
        try:
            async with asyncio.timeout(self.timeout_s):
                part = await self._partition(producer, key)
                done = asyncio.get_running_loop().create_future()
                self._queued.setdefault(part, []).append((key, encode_event(event), done))
                if part not in self._draining:
                    self._draining[part] = asyncio.ensure_future(self._drain(producer, part))
                await asyncio.shield(done)
        except Exception as exc:  # noqa: BLE001 - the caller answers 503 whatever Kafka said
            raise SinkUnavailable(f"Kafka did not take the event ({exc or type(exc).__name__})") from None

    async def _partition(self, producer, key: bytes) -> int:
        if not self._partitions:
            parts = await producer.partitions_for(self.topic)
            if not parts:
                raise SinkUnavailable(f"topic {self.topic!r} has no partitions yet")
            self._partitions = len(parts)
        return partition_of(key, self._partitions)

    async def _drain(self, producer, part: int) -> None:
        try:
            while queued := self._queued.pop(part, None):
                for start in range(0, len(queued), self.pack_max):
                    chunk = queued[start:start + self.pack_max]
                    if len(chunk) == 1:
                        key, value = chunk[0][0], chunk[0][1]
                    else:
                        key, value = None, encode_pack([v for _, v, _ in chunk])
                    try:
                        await producer.send_and_wait(self.topic, value, key=key, partition=part)
                    except Exception as exc:  # noqa: BLE001 - each waiting POST gets the error
                        for _, _, done in chunk:
                            if not done.done():
                                done.set_exception(exc)
                        continue
                    for _, _, done in chunk:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._draining.pop(part, None)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
