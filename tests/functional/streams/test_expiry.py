"""Idle-user expiry in process: the sessions table forgets users idle past the TTL, keeps active ones,
and every deletion is a changelog tombstone on the user's partition (so recovery stays bounded too)."""

from __future__ import annotations

from streams.expiry import expire
from streams.session import SessionState, encode_state

from .conftest import Harness, raw, wait_for


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def record_changelog(table) -> list[tuple[int, str, bytes | None]]:
    sent: list[tuple[int, str, bytes | None]] = []
    send = table.send_changelog

    def recording(partition, key, value, *args, **kwargs):
        sent.append((partition, key, value))
        return send(partition, key, value, *args, **kwargs)

    table.send_changelog = recording
    return sent


async def test_idle_users_expire_and_active_users_stay(unique):
    h = Harness(unique, session_idle_ttl_s=60.0)
    sessions = h.tables.sessions
    clock = Clock()
    sessions.idle.clock = clock
    changelog = record_changelog(sessions)
    async with h.agents["events"].test_context() as agent:
        for user in ("idle1", "idle2", "active"):
            await agent.put(raw(h.event(user, "a")), key=user.encode())
        await wait_for(lambda: all(u in sessions for u in ("idle1", "idle2", "active")), what="three sessions")
        clock.t = 45.0
        await agent.put(raw(h.event("active", "b")), key=b"active")
        key = h.writer.keys.user_recs("active")
        await wait_for(lambda: key in h.writer.lists and h.writer.lists[key].context_item == "b",
                       what="active's second event")
        clock.t = 70.0  # idle1/idle2 idle 70 s, active 25 s

        result = await expire(sessions, sessions.idle, owns=lambda key: True)

    assert result.deleted == 2
    assert "idle1" not in sessions and "idle2" not in sessions
    assert "active" in sessions and len(sessions.idle) == 1
    tombstones = {key: partition for partition, key, value in changelog if value is None}
    assert tombstones == {u: sessions.partition_for_key(u) for u in ("idle1", "idle2")}


async def test_an_expired_user_comes_back_with_a_fresh_session(unique):
    h = Harness(unique, session_idle_ttl_s=60.0)
    sessions = h.tables.sessions
    clock = Clock()
    sessions.idle.clock = clock
    async with h.agents["events"].test_context() as agent:
        await agent.put(raw(h.event("u", "a")), key=b"u")
        await wait_for(lambda: "u" in sessions, what="u's session")
        clock.t = 100.0
        await expire(sessions, sessions.idle, owns=lambda key: True)
        assert "u" not in sessions
        await agent.put(raw(h.event("u", "b")), key=b"u")
        await wait_for(lambda: "u" in sessions, what="u's new session")
    assert "u" in sessions.idle


async def test_recovered_rows_are_indexed_and_expire_later(unique):
    h = Harness(unique, session_idle_ttl_s=60.0)
    sessions = h.tables.sessions
    clock = Clock()
    sessions.idle.clock = clock
    clock.t = 10.0
    # What a changelog recovery does: rows straight into the store, no on_key_set.
    sessions.data["recovered"] = encode_state(SessionState(last_ts=1))
    await sessions.call_recover_callbacks()
    assert "recovered" in sessions.idle
    clock.t = 69.0
    assert (await expire(sessions, sessions.idle, owns=lambda key: True)).deleted == 0
    clock.t = 71.0
    assert (await expire(sessions, sessions.idle, owns=lambda key: True)).deleted == 1
    assert "recovered" not in sessions


async def test_ttl_zero_disables_expiry(unique):
    h = Harness(unique, session_idle_ttl_s=0)
    assert h.tables.sessions.idle is None and h.agents["expire-sessions"] is None


async def test_a_reassigned_partitions_rows_restart_their_idle_clock(unique):
    from faust.types import TP

    h = Harness(unique, session_idle_ttl_s=60.0)
    sessions = h.tables.sessions
    clock = Clock()
    sessions.idle.clock = clock
    sessions.idle.touch("u")  # written long ago, before the partition went to another worker
    clock.t = 100.0
    p = sessions.partition_for_key("u")
    back = {TP(h.pipeline.settings.topic_events, p)}
    await sessions.on_rebalance(back, set(), back)
    sessions.data["u"] = encode_state(SessionState(last_ts=1))  # the recovery restores its newest row
    await sessions.call_recover_callbacks()
    assert (await expire(sessions, sessions.idle, owns=lambda key: True)).deleted == 0
    clock.t = 161.0
    assert (await expire(sessions, sessions.idle, owns=lambda key: True)).deleted == 1
