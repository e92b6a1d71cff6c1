"""One take window of events, start to finish, as plain synchronous code the agent calls.

Order inside a window follows the log: each event is folded into its user's state, the model learns
from it (given the session *before* it), and its co-visitation pairs are summed per item. Then each
touched user is scored once, with their newest state: a window of 500 events becomes one
``recommend_many`` call, which is where batching pays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.events import Event
from contracts.redis_keys import RecItem, RecList
from models.base import Candidate
from streams.covis import ItemDeltas
from streams.model_adapter import ModelAdapter
from streams.routing import DeadLetter
from streams.session import SessionPolicy, SessionState, to_interaction, to_session


@dataclass
class WindowResult:
    """What a window changes; the agent turns it into table writes, topic sends and Redis writes."""

    dead_letters: list[DeadLetter] = field(default_factory=list)
    states: dict[str, SessionState] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    last_event: dict[str, Event] = field(default_factory=dict)
    deltas: ItemDeltas = field(default_factory=ItemDeltas)
    event_ts: list[int] = field(default_factory=list)
    duplicates: int = 0
    accepted: int = 0
    # The accepted events themselves (no dead letters, duplicates or forgets): what A/B counters count.
    kept: list[Event] = field(default_factory=list)


class EventProcessor:
    """Applies windows of routed events to session state and the model."""

    def __init__(self, recommender, policy: SessionPolicy, *, covis_window: int = 5, k: int = 20,
                 model_version: str | None = None):
        self.recommender = recommender
        self.model = ModelAdapter(recommender, covis_window=covis_window)
        self.policy = policy
        self.k = k
        self.model_version = model_version or self.model.version

    def process(self, routed: list[Event | DeadLetter],
                get_state: Callable[[str], SessionState | None]) -> WindowResult:
        out = WindowResult()
        learn, pairs, deltas = self.model.learn, self.model.pairs, out.deltas
        for ev in routed:
            if isinstance(ev, DeadLetter):
                out.dead_letters.append(ev)
                continue
            user = ev.user_id
            state = out.states.get(user)
            if state is None:
                state = (None if user in out.forgotten else get_state(user)) or SessionState()
            if ev.type == "forget":
                out.states.pop(user, None)
                out.last_event.pop(user, None)
                out.forgotten.add(user)
                out.accepted += 1
                continue
            if not self.policy.apply(state, ev):
                out.duplicates += 1
                continue
            out.forgotten.discard(user)
            out.states[user] = state
            out.accepted += 1
            out.kept.append(ev)
            if not ev.is_interaction:
                continue
            out.event_ts.append(ev.ts)
            out.last_event[user] = ev
            before = to_session(user, state, drop_last=True)
            interaction = to_interaction(ev)
            deltas.begin(ev)  # per-event shares: the item side skips a re-processed event's (covis.py)
            deltas.add_view(ev.item_id, ev.ts)
            for a, b, w, kind in pairs(before, interaction):
                deltas.add_pair(a, b, w, ev.ts, kind)
            learn(before, interaction)
        return out

    def recommend(self, out: WindowResult, write_ts: int) -> list[tuple[str, RecList]]:
        """Score every user the window touched (one ``recommend_many``); ``(user, list)`` pairs."""
        users = [u for u in out.states if u in out.last_event]
        if not users:
            return []
        sessions = []
        for u in users:
            ev = out.last_event[u]
            ctx: dict[str, object] = {"page": ev.page}
            if ev.variant is not None:
                ctx["variant"] = ev.variant
            sessions.append(to_session(u, out.states[u], ctx))
        ranked = self.recommender.recommend_many(sessions, self.k)
        lists = []
        for u, sess, cands in zip(users, sessions, ranked):
            if cands is None:  # the model keeps the user's served list (a batch A/B arm between refreshes)
                continue
            ev = out.last_event[u]
            lists.append((u, self.rec_list(cands, sess.purchased, ev, write_ts)))
        return lists

    def rec_list(self, cands: list[Candidate], purchased: set[str], ev: Event, write_ts: int) -> RecList:
        # A purchased item is never shown, whatever the model says: the last guard before Redis.
        items = [RecItem(c.item, float(c.score), c.reason) for c in cands if c.item not in purchased]
        return RecList(items=items[: self.k], event_ts=ev.ts, write_ts=write_ts, context_item=ev.item_id,
                       model_version=self.model_version, list_id=ev.event_id, variant=self.variant_of(ev))

    def variant_of(self, ev: Event) -> str | None:
        # An A/B model assigns users itself; the list carries the variant so clicks can credit it.
        assign = getattr(self.recommender, "variant_of", None)
        return assign(ev.user_id) if assign is not None else ev.variant
