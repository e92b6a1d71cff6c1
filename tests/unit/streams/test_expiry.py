"""Idle-session expiry as plain logic: the last-write index and the sweep over a table stand-in."""

from __future__ import annotations

from streams.expiry import IdleIndex, expire


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeStore(dict):
    """A memory store: a dict, plus the partition map Faust's memory store keeps for recovered keys."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._key_partition = {k: 0 for k in self}


class FakeTable:
    """Deletes go through ``del table[key]`` (the changelog path) and are recorded as tombstones."""

    def __init__(self, rows: dict):
        self.data = FakeStore(rows)
        self.tombstones: list[str] = []

    def __delitem__(self, key):
        self.tombstones.append(key)
        del self.data[key]


def test_index_orders_by_last_write_and_expires_only_the_idle():
    clock = Clock()
    idx = IdleIndex(ttl_s=60, clock=clock)
    idx.touch("a")
    clock.t += 10
    idx.touch("b")
    clock.t += 10
    idx.touch("a")  # a written again: now younger than b
    clock.t += 45   # b idle 55 s, a idle 45 s
    assert idx.pop_expired() == []
    clock.t += 5    # b idle 60 s
    assert idx.pop_expired() == ["b"]
    assert "a" in idx and "b" not in idx
    clock.t += 100
    assert idx.pop_expired() == ["a"] and len(idx) == 0


def test_pop_expired_respects_the_limit_and_keeps_the_rest_for_later():
    clock = Clock()
    idx = IdleIndex(ttl_s=1, clock=clock)
    for k in range(10):
        idx.touch(f"u{k}")
    clock.t += 5
    assert idx.pop_expired(limit=4) == ["u0", "u1", "u2", "u3"]
    assert idx.pop_expired() == [f"u{k}" for k in range(4, 10)]


def test_adopt_tracks_recovered_keys_as_written_now_and_keeps_known_ones():
    clock = Clock()
    idx = IdleIndex(ttl_s=30, clock=clock)
    idx.touch("live")
    clock.t += 20
    assert idx.adopt(["live", "r1", "r2"]) == 2
    clock.t += 15  # live: 35 s since its write; r1, r2: 15 s since the recovery
    assert idx.pop_expired() == ["live"]
    clock.t += 15
    assert sorted(idx.pop_expired()) == ["r1", "r2"]


def test_discard_forgets_a_deleted_key():
    clock = Clock()
    idx = IdleIndex(ttl_s=1, clock=clock)
    idx.touch("a")
    idx.discard("a")
    idx.discard("never-seen")
    clock.t += 5
    assert idx.pop_expired() == []


async def test_expire_tombstones_owned_rows_drops_foreign_ones_and_skips_gone_ones():
    clock = Clock()
    idx = IdleIndex(ttl_s=60, clock=clock)
    table = FakeTable({"mine-old": b"1", "theirs-old": b"2", "mine-active": b"3"})
    for key in ("mine-old", "theirs-old", "forgotten"):
        idx.touch(key)
    clock.t += 50
    idx.touch("mine-active")
    clock.t += 20  # the three first keys idle 70 s; mine-active 20 s

    result = await expire(table, idx, owns=lambda key: key.startswith("mine"), chunk=1)

    assert (result.deleted, result.dropped, result.gone) == (1, 1, 1)
    assert table.tombstones == ["mine-old"]           # a changelog tombstone only for our partition
    assert set(table.data) == {"mine-active"}         # the foreign copy is gone from memory too
    assert "theirs-old" not in table.data._key_partition
    assert list(idx.pop_expired(clock.t + 1000)) == ["mine-active"]


async def test_expire_with_nothing_idle_changes_nothing():
    idx = IdleIndex(ttl_s=60, clock=Clock())
    idx.touch("a")
    table = FakeTable({"a": b"1"})
    result = await expire(table, idx, owns=lambda key: True)
    assert (result.deleted, result.dropped, result.gone) == (0, 0, 0) and "a" in table.data


def test_discard_where_forgets_a_reassigned_partitions_keys():
    clock = Clock()
    idx = IdleIndex(ttl_s=10, clock=clock)
    for key in ("p0-a", "p1-b", "p0-c"):
        idx.touch(key)
    assert idx.discard_where(lambda key: key.startswith("p0")) == 2
    clock.t += 5
    idx.adopt(["p0-a", "p0-c"])  # what the recovery restores, as written now
    clock.t += 6
    assert idx.pop_expired() == ["p1-b"]
