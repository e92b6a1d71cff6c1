"""One id rule: the event schema, the Redis key schema and ``is_id`` accept exactly the same strings."""

from __future__ import annotations

import msgspec
from hypothesis import given, strategies as st

from contracts.events import EventError, decode_event
from contracts.ids import MAX_ID_LEN, is_id
from contracts.redis_keys import Keys

candidates = st.text("aZ09_.-\n :*/\t\u00e9", min_size=0, max_size=MAX_ID_LEN + 2)


def _event_accepts(value: str) -> bool:
    raw = msgspec.json.encode({"event_id": "e1", "ts": 1_700_000_000_000, "user_id": value, "type": "forget"})
    try:
        decode_event(raw)
    except EventError:
        return False
    return True


def _keys_accept(value: str) -> bool:
    try:
        Keys().user_recs(value)
    except ValueError:
        return False
    return True


@given(candidates)
def test_every_id_check_agrees(value):
    assert is_id(value) == _event_accepts(value) == _keys_accept(value)


def test_the_edges():
    assert is_id("u" * MAX_ID_LEN) and not is_id("u" * (MAX_ID_LEN + 1))
    assert not is_id("") and not is_id("u1\n") and not is_id(None) and not is_id("a b")
