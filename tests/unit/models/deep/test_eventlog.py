"""Events to training sessions, and warm starts that keep old embedding rows."""

from __future__ import annotations

import torch

from contracts.events import Event
from models.deep.eventlog import sessions_from_events
from models.deep.network import SessionNet
from models.deep.warmstart import GROWING, seed_network


def ev(n: int, user: str, item: str, ts: int, session: str | None = None, type_: str = "view") -> Event:
    return Event(event_id=f"e{n}", ts=ts, user_id=user, item_id=item, type=type_, session_id=session)


def test_sessions_by_session_id_or_inactivity_in_time_order():
    events = [ev(1, "u", "b", 20, "s1"), ev(2, "u", "a", 10, "s1"), ev(3, "u", "c", 30, "s2"),
              ev(4, "v", "x", 0), ev(5, "v", "y", 50), ev(6, "v", "z", 10_000),
              ev(7, "w", "q", 5)]
    assert sessions_from_events(events, inactivity_ms=1000) == [["x", "y"], ["q"], ["a", "b"], ["c"], ["z"]]


def test_seed_network_copies_old_rows_and_keeps_new_rows_fresh():
    old = SessionNet(n_items=5, dim=8, max_len=4, layers=1, heads=2)
    new = SessionNet(n_items=8, dim=8, max_len=4, layers=1, heads=2)
    fresh_rows = new.state_dict()[GROWING][6:].clone()
    seed_network(new, old.state_dict())
    got, want = new.state_dict(), old.state_dict()
    assert torch.equal(got[GROWING][:6], want[GROWING])
    assert torch.equal(got[GROWING][6:], fresh_rows)
    for name, value in want.items():
        if name != GROWING:
            assert torch.equal(got[name], value), name


def test_a_record_is_one_event_or_a_pack_and_invalid_events_are_dropped():
    # Freshrec's producers send packs (contracts/packs.py); the trainer once dropped every packed record.
    from contracts.events import encode_event
    from contracts.packs import encode_pack
    from models.deep.eventlog import decode_record

    a, b = ev(1, "u", "x", 1_796_765_400_000), ev(2, "u", "y", 1_796_765_401_000)   # valid times
    assert decode_record(encode_event(a)) == [a]
    assert decode_record(encode_pack([encode_event(a), b'{"bad": 1}', encode_event(b)])) == [a, b]
    assert decode_record(b"[1, 2]") == [] and decode_record(b"not json") == []
