"""The one Kafka producer every Freshrec writer uses, and the helper that creates its topics.

Events are keyed by user id (one user's events stay ordered in one partition), catalog upserts by
item id (the catalog topic is compacted, so the latest upsert per item survives). Delivery is
``acks=all`` with kafka-python's idempotent producer; a failed delivery is counted and raised by
:meth:`EventProducer.flush`, so nothing is lost silently.

Typical use (the shop, replay, serving's ``POST /events`` and the stream worker's dead letters)::

    with EventProducer.from_settings(Settings()) as out:
        out.send_item(item)        # catalog first, so the worker knows the item
        out.send_event(event)
    # leaving the block flushes and raises DeliveryError if any record failed
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Self

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from contracts.events import CatalogItem, Event, encode_event, encode_item
from contracts.packs import partition_of
from freshrec.kafka_security import KafkaSecurityError
from freshrec.kafka_security import kafka_python_config as _security_config
from freshrec.settings import Settings

log = logging.getLogger(__name__)

COMPRESSIONS = ("none", "gzip", "lz4", "snappy", "zstd")
# Our own partition choice must agree with every other client's default partitioner (Java,
# aiokafka, Faust), so it is the same murmur2; the cache only avoids re-hashing a user's id.
_MAX_CACHED_KEYS = 1_000_000


class ProducerError(RuntimeError):
    """Kafka could not be reached or rejected the producer's configuration; the message says what to fix."""


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """SASL/TLS keyword arguments from settings; incomplete ones raise :class:`ProducerError`."""
    try:
        return _security_config(settings)
    except KafkaSecurityError as exc:
        raise ProducerError(str(exc)) from None


class DeliveryError(ProducerError):
    """Some records were not acknowledged; ``failed`` counts them, ``first`` is the first cause."""

    def __init__(self, failed: int, first: BaseException | None):
        self.failed = failed
        self.first = first
        super().__init__(f"{failed} record(s) were not delivered to Kafka; first error: {first!r}")


