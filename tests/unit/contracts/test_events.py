"""The event contract: every record round-trips through the codec, every rule names its field."""

from __future__ import annotations

import doctest
import time

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

import contracts.events as schema
from contracts.events import (EVENT_TYPES, PAGES, CatalogItem, Event, EventError, decode_event, decode_item,
                              encode_event, encode_item)
from contracts.ids import MAX_ID_LEN

ID_ALPHABET = "abcXYZ0189_.-"
ids = st.text(ID_ALPHABET, min_size=1, max_size=MAX_ID_LEN)
now_ms = int(time.time() * 1000)
timestamps = st.integers(min_value=schema.MIN_TS, max_value=now_ms)


@st.composite
def events(draw) -> Event:
    kind = draw(st.sampled_from(EVENT_TYPES))
    on_list = draw(st.booleans())
    return Event(
        event_id=draw(ids), ts=draw(timestamps), user_id=draw(ids), type=kind,
        item_id=None if kind == "forget" and draw(st.booleans()) else draw(ids),
        session_id=draw(st.none() | ids), page=draw(st.sampled_from(PAGES)),
        list_id=draw(ids) if on_list else None,
        position=draw(st.integers(0, 999)) if on_list else None,
        variant=draw(st.none() | st.text(ID_ALPHABET, min_size=1, max_size=32)),
        price=draw(st.none() | st.floats(0, 1e8, allow_nan=False)),
        quantity=draw(st.none() | st.integers(1, 100_000)),
        shown=draw(st.none() | st.lists(ids, max_size=200)),
    )


@st.composite
def items(draw) -> CatalogItem:
    words = st.text(min_size=1, max_size=80)
    return CatalogItem(
        item_id=draw(ids), title=draw(st.text(min_size=1, max_size=300)),
        category=draw(st.lists(words, min_size=1, max_size=6)), price=draw(st.floats(0, 1e8, allow_nan=False)),
        brand=draw(st.none() | st.text(max_size=80)), in_stock=draw(st.booleans()),
        attributes=draw(st.dictionaries(st.text(max_size=40), st.text(max_size=120), max_size=50)),
        complements=draw(st.lists(ids, max_size=50)), created_ts=draw(st.none() | timestamps),
    )


@given(events())
@settings(max_examples=300, deadline=None)
def test_every_valid_event_round_trips(ev: Event):
    assert decode_event(encode_event(ev)) == ev


@given(items())
@settings(max_examples=200, deadline=None)
def test_every_valid_catalog_item_round_trips(item: CatalogItem):
    assert decode_item(encode_item(item)) == item


@given(st.dictionaries(st.sampled_from(["event_id", "ts", "user_id", "type", "item_id", "page", "position",
                                        "list_id", "shown", "v", "price"]),
                       st.none() | st.integers() | st.text(max_size=70) | st.lists(st.text(max_size=5))))
@settings(max_examples=300, deadline=None)
def test_arbitrary_input_either_decodes_or_raises_event_error_naming_a_field(obj: dict):
    try:
        ev = decode_event(msgspec.json.encode(obj))
    except EventError as err:
        assert err.field == "$" or err.field in Event.__struct_fields__
        assert err.reason
    else:
        assert isinstance(ev, Event)


GOOD = {"event_id": "e1", "ts": 1_700_000_000_000, "user_id": "u1", "type": "view", "item_id": "i1"}


@pytest.mark.parametrize("change, field", [
    ({"event_id": "e 1"}, "event_id"),                     # charset
    ({"user_id": "u" * (MAX_ID_LEN + 1)}, "user_id"),      # length
    ({"user_id": ""}, "user_id"),
    ({"session_id": "s:1"}, "session_id"),
    ({"item_id": "a/b"}, "item_id"),
    ({"ts": 1_000}, "ts"),                                  # before 2000
    ({"ts": 4_200_000_000_000}, "ts"),                      # after 2100
    ({"ts": now_ms + 2 * 86_400_000}, "ts"),                # more than a day ahead
    ({"ts": "2024-01-01"}, "ts"),
    ({"type": "purchase"}, "type"),
    ({"page": "checkout"}, "page"),
    ({"item_id": None}, "item_id"),                         # required unless forget
    ({"position": 2}, "position"),                          # needs list_id
    ({"list_id": "l1", "position": -1}, "position"),
    ({"variant": "A B"}, "variant"),
    ({"price": -1.0}, "price"),
    ({"quantity": 0}, "quantity"),
    ({"shown": ["ok", "not ok"]}, "shown"),
    ({"shown": ["i"] * 201}, "shown"),
    ({"v": 99}, "v"),
])
def test_each_rule_names_its_field(change: dict, field: str):
    obj = {**GOOD, **change}
    if change.get("item_id", "") is None:
        del obj["item_id"]
    with pytest.raises(EventError) as info:
        decode_event(msgspec.json.encode(obj))
    assert info.value.field == field, info.value
    assert info.value.as_dict() == {"field": field, "reason": info.value.reason}


def test_missing_fields_and_broken_json_are_named():
    with pytest.raises(EventError) as info:
        decode_event(msgspec.json.encode({k: v for k, v in GOOD.items() if k != "user_id"}))
    assert "user_id" in str(info.value)
    with pytest.raises(EventError) as info:
        decode_event(b'{"event_id": ')
    assert info.value.field == "$" and "JSON" in info.value.reason


@pytest.mark.parametrize("change, field", [
    ({"item_id": "x y"}, "item_id"), ({"category": []}, "category"), ({"price": -3}, "price"),
    ({"title": ""}, "title"), ({"complements": ["bad id"]}, "complements"),
])
def test_catalog_rules_name_their_field(change: dict, field: str):
    good = {"item_id": "i1", "title": "A lamp", "category": ["Home", "Lamps"], "price": 10.0}
    with pytest.raises(EventError) as info:
        decode_item(msgspec.json.encode({**good, **change}))
    assert info.value.field == field


def test_forget_needs_no_item_and_impressions_carry_the_list():
    assert decode_event(msgspec.json.encode({**GOOD, "type": "forget", "item_id": None})).item_id is None
    imp = decode_event(msgspec.json.encode({**GOOD, "type": "impression", "list_id": "L1", "variant": "B",
                                            "shown": ["i1", "i2"]}))
    assert imp.shown == ["i1", "i2"] and not imp.is_interaction


def test_module_doctest_passes():
    result = doctest.testmod(schema, optionflags=doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL)
    assert result.attempted >= 2 and result.failed == 0
