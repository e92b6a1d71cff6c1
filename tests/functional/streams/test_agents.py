"""The worker's agents in process (``agent.test_context()``, store ``memory://``), Kafka outputs and
Redis replaced by recording fakes: routing, session state, idempotence, co-visitation, catalog."""

from __future__ import annotations

import pytest

from streams.covis import DeltaBatch, ItemDelta, decode_batch, decode_neighbors, encode
from streams.session import decode_state
from streams.tables import key_partition

from .conftest import raw, wait_for


async def test_valid_events_update_session_and_write_a_list(harness):
    h = harness
    async with h.agents["events"].test_context() as agent:
        for item, type_ in [("a", "view"), ("b", "view"), ("c", "cart"), ("c", "order")]:
            ev = h.event("u1", item, type_)
            await agent.put(raw(ev), key=b"u1")
        await wait_for(lambda: h.writer.lists.get(h.writer.keys.user_recs("u1")) is not None
                       and h.writer.lists[h.writer.keys.user_recs("u1")].context_item == "c", what="u1's list")
    state = decode_state(h.tables.sessions["u1"])
    assert [e[0] for e in state.events] == ["a", "b", "c", "c"]
    assert state.purchased == ["c"]
    assert state.seen == {"a": 1, "b": 1, "c": 2}
    rec = h.writer.lists[h.writer.keys.user_recs("u1")]
    assert rec.list_id == "e4" and rec.model_version == "minimal-1"
    assert "c" not in [r.item for r in rec.items]  # purchased (and current)
    # pairs left for the item side: one message per item partition per window, items in their partition
    items = {}
    for m in h.out.item_updates.sent:
        for item, delta in decode_batch(m["value"]).deltas():
            assert key_partition(item, 4) == m["partition"]
            items.setdefault(item, []).append(delta)
    assert set(items) == {"a", "b", "c"}
    # windows may split the four events: sum b's deltas
    assert sum(d.similar.get("a", 0.0) for d in items["b"]) == pytest.approx(1.0)


async def test_invalid_input_goes_to_dead_letter_with_reason_and_original_bytes(harness):
    h = harness
    bad = [b"not json", b'{"event_id": "e1", "ts": "x", "user_id": "u", "type": "view", "item_id": "i"}',
           b'{"event_id": "e2", "ts": 1700000000000, "user_id": "a:b*", "type": "view", "item_id": "i"}',
           b"\xff\xfe\x00", b""]
    async with h.agents["events"].test_context() as agent:
        for value in bad:
            await agent.put(value, key=b"u")
        good = h.event("u2", "x")
        await agent.put(raw(good), key=b"u2")
        await wait_for(lambda: len(h.out.dead_letter.sent) == len(bad), what="dead letters")
        await wait_for(lambda: "u2" in h.tables.sessions, what="the valid event after the bad ones")
    sent = h.out.dead_letter.sent
    assert [m["value"] for m in sent] == bad
    fields = [dict(m["headers"])["x-error-field"] for m in sent]
    assert fields[1] == b"ts" and fields[2] == b"user_id"
    assert all(dict(m["headers"])["x-error-reason"] for m in sent)


async def test_a_redelivered_event_is_applied_once(harness):
    h = harness
    ev = h.event("u1", "a")
    async with h.agents["events"].test_context() as agent:
        await agent.put(raw(ev), key=b"u1")
        await agent.put(raw(h.event("u1", "b")), key=b"u1")
        await agent.put(raw(ev), key=b"u1")  # at-least-once delivery: the same event again
        await agent.put(raw(h.event("u1", "c")), key=b"u1")
        await wait_for(lambda: "u1" in h.tables.sessions
                       and len(decode_state(h.tables.sessions["u1"]).events) == 3, what="3 events")
    state = decode_state(h.tables.sessions["u1"])
    assert [e[0] for e in state.events] == ["a", "b", "c"]
    assert state.seen["a"] == 1


async def test_forget_removes_state_and_list(harness):
    h = harness
    async with h.agents["events"].test_context() as agent:
        await agent.put(raw(h.event("u1", "a")), key=b"u1")
        await wait_for(lambda: "u1" in h.tables.sessions, what="state")
        from contracts.events import Event
        await agent.put(raw(Event(event_id="f1", ts=h.t0 + 99_000, user_id="u1", type="forget")), key=b"u1")
        await wait_for(lambda: "u1" not in h.tables.sessions, what="forgotten state")
    assert h.writer.keys.user_recs("u1") in h.writer.deleted


