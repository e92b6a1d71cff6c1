"""Session state rules: bounds, session boundaries, idempotence by event id, codec round trip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import Event
from streams.session import SessionPolicy, SessionState, decode_state, encode_state, to_session

T0 = 1_700_000_000_000


def ev(i: int, item: str, type_: str = "view", ts: int | None = None, **kw) -> Event:
    return Event(event_id=f"e{i}", ts=T0 + i * 1000 if ts is None else ts, user_id="u", item_id=item,
                 type=type_, **kw)


def test_bounds_hold_for_events_seen_purchased_and_ids():
    policy = SessionPolicy(max_events=3, max_items=2, max_event_ids=4, inactivity_ms=10**9)
    s = SessionState()
    for i in range(10):
        assert policy.apply(s, ev(i, f"i{i}", "order"))
    assert [e[0] for e in s.events] == ["i7", "i8", "i9"]
    assert s.purchased == ["i8", "i9"]
    assert list(s.seen) == ["i8", "i9"]
    assert s.event_ids == ["e6", "e7", "e8", "e9"]


def test_inactivity_and_session_id_start_a_new_session_but_keep_purchases():
    policy = SessionPolicy(inactivity_ms=60_000)
    s = SessionState()
    policy.apply(s, ev(1, "a", "order"))
    policy.apply(s, ev(2, "b"))
    policy.apply(s, ev(3, "c", ts=T0 + 2000 + 61_000))
    assert [e[0] for e in s.events] == ["c"] and s.purchased == ["a"]
    policy.apply(s, ev(4, "d", ts=T0 + 64_000, session_id="s2"))
    assert [e[0] for e in s.events] == ["d"]


def test_a_redelivered_event_changes_nothing():
    policy = SessionPolicy()
    s = SessionState()
    first = ev(1, "a")
    assert policy.apply(s, first)
    before = encode_state(s)
    assert not policy.apply(s, first)
    assert encode_state(s) == before


def test_impressions_are_remembered_for_dedup_only():
    policy = SessionPolicy()
    s = SessionState()
    assert policy.apply(s, ev(1, "a", "impression"))
    assert s.events == [] and s.event_ids == ["e1"]


def test_to_session_before_the_last_event():
    policy = SessionPolicy()
    s = SessionState()
    policy.apply(s, ev(1, "a"))
    policy.apply(s, ev(2, "b"))
    assert to_session("u", s, drop_last=True).items == ["a"]
    assert to_session("u", s).items == ["a", "b"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["view", "cart", "order"])), max_size=80))
def test_replaying_every_event_twice_equals_replaying_once(stream):
    """At-least-once delivery gives exact state: duplicates interleaved anywhere are no-ops."""
    policy = SessionPolicy(max_events=10, max_items=5, max_event_ids=200)
    events = [ev(i, f"i{item}", t) for i, (item, t) in enumerate(stream)]
    once, twice = SessionState(), SessionState()
    for e in events:
        policy.apply(once, e)
    for e in events:
        policy.apply(twice, e)
        policy.apply(twice, e)
    assert encode_state(once) == encode_state(twice)
    assert decode_state(encode_state(once)) == once
