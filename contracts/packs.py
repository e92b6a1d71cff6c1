"""Packs: many events in one record of the events topic, and the partitioner every producer agrees on.

A record of the events topic holds either **one event** (a JSON object, key = its user id) or a
**pack**: a JSON array of up to 10,000 events (`PACK_MAX_EVENTS`) whose users all hash to the record's
partition (`encode_pack`; the key is ignored). The worker's cost is per Kafka record, not per
event (issue #18: ~200 CPU-us a record in Faust), so Freshrec's own producers pack what one linger
interval brings per partition; any other producer may keep sending single events. Each event of a
pack is validated on its own: a bad one goes to the dead-letter topic, its neighbours are kept.
"""

from __future__ import annotations

import msgspec
from kafka.partitioner.default import murmur2

from contracts.events import EventError

#: Most events one pack record may hold; an event's place in the log is ``offset * PACK_SLOTS + index``.
PACK_MAX_EVENTS = 10_000
PACK_SLOTS = 1 << 14


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, as the Java, kafka-python and aiokafka clients): the
    partition of a user's events, and so the one partition every user of a pack must hash to."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def encode_pack(encoded_events: list[bytes]) -> bytes:
    """One pack record from already encoded events (JSON objects): ``[e1,e2,...]``."""
    if len(encoded_events) > PACK_MAX_EVENTS:
        raise ValueError(f"a pack holds at most {PACK_MAX_EVENTS} events, got {len(encoded_events)}")
    return b"[" + b",".join(encoded_events) + b"]"


def is_pack(data: bytes) -> bool:
    """True if a record value is a pack (a JSON array) rather than one event (a JSON object)."""
    return data.lstrip()[:1] == b"["


_pack_decoder = msgspec.json.Decoder(list[msgspec.Raw])


def split_pack(data: bytes) -> list[bytes]:
    """The raw bytes of each event of a pack, unvalidated; :class:`EventError` if it is no pack.

    A pack must open with an object: anything else (``[]``, ``[1, 2]``, ``[[[...``) is rejected whole
    before any parsing, so hostile nesting never reaches the decoder's recursion."""
    if data.lstrip()[1:].lstrip()[:1] != b"{":
        raise EventError("$", "a pack is a JSON array of event objects, and holds at least one")
    try:
        parts = _pack_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise EventError("$", f"a pack must be a JSON array of events: {exc}") from None
    except msgspec.DecodeError as exc:
        raise EventError("$", f"not valid JSON: {exc}") from None
    if len(parts) > PACK_MAX_EVENTS:
        raise EventError("$", f"a pack holds at most {PACK_MAX_EVENTS} events, got {len(parts)}")
    return [bytes(p) for p in parts]


class _UserOnly(msgspec.Struct):
    user_id: object = None


_user_only = msgspec.json.Decoder(_UserOnly)


def peek_user_id(data: bytes) -> str | None:
    """The ``user_id`` of one JSON object, without validating the rest (None if unreadable or absent):
    how a producer decides what may join a pack, and how a dead letter from a pack gets its key."""
    try:
        user = _user_only.decode(data).user_id  # parses the whole object, builds one field: ~1 us
    except (msgspec.DecodeError, RecursionError):
        return None
    return user if isinstance(user, str) and user else None
