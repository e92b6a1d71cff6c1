"""The writer's one-call window write: same compare-and-set rule as one list at a time."""

import pytest

from contracts.redis_keys import Keys, RecItem, RecList, decode_rec_list
from streams.writer import RedisWriter

pytestmark = pytest.mark.integration


def rec(item: str, ts: int) -> RecList:
    return RecList(items=[RecItem(item, 1.0, "similar to x")], event_ts=ts, write_ts=ts + 1)


async def test_a_window_is_written_in_one_call_and_never_replaces_newer_lists(settings, redis_client, unique):
    keys = Keys(f"t{unique}:")
    writer = RedisWriter(getattr(settings, "writer_url", settings.redis_url), keys, user_ttl_ms=60_000,
                         item_ttl_ms=60_000, trending_ttl_ms=60_000)
    a, b, c = keys.user_recs("a"), keys.user_recs("b"), keys.user_recs("c")
    try:
        assert await writer.write_lists([(a, rec("a1", 10)), (b, rec("b1", 10))], 60_000,
                                        stats={"lists": 2}) == 2
        # a late event for "a", a newer one for "b", a new user "c": two of three are written
        assert await writer.write_lists([(a, rec("a0", 5)), (b, rec("b2", 20)), (c, rec("c1", 1))], 0) == 2
    finally:
        await writer.close()
    assert [i.item for i in decode_rec_list(redis_client.hget(a, "body")).items] == ["a1"]
    assert [i.item for i in decode_rec_list(redis_client.hget(b, "body")).items] == ["b2"]
    assert redis_client.hget(c, "ts") == b"1"
    assert 0 < redis_client.pttl(a) <= 60_000 and redis_client.pttl(c) == -1  # ttl 0: no expiry
    assert redis_client.hget(keys.stats("worker"), "lists") == b"2"


async def test_the_window_script_is_reloaded_after_redis_forgets_it(settings, redis_client, unique):
    keys = Keys(f"t{unique}:")
    writer = RedisWriter(settings.redis_url, keys, user_ttl_ms=60_000, item_ttl_ms=60_000, trending_ttl_ms=60_000)
    try:
        await writer.write_lists([(keys.user_recs("a"), rec("a1", 1)), (keys.user_recs("b"), rec("b1", 1))], 0)
        writer._sha_many = "0" * 40  # as if Redis had restarted and lost its script cache
        assert await writer.write_lists([(keys.user_recs("a"), rec("a2", 2)),
                                         (keys.user_recs("b"), rec("b2", 2))], 0) == 2
    finally:
        await writer.close()
    assert redis_client.hget(keys.user_recs("b"), "ts") == b"2"
