"""Validation and routing of raw input: an accepted event, or a dead-letter record saying why not.

Dead letters keep the *original bytes* as the Kafka value (so an operator can fix and replay them
byte for byte) and put the reason in headers, which never need escaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contracts.events import CatalogItem, Event, EventError, decode_event, decode_item
from contracts.ids import ID_PATTERN, MAX_ID_LEN
from contracts.packs import PACK_SLOTS, is_pack, peek_user_id, split_pack
from streams.tables import key_partition

MAX_RAW_BYTES = 64 * 1024
MAX_PACK_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class DeadLetter:
    """Why one message was rejected, and where it came from."""

    value: bytes
    key: bytes | None
    field: str
    reason: str
    topic: str = ""
    partition: int = -1
    offset: int = -1
    #: The event's place in its pack record (-1: the record held one event).
    index: int = -1

    def headers(self) -> list[tuple[str, bytes]]:
        out = [
            ("x-error-field", self.field.encode()),
            ("x-error-reason", self.reason.encode()[:1000]),
            ("x-source-topic", self.topic.encode()),
            ("x-source-partition", str(self.partition).encode()),
            ("x-source-offset", str(self.offset).encode()),
        ]
        if self.index >= 0:
            out.append(("x-source-pack-index", str(self.index).encode()))
        return out


def _as_bytes(value: object) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return None


def route_event(value: object, key: object = None, *, topic: str = "", partition: int = -1,
                offset: int = -1) -> Event | DeadLetter:
    """Decode one message of the events topic; never raises."""
    raw = _as_bytes(value)
    rawkey = _as_bytes(key)
    where = {"topic": topic, "partition": partition, "offset": offset}
    if raw is None:
        return DeadLetter(b"", rawkey, "$", "empty message (null value)", **where)
    if len(raw) > MAX_RAW_BYTES:
        return DeadLetter(raw, rawkey, "$", f"message of {len(raw)} bytes exceeds {MAX_RAW_BYTES}", **where)
    try:
        event = decode_event(raw)
    except EventError as exc:
        return DeadLetter(raw, rawkey, exc.field, exc.reason, **where)
    except Exception as exc:  # noqa: BLE001 - the contract is "never crash on input"
        return DeadLetter(raw, rawkey, "$", f"undecodable: {type(exc).__name__}: {exc}", **where)
    if rawkey is not None and rawkey != event.user_id.encode():
        # A key other than the user would put the user's events on two partitions: two session states.
        return DeadLetter(raw, rawkey, "key", f"message key must be the user_id {event.user_id!r}", **where)
    return event


def route_record(value: object, key: object = None, *, topic: str = "", partition: int = -1, offset: int = -1,
                 partitions: int = 0) -> list[tuple[Event | DeadLetter, int]]:
    """Every event of one events-topic record with its place in the log, ``offset * PACK_SLOTS + index``
    (the item side's exactly-once watermark, streams/covis.py). A one-event record is :func:`route_event`;
    a pack is split and each event validated on its own; an event whose user does not hash to the
    record's partition (of ``partitions``) is dead-lettered, since its session lives on another partition."""
    base = offset * PACK_SLOTS if offset >= 0 else -1
    raw = _as_bytes(value)
    if raw is None or not is_pack(raw):
        return [(route_event(value, key, topic=topic, partition=partition, offset=offset), base)]
    where = {"topic": topic, "partition": partition, "offset": offset}
    if len(raw) > MAX_PACK_BYTES:
        return [(DeadLetter(raw, None, "$", f"pack of {len(raw)} bytes exceeds {MAX_PACK_BYTES}", **where), base)]
    try:
        parts = split_pack(raw)
    except EventError as exc:
        return [(DeadLetter(raw, None, exc.field, exc.reason, **where), base)]
    except Exception as exc:  # noqa: BLE001 - never crash on input (e.g. RecursionError on deep nesting)
        return [(DeadLetter(raw, None, "$", f"undecodable: {type(exc).__name__}: {exc}", **where), base)]
    if not parts:  # nothing to apply, but a record that vanished without a trace would hide a bug
        return [(DeadLetter(raw, None, "$", "empty pack: a pack holds at least one event", **where), base)]
    out: list[tuple[Event | DeadLetter, int]] = []
    for index, part in enumerate(parts):
        seq = base + index if base >= 0 else -1
        ev = route_event(part, None, **where)
        if isinstance(ev, Event) and partitions and partition >= 0 \
                and (home := key_partition(ev.user_id, partitions)) != partition:
            ev = DeadLetter(part, None, "user_id", f"user {ev.user_id!r} belongs to partition {home}, not "
                            f"this pack's {partition}: a pack holds only users of the partition it is sent to",
                            **where)
        if isinstance(ev, DeadLetter):
            ev.index = index
            # A dead letter from a pack is re-sendable on its own: keyed by its user when that is readable.
            ev.key = ev.key or (user.encode() if (user := peek_user_id(part)) else None)
        out.append((ev, seq))
    return out


def route_item(value: object, key: object = None, *, topic: str = "", partition: int = -1,
               offset: int = -1) -> CatalogItem | DeadLetter | str:
    """Decode one catalog message: an item, a dead letter, or the item id of a tombstone (delete)."""
    raw = _as_bytes(value)
    rawkey = _as_bytes(key)
    where = {"topic": topic, "partition": partition, "offset": offset}
    if raw is None or raw == b"":
        try:
            item_id = rawkey.decode() if rawkey else ""
        except UnicodeDecodeError:
            item_id = ""
        if item_id and re.fullmatch(ID_PATTERN, item_id) and len(item_id) <= MAX_ID_LEN:
            return item_id
        return DeadLetter(b"", rawkey, "key", "tombstone without a valid item id key", **where)
    if len(raw) > MAX_RAW_BYTES:
        return DeadLetter(raw, rawkey, "$", f"message of {len(raw)} bytes exceeds {MAX_RAW_BYTES}", **where)
    try:
        return decode_item(raw)
    except EventError as exc:
        return DeadLetter(raw, rawkey, exc.field, exc.reason, **where)
    except Exception as exc:  # noqa: BLE001
        return DeadLetter(raw, rawkey, "$", f"undecodable: {type(exc).__name__}: {exc}", **where)