async def test_item_side_decays_prunes_and_publishes_neighbours(unique):
    from .conftest import Harness
    h = Harness(unique, covis_top_k=3)
    async with h.agents["item-updates"].test_context() as agent:
        for i in range(10):
            d = ItemDelta(ts=h.t0 + i, views=1.0, similar={f"n{i}": float(i + 1)}, complementary={"acc": 1.0})
            await agent.put(encode(DeltaBatch({"x": d})), key=b"p0")
        await wait_for(lambda: "x" in h.handlers.dirty_items, what="item stats")
        assert await h.handlers.publish_neighbors() == 1
    [sent] = h.out.neighbors.sent
    assert sent["key"] == b"x"
    nb = decode_neighbors(sent["value"])
    assert [i for i, _ in nb.similar] == ["n9", "n8", "n7"]  # top K of the heaviest
    assert h.recommender.neighbors("x")[0][0] == "n9"
    rec = h.writer.lists[h.writer.keys.item_recs("x")]
    assert [r.item for r in rec.items] == ["n9", "n8", "n7"]
    assert rec.complementary[0].item == "acc" and rec.complementary[0].reason == "bought with x"
    assert rec.items[0].reason == "viewed together with x"


async def test_compacted_topic_gets_the_newest_list_once_per_snapshot(unique):
    """Every publish reaches the packs; the compacted topic a starting worker reads gets each item's
    newest list once per ``neighbors_snapshot_s``."""
    from .conftest import Harness
    h = Harness(unique, covis_top_k=3, neighbors_snapshot_s=60)
    async with h.agents["item-updates"].test_context() as agent:
        for round_, other in enumerate(["n1", "n2", "n3"]):
            d = ItemDelta(ts=h.t0 + round_, views=1.0, similar={other: 10.0 * (round_ + 1)})
            await agent.put(encode(DeltaBatch({"x": d})), key=b"p0")
            await wait_for(lambda: "x" in h.handlers.dirty_items, what="item stats")
            assert await h.handlers.publish_neighbors() == 1
    assert len(h.out.neighbor_packs.sent) == 3
    [first] = h.out.neighbors.sent  # the first publish after start writes a snapshot at once
    assert decode_neighbors(first["value"]).similar[0][0] == "n1"
    assert await h.handlers.write_snapshot(h.handlers._snapshot_at + 60_000) == 1
    newest = decode_neighbors(h.out.neighbors.sent[-1]["value"])
    assert len(h.out.neighbors.sent) == 2 and newest.similar[0][0] == "n3"


async def test_catalog_items_reach_model_and_redis_and_bad_ones_dead_letter(harness):
    h = harness
    item = b'{"item_id": "i1", "title": "Red shoe", "category": ["shoes", "red"], "price": 9.5}'
    async with h.agents["catalog"].test_context() as agent:
        await agent.put(item, key=b"i1")
        await agent.put(b'{"item_id": "i2", "title": "", "category": [], "price": -1}', key=b"i2")
        await agent.put(None, key=b"i3")  # tombstone
        await wait_for(lambda: "i3" in h.writer.items and h.out.dead_letter.sent, what="catalog window")
    assert h.recommender.items["i1"].title == "Red shoe"
    assert h.writer.items["i1"] is not None and b"Red shoe" in h.writer.items["i1"]
    assert h.writer.items["i3"] is None
    assert h.handlers.categories["i1"] == "red"
    assert dict(h.out.dead_letter.sent[0]["headers"])["x-error-field"] in (b"title", b"category", b"price")


def _stream_recommender():
    from models.recommender import StreamRecommender
    return StreamRecommender()


