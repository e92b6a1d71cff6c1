"""Events posted by frontends, produced to Kafka's events topic keyed by user (one user, one partition, in order).

The producer starts lazily and retries its start on the next event, so the API serves recommendations
while Kafka is still starting or briefly gone; a POST meanwhile gets a clear 503.
"""

from __future__ import annotations

import asyncio
import logging

from producers.schema import Event, encode_event

log = logging.getLogger(__name__)


class SinkUnavailable(RuntimeError):
    """Kafka could not take the event; the frontend may retry (the event id makes that idempotent)."""


class KafkaEventSink:
    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = 5.0, **kafka_config):
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self.kafka_config = kafka_config  # SASL/TLS: freshrec.kafka_security.aiokafka_config(settings)
        self._producer = None
        self._lock = asyncio.Lock()

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
        producer = await self._ensure()
        try:
            async with asyncio.timeout(self.timeout_s):
                await producer.send_and_wait(self.topic, encode_event(event), key=event.user_id.encode())
        except Exception as exc:  # noqa: BLE001 - the caller answers 503 whatever Kafka said
            raise SinkUnavailable(f"Kafka did not take the event ({exc or type(exc).__name__})") from None

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
