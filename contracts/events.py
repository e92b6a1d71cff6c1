"""The event contract between producers and streams: shop events and catalog upserts.

JSON on the wire, encoded and validated by msgspec (one pass, no intermediate dicts). Ids follow
:mod:`contracts.ids`. A record of the events topic holds one event or a pack of them
(:mod:`contracts.packs`); each event is validated on its own.

>>> ev = Event(event_id="e1", ts=1_700_000_000_000, user_id="u1", session_id="s1", item_id="i9", type="view")
>>> decode_event(encode_event(ev)) == ev
True
>>> decode_event(b'{"event_id": "e1", "ts": 1, "user_id": "u1", "type": "view", "item_id": "i"}')
Traceback (most recent call last):
...
contracts.events.EventError: ts: ... (at $.ts)
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import msgspec

from contracts.ids import ID_PATTERN, MAX_ID_LEN

SCHEMA_VERSION = 1

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN, min_length=1, max_length=MAX_ID_LEN)]

# Epoch milliseconds. Replayed public logs start in 2014; nothing real predates 2000.
MIN_TS = 946_684_800_000  # 2000-01-01
MAX_FUTURE_SKEW_MS = 24 * 3600 * 1000
EpochMs = Annotated[int, msgspec.Meta(ge=MIN_TS, le=4_102_444_800_000)]  # < 2100-01-01

EventType = Literal["view", "click", "cart", "order", "impression", "forget"]
EVENT_TYPES: tuple[str, ...] = ("view", "click", "cart", "order", "impression", "forget")
Page = Literal["detail", "home", "search", "cart"]
PAGES: tuple[str, ...] = ("detail", "home", "search", "cart")

#: Interactions that express interest in the item itself (impressions are only exposure).
INTERACTIONS = frozenset({"view", "click", "cart", "order"})


class EventError(ValueError):
    """An event failed validation; ``field`` names the culprit, ``reason`` says why."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One shop event. ``event_id`` is unique and makes re-delivery idempotent downstream."""

    event_id: Id
    ts: EpochMs
    user_id: Id
    type: EventType
    item_id: Id | None = None
    session_id: Id | None = None
    page: Page = "detail"
    # Set on impressions of, and clicks on, a recommendation list.
    list_id: Id | None = None
    position: Annotated[int, msgspec.Meta(ge=0, le=999)] | None = None
    variant: Annotated[str, msgspec.Meta(pattern=ID_PATTERN, max_length=32)] | None = None
    price: Annotated[float, msgspec.Meta(ge=0, le=1e8)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None
    # Items shown in one impression (the list), so rankers learn from what was not picked.
    shown: Annotated[list[Id], msgspec.Meta(max_length=200)] | None = None
    v: Annotated[int, msgspec.Meta(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_ids(self, ("event_id", "user_id", "item_id", "session_id", "list_id", "variant"))
        if self.type != "forget" and self.item_id is None:
            raise ValueError("item_id: required for every event type but `forget`")
        if self.ts > _now_ms() + MAX_FUTURE_SKEW_MS:
            raise ValueError("ts: lies more than a day in the future")
        if self.position is not None and self.list_id is None:
            raise ValueError("position: needs list_id (the recommendation list it refers to)")

    @property
    def is_interaction(self) -> bool:
        return self.type in INTERACTIONS


class CatalogItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An item upsert on the compacted catalog topic (key = item_id; a null value deletes)."""

    item_id: Id
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    category: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=80)]],
                        msgspec.Meta(min_length=1, max_length=6)]
    price: Annotated[float, msgspec.Meta(ge=0, le=1e8)]
    brand: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    in_stock: bool = True
    attributes: Annotated[dict[Annotated[str, msgspec.Meta(max_length=40)],
                               Annotated[str, msgspec.Meta(max_length=120)]],
                          msgspec.Meta(max_length=50)] = {}
    #: Items this one is an accessory for (phone case -> phones), when the shop knows it.
    complements: Annotated[list[Id], msgspec.Meta(max_length=50)] = []
    created_ts: EpochMs | None = None
    v: Annotated[int, msgspec.Meta(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_ids(self, ("item_id",))
        for other in self.complements:
            _check_id("complements", other)

    @property
    def leaf_category(self) -> str:
        return self.category[-1]

    @property
    def category_path(self) -> str:
        return "/".join(self.category)


def _check_id(field: str, value: str | None) -> None:
    # msgspec searches ID_PATTERN with Python's re, whose ``$`` also matches before a final "\n":
    # "u1\n" would pass and reach Redis keys and logs. The pattern stays JSON-Schema-portable.
    if value is not None and value.endswith("\n"):
        raise ValueError(f"{field}: must match {ID_PATTERN!r} (no line breaks)")


def _check_ids(obj: msgspec.Struct, fields: tuple[str, ...]) -> None:
    for name in fields:
        _check_id(name, getattr(obj, name))


def _now_ms() -> int:
    return int(time.time() * 1000)


_event_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_item_decoder = msgspec.json.Decoder(CatalogItem)


def encode_event(event: Event) -> bytes:
    return _event_encoder.encode(event)


def encode_item(item: CatalogItem) -> bytes:
    return _event_encoder.encode(item)


def _as_event_error(exc: msgspec.MsgspecError) -> EventError:
    # msgspec says e.g. "Expected `str` of length <= 64 - at `$.user_id`"
    msg = str(exc)
    reason, sep, where = msg.rpartition(" - at `")
    if not sep:
        return EventError("$", msg)
    path = where.rstrip("`")
    field = path.removeprefix("$.").split("[")[0] or "$"
    return EventError(field, f"{reason} (at {path})")


def decode_event(data: bytes | str) -> Event:
    """Parse and validate one event; raise :class:`EventError` naming the field."""
    return _decode(_event_decoder, data)


def decode_item(data: bytes | str) -> CatalogItem:
    return _decode(_item_decoder, data)


def _decode(decoder: msgspec.json.Decoder, data: bytes | str):
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        return _raise(exc)
    except msgspec.DecodeError as exc:
        raise EventError("$", f"not valid JSON: {exc}") from None


def _raise(exc: msgspec.ValidationError):
    err = _as_event_error(exc)
    field, sep, reason = err.reason.partition(": ")
    if err.field == "$" and sep and field.isidentifier():
        err = EventError(field, reason)  # raised by __post_init__ as "field: reason"
    raise err from None


def event_json_schema() -> dict:
    """JSON Schema of the wire format, for docs and for frontends that validate before sending."""
    return msgspec.json.schema(Event)
