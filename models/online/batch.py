"""The ``batch`` A/B variant's clock: a user's list is recomputed once per period of event time.

This is how a system that refits hourly behaves, measured inside the streaming worker so that
everything else (sources, ranker, serving) is the same: at a user's first event after a refresh
boundary the list is recomputed from the session as it stood at that boundary, and between
boundaries the recommender returns no list for the user, so the worker leaves the served one alone.
Boundaries are spread over the period by user (the A/B bucket), as a batch job's output reaches
users over its run rather than all at the same second.
"""

from __future__ import annotations

from collections import OrderedDict

from models.base import Session
from models.online.ab import BUCKETS, bucket


class BatchClock:
    def __init__(self, period_ms: int = 3_600_000, salt: str = "batch", max_users: int = 200_000):
        if period_ms <= 0:
            raise ValueError("period_ms must be positive")
        self.period_ms = period_ms
        self.salt = salt
        self.max_users = max_users
        self._done: OrderedDict[str, int] = OrderedDict()  # user -> the last boundary refreshed at

    def boundary(self, user: str, ts: int) -> int:
        """The newest refresh boundary of ``user`` at or before event time ``ts`` (epoch ms)."""
        phase = bucket(user, self.salt) * self.period_ms // BUCKETS
        return (ts - phase) // self.period_ms * self.period_ms + phase

    def due(self, session: Session) -> Session | None:
        """The session as it stood at the user's newest boundary if that boundary was not refreshed
        yet (and mark it refreshed), else ``None``: keep the list served."""
        if not session.interactions:
            return None
        user = session.user_id
        at = self.boundary(user, session.interactions[-1].ts)
        if self._done.get(user) == at:
            return None
        self._done[user] = at
        self._done.move_to_end(user)
        if len(self._done) > self.max_users:
            self._done.popitem(last=False)
        before = [it for it in session.interactions if it.ts < at]
        return Session(session.user_id, before, session.purchased, session.seen_counts, session.context)

    def state_dict(self) -> dict:
        return {"done": dict(self._done)}

    def load_state_dict(self, state: dict) -> None:
        self._done = OrderedDict(state.get("done", {}))
