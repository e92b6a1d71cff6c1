"""The window write on a Redis Cluster: script calls grouped by hash slot, order kept within a slot."""

from __future__ import annotations

from redis.crc import key_slot

from streams.writer import WRITE_CHUNK, RedisWriter


def writer(url: str) -> RedisWriter:
    from contracts.redis_keys import Keys

    return RedisWriter(url, Keys("t:"), user_ttl_ms=1, item_ttl_ms=1, trending_ttl_ms=1)


def test_one_node_writes_chunks_in_window_order():
    w = writer("redis://127.0.0.1:1/0")
    lists = [(f"t:rec:user:u{i}", i) for i in range(WRITE_CHUNK + 5)]
    assert w._groups(lists) == [lists[:WRITE_CHUNK], lists[WRITE_CHUNK:]]


def test_a_cluster_gets_one_call_per_slot_with_the_keys_order_kept():
    w = writer("redis+cluster://127.0.0.1:1/0")
    lists = [(f"t:rec:user:u{i % 50}", i) for i in range(200)]  # each key four times, newest last
    groups = w._groups(lists)
    assert sorted(e for g in groups for e in g) == sorted(lists)
    for group in groups:
        assert len({key_slot(k.encode()) for k, _ in group}) == 1  # no CROSSSLOT
        for key in {k for k, _ in group}:
            versions = [v for k, v in group if k == key]
            assert versions == sorted(versions)  # the script sees the newer list last: newer wins
