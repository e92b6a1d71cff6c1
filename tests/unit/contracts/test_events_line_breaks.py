"""Ids with a trailing line break: Python's ``$`` matches before a final newline, so a pattern alone
let "u1\\n" through the schema and the key builder (found by the reliability fuzz test)."""

from __future__ import annotations

import pytest

from contracts.events import EventError, decode_event, decode_item
from contracts.redis_keys import Keys


@pytest.mark.parametrize("field", ["event_id", "user_id", "item_id", "session_id"])
def test_an_id_ending_in_a_newline_is_rejected_naming_the_field(field):
    ev = {"event_id": "e1", "ts": 1_700_000_000_000, "user_id": "u1", "type": "view", "item_id": "i1"}
    ev[field] = "x\n"
    import json

    with pytest.raises(EventError) as err:
        decode_event(json.dumps(ev))
    assert err.value.field == field


def test_a_catalog_item_id_ending_in_a_newline_is_rejected():
    with pytest.raises(EventError) as err:
        decode_item('{"item_id": "i\\n", "title": "t", "category": ["c"], "price": 1}')
    assert err.value.field == "item_id"


def test_the_key_schema_refuses_and_disowns_trailing_newlines():
    keys = Keys("fr:")
    with pytest.raises(ValueError):
        keys.user_recs("u1\n")
    assert keys.owns("fr:rec:user:u1") and not keys.owns("fr:rec:user:u1\n")