@pytest.mark.parametrize("make", [None, _stream_recommender], ids=["minimal", "StreamRecommender"])
async def test_stream_end_to_end_covis_purchases_and_trending(unique, make):
    """Other users' sessions -> pairs -> item tables -> neighbours -> a new session gets them.

    With ``StreamRecommender`` this is the sharded path: its sources' ``pairs`` on the user side,
    counting in ``item-stats``, ``set_neighbors`` from the published lists (no local pair counting).
    """
    from .conftest import Harness
    h = Harness(unique, make() if make else None)
    async with h.agents["events"].test_context() as events:
        for u in range(5):
            for item in ("p", "q", "r"):
                await events.put(raw(h.event(f"o{u}", item)), key=f"o{u}".encode())
        await wait_for(lambda: len(h.tables.sessions) == 5, what="other users")
    sent = list(h.out.item_updates.sent)
    if make is not None:
        assert h.handlers.processor.model.sharded
        assert h.recommender.covisit.neighbors("p") == []  # counted on the item side, not locally
    async with h.agents["item-updates"].test_context() as items:
        for m in sent:
            await items.put(m["value"], key=m["key"])
        await wait_for(lambda: {"p", "q", "r"} <= h.handlers.dirty_items, what="item updates")
        await h.handlers.publish_neighbors()
    assert await h.handlers.publish_trending() >= 1
    trend = h.writer.lists[h.writer.keys.trending()]
    assert {r.item for r in trend.items} == {"p", "q", "r"}
    async with h.agents["events"].test_context() as events:
        await events.put(raw(h.event("me", "q", "order")), key=b"me")
        await events.put(raw(h.event("me", "p")), key=b"me")
        await events.put(raw(h.event("new", "zz")), key=b"new")
        await wait_for(lambda: h.writer.user_items("me") and h.writer.user_items("new"), what="lists")
    mine = h.writer.user_items("me")
    assert "r" in mine and "q" not in mine and "p" not in mine  # co-viewed; never purchased or current
    assert {"p", "q", "r"} & set(h.writer.user_items("new"))  # a new user gets trending items


async def test_a_redelivered_item_batch_is_applied_once(harness):
    """After a crash between the item-stats changelog write and the offset commit, the item-updates
    records are consumed again: the row's last applied offset makes that a no-op."""
    from types import SimpleNamespace

    h = harness
    batch = encode(DeltaBatch({"x": ItemDelta(ts=h.t0, views=1.0, similar={"y": 2.0})}))

    def record(offset: int):
        return SimpleNamespace(value=batch, key=b"p0", message=SimpleNamespace(offset=offset))

    async with h.agents["item-updates"].test_context():
        await h.handlers.on_item_updates([record(7), record(8)])
        await h.handlers.on_item_updates([record(7), record(8)])  # re-delivered
        await h.handlers.on_item_updates([record(9)])
    from streams.covis import decode_stats
    stats = decode_stats(h.tables.item_stats["x"])
    assert stats.offset == 9 and stats.popularity == pytest.approx(3.0)
    assert stats.similar["y"] == pytest.approx(6.0)


async def test_an_event_processed_again_adds_nothing_to_the_item_side(harness):
    """After a user-side crash, events whose item shares were sent but whose session rows were not
    saved are processed again, in differently cut windows: each event's share counts once."""
    from types import SimpleNamespace

    from streams.covis import DeltaBatch, SourcedDelta, decode_stats

    h = harness

    def share(offset: int, views: float) -> SourcedDelta:
        return SourcedDelta(1, offset, ItemDelta(ts=h.t0 + offset, views=views, similar={"y": views}))

    def record(offset: int, *shares):
        batch = encode(DeltaBatch({}, {"x": list(shares)}))
        return SimpleNamespace(value=batch, key=b"p0", message=SimpleNamespace(offset=offset))

    async with h.agents["item-updates"].test_context():
        await h.handlers.on_item_updates([record(0, share(10, 1.0), share(11, 2.0))])
        # re-processed: 11 again with the new 12 in one window (another item-updates offset)
        await h.handlers.on_item_updates([record(1, share(11, 2.0), share(12, 4.0))])
    stats = decode_stats(h.tables.item_stats["x"])
    assert stats.sources == {1: 12}
    assert stats.similar["y"] * 2.0 ** (-(stats.ts - stats.base) / (h.handlers.covis.half_life_ms)) \
        == pytest.approx(7.0)


def _pack(published: int, lists: dict):
    from types import SimpleNamespace

    from streams.covis import NeighborList, NeighborPack
    value = encode(NeighborPack(published, {item: None if other is None else encode(
        NeighborList(ts=1, popularity=1.0, similar=[(other, 1.0)], published=published))
        for item, other in lists.items()}))
    return SimpleNamespace(key=b"neighbors", value=value)


