"""A/B counters see each accepted event once: a redelivered impression, click or order is not counted again."""

from __future__ import annotations

from streams.session import decode_state

from .conftest import raw, wait_for


async def test_redelivered_list_events_are_counted_once(harness):
    h = harness
    counted = []
    count = h.handlers.ab.count
    h.handlers.ab.count = lambda events: (counted.extend(events), count(events))
    imp = h.event("u1", "a", "impression", list_id="L1", variant="B", shown=["x", "y"])
    click = h.event("u1", "x", "click", list_id="L1", position=0, variant="B", shown=["x", "y"])
    order = h.event("u1", "x", "order", variant="B")
    async with h.agents["events"].test_context() as agent:
        for ev in (imp, click, imp, order, click, order):   # at-least-once delivery repeats them
            await agent.put(raw(ev), key=b"u1")
        await agent.put(raw(h.event("u1", "z")), key=b"u1")
        await wait_for(lambda: "u1" in h.tables.sessions
                       and decode_state(h.tables.sessions["u1"]).events[-1][0] == "z", what="the last view")
    assert sorted(e.event_id for e in counted if e.type != "view") == sorted([imp.event_id, click.event_id,
                                                                           order.event_id])
    assert h.handlers.ab.drain() == {"B": {"impressions": 1, "clicks": 1, "orders": 1}}