class FlushOnExit:
    """``with`` a sender: leaving the block flushes (so delivery failures raise) unless it is already
    raising, and closes the sender either way."""

    def flush(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()


class EventProducer(FlushOnExit):
    """A thin, batching wrapper around :class:`kafka.KafkaProducer` for events and catalog items.

    Hyperparameters are the producer's batching knobs; ``sent`` and ``failed`` count records since
    construction. Not thread-safe for sending from several threads at once (one producer per thread).
    """

    def __init__(self, bootstrap: str, *, topic_events: str = "freshrec.events",
                 topic_catalog: str = "freshrec.catalog", linger_ms: int = 20,
                 batch_size: int = 256 * 1024, compression: str = "none",
                 client_id: str = "freshrec-producer", pack_max: int = 1, **kafka_config: Any):
        if compression not in COMPRESSIONS:
            raise ProducerError(f"compression {compression!r} is not one of {', '.join(COMPRESSIONS)}")
        self.topic_events = topic_events
        self.topic_catalog = topic_catalog
        self.sent = 0
        self.failed = 0
        self._first_error: BaseException | None = None
        self._reported = 0
        self._lock = threading.Lock()
        self._partitions: dict[str, int] = {}
        self._key_partition: dict[tuple[str, bytes], int] = {}
        # Events of one partition that arrive within one linger interval travel as one pack record
        # (producers/packing.py); the grouping then is ours, so kafka-python need not linger again.
        self._packer = None
        if pack_max > 1:
            from producers.packing import LingeringPacker
            self._packer = LingeringPacker(self._send_pack, max_events=pack_max, linger_s=linger_ms / 1000)
            linger_ms = 0
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap, client_id=client_id, acks="all", linger_ms=linger_ms,
                batch_size=batch_size, compression_type=None if compression == "none" else compression,
                max_request_size=max(1_048_576, batch_size), **kafka_config)
        except (KafkaError, ValueError) as exc:  # ValueError: bad config or a codec library missing
            raise ProducerError(f"cannot create a Kafka producer for {bootstrap}: {exc}. Check "
                                "FRESHREC_KAFKA_BOOTSTRAP (run `freshrec stack up`) and the compression "
                                "codec (lz4/snappy/zstd need their Python libraries; use none or gzip)") from None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> EventProducer:
        params: dict[str, Any] = dict(
            topic_events=settings.topic_events, topic_catalog=settings.topic_catalog,
            linger_ms=settings.producer_linger_ms, batch_size=settings.producer_batch_size,
            compression=settings.producer_compression, pack_max=settings.producer_pack_max)
        params.update(kafka_python_config(settings))  # SASL/TLS from FRESHREC_KAFKA_*
        params.update(overrides)
        return cls(settings.kafka_bootstrap, **params)

    # --- sending -------------------------------------------------------------------------------
    def send_event(self, event: Event, topic: str | None = None) -> None:
        """Queue one event, keyed by its user id."""
        self.send_raw(topic or self.topic_events, event.user_id.encode(), encode_event(event))

    def send_item(self, item: CatalogItem, topic: str | None = None) -> None:
        """Queue one catalog upsert, keyed by its item id."""
        self.send_raw(topic or self.topic_catalog, item.item_id.encode(), encode_item(item))

    def delete_item(self, item_id: str, topic: str | None = None) -> None:
        """Queue a tombstone: compaction then forgets the item."""
        self.send_raw(topic or self.topic_catalog, item_id.encode(), None)

    def send_raw(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Queue pre-encoded bytes (the replay's fast path); the caller vouches they are valid."""
        part = self._key_partition.get((topic, key))
        if part is None:
            part = self._partition_for(topic, key)
        if self._packer is not None and topic == self.topic_events and value is not None:
            self._packer.add(part, key, value)
        else:
            self._send(topic, part, key, value)
        self.sent += 1

    def _send(self, topic: str, part: int, key: bytes | None, value: bytes | None) -> None:
        try:
            fut = self._producer.send(topic, value, key, None, part)
        except KafkaError as exc:
            raise ProducerError(f"cannot queue a record for {topic}: {exc}") from None
        fut.add_errback(self._on_error)

    def _send_pack(self, record) -> None:
        part, key, value = record
        self._send(self.topic_events, part, key, value)

    def _partition_for(self, topic: str, key: bytes) -> int:
        n = self._partitions.get(topic)
        if n is None:
            try:
                parts = self._producer.partitions_for(topic)
            except KafkaError as exc:
                raise ProducerError(f"topic {topic!r} is unknown to Kafka ({exc}); create it first "
                                    "(producers.kafka_out.ensure_topics, or `freshrec shop` does)") from None
            n = self._partitions[topic] = len(parts)
        if len(self._key_partition) >= _MAX_CACHED_KEYS:
            self._key_partition.clear()
        part = self._key_partition[(topic, key)] = partition_of(key, n)
        return part

    def _on_error(self, exc: BaseException) -> None:
        # Runs on kafka-python's sender thread.
        with self._lock:
            self.failed += 1
            if self._first_error is None:
                self._first_error = exc
                log.error("Kafka delivery failed: %r", exc)

    # --- completion ----------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued record is acknowledged; raise :class:`DeliveryError` on new failures."""
        if self._packer is not None:
            self._packer.flush()
            if self._packer.error is not None:
                err, self._packer.error = self._packer.error, None
                raise ProducerError(f"a pack could not be queued: {err}") from None
        for _ in range(10):
            try:
                self._producer.flush(timeout)
                break
            except KafkaTimeoutError:
                raise ProducerError(f"Kafka did not acknowledge every record within {timeout}s") from None
            except KafkaError as exc:
                # kafka-python 3.0 reports a batch it split for size (and retried) as "Future not done";
                # waiting again covers the split halves.
                last = exc
        else:
            raise ProducerError(f"flush did not complete: {last!r}")
        with self._lock:
            new, first = self.failed - self._reported, self._first_error
            self._reported = self.failed
        if new:
            raise DeliveryError(new, first)

    def close(self, timeout: float | None = None) -> None:
        if self._packer is not None:
            self._packer.close()
        self._producer.close(timeout)


def ensure_topics(settings: Settings, *, events: str | None = None, catalog: str | None = None,
                  partitions: int | None = None) -> dict[str, str]:
    """Create the events topic and the compacted catalog topic unless they exist (idempotent).

    Returns ``{topic: "created" | "exists"}``. Raises :class:`ProducerError` if an existing catalog
    topic is not compacted, because the worker rebuilds the catalog from it and would lose items.
    """
    events = events or settings.topic_events
    catalog = catalog or settings.topic_catalog
    partitions = partitions or settings.topic_partitions
    rf, common = settings.topic_replication_factor, settings.topic_configs()
    wanted = {
        events: {"num_partitions": partitions, "replication_factor": rf, "configs": dict(common)},
        catalog: {"num_partitions": partitions, "replication_factor": rf,
                  "configs": {**common, "cleanup.policy": "compact"}},
    }
    if not _accepts_tcp(settings.kafka_bootstrap):
        # Fail in a second with the fix, instead of after kafka-python's half-minute of reconnect logs.
        raise ProducerError(f"nothing listens at {settings.kafka_bootstrap}; "
                            "run `freshrec stack up` or set FRESHREC_KAFKA_BOOTSTRAP")
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="freshrec-topics",
                                 **kafka_python_config(settings))
    except KafkaError as exc:
        raise ProducerError(f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc}); "
                            "run `freshrec stack up` or set FRESHREC_KAFKA_BOOTSTRAP") from None
    try:
        result: dict[str, str] = {}
        existing = set(admin.list_topics())
        for name, spec in wanted.items():
            if name in existing:
                result[name] = "exists"
                continue
            try:
                admin.create_topics({name: spec}, wait_for_metadata=True)
                result[name] = "created"
            except TopicAlreadyExistsError:  # another process won the race
                result[name] = "exists"
        if result[catalog] == "exists":
            _check_compacted(admin, catalog)
        return result
    finally:
        admin.close()


def _accepts_tcp(bootstrap: str, timeout: float = 2.0) -> bool:
    """True if any bootstrap server accepts a TCP connection."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            continue
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def _check_compacted(admin: KafkaAdminClient, topic: str) -> None:
    res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": None})],
                                 config_filter="all")
    policy = _config_value(res, topic, "cleanup.policy")
    if policy is not None and "compact" not in policy:
        raise ProducerError(f"catalog topic {topic!r} exists with cleanup.policy={policy}, not compact; "
                            f"delete it or set FRESHREC_TOPIC_CATALOG to another name")


def _config_value(res: Any, topic: str, key: str) -> str | None:
    # describe_configs answers {"topic": {name: {key: {"value": ...}}}}; tolerate other shapes.
    try:
        entry = res["topic"][topic][key]
    except (KeyError, TypeError):
        return None
    return entry.get("value") if isinstance(entry, dict) else str(entry)