async def test_neighbour_packs_queue_and_reach_the_model_in_slices(harness):
    """Lists another worker published arrive in packs, are queued (newest per item) and applied
    between windows, a slice per loop turn, instead of holding the loop for a whole burst."""
    import asyncio

    h = harness
    await h.handlers.on_neighbor_pack(_pack(10, {f"a{n}": "old" for n in range(200)}))
    await h.handlers.on_neighbor_pack(_pack(11, {f"a{n}": "old" for n in range(200, 300)} | {"a0": "new"}))
    assert "a0" not in h.recommender._neighbors  # queued, not applied
    turns = []

    async def count_turns():
        while h.handlers._pending_neighbors:
            turns.append(len(h.handlers._pending_neighbors))
            await asyncio.sleep(0)
    counter = asyncio.create_task(count_turns())
    applied = await h.handlers.apply_pending_neighbors(chunk=100)
    await counter
    assert applied == 300 and turns == [200, 100]  # another task ran after each slice
    assert h.recommender._neighbors["a0"] == [("new", 1.0)] and h.recommender._neighbors["a299"] == [("old", 1.0)]


async def test_a_pack_no_newer_than_the_items_list_is_skipped(harness):
    """A worker's own publish read back, or packs re-read when it starts, must not replace a newer
    list (or spend a ``set_neighbors`` on the same one); a removal is versioned like a list."""
    h = harness
    await h.handlers.on_neighbor_pack(_pack(20, {"x": "new", "y": "kept"}))
    await h.handlers.on_neighbor_pack(_pack(15, {"x": "older"}))  # re-read from before
    await h.handlers.on_neighbor_pack(_pack(20, {"y": "same publish again"}))
    assert await h.handlers.apply_pending_neighbors() == 2
    assert h.recommender._neighbors["x"] == [("new", 1.0)]
    assert h.recommender._neighbors["y"] == [("kept", 1.0)]
    await h.handlers.on_neighbor_pack(_pack(30, {"x": None}))
    assert await h.handlers.apply_pending_neighbors() == 1
    assert h.recommender._neighbors["x"] == []


async def test_published_lists_go_to_the_table_and_in_packs_and_are_not_applied_twice(unique):
    """The items side writes each list to the compacted ``neighbors`` topic (read at start) and in
    a pack to the broadcast; the same worker's users side reads its pack back and skips it."""
    from .conftest import Harness
    from streams.covis import decode_neighbor_pack
    from types import SimpleNamespace
    h = Harness(unique)
    async with h.agents["item-updates"].test_context() as agent:
        for n in range(3):
            d = ItemDelta(ts=h.t0 + n, views=1.0, similar={"n": 1.0})
            await agent.put(encode(DeltaBatch({f"x{n}": d})), key=b"p0")
        await wait_for(lambda: len(h.handlers.dirty_items) == 3, what="item stats")
        assert await h.handlers.publish_neighbors() == 3
    packs = [decode_neighbor_pack(m["value"]) for m in h.out.neighbor_packs.sent]
    assert len(packs) == 1 and set(packs[0].lists) == {"x0", "x1", "x2"}
    assert packs[0].lists["x1"] == {m["key"]: m["value"] for m in h.out.neighbors.sent}[b"x1"]
    assert decode_neighbors(packs[0].lists["x1"]).published == packs[0].published
    await h.handlers.on_neighbor_pack(SimpleNamespace(key=b"neighbors", value=h.out.neighbor_packs.sent[0]["value"]))
    assert not h.handlers._pending_neighbors  # its own lists, already in the model


