"""Validation and routing of raw input: an accepted event, or a dead-letter record saying why not.

Dead letters keep the *original bytes* as the Kafka value (so an operator can fix and replay them
byte for byte) and put the reason in headers, which never need escaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from producers.schema import ID_PATTERN, MAX_ID_LEN, CatalogItem, Event, EventError, decode_event, decode_item

MAX_RAW_BYTES = 64 * 1024


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

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("x-error-field", self.field.encode()),
            ("x-error-reason", self.reason.encode()[:1000]),
            ("x-source-topic", self.topic.encode()),
            ("x-source-partition", str(self.partition).encode()),
            ("x-source-offset", str(self.offset).encode()),
        ]


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
