"""Per-user session state: what the ``sessions`` table holds, and the pure rules that update it.

The state is a msgspec struct so the changelog codec is one fast call; every collection in it is
bounded, so a user who browses for weeks costs the same memory as one who browsed for a minute.
``event_ids`` makes updates idempotent: Kafka delivers at least once, and a re-delivered event
(after a crash between the changelog write and the offset commit) must not count twice.
"""

from __future__ import annotations

import msgspec

from contracts.events import Event
from models.base import Interaction, Session


class SessionState(msgspec.Struct, array_like=True):
    """One user's state. ``events`` are ``(item, type, ts)`` of the current session, oldest first."""

    session_id: str | None = None
    last_ts: int = 0
    events: list[tuple[str, str, int]] = []
    purchased: list[str] = []
    seen: dict[str, int] = {}
    event_ids: list[str] = []


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SessionState)


def encode_state(state: SessionState) -> bytes:
    return _encoder.encode(state)


def decode_state(data: bytes) -> SessionState:
    return _decoder.decode(data)


class SessionPolicy:
    """Bounds and session boundaries; ``apply`` folds one event into a user's state."""

    def __init__(self, *, max_events: int = 50, inactivity_ms: int = 30 * 60 * 1000,
                 max_items: int = 200, max_event_ids: int = 256):
        self.max_events = max_events
        self.inactivity_ms = inactivity_ms
        self.max_items = max_items
        self.max_event_ids = max_event_ids

    def is_duplicate(self, state: SessionState, event: Event) -> bool:
        return event.event_id in state.event_ids

    def starts_new_session(self, state: SessionState, event: Event) -> bool:
        if not state.events:
            return False
        if event.session_id is not None and event.session_id != state.session_id:
            return True
        return event.ts - state.last_ts > self.inactivity_ms

    def apply(self, state: SessionState, event: Event) -> bool:
        """Update ``state`` in place; False (and no change) when the event was already applied."""
        if self.is_duplicate(state, event):
            return False
        ids = state.event_ids
        ids.append(event.event_id)
        if len(ids) > self.max_event_ids:
            del ids[: len(ids) - self.max_event_ids]
        if not event.is_interaction:
            return True  # impressions: remembered for dedup only, they say nothing about interest
        if self.starts_new_session(state, event):
            state.events = []
        if event.session_id is not None:
            state.session_id = event.session_id
        # Out-of-order events keep the newest ts so a late event cannot reopen an old session.
        state.last_ts = max(state.last_ts, event.ts)
        item = event.item_id
        events = state.events
        events.append((item, event.type, event.ts))
        if len(events) > self.max_events:
            del events[: len(events) - self.max_events]
        seen = state.seen
        seen[item] = seen.pop(item, 0) + 1  # re-insert: dict order = recency, oldest evicted first
        if len(seen) > self.max_items:
            for old in list(seen)[: len(seen) - self.max_items]:
                del seen[old]
        if event.type == "order":
            bought = state.purchased
            if item in bought:
                bought.remove(item)
            bought.append(item)
            if len(bought) > self.max_items:
                del bought[: len(bought) - self.max_items]
        return True


def to_interaction(event: Event) -> Interaction:
    return Interaction(item=event.item_id, type=event.type, ts=event.ts, shown=event.shown)


def to_session(user_id: str, state: SessionState, context: dict | None = None, *,
               drop_last: bool = False) -> Session:
    """The model's view of a state (a copy: models may keep it without aliasing the table).

    ``drop_last`` gives the session as it was *before* the event just applied (what ``learn_one``
    and pair extraction need); a session boundary already emptied ``events`` then.
    """
    events = state.events[:-1] if drop_last else state.events
    return Session(
        user_id=user_id,
        interactions=[Interaction(item=i, type=t, ts=ts) for i, t, ts in events],
        purchased=set(state.purchased),
        # Not copied when handed to learn_one right away (the hot path); copied for scoring output.
        seen_counts=state.seen if drop_last else dict(state.seen),
        context=context if context is not None else {},
    )