async def test_session_rows_wait_for_kafkas_acks_without_holding_the_next_window(harness):
    """A window's session rows reach the table only once its item deltas are acknowledged, in window
    order; meanwhile the next window already reads them, so it never sees a stale session."""
    import asyncio
    from types import SimpleNamespace

    from contracts.packs import PACK_SLOTS

    h = harness
    acks: list[asyncio.Future] = []

    class SlowTopic:
        async def send(self, **kw):
            fut = asyncio.get_running_loop().create_future()
            acks.append(fut)
            return fut
    h.handlers.topics = SimpleNamespace(item_updates=SlowTopic(), dead_letter=h.out.dead_letter)

    def record(offset: int, *events):
        msg = SimpleNamespace(topic="t", partition=key_partition("u1", 4), offset=offset)
        return SimpleNamespace(message=msg, value=raw(events[0]), key=b"u1")

    def window(offset: int, ev):
        rec = record(offset, ev)
        return [(rec, [(ev, (rec.message.partition, offset * PACK_SLOTS))])]

    async with h.agents["events"].test_context():
        first = await h.handlers.on_events(window(0, h.event("u1", "a")))
        second = await h.handlers.on_events(window(1, h.event("u1", "b")))  # not held by the first's acks
        assert "u1" not in h.tables.sessions and not first.done()
        assert [i for i, _, _ in decode_state(h.handlers._unsaved["u1"]).events] == ["a", "b"]
        acks[1].set_result(None)  # the second window's acks first: its rows still wait for the first's
        await asyncio.sleep(0)
        assert "u1" not in h.tables.sessions
        acks[0].set_result(None)
        await asyncio.wait_for(asyncio.gather(first, second), 2)
    assert [i for i, _, _ in decode_state(h.tables.sessions["u1"]).events] == ["a", "b"]
    assert h.handlers._unsaved == {} and not h.handlers._saving


def test_a_neighbour_list_is_republished_only_when_readers_would_see_a_difference(harness):
    from streams.covis import NEIGHBORS_MAX_AGE_MS, NeighborList

    h = harness.handlers
    k = h.settings.rec_k
    base = [(f"n{i}", 10.0 - i * 0.1) for i in range(k + 5)]

    def nb(similar, popularity=10.0):
        return NeighborList(ts=1, popularity=popularity, similar=similar)
    assert h.publish_filter.worth("x", nb(base), now=0)  # first list
    drift = [(i, w * 1.01) for i, w in base]
    assert not h.publish_filter.worth("x", nb(drift), now=1)  # weights drift, same top k
    assert not h.publish_filter.worth("x", nb(base[:k] + base[k + 1:] + [("tail", 0.1)]), now=2)  # beyond the top k
    assert h.publish_filter.worth("x", nb([base[1], base[0]] + base[2:]), now=3)  # the top k reordered
    assert h.publish_filter.worth("x", nb(base, popularity=13.0), now=4)  # popularity moved > 25 %
    assert h.publish_filter.worth("x", nb(base, popularity=13.0), now=4 + NEIGHBORS_MAX_AGE_MS)  # too old


async def test_an_agent_that_raises_ends_the_worker_for_its_supervisor(harness):
    """Faust would restart the crashed actor with the window's records never acknowledged: the
    commit stops there while the process looks alive. The worker exits instead (streams/agents.py)."""
    h = harness

    async def broken(window):
        raise RuntimeError("bug in a window")
    h.handlers.on_events = broken
    async with h.agents["events"].test_context() as agent:
        await agent.put(raw(h.event("u1", "a")), key=b"u1")
        await wait_for(lambda: h.crashes, what="the crash hook")
    assert h.crashes[0][0] == "events" and "bug in a window" in str(h.crashes[0][1])


async def test_lists_read_at_start_are_installed_and_older_packs_do_not_replace_them(harness):
    """A starting users worker installs the compacted topic's lists (streams/bootstrap.py), then
    reads the packs still in retention: only a list published after the installed one replaces it."""
    from streams.covis import NeighborList
    h = harness
    lists = {b"x": encode(NeighborList(ts=1, popularity=2.0, similar=[("from-topic", 1.0)], published=50)),
             b"gone": None, b"old": encode(NeighborList(ts=1, popularity=1.0, similar=[("v0", 1.0)]))}
    assert h.handlers.install_neighbors(lists) == 2
    assert h.recommender._neighbors["x"] == [("from-topic", 1.0)] and "gone" not in h.recommender._neighbors
    await h.handlers.on_neighbor_pack(_pack(40, {"x": "older pack", "old": "newer pack"}))
    await h.handlers.apply_pending_neighbors()
    assert h.recommender._neighbors["x"] == [("from-topic", 1.0)]
    assert h.recommender._neighbors["old"] == [("newer pack", 1.0)]  # lists from before versions: 0
